"""``python -m wif_notebook`` is the ``wif`` command."""

import sys

from .cli import main

sys.exit(main())
