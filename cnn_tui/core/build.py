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


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["Residual", "build_model", "count_params"]
