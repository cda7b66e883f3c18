"""Datasets, decoded once into one uint8 tensor per split.

No per-sample PIL / ToTensor work: torchvision reads the files once (`.data`), the tensors
move to the training device once, and batches are sliced there. Scaling is the reference's
`ToTensor()` exactly: `uint8.float().div(255)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..words import blaming
from .config import DATA_DIR_ENV, TrainConfig
from .datasets import DATASETS, DatasetInfo, missing_files

SYNTHETIC_TRAIN = DATASETS["synthetic"].train_images
SYNTHETIC_TEST = DATASETS["synthetic"].test_images


class DataError(Exception):
    """The dataset cannot be had: says which directory and files, and what to do."""


@dataclass
class Split:
    """One split: images (N, C, H, W) uint8 and labels (N,) int64, on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device) -> "Split":
        return Split(self.images.to(device), self.labels.to(device))

    def head(self, n: int | None) -> "Split":
        """The first n samples (the reference order is kept)."""
        return self if n is None or n >= len(self) else Split(self.images[:n], self.labels[:n])


def scale(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [0, 1], exactly as torchvision's ToTensor() does it."""
    return images.float().div(255)


def _missing(info: DatasetInfo, root: Path, why: str) -> DataError:
    """The dataset is not there: where it was looked for, and the settings that fix it."""
    folder = root / info.folder
    files = ", ".join(f.split("/")[-1] for f in info.files)
    return blaming(
        DataError,
        f"{info.name} not found in {folder} ({why}); expected {files} there"
        f" (set {{data_dir}} or ${DATA_DIR_ENV} to the folder holding {info.folder}/),"
        " or train offline with {dataset} synthetic",
    )


def _torchvision_split(info: DatasetInfo, root: Path, train: bool, download: bool) -> Split:
    import torchvision.datasets as tvd

    cls = {"fashion-mnist": tvd.FashionMNIST, "mnist": tvd.MNIST, "kmnist": tvd.KMNIST,
           "cifar10": tvd.CIFAR10}[info.name]
    missing = missing_files(info, root)
    if missing and not download:
        raise _missing(info, root, "files missing")
    try:  # torchvision shows a progress bar on stderr while it downloads
        dataset = cls(str(root), train=train, download=bool(missing))
    except Exception as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        if missing:  # offline: URLError, RuntimeError, OSError ...
            raise _missing(info, root, f"download failed: {detail[:120]}")
        raise DataError(f"{info.name} in {root / info.folder} cannot be read ({detail[:160]}); "
                        "replace the damaged files or delete them to download again") from None
    images = dataset.data
    if not isinstance(images, torch.Tensor):  # CIFAR: numpy (N, H, W, C)
        images = torch.from_numpy(images).permute(0, 3, 1, 2)
    elif images.dim() == 3:  # MNIST family: (N, H, W)
        images = images.unsqueeze(1)
    labels = dataset.targets
    labels = labels.clone() if isinstance(labels, torch.Tensor) else torch.tensor(labels)
    return Split(images.contiguous(), labels.to(torch.int64))


def synthetic_split(
    n: int, shape: tuple[int, int, int], classes: int, seed: int, train: bool
) -> Split:
    """A learnable image set made from the seed: each class is a smooth random pattern;
    samples are that pattern shifted by up to 2 pixels, dimmed, and noised."""
    c, h, w = shape
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(classes, c, max(2, math.ceil(h / 4)), max(2, math.ceil(w / 4)), generator=gen)
    prototypes = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    gen.manual_seed(seed * 2 + (1 if train else 2))  # train and test differ, prototypes shared
    # Every prototype under each of the 25 shifts of up to 2 pixels; a sample picks one.
    shifted = torch.stack(
        [torch.roll(prototypes, shifts=(dy, dx), dims=(2, 3)) for dy in range(-2, 3) for dx in range(-2, 3)],
        dim=1,
    )  # (classes, 25, C, H, W)
    labels = torch.randint(0, classes, (n,), generator=gen)
    images = shifted[labels, torch.randint(0, 25, (n,), generator=gen)]
    brightness = 0.6 + 0.4 * torch.rand(n, 1, 1, 1, generator=gen)
    noise = 0.3 * torch.randn(n, c, h, w, generator=gen)
    images = ((images * brightness + noise).clamp(0, 1) * 255).round().to(torch.uint8)
    return Split(images.contiguous(), labels.to(torch.int64))


def ensure_dataset(config: TrainConfig, download: bool = True) -> None:
    """Checked before a session is written: the dataset's files are there, or are fetched
    now (where the network allows); otherwise a DataError that says where and what."""
    info = DATASETS[config.dataset]
    root = config.resolved_data_dir()
    if not missing_files(info, root):
        return
    for train in (True, False):
        _torchvision_split(info, root, train, download)


def load_test(config: TrainConfig) -> Split:
    """The test split alone, as `load_data` gives it (for predictions on a trained network)."""
    info = DATASETS[config.dataset]
    if config.dataset == "synthetic":
        return synthetic_split(config.test_size or SYNTHETIC_TEST, config.input, info.classes, config.seed, False)
    return _torchvision_split(info, config.resolved_data_dir(), False, False).head(config.test_size)


def load_data(config: TrainConfig, download: bool = True) -> tuple[Split, Split]:
    """The (train, test) splits of the configured dataset, on the CPU, cut to the sizes asked."""
    info = DATASETS[config.dataset]
    if config.dataset == "synthetic":
        shape = config.input
        train = synthetic_split(config.train_size or SYNTHETIC_TRAIN, shape, info.classes, config.seed, True)
        test = synthetic_split(config.test_size or SYNTHETIC_TEST, shape, info.classes, config.seed, False)
        return train, test
    root = config.resolved_data_dir()
    train = _torchvision_split(info, root, True, download)
    test = _torchvision_split(info, root, False, download)
    return train.head(config.train_size), test.head(config.test_size)
