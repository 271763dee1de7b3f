"""``python -m xsched run [options] -- program args``: the same as ``xsched run``."""
import sys

from .cli import main

sys.exit(main())
