"""`python -m aae_helpers` runs the `aae` command line."""

import sys

from aae_helpers.infra.cli import main

sys.exit(main())
