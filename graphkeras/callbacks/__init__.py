"""``gk.callbacks``: tf.keras 2.x's training callbacks.

``Callback`` is the base class; ``CallbackList`` is what ``fit``/``evaluate``/
``predict`` call hooks on (it adds ``History`` and ``ProgbarLogger`` when asked).
Hook order and log formats follow tf.keras 2.x (see ``base`` for the order).
"""
from graphkeras.callbacks.base import Callback
from graphkeras.callbacks.callback_list import CallbackList
from graphkeras.callbacks.checkpoint import BackupAndRestore, ModelCheckpoint
from graphkeras.callbacks.logs import (CSVLogger, History, LambdaCallback, ProgbarLogger,
                                       TerminateOnNaN)
from graphkeras.callbacks.monitors import (EarlyStopping, LearningRateScheduler,
                                           ReduceLROnPlateau)

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
    "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger",
    "TerminateOnNaN", "LambdaCallback", "BackupAndRestore",
]
