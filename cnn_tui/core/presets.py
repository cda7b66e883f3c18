"""Starting architectures. `seed` is the reference network and the default everywhere."""

from __future__ import annotations

from typing import Any

from .spec import Architecture, ArchitectureError

DEFAULT_PRESET = "seed"

_PRESETS: dict[str, dict[str, Any]] = {
    # The classic beginner FashionMNIST CNN: 5 counted layers, 32,998 parameters.
    "seed": {
        "input": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "out_channels": 6, "kernel_size": 5},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
            {"type": "conv2d", "out_channels": 12, "kernel_size": 5},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
            {"type": "flatten"},
            {"type": "linear", "out_features": 120},
            {"type": "relu"},
            {"type": "linear", "out_features": 60},
            {"type": "relu"},
            {"type": "linear", "out_features": 10},
        ],
    },
    # LeNet-5 (LeCun et al., 1998) on 28×28: padding 2 on the first conv recreates the
    # original 32×32 input, tanh and average pooling as in the paper.
    "lenet5": {
        "input": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "out_channels": 6, "kernel_size": 5, "padding": 2},
            {"type": "tanh"},
            {"type": "avgpool2d", "kernel_size": 2},
            {"type": "conv2d", "out_channels": 16, "kernel_size": 5},
            {"type": "tanh"},
            {"type": "avgpool2d", "kernel_size": 2},
            {"type": "flatten"},
            {"type": "linear", "out_features": 120},
            {"type": "tanh"},
            {"type": "linear", "out_features": 84},
            {"type": "tanh"},
            {"type": "linear", "out_features": 10},
        ],
    },
    # A small VGG-style net for 3×32×32 (CIFAR-10): three blocks of two 3×3 convs.
    "vgg-small": {
        "input": [3, 32, 32],
        "layers": [
            {"type": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1},
            {"type": "batchnorm2d"},
            {"type": "relu"},
            {"type": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1},
            {"type": "batchnorm2d"},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel_size": 2},
            {"type": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1},
            {"type": "batchnorm2d"},
            {"type": "relu"},
            {"type": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1},
            {"type": "batchnorm2d"},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel_size": 2},
            {"type": "conv2d", "out_channels": 128, "kernel_size": 3, "padding": 1},
            {"type": "batchnorm2d"},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel_size": 2},
            {"type": "dropout", "p": 0.3},
            {"type": "linear", "out_features": 256},
            {"type": "relu"},
            {"type": "dropout", "p": 0.3},
            {"type": "linear", "out_features": 10},
        ],
    },
}

PRESET_NAMES = tuple(_PRESETS)


def preset(name: str) -> Architecture:
    """A fresh copy of a named preset."""
    try:
        data = _PRESETS[name]
    except KeyError:
        raise ArchitectureError(
            f'unknown preset "{name}"; choose one of {", ".join(PRESET_NAMES)}'
        ) from None
    return Architecture.from_dict(data)
