"""The training configuration: one dataclass shared by `cnn-tui train`, the app and sessions."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..words import SettingError
from .datasets import DATASETS, DEFAULT_DATASET
from .spec import digit_count, format_shape, show

OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")
AMP_DTYPES = ("bf16", "fp16")  # mixed precision's lower precision; None: float32 throughout
DATA_DIR_ENV = "CNN_TUI_DATA"

# torch seeds a generator with a 64-bit unsigned integer, and synthetic data derives its
# test split's seed as 2·seed + 2: this bound keeps both in range.
MAX_SEED = 2**63 - 2
# CUDA kernels index a batch with 32-bit integers, and no machine holds a batch of
# two billion images; the bound also keeps every memory figure a printable number.
MAX_BATCH = 2**31 - 1
# At least 784 GB of uint8 even at 1×28×28: past this no machine holds the dataset, and
# generating synthetic images would die in the allocator rather than say so.
MAX_IMAGES = 10**9
MAX_THREADS = 4096


INPUT_RULE = (
    "The input shape is --input when given, else the architecture's \"input\", else the "
    "dataset's image shape (fashion-mnist's 1×28×28 when no dataset is named; the default "
    "network, with no file and no --preset, always follows the dataset). Images from a real "
    "dataset must have that shape: a mismatch is an error. Synthetic images take any shape."
)


def resolve_input(
    explicit: tuple[int, int, int] | None,
    arch_input: tuple[int, int, int] | None,
    dataset: str | None,
) -> tuple[int, int, int]:
    """The one rule for the C, H, W a run's network sees (INPUT_RULE says it in words).

    `dataset` is None where no images are involved (`cnn-tui summary` without --dataset).
    Raises ValueError when the chosen shape cannot be the images of a real dataset.
    """
    info = DATASETS[dataset or DEFAULT_DATASET]
    shape = tuple(explicit or arch_input or info.input_shape)
    if dataset is None or dataset == "synthetic" or shape == info.input_shape:
        return shape  # type: ignore[return-value]
    others = [name for name, other in DATASETS.items() if other.input_shape == shape and name != "synthetic"]
    datasets = " or ".join(f"{{dataset}} {name}" for name in [*others, "synthetic"])
    if explicit:
        raise SettingError(f"{{input_shape}} {','.join(map(str, shape))} does not match {dataset}'s "
                           f"{format_shape(info.input_shape)} images; leave {{input_shape}} out, or use {datasets}",
                           "input_shape")
    raise SettingError(f"the architecture's input is {format_shape(shape)} but {dataset} images are "
                       f"{format_shape(info.input_shape)}; use {datasets}, or set {{input_shape}} "
                       f"{','.join(map(str, info.input_shape))} to build it for {dataset}", "dataset")


def _brief(value: int) -> str:
    """An int for a message; str() refuses past 4,300 digits, and 30 are plenty."""
    if abs(value) < 10**30:
        return str(value)
    return f"{'-' if value < 0 else ''}a {digit_count(value)}-digit number"


@dataclass
class TrainConfig:
    """How to train. Defaults are the reference configuration (plus shuffling)."""

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
    input_shape: tuple[int, int, int] | None = None  # --input; kept for synthetic data only
    amp: str | None = None  # mixed precision: bf16 or fp16 forward passes, float32 weights; None: off

    def validate(self) -> None:
        """Raise SettingError naming the setting that is wrong, what it accepts, and a value
        that works where there is one."""
        if self.dataset not in DATASETS:
            raise SettingError(f'{{dataset}} {show(self.dataset)} is unknown; choose one of {", ".join(DATASETS)}',
                               "dataset")
        if self.optimizer not in OPTIMIZERS:
            raise SettingError(f"{{optimizer}} {show(self.optimizer)} is unknown; choose adam or sgd", "optimizer")
        if self.device not in DEVICES:
            raise SettingError(f'{{device}} {show(self.device)} is unknown; choose one of {", ".join(DEVICES)}',
                               "device")
        for name in ("epochs", "batch_size", "seed", "train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise SettingError(f"{{{name}}} must be a whole number, got {show(value)}", name)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise SettingError(f"{{{name}}} must be at least 1, got {_brief(getattr(self, name))}", name,
                                   _default(name))
        if self.batch_size > MAX_BATCH:
            raise SettingError(f"{{batch_size}} must be at most {MAX_BATCH:,}, got {_brief(self.batch_size)}",
                               "batch_size", _default("batch_size"))
        if self.threads is not None and not 1 <= self.threads <= MAX_THREADS:
            raise SettingError(f"{{threads}} must be from 1 to {MAX_THREADS}, got {_brief(self.threads)}", "threads")
        for name in ("train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SettingError(f"{{{name}}} must be at least 1, got {_brief(value)}", name)
            if value is not None and value > MAX_IMAGES:
                raise SettingError(f"{{{name}}} {_brief(value)} is too many images (at most {MAX_IMAGES:,}); "
                                   "ask for fewer", name)
        if not 0 <= self.seed <= MAX_SEED:
            raise SettingError(f"{{seed}} must be between 0 and {MAX_SEED}, got {_brief(self.seed)}", "seed", 0)
        for name in ("lr", "momentum"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise SettingError(f"{{{name}}} must be a number, got {show(value)}", name)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SettingError(f"{{lr}} must be a positive number, got {self.lr}", "lr", _default("lr"))
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise SettingError(f"{{momentum}} must be at least 0 and below 1, got {self.momentum}", "momentum", _default("momentum"))
        if self.amp is not None and self.amp not in AMP_DTYPES:
            raise SettingError(f"{{amp}} {show(self.amp)} is unknown; choose {' or '.join(AMP_DTYPES)}, or leave it out",
                               "amp")
        resolve_input(self.input_shape, None, self.dataset)

    def for_architecture(self, arch: Any) -> "TrainConfig":
        """This configuration with the input shape settled for `arch` by `resolve_input`
        (kept in `input_shape` for synthetic data only). Raises ValueError on a mismatch."""
        shape = resolve_input(self.input_shape, getattr(arch, "input", None), self.dataset)
        return replace(self, input_shape=shape).input_kept_for_synthetic()

    def notes_at_start(self, device: str, train_samples: int) -> list[SettingError]:
        """What is worth saying once a run is set up: settings that work, but not as their
        user likely expects on this data and this device (`device` as resolved: "cpu",
        "cuda:0", ...). Each is worded for the command line or the app by its reader."""
        notes = []
        if self.batch_size > train_samples:
            notes.append(SettingError(f"{{batch_size}} {self.batch_size} is more than the {train_samples:,} "
                                      "training images: each epoch is one batch of them all", "batch_size"))
        if self.amp == "fp16" and device == "cpu":
            notes.append(SettingError("{amp} fp16 has no fast kernels on a CPU: this run is many times slower "
                                      "than in float32", "amp", "bf16"))
        return notes

    def input_kept_for_synthetic(self) -> "TrainConfig":
        """An input shape is a setting of synthetic data only: a real dataset's images have
        their own, so it is dropped there (the architecture is built for the images)."""
        return self if self.dataset == "synthetic" else replace(self, input_shape=None)

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
    "amp": (str,),
}
_OPTIONAL_FIELDS = {"data_dir", "train_size", "test_size", "input_shape", "threads", "amp"}


def _default(name: str) -> Any:
    """A TrainConfig field's default: the value an error suggests when one was out of range."""
    return next(f.default for f in fields(TrainConfig) if f.name == name)
