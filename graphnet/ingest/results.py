"""What an ingest reports: per file (`FileResult`), per run (`IngestResult`), and as it goes
(`Progress`, the callbacks of a front end)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FileResult:
    path: str
    format: str | None
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    status: str = "pending"  # ingested | resumed | already ingested | skipped | failed
    message: str = ""
    #: for an ingested or resumed file, which run committed its group's batches to the graph:
    #: "this run", "another run" (a concurrent ingest of the same file did it meanwhile, or a
    #: killed one) or "this and another run" (they shared the batches); empty otherwise
    ingested_by: str = ""
    rejects_file: str | None = None
    relative_ts: bool = False
    sha256: str = ""
    windows: list[str] = field(default_factory=list)
    #: dns / http records accepted (a file may hold connections and records: a mixed JSON log)
    records: dict[str, int] = field(default_factory=dict)
    #: the windows each record table was archived in
    record_windows: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class IngestResult:
    files: list[FileResult]
    seconds: float
    window_kind: str
    #: connections this run wrote to the graph: of concurrent ingests of the same files, these
    #: add up to the data once (`accepted` counts what each run parsed)
    written: int = 0
    #: how the window kind was chosen ("hour windows (auto: the data spans 55 minutes)")
    window_reason: str = ""

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [
                {k: v for k, v in asdict(f).items() if k not in ("sha256", "record_windows")}
                for f in self.files
            ],
            "accepted": self.accepted,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "window_kind": self.window_kind,
            "window_reason": self.window_reason,
            "written": self.written,
        }


class Progress:
    """Callbacks for a front end; the default does nothing."""

    def files(self, total: int) -> None: ...
    def file_started(self, path: Path, size: int) -> None: ...
    def rows(self, n: int, nbytes: int) -> None: ...
    def file_done(self, result: FileResult) -> None: ...
    def edges(self, written: int, total: int) -> None:
        """Edges of the group being loaded written so far (its files are done at the end)."""
