"""`python -m retain ...` is the same as the `retain` command."""

from retain.cli import main

raise SystemExit(main())
