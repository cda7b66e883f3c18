"""The training configuration: one dataclass shared by `cnn-tui train`, the app and sessions."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from .datasets import DATASETS, DEFAULT_DATASET

OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")
DATA_DIR_ENV = "CNN_TUI_DATA"


@dataclass
class TrainConfig:
    """How to train. Defaults are the reference configuration of SPEC §1 (plus shuffling)."""

    dataset: str = DEFAULT_DATASET
    data_dir: str | None = None  # None: $CNN_TUI_DATA, else ./data
    epochs: int = 5
    batch_size: int = 100
    lr: float = 0.01
    optimizer: str = "adam"
    momentum: float = 0.9  # SGD only
    seed: int = 0
    shuffle: bool = True
    device: str = "auto"
    threads: int | None = None  # CPU threads for torch; None: cnn_tui.core.threads picks
    train_size: int | None = None  # None: the whole training set (synthetic: 6,000)
    test_size: int | None = None  # None: the whole test set (synthetic: 1,000)
    input_shape: tuple[int, int, int] | None = None  # synthetic only: C, H, W

    def validate(self) -> None:
        """Raise ValueError naming the option that is wrong and what it accepts."""
        if self.dataset not in DATASETS:
            raise ValueError(f'unknown dataset "{self.dataset}"; choose one of {", ".join(DATASETS)}')
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f'unknown optimizer "{self.optimizer}"; choose adam or sgd')
        if self.device not in DEVICES:
            raise ValueError(f'unknown device "{self.device}"; choose one of {", ".join(DEVICES)}')
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("train_size", "test_size", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if not self.lr > 0 or self.lr != self.lr or self.lr == float("inf"):
            raise ValueError(f"--lr must be a positive number, got {self.lr}")
        if self.input_shape is not None and self.dataset != "synthetic":
            raise ValueError("--input sets the shape of --dataset synthetic only; real datasets have their own")

    def for_architecture(self, arch: Any) -> "TrainConfig":
        """Synthetic data takes the architecture's input shape when none was asked for."""
        if self.dataset == "synthetic" and self.input_shape is None and getattr(arch, "input", None):
            return replace(self, input_shape=tuple(arch.input))
        return self

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir or os.environ.get(DATA_DIR_ENV) or "data")

    @property
    def input(self) -> tuple[int, int, int]:
        """The C, H, W of the images the model will see."""
        if self.dataset == "synthetic" and self.input_shape is not None:
            return tuple(self.input_shape)  # type: ignore[return-value]
        return DATASETS[self.dataset].input_shape

    @property
    def classes(self) -> int:
        return DATASETS[self.dataset].classes

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.input_shape is not None:
            data["input_shape"] = list(self.input_shape)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainConfig":
        """Rebuild from session.json; unknown keys (from newer versions) are ignored.
        A value of the wrong type is a ValueError naming the field."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            expected = _JSON_TYPES.get(f.name, (object,))
            if value is None and f.name in _OPTIONAL_FIELDS:
                values[f.name] = None
                continue
            if isinstance(value, bool) and bool not in expected or not isinstance(value, expected):
                raise ValueError(f"{f.name} is {value!r:.40}, not {' or '.join(t.__name__ for t in expected)}")
            values[f.name] = value
        if values.get("input_shape") is not None:
            shape = values["input_shape"]
            if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
                raise ValueError(f"input_shape is {shape!r:.40}, not three positive whole numbers")
            values["input_shape"] = tuple(shape)
        return cls(**values)


# The JSON types session.json may hold for each field (ints are accepted where floats are).
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "dataset": (str,), "data_dir": (str,), "epochs": (int,), "batch_size": (int,), "lr": (float, int),
    "optimizer": (str,), "momentum": (float, int), "seed": (int,), "shuffle": (bool,), "device": (str,),
    "train_size": (int,), "test_size": (int,), "input_shape": (list, tuple), "threads": (int,),
}
_OPTIONAL_FIELDS = {"data_dir", "train_size", "test_size", "input_shape", "threads"}
