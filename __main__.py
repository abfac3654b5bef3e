"""``python -m jitflow``: the same command line as the ``jitflow`` script."""

from .cli import main

raise SystemExit(main())
