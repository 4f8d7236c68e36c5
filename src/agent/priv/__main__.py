"""``python -m agent.priv <action>``: the privileged helper (see :mod:`agent.priv.helper`)."""

from agent.priv.helper import main

raise SystemExit(main())
