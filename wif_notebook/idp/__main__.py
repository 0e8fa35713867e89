"""``python -m wif_notebook.idp --state-dir D [--port P]``: run the mock IdP in this process."""

import sys

from .server import main

sys.exit(main())
