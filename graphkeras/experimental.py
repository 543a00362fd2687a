"""``gk.experimental``: where tf.keras 2.x files the premade models."""
from graphkeras.models.premade import LinearModel, WideDeepModel  # noqa: F401

__all__ = ["LinearModel", "WideDeepModel"]
