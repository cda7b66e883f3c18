"""The one place where an architecture becomes a real `torch.nn.Module`."""

from __future__ import annotations

from torch import nn

from .shapes import infer_shapes
from .spec import Architecture, Layer


def _module(layer: Layer, in_shape: tuple[int, ...]) -> nn.Module:
    t, get, size = layer.type, layer.get, layer.size
    if t == "conv2d":
        padding = get("padding")
        return nn.Conv2d(
            in_shape[0], get("out_channels"), size("kernel_size"), stride=size("stride"),
            padding=padding if isinstance(padding, str) else size("padding"),
            dilation=size("dilation"), groups=get("groups"), bias=get("bias"),
        )
    if t == "maxpool2d":
        return nn.MaxPool2d(size("kernel_size"), size("stride"), size("padding"),
                            size("dilation"), ceil_mode=get("ceil_mode"))
    if t == "avgpool2d":
        return nn.AvgPool2d(size("kernel_size"), size("stride"), size("padding"),
                            ceil_mode=get("ceil_mode"))
    if t == "adaptiveavgpool2d":
        return nn.AdaptiveAvgPool2d(size("output_size"))
    if t == "batchnorm2d":
        return nn.BatchNorm2d(in_shape[0])
    if t == "dropout":
        return nn.Dropout(get("p"))
    if t == "dropout2d":
        return nn.Dropout2d(get("p"))
    if t == "relu":
        return nn.ReLU()
    if t == "leakyrelu":
        return nn.LeakyReLU(get("negative_slope"))
    if t == "sigmoid":
        return nn.Sigmoid()
    if t == "tanh":
        return nn.Tanh()
    if t == "gelu":
        return nn.GELU()
    if t == "flatten":
        return nn.Flatten()
    if t == "linear":
        features = 1
        for n in in_shape:
            features *= n
        return nn.Linear(features, get("out_features"), bias=get("bias"))
    raise AssertionError(f"no builder for {t}")


def build_model(arch: Architecture, input_shape: tuple[int, int, int] | None = None) -> nn.Sequential:
    """Build the network; raises ArchitectureError for an invalid architecture.

    Modules are created in layer order, so under the same `torch.manual_seed` the weights
    equal those of a hand-written module that declares its layers in the same order.
    A linear layer that follows a C×H×W output gets an `nn.Flatten` in front of it.
    """
    summary = infer_shapes(arch, input_shape)
    summary.raise_for_error()
    modules: list[nn.Module] = []
    for layer, info in zip(arch.layers, summary.layers):
        if info.implicit_flatten:
            modules.append(nn.Flatten())
        modules.append(_module(layer, info.input_shape))
    return nn.Sequential(*modules)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["build_model", "count_params"]
