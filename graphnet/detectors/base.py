"""The contract every detector follows (in the spirit of pyod's BaseDetector).

`fit` learns from a window of history (never from the window being scored); `score` returns,
for each observation, a score where higher means more anomalous, the named parts that make it up
(`part_<name>` columns) and an `explanation` sentence an analyst reads without a manual.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self

import pandas as pd


class Detector(ABC):
    #: short name used in findings (`detector` property) and in the combined ranking
    name: str = "detector"

    @abstractmethod
    def fit(self, history: pd.DataFrame) -> Self:
        """Learn normal behaviour from earlier observations."""

    @abstractmethod
    def score(self, observations: pd.DataFrame) -> pd.DataFrame:
        """Return a frame indexed like `observations` with columns `score`, `part_*` and
        `explanation`. Higher score = more anomalous."""

    @staticmethod
    def check_scores(scores: pd.DataFrame, observations: pd.DataFrame) -> pd.DataFrame:
        """Validate a detector's output against the contract (used by tests and callers)."""
        missing = {"score", "explanation"} - set(scores.columns)
        if missing:
            raise ValueError(f"detector output lacks {sorted(missing)}")
        if not scores.index.equals(observations.index):
            raise ValueError("detector output must be indexed like the observations")
        return scores
