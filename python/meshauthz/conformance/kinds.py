"""Imports every handler module so that they register (one module per area)."""

from . import mtp, validation  # noqa: F401
