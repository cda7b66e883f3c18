"""Property tests: for random architectures, the analytic numbers equal what torch builds.

torch is the oracle (micrograd style): every valid architecture's per-layer output shape and
parameter count must equal the real module's, and MACs the formula on the real shapes. An
architecture the analysis rejects must also fail in torch at that very layer.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cnn_tui.core.build import build_model, count_params
from cnn_tui.core.layers import TYPES, Build
from cnn_tui.core.shapes import infer_shapes
from cnn_tui.core.spec import Architecture

small = st.integers(1, 4)


def size(lo: int = 1, hi: int = 5) -> st.SearchStrategy:
    n = st.integers(lo, hi)
    return st.one_of(n, st.lists(n, min_size=2, max_size=2))


@st.composite
def conv(draw):
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    layer = {"type": "conv2d", "out_channels": groups * draw(small), "kernel_size": draw(size(1, 5))}
    if draw(st.booleans()):
        layer["stride"] = draw(size(1, 3))
    if draw(st.booleans()):
        layer["padding"] = draw(st.one_of(size(0, 3), st.sampled_from(["same", "valid"])))
    if draw(st.booleans()):
        layer["dilation"] = draw(size(1, 3))
    if groups > 1:
        layer["groups"] = groups
    if draw(st.booleans()):
        layer["bias"] = draw(st.booleans())
    return layer


@st.composite
def pool(draw):
    kind = draw(st.sampled_from(["maxpool2d", "avgpool2d"]))
    kernel = draw(size(1, 4))
    layer = {"type": kind, "kernel_size": kernel}
    if draw(st.booleans()):
        layer["stride"] = draw(size(1, 3))
    if draw(st.booleans()):
        layer["padding"] = draw(size(0, 2))
    if kind == "maxpool2d" and draw(st.booleans()):
        layer["dilation"] = draw(size(1, 2))
    if draw(st.booleans()):
        layer["ceil_mode"] = draw(st.booleans())
    return layer


simple = st.sampled_from(
    [{"type": t} for t in ("relu", "sigmoid", "tanh", "gelu", "batchnorm2d", "dropout", "dropout2d")]
    + [{"type": "leakyrelu", "negative_slope": 0.1}, {"type": "dropout", "p": 0.2}]
)
adaptive = st.builds(lambda s: {"type": "adaptiveavgpool2d", "output_size": s}, size(1, 4))
linear = st.builds(lambda n, b: {"type": "linear", "out_features": n, "bias": b}, st.integers(1, 12), st.booleans())

spatial_layer = st.one_of(conv(), conv(), pool(), simple, adaptive)


@st.composite
def architectures(draw):
    spatial = draw(st.lists(spatial_layer, min_size=1, max_size=6))
    head = draw(st.lists(st.one_of(linear, st.just({"type": "relu"})), max_size=3))
    if head and draw(st.booleans()):
        head.insert(0, {"type": "flatten"})
    shape = [draw(st.integers(1, 6)), draw(st.integers(1, 24)), draw(st.integers(1, 24))]
    return {"input": shape, "layers": spatial + head}


def _torch_outputs(model: torch.nn.Sequential, shape) -> list:
    """The output shape after each of our layers (nn.Flatten inserted by the builder skipped)."""
    x = torch.zeros(2, *shape)
    shapes: list[tuple[torch.nn.Module, tuple[int, ...]]] = []
    model.eval()
    with torch.no_grad():
        for module in model:
            x = module(x)
            shapes.append((module, tuple(x.shape[1:])))
    return shapes


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures())
def test_analysis_agrees_with_torch(data):
    arch = Architecture.from_dict(data)
    summary = infer_shapes(arch)
    if summary.ok:
        model = build_model(arch)
        assert count_params(model) == summary.total_params
        outputs = _torch_outputs(model, arch.input)
        # Pair every analysed layer with the module that produced its output.
        position = 0
        for info in summary.layers:
            if info.implicit_flatten:
                position += 1  # the builder's nn.Flatten
            module, shape = outputs[position]
            position += 1
            assert shape == info.output_shape, (info, module)
            assert sum(p.numel() for p in module.parameters()) == info.params
            if isinstance(module, torch.nn.Conv2d):
                c_in = info.input_shape[0]
                expected = info.output_shape[0] * info.output_shape[1] * info.output_shape[2] * (
                    c_in // module.groups) * module.kernel_size[0] * module.kernel_size[1]
                assert info.macs == expected
            elif isinstance(module, torch.nn.Linear):
                assert info.macs == module.in_features * module.out_features
            else:
                assert info.macs == 0
        event("valid")
    else:
        error = summary.error
        event(f"invalid at {error.layer_type}")
        assert error.index == len(summary.layers)
        layer = arch.layers[error.index]
        if layer.type == "dropout2d":
            return  # torch only warns on a flat input to Dropout2d; we refuse it outright
        prefix = Architecture(arch.layers[: error.index], arch.input)
        shape = infer_shapes(prefix).output_shape
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises((RuntimeError, ValueError)):
                module = TYPES[layer.type].build(Build(torch.nn, layer, shape))
                module.eval()
                module(torch.zeros(2, *shape))
