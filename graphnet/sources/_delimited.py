"""Shared machinery of the header-first delimited formats (CIDDS CSV, binetflow, nfdump CSV).

The first non-blank line is the header; every other non-blank line is a record with as many
fields as the header (no quoting). Fields are read as text by pyarrow's CSV reader and converted
column by column by the format's `normalise`. A record line holding a NUL byte is a reject; a
header line holding one fails the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from graphnet.errors import InputError
from graphnet.sources import _convert as cv
from graphnet.sources._io import Lines, decode_header, parser_block, stream_lines
from graphnet.sources._model import Chunk


class DelimitedReader:
    #: human name of the format for error messages
    title = "CSV"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.name = str(path)
        self.chunk_rows = chunk_rows
        self.columns: list[str] | None = None
        self.delimiter = ","
        self.done = False  # set by stop_rows: the rest of the file is not records

    # ---------------------------------------------------------------- per format
    def read_header(self, text: str, where: str) -> list[str]:
        """Check the header line; return the column names (may set self.delimiter)."""
        raise NotImplementedError

    def stop_rows(self, lines: Lines, idx: np.ndarray) -> int | None:
        """Position in `idx` of a line where the records end (e.g. nfdump's Summary)."""
        return None

    def normalise(self, batch: cv.Batch, raw: pa.Table) -> dict[str, Any]:
        raise NotImplementedError

    # ---------------------------------------------------------------- driver
    def __iter__(self) -> Iterator[Chunk]:
        lines_iter = stream_lines(self.path, self.chunk_rows)
        try:
            for lines in lines_iter:
                if self.done:
                    break
                chunk = self._block(lines)
                if chunk is not None:
                    yield chunk
        finally:
            lines_iter.close()

    def _block(self, lines: Lines) -> Chunk | None:
        idx = np.flatnonzero(~lines.blank()).astype(np.int64)
        if self.columns is None:
            if not len(idx):
                return None
            h = int(idx[0])
            raw = lines.content(h)
            where = f"{self.name}:{lines.first + h}"
            if b"\x00" in raw:
                raise InputError(f"{where}: NUL byte in a header line",
                                 hint=f"the {self.title} header decides how every record is "
                                      "read: the file is left out")
            self.columns = self.read_header(decode_header(raw), where)
            idx = idx[1:]
        stop = self.stop_rows(lines, idx)
        if stop is not None:
            idx = idx[:stop]
            self.done = True
        if not len(idx):
            return None
        rejects, idx = cv.split_nul(self.name, lines, idx)
        if not len(idx):
            return cv.finish([], rejects, 0)
        bad_utf = lines.bad_utf8()[idx]
        if bad_utf.any():
            rejects += cv.line_rejects(self.name, lines, idx[bad_utf], "invalid UTF-8")
            idx = idx[~bad_utf]
        if not len(idx):
            return cv.finish([], rejects, 0)
        block = parser_block(lines, idx)
        raw, invalid = self._parse(lines.gather(idx), block)
        if invalid:
            nf = len(self.columns)
            seps = lines.count_byte(ord(self.delimiter))[idx]
            wrong = seps != nf - 1
            got = dict(zip(idx[wrong].tolist(), (seps[wrong] + 1).tolist(), strict=True))
            rejects += cv.line_rejects(self.name, lines, idx[wrong],
                                       lambda li: f"expected {nf} fields, got {got[li]}")
            idx = idx[~wrong]
            if not len(idx):
                return cv.finish([], rejects, 0)
            raw, invalid = self._parse(lines.gather(idx), block)
        if invalid or raw.num_rows != len(idx):
            raise InputError(f"{self.name}: cannot split the records near line "
                             f"{lines.first + int(idx[0])} into fields")
        batch = cv.Batch(self.name, lines, idx)
        cols = self.normalise(batch, raw)
        table = cv.build_table(batch, cols)
        return cv.finish([table], rejects + batch.rejects(), batch.skipped)

    def _parse(self, data: pa.Buffer, block: int) -> tuple[pa.Table, int]:
        assert self.columns is not None
        names = [f"c{i}" for i in range(len(self.columns))]
        invalid = [0]

        def on_invalid(row: Any) -> str:
            invalid[0] += 1
            return "skip"

        table = pcsv.read_csv(
            pa.BufferReader(data),
            read_options=pcsv.ReadOptions(column_names=names,
                                              block_size=block),
            parse_options=pcsv.ParseOptions(
                delimiter=self.delimiter, quote_char=False, double_quote=False,
                escape_char=False, newlines_in_values=False, ignore_empty_lines=False,
                invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False, check_utf8=False),
        )
        return table.rename_columns(self.columns), invalid[0]
