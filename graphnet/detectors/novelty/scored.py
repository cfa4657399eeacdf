"""What scoring a window's connections produces and its explanations read.

`PairKeys`: each distinct (src, dst) of the observations located at every level of the
back-off (fingerprint host, pair, subnet pair, zone codes); `Scored`: the per-connection frame
with the parts matrix, the component values, those keys, the fingerprint and the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from graphnet.detectors.novelty.fingerprints import Fingerprints
from graphnet.detectors.novelty.parts import NoveltyParams


@dataclass
class PairKeys:
    """Per distinct (src, dst) of the observations: their codes at every level."""

    codes: np.ndarray  # row -> distinct pair
    src: np.ndarray  # host ids
    dst: np.ndarray
    src_fp: np.ndarray  # fingerprint host code or -1
    dst_fp: np.ndarray
    pair: np.ndarray  # fingerprint pair code or -1
    sp: np.ndarray  # fingerprint subnet-pair code or -1
    src_zone: np.ndarray  # 1 internal, 0 external
    dst_zone: np.ndarray
    src_sub: np.ndarray  # fingerprint subnet code or -1
    dst_sub: np.ndarray

    def level_key(self, level: str) -> np.ndarray:
        if level == "pair":
            return self.pair
        if level == "client":
            return self.src_fp
        if level == "server":
            return self.dst_fp
        if level == "subnet_pair":
            return self.sp
        if level == "zone_pair":
            return self.src_zone * 2 + self.dst_zone
        return np.zeros(len(self.pair), dtype=np.int64)


@dataclass
class Scored:
    """Connection scores plus what explanations need."""

    frame: pd.DataFrame  # per connection (indexed like the observations)
    parts: np.ndarray  # rows x PARTS excess bits
    values: pd.DataFrame  # the component values of each connection
    keys: PairKeys
    fp: Fingerprints
    params: NoveltyParams
    extra: dict[str, Any] = field(default_factory=dict)
