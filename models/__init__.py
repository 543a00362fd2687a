"""``gk.models``: model classes, (de)serialization and cloning."""
from graphkeras.engine.sequential import Sequential  # noqa: F401
from graphkeras.engine.training import Model  # noqa: F401
from graphkeras.models.serialization import model_from_config, model_from_json  # noqa: F401
from graphkeras.models.cloning import clone_model  # noqa: F401
from graphkeras.models.premade import LinearModel, WideDeepModel  # noqa: F401
from graphkeras.saving import load_model, save_model  # noqa: E402,F401
