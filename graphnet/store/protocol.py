"""What callers of the graph store may use: the store's methods as a protocol, so that code
above the store is typed against this contract rather than against the driver's classes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import pandas as pd


class GraphStore(Protocol):
    """Statements are run by name (`graphnet/cypher/<name>.cypher`) with `$parameters` only."""

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]: ...

    def frame(self, name: str, **params: Any) -> pd.DataFrame: ...

    def read_values(self, name: str, **params: Any) -> list[dict[str, Any]]: ...

    def write(self, name: str, **params: Any) -> list[dict[str, Any]]: ...

    def write_batches(
        self,
        name: str,
        rows: Iterable[dict[str, Any]],
        batch_size: int = ...,
        progress: Callable[[int], None] | None = ...,
        **params: Any,
    ) -> int: ...
