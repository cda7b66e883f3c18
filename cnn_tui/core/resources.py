"""Will a run fit in memory? A pure-Python estimate from the analytic numbers, made before
anything is allocated, so a giant network is refused in one line instead of dying in the
allocator minutes later.

What one training step keeps alive at its peak, float32 throughout:
- the parameters, their gradients and the optimizer's state (Adam: two moments; SGD with
  momentum: one buffer);
- every layer's output for one batch, and as many bytes again for their gradients during
  the backward pass, plus the scaled input batch;
- the dataset itself, one uint8 tensor per split on the training device; synthetic images
  are generated through float32 temporaries (about three copies) first.

It is an estimate: allocator slack, cuDNN workspaces and the framework's own memory come on
top, so a run just under the line can still fail. `--force` skips the check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import prod
from typing import Sequence

from rich.filesize import decimal

from ..words import SettingError
from .config import TrainConfig
from .datasets import DATASETS
from .spec import BYTES_PER_FLOAT

SYNTHETIC_TEMPORARY_COPIES = 3  # float32 images, noise and their sum while generating


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one training step needs at its peak, by part."""

    params: int  # parameters + gradients + optimizer state
    activations: int  # layer outputs for one batch, their gradients, the input batch
    data: int  # the dataset on the device (and synthetic generation's temporaries)
    batch: int  # the batch the activations were counted for
    per_sample: int  # activation bytes that scale with the batch, per image

    @property
    def total(self) -> int:
        return self.params + self.activations + self.data


def split_sizes(config: TrainConfig) -> tuple[int, int]:
    """How many (train, test) images the run will hold."""
    info = DATASETS[config.dataset]
    if config.dataset == "synthetic":  # generated: exactly as many as asked
        return config.train_size or info.train_images, config.test_size or info.test_images
    return (min(config.train_size or info.train_images, info.train_images),
            min(config.test_size or info.test_images, info.test_images))


def estimate_training_memory(
    output_shapes: Sequence[Sequence[int]], total_params: int, config: TrainConfig
) -> MemoryEstimate:
    """The estimate for training a network whose layer outputs (one sample each) and
    parameter count are given, under `config` (batch size, optimizer, dataset sizes)."""
    optimizer_copies = 2 if config.optimizer == "adam" else (1 if config.momentum else 0)
    params = total_params * BYTES_PER_FLOAT * (2 + optimizer_copies)  # weights, grads, state
    train_n, test_n = split_sizes(config)
    batch = min(config.batch_size, train_n)
    image = prod(config.input)
    per_sample = (2 * sum(prod(shape) for shape in output_shapes) + image) * BYTES_PER_FLOAT
    data = (train_n + test_n) * (image + 8)  # uint8 pixels, int64 labels
    if config.dataset == "synthetic":
        data += max(train_n, test_n) * image * BYTES_PER_FLOAT * SYNTHETIC_TEMPORARY_COPIES
    return MemoryEstimate(params, batch * per_sample, data, batch, per_sample)


def available_cpu_memory(meminfo: str = "/proc/meminfo") -> int | None:
    """MemAvailable in bytes (what the kernel can hand out without swapping), or None."""
    try:
        with open(meminfo, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # reported in KiB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _gb(n: float) -> str:
    return decimal(int(n))


def memory_problem(estimate: MemoryEstimate, available: int | None, where: str,
                   config: TrainConfig) -> SettingError | None:
    """Why the run will not fit (one line, with a way out), or None when it fits or when
    the available memory is unknown."""
    if available is None or estimate.total <= available:
        return None
    room_for_batch = available - estimate.params - estimate.data
    fits = room_for_batch // estimate.per_sample if estimate.per_sample else 0
    if 1 <= fits < estimate.batch:
        fix = f"try {{batch_size}} {_round_down(fits)}"
    elif estimate.params >= estimate.activations and estimate.params >= estimate.data:
        fix = "use fewer channels or features"
    elif estimate.data > estimate.activations:
        fix = "use fewer images ({train_size}, {test_size})"
    else:
        fix = "use a smaller {batch_size} or fewer channels (smaller layer outputs)"
    return SettingError(
        f"training needs about {_gb(estimate.total)} (weights, gradients and optimizer state "
        f"{_gb(estimate.params)}; activations and their gradients for a batch of {estimate.batch} "
        f"{_gb(estimate.activations)}; data {_gb(estimate.data)}) but {where} has {_gb(available)} "
        f"available; {fix}, or pass {{force}} to try anyway"
    )


def _round_down(n: int) -> int:
    """A friendly batch size at most n: 1, 2, 5 times a power of ten."""
    power = 10 ** int(math.log10(n))
    return max(step * power for step in (1, 2, 5) if step * power <= n)


def check_training_memory(
    output_shapes: Sequence[Sequence[int]], total_params: int, config: TrainConfig, cuda_total: int | None = None
) -> SettingError | None:
    """The one call before training: against the GPU's total memory when the run will use
    one (the caller, who has torch, passes it in), else against the machine's available memory."""
    estimate = estimate_training_memory(output_shapes, total_params, config)
    if cuda_total is not None:
        return memory_problem(estimate, cuda_total, "the GPU", config)
    return memory_problem(estimate, available_cpu_memory(), "this machine", config)
