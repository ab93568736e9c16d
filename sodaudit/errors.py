"""Errors that end a run with exit code 2 and one sentence for the user.

Anything a dataset does wrong *inside* its files is not an error here: it is a
``LoadIssue`` that becomes a finding. These exceptions are for inputs that cannot
be audited at all (no such path, no recognisable layout, ambiguous layout, bad config), and
outputs that cannot be written where asked.
"""

from __future__ import annotations


class SodauditError(Exception):
    """Base class; ``str(err)`` is the one sentence shown on stderr."""

    exit_code = 2


class DatasetError(SodauditError):
    """The dataset path is missing, unreadable, empty or ambiguous."""


class ConfigError(SodauditError):
    """A configuration value or option is invalid."""


class OutputError(SodauditError):
    """An output cannot be written where the user asked: a path under a file, no permission,
    a full disk, a folder inside the dataset. The user's to fix, so exit 2, not a bug report."""
