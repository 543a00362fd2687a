"""``gk.optimizers``: the tf.keras 2.11+ optimizers (``tf.keras.optimizers.*``), written
with graphkeras ops so their updates run eagerly and trace into compiled training steps."""
from graphkeras.optimizers import schedules  # noqa: F401
from graphkeras.optimizers.optimizer import (  # noqa: F401
    Optimizer, deserialize, get, register_optimizer, serialize)
from graphkeras.optimizers.sgd import SGD  # noqa: F401
from graphkeras.optimizers.rmsprop import RMSprop  # noqa: F401
from graphkeras.optimizers.adam import Adam  # noqa: F401
from graphkeras.optimizers.adamw import AdamW  # noqa: F401
from graphkeras.optimizers.adagrad import Adagrad  # noqa: F401
from graphkeras.optimizers.adadelta import Adadelta  # noqa: F401
from graphkeras.optimizers.adamax import Adamax  # noqa: F401
from graphkeras.optimizers.nadam import Nadam  # noqa: F401
from graphkeras.optimizers.ftrl import Ftrl  # noqa: F401

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax",
           "Nadam", "Ftrl", "schedules", "get", "serialize", "deserialize"]
