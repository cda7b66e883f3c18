"""Every layer type, one record each: its fields, how it describes itself, its numbers and its
torch module.

A record holds everything that differs between layer types, so a new type is one record
here and a golden test. The file format (`spec.py`) checks fields against `fields`, the
shape walker (`shapes.py`) applies `rule`, the builder (`build.py`) calls `build`, and the
editor starts a new layer from `new`. Pure Python: `build` is handed torch's `nn` by the
builder, so nothing here imports torch.

A rule gets the walker (which carries the shape, receptive field and jump from layer to
layer) and the layer, and returns what the layer works out (`Step`), or None when the
layer keeps its input's shape and counts nothing (activations, dropout).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd, prod
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .fields import (
    BOOL,
    CONV_PAD,
    COUNT,
    PAD,
    PROB,
    SIZE,
    SLOPE,
    FieldSpec,
    format_shape,
    format_size,
)

if TYPE_CHECKING:
    from .shapes import LayerInfo, _Walker
    from .spec import Layer

Shape = tuple[int, ...]
Pair = tuple[int, int]

MAX_BLOCK_DEPTH = 32  # blocks inside blocks; deeper is refused when the file is read


# --- the formulas, each in one place ----------------------------------------------------


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


# --- what a rule returns, and what a builder is given -------------------------------------


@dataclass(frozen=True, slots=True)
class Projection:
    """A residual block's shortcut when its layers change the shape: a 1×1 conv of `stride`
    without bias, then batchnorm (torchvision's BasicBlock downsample)."""

    stride: Pair
    in_channels: int
    out_channels: int
    params: int
    macs: int

    def describe(self) -> str:
        return f"1×1 conv s{format_size(self.stride if self.stride[0] != self.stride[1] else self.stride[0])} + batchnorm"


@dataclass(slots=True)
class Step:
    """What one layer's rule works out: its output shape, params and MACs, and its weight's
    shape (checked against PyTorch's tensor limit) with the field that sets it. A block also
    gives its inner layers' numbers and its projection, if it has one."""

    shape: Shape
    params: int = 0
    macs: int = 0
    weight: Shape | None = None
    weight_field: str | None = None
    note: str = ""  # added to the layer's settings text
    inner: tuple["LayerInfo", ...] = ()
    projection: Projection | None = None


@dataclass(frozen=True, slots=True)
class Build:
    """What a record's `build` gets: `nn`, torch's `nn` with `Residual` beside its modules
    (or a stand-in that writes each call down as source text, for exports), the layer, its
    input shape, and for a block its inner modules (made already) and its numbers."""

    nn: Any
    layer: "Layer"
    in_shape: Shape
    inner: Sequence[Any] = ()
    info: "LayerInfo | None" = None


def _starts(**fields: Any) -> Callable[[Shape | None], dict[str, Any]]:
    """A `new` that ignores the shape: the same fields wherever the layer is added."""
    return lambda shape: dict(fields)


@dataclass(frozen=True)
class LayerType:
    """One layer type. `rule` None: the shape goes through and nothing is counted."""

    name: str
    help: str
    build: Callable[[Build], Any]
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    describe: Callable[["Layer"], str] = lambda layer: ""
    rule: Callable[["_Walker", "Layer"], Step | None] | None = None
    new: Callable[[Shape | None], dict[str, Any]] = _starts()  # a new layer's fields, given its input shape
    counted: bool = False  # conv and linear: "layers" in the teaching sense
    nested: bool = False  # holds a "layers" list of its own


# --- shared pieces of the rules -----------------------------------------------------------


def _pairs(layer: "Layer", *names: str) -> list[Pair]:
    return [layer.size(name) for name in names]


def _same_padding_hint(size: Pair, kernel: Pair, dilation: Pair) -> str:
    """Suggest the padding that keeps the spatial size at stride 1, or just lets it fit."""
    spans = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if all(span % 2 == 0 for span in spans):
        keep = (spans[0] // 2, spans[1] // 2)
        return f"padding {keep[0] if keep[0] == keep[1] else format_shape(keep)} keeps {format_shape(size)}"
    need = tuple(max(0, -(-(span + 1 - s) // 2)) for span, s in zip(spans, size))
    return f"padding {need[0] if need[0] == need[1] else format_shape(need)} makes it fit"


def _keep_spatial(walker: "_Walker", layer: "Layer") -> None:
    """Unchanged, but only on a C×H×W input."""
    walker.need_spatial()


# --- conv2d -------------------------------------------------------------------------------


def _conv_padding(walker: "_Walker", layer: "Layer", stride: Pair) -> Pair | None:
    """The conv's padding as a pair, or None for "same" (which keeps the size)."""
    value = layer.get("padding")
    if value == "same":
        if stride != (1, 1):
            walker.fail('padding "same" needs stride 1 (a PyTorch rule)', "padding")
        return None
    return (0, 0) if value == "valid" else layer.size("padding")


def _conv2d(walker: "_Walker", layer: "Layer") -> Step:
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
    return Step(
        (out_c, *out_hw),
        params=out_c * per_output + (out_c if layer.get("bias") else 0),
        macs=out_c * out_hw[0] * out_hw[1] * per_output,
        weight=(out_c, c // groups, *kernel), weight_field="out_channels",
    )


def _describe_conv2d(layer: "Layer") -> str:
    text = f"{layer.get('out_channels')}@{format_size(layer.size('kernel_size'))}"
    text += f" s{format_size(layer.get('stride'))} p{format_size(layer.get('padding'))}"
    if layer.get("dilation") != 1:
        text += f" d{format_size(layer.get('dilation'))}"
    if layer.get("groups") != 1:
        text += f" g{layer.get('groups')}"
    if not layer.get("bias"):
        text += " nobias"
    return text


def _build_conv2d(b: Build) -> Any:
    layer, size = b.layer, b.layer.size
    padding = layer.get("padding")
    return b.nn.Conv2d(
        b.in_shape[0], layer.get("out_channels"), size("kernel_size"), stride=size("stride"),
        padding=padding if isinstance(padding, str) else size("padding"),
        dilation=size("dilation"), groups=layer.get("groups"), bias=layer.get("bias"),
    )


# --- pooling ------------------------------------------------------------------------------


def _pool2d(walker: "_Walker", layer: "Layer") -> Step:
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
    return Step((c, *out_hw))


def _describe_pool2d(layer: "Layer") -> str:
    text = f"{format_size(layer.size('kernel_size'))} s{format_size(layer.get('stride'))}"
    if layer.get("padding") != 0:
        text += f" p{format_size(layer.get('padding'))}"
    if layer.type == "maxpool2d" and layer.get("dilation") != 1:
        text += f" d{format_size(layer.get('dilation'))}"
    if layer.get("ceil_mode"):
        text += " ceil"
    return text


def _adaptiveavgpool2d(walker: "_Walker", layer: "Layer") -> Step:
    c, h, w = walker.need_spatial()
    out_hw = layer.size("output_size")
    # Adaptive pooling has no fixed window: report its widest bin, stepping by
    # floor(in/out), which is exact when out divides in (global pooling included).
    kernel = [widest_adaptive_bin(n, o) for n, o in zip((h, w), out_hw)]
    stride = [max(1, n // o) for n, o in zip((h, w), out_hw)]
    walker.window(kernel, stride, (1, 1))
    return Step((c, *out_hw))


# --- normalisation ------------------------------------------------------------------------


def _batchnorm2d(walker: "_Walker", layer: "Layer") -> Step:
    c, _, _ = walker.need_spatial()
    return Step(walker.shape, params=2 * c)  # a scale and a shift per channel


def _batchnorm1d(walker: "_Walker", layer: "Layer") -> Step:
    if len(walker.shape) != 1:
        walker.fail(f"needs a flat input (after flatten or linear) but gets {format_shape(walker.shape)}; "
                    "use batchnorm2d on C×H×W outputs")
    return Step(walker.shape, params=2 * walker.shape[0])


# --- flat layers --------------------------------------------------------------------------


def _flatten(walker: "_Walker", layer: "Layer") -> Step:
    walker.flat()
    return Step((prod(walker.shape),))


def _linear(walker: "_Walker", layer: "Layer") -> Step:
    """A C×H×W input is flattened first (the builder adds the nn.Flatten)."""
    features, out = prod(walker.shape), layer.get("out_features")
    walker.flat()
    return Step((out,), params=features * out + (out if layer.get("bias") else 0), macs=features * out,
                weight=(out, features), weight_field="out_features")


# --- residual blocks ----------------------------------------------------------------------


def _residual(walker: "_Walker", layer: "Layer") -> Step:
    """The inner layers, walked in turn, and the shortcut beside them: the input itself when
    the inner layers keep its shape, else a projection to their output's shape."""
    in_shape, rf = walker.shape, walker.rf
    inner = walker.walk_inner(layer)
    out = walker.shape
    params, macs = sum(info.params for info in inner), sum(info.macs for info in inner)
    projection = None
    if out != in_shape:
        if len(in_shape) != 3 or len(out) != 3:
            walker.fail(f"its layers turn {format_shape(in_shape)} into {format_shape(out)}; a block adds "
                        f"its input to its output, so both must be C×H×W (or both flat and the same size)")
        (c, h, w), (out_c, out_h, out_w) = in_shape, out
        if h % out_h or w % out_w:
            walker.fail(f"its layers turn {h}×{w} into {out_h}×{out_w}; the shortcut's 1×1 conv needs the "
                        f"input size to be a whole multiple of the output size (e.g. {2 * out_h}×{2 * out_w} "
                        f"→ {out_h}×{out_w} is stride 2): change a stride or padding inside the block")
        stride = (h // out_h, w // out_w)
        walker.check_tensor("projection weight", (out_c, c, 1, 1), None)
        projection = Projection(stride, c, out_c, params=out_c * c + 2 * out_c, macs=out_c * out_h * out_w * c)
        params, macs = params + projection.params, macs + projection.macs
    if walker.rf is not None and rf is not None:  # the shortcut's field is the block input's (a 1×1 window)
        walker.rf = (max(walker.rf[0], rf[0]), max(walker.rf[1], rf[1]))
    note = " + projection" if projection else ""
    return Step(out, params, macs, note=note, inner=inner, projection=projection)


def _describe_residual(layer: "Layer") -> str:
    count = len(layer.layers)
    return f"{count} layer{'' if count == 1 else 's'}"


def _new_residual(shape: Shape | None) -> dict[str, Any]:
    """A new block is torchvision's BasicBlock body at the channels it is added at (its
    conv 3×3s keep the shape, so the shortcut is the input itself)."""
    channels = shape[0] if shape is not None and len(shape) == 3 else 16
    conv = {"type": "conv2d", "out_channels": channels, "kernel_size": 3, "padding": 1, "bias": False}
    return {"layers": [conv, {"type": "batchnorm2d"}, {"type": "relu"}, dict(conv), {"type": "batchnorm2d"}]}


def _build_residual(b: Build) -> Any:
    assert b.info is not None
    shortcut = None
    if b.info.projection is not None:
        p = b.info.projection
        shortcut = b.nn.Sequential(b.nn.Conv2d(p.in_channels, p.out_channels, 1, stride=p.stride, bias=False),
                                   b.nn.BatchNorm2d(p.out_channels))
    return b.nn.Residual(b.nn.Sequential(*b.inner), shortcut)


def make_modules(layers: Sequence["Layer"], infos: Sequence["LayerInfo"], maker: Any) -> list[Any]:
    """The modules of a run of layers, made by `maker` (torch's nn, or an export's stand-in
    that writes the calls down). A linear layer that follows a C×H×W output gets a Flatten
    in front of it. A block's inner modules are made before its shortcut, as torchvision's
    BasicBlock makes them."""
    modules: list[Any] = []
    for layer, info in zip(layers, infos):
        if info.implicit_flatten:
            modules.append(maker.Flatten())
        inner = make_modules(layer.layers, info.inner, maker) if layer.layers else ()
        modules.append(TYPES[layer.type].build(Build(maker, layer, info.input_shape, inner, info)))
    return modules


# --- the records --------------------------------------------------------------------------

_TYPES = [
    LayerType(
        "conv2d", "2-D convolution",
        fields={
            "out_channels": FieldSpec(COUNT, help="output channels"),
            "kernel_size": FieldSpec(SIZE, help="kernel, int or h×w"),
            "stride": FieldSpec(SIZE, 1),
            "padding": FieldSpec(CONV_PAD, 0, "int, h×w, same or valid"),
            "dilation": FieldSpec(SIZE, 1),
            "groups": FieldSpec(COUNT, 1),
            "bias": FieldSpec(BOOL, True),
        },
        describe=_describe_conv2d, rule=_conv2d, build=_build_conv2d,
        new=_starts(out_channels=8, kernel_size=3, padding=1), counted=True,
    ),
    LayerType(
        "maxpool2d", "max pooling",
        fields={
            "kernel_size": FieldSpec(SIZE),
            "stride": FieldSpec(SIZE, None, "defaults to the kernel size"),
            "padding": FieldSpec(PAD, 0),
            "dilation": FieldSpec(SIZE, 1),
            "ceil_mode": FieldSpec(BOOL, False),
        },
        describe=_describe_pool2d, rule=_pool2d, new=_starts(kernel_size=2),
        build=lambda b: b.nn.MaxPool2d(b.layer.size("kernel_size"), b.layer.size("stride"), b.layer.size("padding"),
                                       b.layer.size("dilation"), ceil_mode=b.layer.get("ceil_mode")),
    ),
    LayerType(
        "avgpool2d", "average pooling",
        fields={
            "kernel_size": FieldSpec(SIZE),
            "stride": FieldSpec(SIZE, None, "defaults to the kernel size"),
            "padding": FieldSpec(PAD, 0),
            "ceil_mode": FieldSpec(BOOL, False),
        },
        describe=_describe_pool2d, rule=_pool2d, new=_starts(kernel_size=2),
        build=lambda b: b.nn.AvgPool2d(b.layer.size("kernel_size"), b.layer.size("stride"), b.layer.size("padding"),
                                       ceil_mode=b.layer.get("ceil_mode")),
    ),
    LayerType(
        "adaptiveavgpool2d", "average pooling to a fixed output size",
        fields={"output_size": FieldSpec(SIZE, help="output h×w")},
        describe=lambda layer: f"→{format_size(layer.get('output_size'))}",
        rule=_adaptiveavgpool2d, new=_starts(output_size=1),
        build=lambda b: b.nn.AdaptiveAvgPool2d(b.layer.size("output_size")),
    ),
    LayerType("batchnorm2d", "batch normalisation per channel", rule=_batchnorm2d,
              build=lambda b: b.nn.BatchNorm2d(b.in_shape[0])),
    LayerType("dropout", "dropout of single values", fields={"p": FieldSpec(PROB, 0.5)},
              describe=lambda layer: f"p={layer.get('p')}", build=lambda b: b.nn.Dropout(b.layer.get("p"))),
    LayerType("dropout2d", "dropout of whole channels", fields={"p": FieldSpec(PROB, 0.5)},
              describe=lambda layer: f"p={layer.get('p')}", rule=_keep_spatial,
              build=lambda b: b.nn.Dropout2d(b.layer.get("p"))),
    LayerType("relu", "max(0, x)", build=lambda b: b.nn.ReLU()),
    LayerType("leakyrelu", "ReLU with a small slope below 0",
              fields={"negative_slope": FieldSpec(SLOPE, 0.01)},
              describe=lambda layer: f"slope={layer.get('negative_slope')}",
              build=lambda b: b.nn.LeakyReLU(b.layer.get("negative_slope"))),
    LayerType("sigmoid", "1 / (1 + e^-x)", build=lambda b: b.nn.Sigmoid()),
    LayerType("tanh", "hyperbolic tangent", build=lambda b: b.nn.Tanh()),
    LayerType("gelu", "Gaussian error linear unit", build=lambda b: b.nn.GELU()),
    LayerType("silu", "x · sigmoid(x), as in EfficientNet", build=lambda b: b.nn.SiLU()),
    LayerType("flatten", "C×H×W to one vector", rule=_flatten, build=lambda b: b.nn.Flatten()),
    LayerType(
        "linear", "fully connected",
        fields={"out_features": FieldSpec(COUNT), "bias": FieldSpec(BOOL, True)},
        describe=lambda layer: f"→{layer.get('out_features')}" + ("" if layer.get("bias") else " nobias"),
        rule=_linear, new=_starts(out_features=10), counted=True,
        build=lambda b: b.nn.Linear(prod(b.in_shape), b.layer.get("out_features"), bias=b.layer.get("bias")),
    ),
    LayerType("batchnorm1d", "batch normalisation of a flat vector", rule=_batchnorm1d,
              build=lambda b: b.nn.BatchNorm1d(b.in_shape[0])),
    LayerType("residual", "a block whose output is added to its input", describe=_describe_residual,
              rule=_residual, build=_build_residual, new=_new_residual, nested=True),
]

TYPES: dict[str, LayerType] = {kind.name: kind for kind in _TYPES}
