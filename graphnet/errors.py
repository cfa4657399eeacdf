"""Named exceptions. The CLI maps each to a one-line message and an exit code."""

from __future__ import annotations


class GraphnetError(Exception):
    """Base class: the message is shown to the user as is, with `hint` after it."""

    exit_code = 1
    hint: str = ""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint


class ConfigError(GraphnetError):
    exit_code = 2


class InputError(GraphnetError):
    """A file that cannot be read as any supported format (or is truncated/unreadable)."""

    exit_code = 3


class Neo4jUnavailable(GraphnetError):
    """No Neo4j server answers at the configured address, or authentication failed."""

    exit_code = 4


class Neo4jProvisionError(GraphnetError):
    """The local Neo4j could not be installed or started."""

    exit_code = 5


class StoreError(GraphnetError):
    """A database operation failed after retries; the operation can be re-run safely."""

    exit_code = 6


class NotEnoughHistory(GraphnetError):
    exit_code = 7
