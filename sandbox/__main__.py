"""Entry point of `python -m sandbox` (see `sandbox.cli`)."""

from .cli import main

raise SystemExit(main())
