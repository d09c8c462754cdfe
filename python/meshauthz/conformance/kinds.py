"""Imports every handler module so that they register (one module per area)."""

from . import (
    mtp,  # noqa: F401
    rbac,  # noqa: F401
    traffic,  # noqa: F401
    validation,  # noqa: F401
)
