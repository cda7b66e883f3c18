"""Starting architectures. `seed` is the reference network and the default everywhere."""

from __future__ import annotations

from typing import Any

from .spec import Architecture, ArchitectureError

DEFAULT_PRESET = "seed"


def _conv_bn_relu(channels: int, stride: int = 1) -> list[dict[str, Any]]:
    """A 3×3 conv that keeps the size (at stride 1), batchnorm (so no conv bias), relu."""
    conv = {"type": "conv2d", "out_channels": channels, "kernel_size": 3, "padding": 1, "bias": False}
    if stride != 1:
        conv["stride"] = stride
    return [conv, {"type": "batchnorm2d"}, {"type": "relu"}]


def _basic_block(channels: int, stride: int) -> list[dict[str, Any]]:
    """torchvision's BasicBlock: conv-bn-relu, conv-bn, the input added back, then relu."""
    body = [*_conv_bn_relu(channels, stride), *_conv_bn_relu(channels)[:2]]
    return [{"type": "residual", "layers": body}, {"type": "relu"}]

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
    # VGG with batchnorm after every conv (torchvision's vgg*_bn pattern), narrowed for
    # 32×32 inputs; 28×28 ones work too (28 → 14 → 7 → 3). The classifier normalises its
    # hidden layer with batchnorm1d.
    "vgg-bn": {
        "input": [3, 32, 32],
        "layers": [
            *_conv_bn_relu(32), {"type": "maxpool2d", "kernel_size": 2},
            *_conv_bn_relu(64), {"type": "maxpool2d", "kernel_size": 2},
            *_conv_bn_relu(128), *_conv_bn_relu(128), {"type": "maxpool2d", "kernel_size": 2},
            {"type": "flatten"},
            {"type": "linear", "out_features": 256, "bias": False},
            {"type": "batchnorm1d"},
            {"type": "relu"},
            {"type": "dropout", "p": 0.5},
            {"type": "linear", "out_features": 10},
        ],
    },
    # A small ResNet: a 3×3 stem, then three stages of torchvision's BasicBlock (two 3×3
    # convs with batchnorm, the input added back, relu after the add); the second and third
    # stages halve the size and double the channels, so their first block has a projection.
    # Sizes divide for 1×28×28 (28 → 14 → 7) and 3×32×32 (32 → 16 → 8) alike.
    "resnet-small": {
        "input": [1, 28, 28],
        "layers": [
            *_conv_bn_relu(16),
            *_basic_block(16, 1), *_basic_block(32, 2), *_basic_block(64, 2),
            {"type": "adaptiveavgpool2d", "output_size": 1},
            {"type": "flatten"},
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
