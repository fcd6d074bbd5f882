"""``python -m helpers serve dns|mail|reverse`` and ``python -m helpers talk HOST PORT``.

The commands are ``helpers.cli``'s; this file only runs them.
"""

from helpers.cli import main

raise SystemExit(main())
