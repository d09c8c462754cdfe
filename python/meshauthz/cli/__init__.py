"""The `meshauthz` command (minimal: the lead wires the other subcommands in)."""

from __future__ import annotations

import sys
from typing import Optional

from .rbac import main as _rbac_main


def main(argv: Optional[list[str]] = None) -> int:
    return _rbac_main(argv)


if __name__ == "__main__":
    sys.exit(main())
