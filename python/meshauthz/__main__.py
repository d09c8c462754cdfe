"""`python -m meshauthz`: the `meshauthz` command."""

import sys

from .cli import main

sys.exit(main())
