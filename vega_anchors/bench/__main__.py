"""``python -m vega_anchors.bench``."""

from ._cli import main

raise SystemExit(main())
