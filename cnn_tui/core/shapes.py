"""Per-layer numbers: output shape, params, MACs, receptive field, memory.

Analytic and pure Python: this is what the editor recomputes on every keystroke and what
`cnn-tui summary` prints, so it must never import torch. torch is only the test oracle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd, prod
from typing import Any, Callable, NoReturn, Sequence

from .spec import (
    BYTES_PER_FLOAT,
    MAX_TENSOR_BYTES,
    Architecture,
    ArchitectureError,
    Layer,
    format_shape,
    parse_layer,
    parse_top_level,
)
ADAM_COPIES = 3  # a parameter plus Adam's two moment buffers

Shape = tuple[int, ...]
Pair = tuple[int, int]


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """Everything the summary knows about one layer."""

    index: int
    type: str
    settings: str
    input_shape: Shape
    output_shape: Shape
    params: int
    macs: int
    receptive_field: Pair | None  # None once the input is flat
    jump: Pair | None
    output_bytes: int  # the layer's output for one batch, float32
    implicit_flatten: bool = False  # a linear after a C×H×W output flattens first
    counted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "receptive_field": list(self.receptive_field) if self.receptive_field else None,
            "jump": list(self.jump) if self.jump else None,
            "output_bytes": self.output_bytes,
        }


@dataclass(frozen=True)
class ArchitectureSummary:
    """The per-layer table and totals. `error` is set (and `layers` stops) at the first bad layer."""

    input_shape: tuple[int, int, int]
    batch_size: int
    layers: list[LayerInfo] = field(default_factory=list)
    error: ArchitectureError | None = None
    layer_count: int = 0  # layers in the architecture, including any after the error

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape if self.layers else tuple(self.input_shape)

    @property
    def total_params(self) -> int:
        return sum(info.params for info in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(info.macs for info in self.layers)

    @property
    def counted_layers(self) -> int:
        return sum(info.counted for info in self.layers)

    @property
    def param_bytes(self) -> int:
        return self.total_params * BYTES_PER_FLOAT

    @property
    def train_state_bytes(self) -> int:
        """Parameters plus Adam's two moment buffers."""
        return self.param_bytes * ADAM_COPIES

    @property
    def activation_bytes(self) -> int:
        """All layer outputs for one batch (what the backward pass keeps alive, roughly)."""
        return sum(info.output_bytes for info in self.layers)

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error

    def to_json(self) -> dict[str, Any]:
        """The object `cnn-tui summary --json` prints."""
        return {
            "input": list(self.input_shape),
            "layers": [info.to_json() for info in self.layers],
            "total_params": self.total_params,
            "total_macs": self.total_macs,
            "counted_layers": self.counted_layers,
            "batch_size": self.batch_size,
            "param_bytes": self.param_bytes,
            "train_state_bytes": self.train_state_bytes,
            "activation_bytes": self.activation_bytes,
        }


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """PyTorch's formula: floor((in + 2p − d·(k−1) − 1)/s) + 1. The one place it lives."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """PyTorch's pooling size: the conv formula, rounded up under ceil_mode, but a window
    may not start inside the right padding."""
    if not ceil_mode:
        return conv_output_size(size, kernel, stride, padding, dilation)
    out = -(-(size + 2 * padding - dilation * (kernel - 1) - 1) // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def widest_adaptive_bin(size: int, out: int) -> int:
    """The widest of PyTorch's adaptive bins [floor(i·in/out), ceil((i+1)·in/out)), i < out.

    Closed form, so a huge `out` costs nothing: bin i is ceil((k_i + in)/out) wide, where
    k_i = i·in mod out. The k_i are exactly the multiples of g = gcd(in, out) below out,
    so the widest has k = out − g.
    """
    return -(-(size + out - gcd(size, out)) // out)


def _pairs(layer: Layer, *names: str) -> list[Pair]:
    return [layer.size(name) for name in names]


def _same_padding_hint(size: Pair, kernel: Pair, dilation: Pair) -> str:
    """Suggest the padding that keeps the spatial size at stride 1, or just lets it fit."""
    spans = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if all(span % 2 == 0 for span in spans):
        keep = (spans[0] // 2, spans[1] // 2)
        return f"padding {keep[0] if keep[0] == keep[1] else format_shape(keep)} keeps {format_shape(size)}"
    need = tuple(max(0, -(-(span + 1 - s) // 2)) for span, s in zip(spans, size))
    return f"padding {need[0] if need[0] == need[1] else format_shape(need)} makes it fit"


@dataclass(slots=True)
class _Step:
    """What one layer's rule works out: its output shape, params and MACs, and its weight's
    shape (checked against PyTorch's tensor limit) with the field that sets it."""

    shape: Shape
    params: int = 0
    macs: int = 0
    weight: Shape | None = None
    weight_field: str | None = None


class _Walker:
    """Walks the layers, carrying the shape, receptive field and jump. Each layer type has
    one rule (`RULES`); `step` applies it and checks what every layer must satisfy."""

    def __init__(self, input_shape: tuple[int, int, int], batch_size: int) -> None:
        self.shape: Shape = tuple(input_shape)
        self.rf: Pair | None = (1, 1)
        self.jump: Pair | None = (1, 1)
        self.batch_size = batch_size
        self.index = 0
        self.layer: Layer | None = None

    def fail(self, reason: str, field: str | None = None) -> NoReturn:
        assert self.layer is not None
        raise ArchitectureError(reason, self.index, self.layer.type, field)

    def need_spatial(self) -> tuple[int, int, int]:
        if len(self.shape) != 3:
            self.fail(f"needs a C×H×W input but gets a flat [{self.shape[0]}]; "
                      "move it above the flatten / linear layers")
        return self.shape  # type: ignore[return-value]

    def check_tensor(self, what: str, shape: Shape, field: str | None) -> None:
        """PyTorch refuses any tensor over 2^63 − 1 bytes: so do we, before it is built."""
        if prod(shape) * BYTES_PER_FLOAT > MAX_TENSOR_BYTES:
            self.fail(f"its {what} {format_shape(shape)} would be over PyTorch's limit of "
                      f"{MAX_TENSOR_BYTES:,} bytes for one tensor; make it smaller", field)

    def window(self, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> None:
        """Grow the receptive field by a sliding window."""
        assert self.rf is not None and self.jump is not None
        self.rf = tuple(r + d * (k - 1) * j for r, k, d, j in zip(self.rf, kernel, dilation, self.jump))  # type: ignore[assignment]
        self.jump = tuple(j * s for j, s in zip(self.jump, stride))  # type: ignore[assignment]

    def flat(self) -> None:
        """The output is flat from here: no receptive field any more."""
        self.rf = self.jump = None

    def step(self, index: int, layer: Layer) -> LayerInfo:
        self.index, self.layer = index, layer
        in_shape = self.shape
        implicit_flatten = layer.type == "linear" and len(in_shape) == 3
        rule = RULES.get(layer.type)
        result = rule(self, layer) if rule is not None else None  # None: the shape goes through, nothing counted
        if result is not None:
            self.shape = result.shape
        if min(self.shape) < 1:  # defensive: every rule should have caught it
            self.fail(f"output collapses to {format_shape(self.shape)}")
        self.check_tensor("output", self.shape, None)
        if result is not None and result.weight is not None:
            self.check_tensor("weight", result.weight, result.weight_field)
        params, macs = (result.params, result.macs) if result is not None else (0, 0)
        return LayerInfo(
            index=index, type=layer.type, settings=layer.describe(), input_shape=in_shape,
            output_shape=self.shape, params=params, macs=macs, receptive_field=self.rf,
            jump=self.jump, output_bytes=self.batch_size * prod(self.shape) * BYTES_PER_FLOAT,
            implicit_flatten=implicit_flatten, counted=layer.counted,
        )


# --- one rule per layer type: output shape, params, MACs, receptive field ---------------


def _keep_spatial(walker: _Walker, layer: Layer) -> None:
    """dropout2d: unchanged, but only on a C×H×W input."""
    walker.need_spatial()


def _batchnorm2d(walker: _Walker, layer: Layer) -> _Step:
    c, _, _ = walker.need_spatial()
    return _Step(walker.shape, params=2 * c)  # a scale and a shift per channel


def _conv_padding(walker: _Walker, layer: Layer, stride: Pair) -> Pair | None:
    """The conv's padding as a pair, or None for "same" (which keeps the size)."""
    value = layer.get("padding")
    if value == "same":
        if stride != (1, 1):
            walker.fail('padding "same" needs stride 1 (a PyTorch rule)', "padding")
        return None
    return (0, 0) if value == "valid" else layer.size("padding")


def _conv2d(walker: _Walker, layer: Layer) -> _Step:
    c, h, w = walker.need_spatial()
    kernel, stride, dilation = _pairs(layer, "kernel_size", "stride", "dilation")
    out_c, groups = layer.get("out_channels"), layer.get("groups")
    if c % groups or out_c % groups:
        walker.fail(f"groups {groups} must divide both in_channels {c} and out_channels {out_c}", "groups")
    padding = _conv_padding(walker, layer, stride)
    if padding is None:
        out_hw: Pair = (h, w)
    else:
        effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        padded = (h + 2 * padding[0], w + 2 * padding[1])
        if effective[0] > padded[0] or effective[1] > padded[1]:
            what = "kernel" if dilation == (1, 1) else "dilated kernel"
            walker.fail(f"{what} {format_shape(effective)} is larger than its padded input {format_shape(padded)}; "
                        f"{_same_padding_hint((h, w), kernel, dilation)}, "
                        f"or use a kernel of at most {format_shape(padded)}", "kernel_size")
        out_hw = tuple(conv_output_size(n, k, s, p, d)  # type: ignore[assignment]
                       for n, k, s, p, d in zip((h, w), kernel, stride, padding, dilation))
    walker.window(kernel, stride, dilation)
    per_output = (c // groups) * kernel[0] * kernel[1]
    return _Step(
        (out_c, *out_hw),
        params=out_c * per_output + (out_c if layer.get("bias") else 0),
        macs=out_c * out_hw[0] * out_hw[1] * per_output,
        weight=(out_c, c // groups, *kernel), weight_field="out_channels",
    )


def _pool2d(walker: _Walker, layer: Layer) -> _Step:
    """maxpool2d and avgpool2d (which has no dilation)."""
    c, h, w = walker.need_spatial()
    kernel, stride, padding = _pairs(layer, "kernel_size", "stride", "padding")
    dilation = layer.size("dilation") if layer.type == "maxpool2d" else (1, 1)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        limit = (kernel[0] // 2, kernel[1] // 2)
        walker.fail(f"padding {format_shape(padding)} is over half the kernel {format_shape(kernel)}; "
                    f"PyTorch allows at most {format_shape(limit)}", "padding")
    out_hw = tuple(pool_output_size(n, k, s, p, d, layer.get("ceil_mode"))
                   for n, k, s, p, d in zip((h, w), kernel, stride, padding, dilation))
    if min(out_hw) < 1:
        effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        padded = (h + 2 * padding[0], w + 2 * padding[1])
        walker.fail(f"kernel {format_shape(effective)} is larger than its padded input {format_shape(padded)}; "
                    f"use a kernel of at most {format_shape(padded)} or remove this layer", "kernel_size")
    walker.window(kernel, stride, dilation)
    return _Step((c, *out_hw))


def _adaptiveavgpool2d(walker: _Walker, layer: Layer) -> _Step:
    c, h, w = walker.need_spatial()
    out_hw = layer.size("output_size")
    # Adaptive pooling has no fixed window: report its widest bin, stepping by
    # floor(in/out), which is exact when out divides in (global pooling included).
    kernel = [widest_adaptive_bin(n, o) for n, o in zip((h, w), out_hw)]
    stride = [max(1, n // o) for n, o in zip((h, w), out_hw)]
    walker.window(kernel, stride, (1, 1))
    return _Step((c, *out_hw))


def _flatten(walker: _Walker, layer: Layer) -> _Step:
    walker.flat()
    return _Step((prod(walker.shape),))


def _linear(walker: _Walker, layer: Layer) -> _Step:
    """A C×H×W input is flattened first (the builder adds the nn.Flatten)."""
    features, out = prod(walker.shape), layer.get("out_features")
    walker.flat()
    return _Step((out,), params=features * out + (out if layer.get("bias") else 0), macs=features * out,
                 weight=(out, features), weight_field="out_features")


RULES: dict[str, Callable[[_Walker, Layer], _Step | None]] = {
    "conv2d": _conv2d,
    "maxpool2d": _pool2d,
    "avgpool2d": _pool2d,
    "adaptiveavgpool2d": _adaptiveavgpool2d,
    "batchnorm2d": _batchnorm2d,
    "dropout2d": _keep_spatial,
    "flatten": _flatten,
    "linear": _linear,
}  # every other type (activations, dropout) keeps its input's shape: no rule


def _walk(
    input_shape: tuple[int, int, int], batch_size: int, layers: Sequence[Any], parse: Callable[[int, Any], Layer]
) -> ArchitectureSummary:
    """Parse (if needed) and step through each layer, stopping at the first problem."""
    walker = _Walker(input_shape, batch_size)
    infos: list[LayerInfo] = []
    error = None
    for index, layer in enumerate(layers):
        try:
            infos.append(walker.step(index, parse(index, layer)))
        except ArchitectureError as exc:
            error = exc
            break
    return ArchitectureSummary(input_shape, batch_size, infos, error, len(layers))


def infer_shapes(
    arch: Architecture, input_shape: tuple[int, int, int] | None = None, batch_size: int = 100
) -> ArchitectureSummary:
    """Walk an already-parsed architecture. Never raises for shape problems: see `.error`."""
    shape = input_shape or arch.input
    if shape is None:
        raise ValueError("no input shape: give one or set the architecture's input")
    return _walk(shape, batch_size, arch.layers, lambda index, layer: layer)


def analyze(
    data: Any,
    input_shape: tuple[int, int, int] | None = None,
    default_input: tuple[int, int, int] = (1, 28, 28),
    batch_size: int = 100,
) -> ArchitectureSummary:
    """Parse raw JSON data layer by layer and infer shapes, stopping at the first problem.

    Unlike `Architecture.from_dict`, a bad layer does not lose the layers above it: the
    editor shows their numbers and marks the bad row. Top-level problems raise.
    """
    layers, shape = parse_top_level(data)
    return _walk(input_shape or shape or default_input, batch_size, layers, parse_layer)


def check_classes(summary: ArchitectureSummary, classes: int, dataset: str) -> ArchitectureError | None:
    """Does the network end in one score per class? If not, say which layer to change."""
    if not summary.ok:
        return summary.error
    out = summary.output_shape
    if len(out) == 1 and out[0] == classes:
        return None
    last_linear = next((info for info in reversed(summary.layers) if info.type == "linear"), None)
    if len(out) != 1:
        return ArchitectureError(
            f"the network ends with a {format_shape(out)} output but {dataset} needs {classes} class "
            f"scores; add flatten and a linear layer with out_features {classes}",
            len(summary.layers) - 1 if summary.layers else None,
            summary.layers[-1].type if summary.layers else None,
        )
    if last_linear is not None:
        return ArchitectureError(
            f"outputs {out[0]} features but {dataset} has {classes} classes; "
            f"set out_features to {classes}",
            last_linear.index, "linear", "out_features",
        )
    return ArchitectureError(
        f"the network outputs {out[0]} values but {dataset} has {classes} classes; "
        f"end it with a linear layer with out_features {classes}"
    )
