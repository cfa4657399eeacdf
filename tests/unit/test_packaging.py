"""What a non-editable install ships: every package of the source tree is listed."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_listed_for_setuptools() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "graphnet").rglob("__init__.py")
    }
    assert found, "no package found under graphnet/"
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
