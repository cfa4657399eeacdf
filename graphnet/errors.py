"""Named exceptions. The CLI maps each to a one-line message and an exit code."""

from __future__ import annotations

import errno
import os
from typing import TypeGuard


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


class DiskFull(GraphnetError):
    """A file could not be written: no space left on its device (or the disk quota is used up).
    What was being written is removed again, so nothing half-written stays behind."""

    exit_code = 9

    @classmethod
    def writing(cls, what: str, where: object, exc: OSError) -> DiskFull:
        """`what` could not be written to `where` (a file or folder) because of `exc`."""
        reason = os.strerror(exc.errno or errno.ENOSPC).lower()  # or: disk quota exceeded
        return cls(
            f"{reason}: could not write {what} to {where}",
            hint=(
                f"free space on the disk that holds {where} (`df -h` shows how much is left), "
                "then re-run the same command: what was not written is done again, what was "
                "done is not repeated"
            ),
        )


class EngineOutOfMemory(GraphnetError, MemoryError):
    """The analytical engine needed more memory than `GRAPHNET_ENGINE_MEMORY` allows for a
    statement it could not spill to disk."""

    exit_code = 10

    @classmethod
    def running(cls, statement: str, limit: str, threads: int, detail: str) -> EngineOutOfMemory:
        first = detail.strip().splitlines()[0] if detail.strip() else "out of memory"
        return cls(
            f"the {statement} statement needs more memory than the engine's {limit} "
            f"(GRAPHNET_ENGINE_MEMORY) and could not spill to disk: {first}",
            hint=(
                "raise GRAPHNET_ENGINE_MEMORY (e.g. GRAPHNET_ENGINE_MEMORY=4GB), or use fewer "
                f"threads (GRAPHNET_ENGINE_THREADS, now {threads}), then re-run the same command"
            ),
        )


def is_disk_full(exc: BaseException) -> TypeGuard[OSError]:
    """An OSError saying the device is full or the disk quota used up."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
