"""`python -m aae_helpers` runs the `aae` command line."""

import sys

from aae_helpers.cli import main

sys.exit(main())
