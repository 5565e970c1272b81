"""`python -m store …`: the command-line interface (see store/cli)."""

import sys

from store.cli import main

sys.exit(main())
