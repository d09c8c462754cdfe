"""Registers each kind's validators with the dispatcher (one module per kind)."""

from __future__ import annotations
