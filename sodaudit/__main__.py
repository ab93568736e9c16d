"""``python -m sodaudit`` is the same as the ``sodaudit`` command."""

import sys

from sodaudit.cli import main

if __name__ == "__main__":
    sys.exit(main())
