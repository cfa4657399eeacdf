"""Window ids: computed once per distinct hour or day, the same as pandas' calendar of every
timestamp (the oracle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphnet import windows


def oracle(ts: np.ndarray, kind: str) -> list[str]:
    t = pd.to_datetime(pd.Series(ts), unit="s", utc=True)
    if kind == "week":
        iso = t.dt.isocalendar()
        return (iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)).tolist()
    return t.dt.strftime("%Y-%m-%d" if kind == "day" else "%Y-%m-%dT%H").tolist()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=4e9, allow_nan=False), max_size=50),
    st.sampled_from(windows.KINDS),
)
def test_window_ids_agree_with_the_calendar_of_every_timestamp(ts: list[float], kind: str) -> None:
    arr = np.array(ts, dtype="float64")
    assert windows.window_ids(arr, kind).tolist() == oracle(arr, kind)


@pytest.mark.parametrize(
    ("ts", "week", "hour"),
    [
        (1704067199.999, "2023-W52", "2023-12-31T23"),  # the last millisecond of 2023
        (1704067200.0, "2024-W01", "2024-01-01T00"),
        (1609459200.0, "2020-W53", "2021-01-01T00"),  # ISO year 2020 has 53 weeks
    ],
)
def test_boundaries(ts: float, week: str, hour: str) -> None:
    assert windows.window_of(ts, "week") == week
    assert windows.window_of(ts, "hour") == hour
