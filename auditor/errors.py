"""Errors raised by auditor, and the exit codes the CLI maps them to.

The hierarchy::

    AuditorError                      (exit 1)  base class; never raised directly
    +-- UsageError                    (exit 2)  bad options or arguments
    +-- ConfigError                   (exit 2)  audit.toml, a policy, a rule or registry file is invalid
    +-- InputError                    (exit 3)  an input corpus cannot be read as promised
    |   +-- FormatError               (exit 3)  unknown, undetectable or corrupt format
    |   +-- ColumnError               (exit 3)  a required column (e.g. the text column) is missing
    +-- ManifestError                 (exit 3)  a manifest to read (decide, explain, --against) is invalid

Exit codes of the CLI: 0 ok; 1 findings when ``--fail-on`` is given (not an error); 2 usage or
configuration; 3 input error. Every message names the file, and the record or line where known.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INPUT = 3


class AuditorError(Exception):
    """Base of all errors auditor raises on purpose."""

    exit_code = EXIT_FINDINGS


class UsageError(AuditorError):
    """Bad options or arguments."""

    exit_code = EXIT_USAGE


class ConfigError(AuditorError):
    """A configuration, policy, rule or registry file is invalid.

    The message names the file, the key or line, and what is allowed.
    """

    exit_code = EXIT_USAGE


class InputError(AuditorError):
    """An input corpus cannot be read."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}"
            if row is not None:
                where += f" (row {row})"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.row = row


class FormatError(InputError):
    """Unknown, undetectable or corrupt input format."""


class ColumnError(InputError):
    """A required column is missing from an input."""


class ManifestError(AuditorError):
    """A manifest given as input is missing files or is not schema-compatible."""

    exit_code = EXIT_INPUT
