"""Data loading: decoded once, same images, order and scaling as torchvision's ToTensor()."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnn_tui.core.config import TrainConfig
from cnn_tui.core.data import DataError, load_data, scale, synthetic_split
from cnn_tui.words import worded

from ..conftest import needs_real_data, real_data_dir


def test_idx_files_load_exactly(idx_data):
    root, arrays = idx_data
    train, test = load_data(TrainConfig(data_dir=str(root)), download=False)
    images, labels = arrays["train"]
    assert train.images.dtype == torch.uint8 and train.images.shape == (300, 1, 28, 28)
    assert np.array_equal(train.images[:, 0].numpy(), images)
    assert np.array_equal(train.labels.numpy(), labels) and train.labels.dtype == torch.int64
    assert np.array_equal(test.images[:, 0].numpy(), arrays["t10k"][0])


def test_scaling_is_torchvisions_to_tensor(idx_data):
    import torchvision
    from torchvision import transforms

    root, _ = idx_data
    reference = torchvision.datasets.FashionMNIST(str(root), train=True, transform=transforms.ToTensor())
    train, _ = load_data(TrainConfig(data_dir=str(root)), download=False)
    batch = scale(train.images[:50])
    expected = torch.stack([reference[i][0] for i in range(50)])
    assert torch.equal(batch, expected)  # bit for bit


def test_sizes_take_the_first_images(idx_data):
    root, arrays = idx_data
    train, test = load_data(TrainConfig(data_dir=str(root), train_size=120, test_size=7), download=False)
    assert len(train) == 120 and len(test) == 7
    assert np.array_equal(train.labels.numpy(), arrays["train"][1][:120])


def test_missing_dataset_names_folder_files_and_the_way_out(tmp_path):
    with pytest.raises(DataError) as info:
        load_data(TrainConfig(data_dir=str(tmp_path / "empty")), download=False)
    message = str(info.value)
    assert str(tmp_path / "empty" / "FashionMNIST") in message
    assert "train-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert "dataset synthetic" in message and "$CNN_TUI_DATA" in message and "--" not in message  # neutral
    assert "set --data-dir or $CNN_TUI_DATA" in worded(info.value, "cli") and "--dataset synthetic" in worded(info.value, "cli")
    assert "train offline with data synthetic" in worded(info.value, "app")  # the app's field is "data"


def test_missing_cifar_is_named_too(tmp_path):
    with pytest.raises(DataError, match=r"cifar10 not found in .*cifar-10-batches-py.*data_batch_1"):
        load_data(TrainConfig(dataset="cifar10", data_dir=str(tmp_path)), download=False)


def test_damaged_file_is_reported(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x01garbage")
    with pytest.raises(DataError, match="cannot be read"):
        load_data(TrainConfig(data_dir=str(tmp_path)), download=False)


def test_synthetic_is_seeded_any_shape_and_split():
    a = synthetic_split(50, (3, 9, 13), 10, seed=4, train=True)
    b = synthetic_split(50, (3, 9, 13), 10, seed=4, train=True)
    c = synthetic_split(50, (3, 9, 13), 10, seed=4, train=False)
    assert a.images.shape == (50, 3, 9, 13) and a.images.dtype == torch.uint8
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    train, test = load_data(TrainConfig(dataset="synthetic", input_shape=(2, 16, 16), train_size=64, test_size=32))
    assert train.images.shape == (64, 2, 16, 16) and len(test) == 32


@needs_real_data
def test_real_fashion_mnist_is_the_official_set():
    train, test = load_data(TrainConfig(data_dir=str(real_data_dir())), download=False)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert abs(scale(train.images).mean().item() - 0.2860) < 1e-4
    assert torch.bincount(train.labels).tolist() == [6000] * 10
