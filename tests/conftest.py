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


def write_idx_dataset(root: Path, folder: str = "FashionMNIST", train: int = 300, test: int = 100, seed: int = 0):
    """Write a small, real-format IDX dataset (what torchvision reads) and return its arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        # Learnable: each class lights up its own band of rows, plus noise.
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, label * 2 + 4 : label * 2 + 7, :] = 200 + label * 5
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            (2051).to_bytes(4, "big") + n.to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big") + images.tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes((2049).to_bytes(4, "big") + n.to_bytes(4, "big") + labels.tobytes())
        arrays[prefix] = (images, labels)
    return arrays


@pytest.fixture
def idx_data(tmp_path):
    """A tiny FashionMNIST-format dataset under tmp_path/data; returns (root, arrays)."""
    root = tmp_path / "data"
    return root, write_idx_dataset(root)


@pytest.fixture(autouse=True)
def no_orphan_runs(tmp_path):
    """A test that starts background runs never leaves one training after it (even when it fails)."""
    yield
    import signal

    marker = str(tmp_path).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass
