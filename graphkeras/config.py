"""``gk.config``: runtime configuration."""
from graphkeras.runtime.providers import get_providers, set_providers  # noqa: F401
