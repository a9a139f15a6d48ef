"""``python -m orchestrator`` is the ``continuum`` command."""

from orchestrator.cli import main

raise SystemExit(main())
