"""`python -m meshauthz ...` is the `meshauthz` command."""

import sys

from .cli import main

sys.exit(main())
