"""Imports every handler module so that they register (one module per area)."""

from . import validation  # noqa: F401
from . import rbac  # noqa: F401
