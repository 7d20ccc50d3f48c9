"""``python -m inngest_transports.devserver``: see :func:`._cli.main`."""

from __future__ import annotations

import sys

from ._cli import main

sys.exit(main())
