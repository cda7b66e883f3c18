"""Shared fixtures. Real-data tests find FashionMNIST through $CNN_TUI_DATA (see README)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def real_data_dir() -> Path | None:
    root = os.environ.get("CNN_TUI_DATA")
    if root and (Path(root) / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        return Path(root)
    return None


needs_real_data = pytest.mark.skipif(
    real_data_dir() is None,
    reason="needs the real FashionMNIST: set CNN_TUI_DATA to a folder holding FashionMNIST/raw/",
)
