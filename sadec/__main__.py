"""``python -m sadec``: the same as the ``sadec`` command."""

import sys

from .cli import main

sys.exit(main())
