"""``python -m reconciler.cli``: the command line."""

import sys

from reconciler.cli import main

sys.exit(main())
