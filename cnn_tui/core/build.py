"""The one place where an architecture becomes a real `torch.nn.Module`: each layer's module
comes from its type's record (`layers.TYPES`); this file walks the layers and adds what sits
between them."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .layers import make_modules
from .shapes import infer_shapes
from .spec import Architecture


class Residual(nn.Module):
    """A block's layers (`body`) with its input added to their output, through `shortcut`
    (a 1×1 conv and batchnorm) when the shapes differ. No activation after the add."""

    def __init__(self, body: nn.Sequential, shortcut: nn.Module | None) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


class _Modules:
    """torch's `nn` with `Residual` beside its modules: what the records build from."""

    Residual = Residual

    def __getattr__(self, name: str) -> Any:
        return getattr(nn, name)


def build_model(arch: Architecture, input_shape: tuple[int, int, int] | None = None) -> nn.Sequential:
    """Build the network; raises ArchitectureError for an invalid architecture.

    Modules are created in layer order, so under the same `torch.manual_seed` the weights
    equal those of a hand-written module that declares its layers in the same order.
    """
    summary = infer_shapes(arch, input_shape)
    summary.raise_for_error()
    return nn.Sequential(*make_modules(arch.layers, summary.layers, _Modules()))


# Max pooling commutes with every activation that never decreases: relu(maxpool(x)) equals
# maxpool(relu(x)) value for value, and so do their gradients (the pool routes each gradient
# to its window's maximum either way; the activation zeroes or scales it there either way).
# Pooled first, the activation touches a quarter of the values behind a 2×2 pool.
_NON_DECREASING = (nn.ReLU, nn.LeakyReLU)


def pool_before_activation(model: nn.Module) -> int:
    """In every Sequential, move each max pool in front of the activation before it; the
    same function, cheaper. No parameter moves, so state dicts and checkpoints are unchanged.
    Returns how many pairs were swapped."""
    swapped = 0
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        layers = module._modules
        names = list(layers)
        for first, second in zip(names, names[1:]):
            if isinstance(layers[first], _NON_DECREASING) and isinstance(layers[second], nn.MaxPool2d):
                layers[first], layers[second] = layers[second], layers[first]
                swapped += 1
    return swapped


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["Residual", "build_model", "count_params", "pool_before_activation"]
