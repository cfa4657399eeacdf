"""Rich progress display of an ingest (shared by `graphnet ingest` and `graphnet demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from graphnet.cli.common import err, shown


def progress_bar() -> Progress:
    """The transient progress display of a long command on stderr: description, bar, count,
    rows and elapsed time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def rich_ingest_progress(progress: Progress) -> Any:
    from graphnet import ingest as ingest_mod

    class RichIngestProgress(ingest_mod.Progress):
        def __init__(self) -> None:
            self.p = progress
            self.files_task: TaskID | None = None
            self.rows_task = progress.add_task("rows", total=None, rows=0)
            self.edges_task: TaskID | None = None
            self.total_rows = 0

        def files(self, total: int) -> None:
            self.files_task = self.p.add_task("files", total=total, rows=self.total_rows)

        def file_started(self, path: Path, size: int) -> None:
            self.p.update(self.rows_task, description=shown(path.name))

        def rows(self, n: int, nbytes: int) -> None:
            self.total_rows += n
            self.p.update(self.rows_task, advance=n, rows=self.total_rows)

        def file_done(self, result: Any) -> None:
            if self.files_task is not None:
                self.p.update(self.files_task, advance=1, rows=self.total_rows)

        def edges(self, written: int, total: int) -> None:
            if self.edges_task is None:
                self.edges_task = self.p.add_task("edges written", total=total, rows=0)
            self.p.update(self.edges_task, completed=written, total=total, rows=self.total_rows)

    return RichIngestProgress()
