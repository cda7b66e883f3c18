"""Per-layer numbers: output shape, params, MACs, receptive field, memory.

Analytic and pure Python: this is what the editor recomputes on every keystroke and what
`cnn-tui summary` prints, so it must never import torch. torch is only the test oracle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any, Callable, Iterator, NoReturn, Sequence

from .layers import (  # noqa: F401 - the formulas are part of this module's interface
    TYPES,
    Projection,
    Step,
    conv_output_size,
    pool_output_size,
    widest_adaptive_bin,
)
from .spec import (
    BYTES_PER_FLOAT,
    MAX_TENSOR_BYTES,
    Architecture,
    ArchitectureError,
    Layer,
    LayerPath,
    format_shape,
    parse_layer,
    parse_top_level,
)
ADAM_COPIES = 3  # a parameter plus Adam's two moment buffers

Shape = tuple[int, ...]
Pair = tuple[int, int]


@dataclass(slots=True)
class LayerInfo:
    """Everything the summary knows about one layer. Read-only by agreement, not frozen: a
    frozen dataclass sets each field through object.__setattr__, a tenth of a recompute."""

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
    path: LayerPath = ()  # where it sits: (index,) at the top, (3, 1) inside the block at 3
    inner: tuple["LayerInfo", ...] = ()  # a block's layers; its own numbers include theirs
    projection: Projection | None = None  # a block's shortcut, when its layers change the shape

    def walk(self) -> Iterator["LayerInfo"]:
        """This layer, then (for a block) every layer inside it, in order."""
        yield self
        for info in self.inner:
            yield from info.walk()

    def to_json(self) -> dict[str, Any]:
        data = {
            "index": self.index,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "receptive_field": list(self.receptive_field) if self.receptive_field else None,
            "jump": list(self.jump) if self.jump else None,
            "output_bytes": self.output_bytes,
        }
        if TYPES[self.type].nested:
            data["layers"] = [info.to_json() for info in self.inner]
            data["projection"] = None if self.projection is None else {
                "stride": list(self.projection.stride), "params": self.projection.params,
                "macs": self.projection.macs}
        return data


@dataclass(frozen=True)
class ArchitectureSummary:
    """The per-layer table and totals. `error` is set (and `layers` stops) at the first bad layer."""

    input_shape: tuple[int, int, int]
    batch_size: int
    layers: list[LayerInfo] = field(default_factory=list)
    error: ArchitectureError | None = None
    layer_count: int = 0  # layers in the architecture, including any after the error
    # every layer's numbers by path, inner layers included: also those inside a block that
    # an error stopped, which `layers` (complete top-level layers only) cannot hold
    seen: dict[LayerPath, LayerInfo] = field(default_factory=dict)

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
        return sum(info.counted for info in self.every_layer())

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
        return sum(info.output_bytes * (3 if info.projection else 1) for info in self.every_layer())

    def every_layer(self) -> Iterator[LayerInfo]:
        """Every layer, inner layers included, in order (a block before its layers)."""
        for info in self.layers:
            yield from info.walk()

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


class _Walker:
    """Walks the layers, carrying the shape, receptive field and jump. Each layer type's
    record has its rule (`layers.TYPES`); `step` applies it and checks what every layer must
    satisfy. `parse` turns a layer as given into a `Layer` (a no-op when already parsed)."""

    def __init__(self, input_shape: tuple[int, int, int], batch_size: int,
                 parse: Callable[[LayerPath, Any], Layer]) -> None:
        self.shape: Shape = tuple(input_shape)
        self.rf: Pair | None = (1, 1)
        self.jump: Pair | None = (1, 1)
        self.batch_size = batch_size
        self.parse = parse
        self.path: LayerPath = ()
        self.layer: Layer | None = None
        self.seen: dict[LayerPath, LayerInfo] = {}

    def fail(self, reason: str, field: str | None = None) -> NoReturn:
        assert self.layer is not None
        raise ArchitectureError(reason, self.path, self.layer.type, field)

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

    def walk_inner(self, block: Layer) -> tuple[LayerInfo, ...]:
        """Step through a block's layers from the current shape; the walker is then where its
        last layer left it (the block's rule adds the shortcut)."""
        outer_path, outer_layer = self.path, self.layer
        infos = tuple(self.step((*outer_path, i), self.parse((*outer_path, i), layer))
                      for i, layer in enumerate(block.layers))
        self.path, self.layer = outer_path, outer_layer
        return infos

    def step(self, path: LayerPath, layer: Layer) -> LayerInfo:
        self.path, self.layer = path, layer
        in_shape = self.shape
        implicit_flatten = layer.type == "linear" and len(in_shape) == 3
        kind = TYPES[layer.type]
        result = kind.rule(self, layer) if kind.rule is not None else None  # None: the shape goes through, nothing counted
        if kind.nested:
            self.path, self.layer = path, layer  # its rule walked its layers
        if result is not None:
            self.shape = result.shape
        if min(self.shape) < 1:  # defensive: every rule should have caught it
            self.fail(f"output collapses to {format_shape(self.shape)}")
        self.check_tensor("output", self.shape, None)
        if result is None:
            result = _NOTHING
        elif result.weight is not None:
            self.check_tensor("weight", result.weight, result.weight_field)
        settings = kind.describe(layer)
        info = LayerInfo(
            index=path[-1], type=layer.type, settings=settings + result.note if result.note else settings, input_shape=in_shape,
            output_shape=self.shape, params=result.params, macs=result.macs, receptive_field=self.rf,
            jump=self.jump, output_bytes=self.batch_size * prod(self.shape) * BYTES_PER_FLOAT,
            implicit_flatten=implicit_flatten, counted=kind.counted, path=path,
            inner=result.inner, projection=result.projection,
        )
        self.seen[path] = info
        return info


_NOTHING = Step(())  # what a layer without a rule works out: no params, no MACs


def _walk(
    input_shape: tuple[int, int, int], batch_size: int, layers: Sequence[Any], parse: Callable[[LayerPath, Any], Layer]
) -> ArchitectureSummary:
    """Parse (if needed) and step through each layer, stopping at the first problem."""
    walker = _Walker(input_shape, batch_size, parse)
    infos: list[LayerInfo] = []
    error = None
    for index, layer in enumerate(layers):
        try:
            infos.append(walker.step((index,), parse((index,), layer)))
        except ArchitectureError as exc:
            error = exc
            break
    return ArchitectureSummary(input_shape, batch_size, infos, error, len(layers), walker.seen)


def infer_shapes(
    arch: Architecture, input_shape: tuple[int, int, int] | None = None, batch_size: int = 100
) -> ArchitectureSummary:
    """Walk an already-parsed architecture. Never raises for shape problems: see `.error`."""
    shape = input_shape or arch.input
    if shape is None:
        raise ValueError("no input shape: give one or set the architecture's input")
    return _walk(shape, batch_size, arch.layers, lambda path, layer: layer)


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
    return _walk(input_shape or shape or default_input, batch_size, layers, _parse_shallow)


def _parse_shallow(path: LayerPath, data: Any) -> Layer:
    """Parse a layer, leaving a block's inner layers for the walker to parse as it reaches them."""
    return parse_layer(path, data, shallow=True)


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
