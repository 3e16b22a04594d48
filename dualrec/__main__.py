"""``python -m dualrec``."""

import sys

from .cli import main

sys.exit(main())
