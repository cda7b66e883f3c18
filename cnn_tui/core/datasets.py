"""What each dataset is (shape, classes, files) without loading it: pure Python, no torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    input_shape: tuple[int, int, int]
    classes: int
    folder: str  # torchvision's folder under the data dir
    files: tuple[str, ...]  # what must be there for an offline load
    class_names: tuple[str, ...] = ()
    train_images: int = 0  # images in the full splits (synthetic: how many are generated)
    test_images: int = 0


_MNIST_FILES = (
    "raw/train-images-idx3-ubyte",
    "raw/train-labels-idx1-ubyte",
    "raw/t10k-images-idx3-ubyte",
    "raw/t10k-labels-idx1-ubyte",
)

DATASETS: dict[str, DatasetInfo] = {
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", (1, 28, 28), 10, "FashionMNIST", _MNIST_FILES,
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        60_000, 10_000,
    ),
    "mnist": DatasetInfo("mnist", (1, 28, 28), 10, "MNIST", _MNIST_FILES,
                         tuple(str(d) for d in range(10)), 60_000, 10_000),
    # Kuzushiji-MNIST: one cursive hiragana per class, named by its romanised reading.
    "kmnist": DatasetInfo("kmnist", (1, 28, 28), 10, "KMNIST", _MNIST_FILES,
                          ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), 60_000, 10_000),
    "cifar10": DatasetInfo(
        "cifar10", (3, 32, 32), 10, "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
        ("airplane", "automobile", "bird", "cat", "deer",
         "dog", "frog", "horse", "ship", "truck"),
        50_000, 10_000,
    ),
    # Generated in process; its shape follows --input, its sizes --train-size / --test-size.
    "synthetic": DatasetInfo("synthetic", (1, 28, 28), 10, "", (), tuple(f"class {i}" for i in range(10)),
                             6_000, 1_000),
}

DEFAULT_DATASET = "fashion-mnist"


def missing_files(info: DatasetInfo, root: Path) -> list[str]:
    """The files an offline load needs that are not under `root` (none for synthetic)."""
    return [f for f in info.files if not (root / info.folder / f).is_file()]

