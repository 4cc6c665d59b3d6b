"""Exit codes of every ``ccc-conformance`` command, in one place.

The verdict exit codes (0 CONFORMANT, 1 NON_CONFORMANT, 2 INCOMPLETE) are data: ``specs/terminology.yaml``
gives each overall verdict its ``exitCode`` (``verdicts.codes().exit_codes``). What is not a verdict lives here.
"""

from __future__ import annotations

USAGE = 3
"""A usage or configuration problem: one line on stderr, no report claimed."""

HARNESS_ERROR = 2
"""The harness itself failed: INCOMPLETE's exit code (nothing is claimed), so CI does not blame its configuration."""

INTERRUPTED = 130
"""Ctrl-C, as shells report SIGINT."""


class UsageError(Exception):
    """A usage or configuration problem found by a command: printed as one line, exit :data:`USAGE`."""
