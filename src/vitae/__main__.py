"""``python -m vitae``."""

import sys

from vitae.cli import main

sys.exit(main())
