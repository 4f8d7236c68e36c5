"""``python -m agent.central``."""

import sys

from agent.central.cli import main

sys.exit(main())
