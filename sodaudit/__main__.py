"""``python -m sodaudit`` is the same as the ``sodaudit`` command."""

from sodaudit.cli import console_main

if __name__ == "__main__":
    console_main()
