"""Residual blocks: the format, the numbers (torch as the oracle), torchvision's BasicBlock,
the summary table and the new presets."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torchvision.models.resnet import BasicBlock

from cnn_tui.core.build import Residual, build_model, count_params
from cnn_tui.core.layers import MAX_BLOCK_DEPTH
from cnn_tui.core.presets import preset
from cnn_tui.core.shapes import analyze, infer_shapes
from cnn_tui.core.spec import Architecture, ArchitectureError
from cnn_tui.render import SummaryTable

from .test_shapes_vs_torch import conv, pool


def conv3(channels: int, stride: int = 1) -> dict:
    return {"type": "conv2d", "out_channels": channels, "kernel_size": 3, "padding": 1, "stride": stride, "bias": False}


def basic_body(channels: int, stride: int) -> list[dict]:
    return [conv3(channels, stride), {"type": "batchnorm2d"}, {"type": "relu"}, conv3(channels), {"type": "batchnorm2d"}]


# --- the torch oracle, on random architectures with blocks -------------------------------

plain = st.sampled_from([{"type": t} for t in ("relu", "batchnorm2d", "gelu", "dropout2d")])


@st.composite
def block(draw, depth: int = 0):
    """A residual block of convs, pools and plain layers, sometimes holding another block;
    often strided or with new channels (so a projection), sometimes empty."""
    choices = [conv(), conv(), pool(), plain] + ([block(depth + 1), basic] if depth < 2 else [])
    inner = draw(st.lists(st.one_of(*choices), max_size=4))
    return {"type": "residual", "layers": inner}


# BasicBlock bodies: strided or widening ones need a projection, and their sizes divide
# whenever the input's do
basic = st.builds(lambda c, s: {"type": "residual", "layers": basic_body(c, s)}, st.integers(1, 6), st.sampled_from([1, 2]))


@st.composite
def architectures_with_blocks(draw):
    layers = draw(st.lists(st.one_of(block(), block(), basic, conv(), plain), min_size=1, max_size=4))
    if draw(st.booleans()):
        layers += [{"type": "flatten"}, {"type": "linear", "out_features": draw(st.integers(1, 8))}]
    shape = [draw(st.integers(1, 5)), 4 * draw(st.integers(1, 5)), 4 * draw(st.integers(1, 5))]
    return {"input": shape, "layers": layers}


def _modules_by_path(model: torch.nn.Sequential, infos) -> dict:
    """Each analysed layer's module, found by walking the model as the builder made it."""
    found = {}

    def walk(modules, infos) -> None:
        position = 0
        for info in infos:
            if info.implicit_flatten:
                position += 1  # the builder's nn.Flatten
            module = modules[position]
            position += 1
            found[info.path] = module
            if isinstance(module, Residual):
                walk(list(module.body), info.inner)

    walk(list(model), infos)
    return found


def _expected_macs(module: torch.nn.Module, info) -> int:
    if isinstance(module, torch.nn.Conv2d):
        c_out, h, w = info.output_shape
        return c_out * h * w * (info.input_shape[0] // module.groups) * module.kernel_size[0] * module.kernel_size[1]
    if isinstance(module, torch.nn.Linear):
        return module.in_features * module.out_features
    if isinstance(module, Residual):
        macs = sum(_expected_macs(child, inner) for child, inner in zip(module.body, info.inner))
        if module.shortcut is not None:
            shortcut = module.shortcut[0]
            c_out, h, w = info.output_shape
            macs += c_out * h * w * shortcut.in_channels
        return macs
    return 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures_with_blocks())
def test_blocks_agree_with_torch(data):
    arch = Architecture.from_dict(data)
    summary = infer_shapes(arch)
    if not summary.ok:
        error = summary.error
        event(f"invalid at {error.layer_type}" + (" inside" if len(error.path) > 1 else ""))
        layer = arch.layers[error.path[0]]
        for i in error.path[1:]:  # the error names a real layer, by its place and type
            layer = layer.layers[i]
        assert layer.type == error.layer_type and error.path not in summary.seen
        # the layers before it have their numbers (and a failing block's own layers)
        assert all(path < error.path or path[: len(error.path)] == error.path for path in summary.seen)
        return
    model = build_model(arch).eval()
    assert count_params(model) == summary.total_params
    modules = _modules_by_path(model, summary.layers)
    outputs = {}
    for path, module in modules.items():
        module.register_forward_hook(lambda m, args, out, path=path: outputs.__setitem__(path, tuple(out.shape[1:])))
    with torch.no_grad():
        model(torch.rand(2, *arch.input))
    for info in summary.every_layer():
        module = modules[info.path]
        assert outputs[info.path] == info.output_shape, info.path
        assert sum(p.numel() for p in module.parameters()) == info.params, info.path
        assert info.macs == _expected_macs(module, info), info.path
        if isinstance(module, Residual):
            event("block with projection" if module.shortcut is not None else "block, identity")
            assert (module.shortcut is not None) == (info.projection is not None)


# --- torchvision's BasicBlock ------------------------------------------------------------


@pytest.mark.parametrize("inplanes, planes, stride", [(64, 64, 1), (64, 128, 2), (3, 16, 1), (16, 32, 2)])
def test_our_block_is_torchvisions_basic_block(inplanes, planes, stride):
    """Same parameter count, and with the same weights the same output: our block then a
    relu is BasicBlock."""
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = torch.nn.Sequential(torch.nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                         torch.nn.BatchNorm2d(planes))
    theirs = BasicBlock(inplanes, planes, stride, downsample).eval()
    arch = Architecture.from_dict({"input": [inplanes, 16, 16],
                                   "layers": [{"type": "residual", "layers": basic_body(planes, stride)},
                                              {"type": "relu"}]})
    ours = build_model(arch).eval()
    summary = infer_shapes(arch)
    assert count_params(ours) == count_params(theirs) == summary.total_params
    pairs = [(ours[0].body[0], theirs.conv1), (ours[0].body[1], theirs.bn1),
             (ours[0].body[3], theirs.conv2), (ours[0].body[4], theirs.bn2)]
    if downsample is not None:
        pairs += [(ours[0].shortcut[0], downsample[0]), (ours[0].shortcut[1], downsample[1])]
    else:
        assert ours[0].shortcut is None and summary.layers[0].projection is None
    with torch.no_grad():
        for module in theirs.modules():  # batchnorm that is not the identity, so it counts
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-1, 1)
        for mine, other in pairs:
            mine.load_state_dict(other.state_dict())
        x = torch.randn(2, inplanes, 16, 16)
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_resnet18s_second_stage_first_block_has_our_parameter_count():
    """resnet18's layer2[0]: 64 -> 128 channels at stride 2, with its downsample."""
    from torchvision.models import resnet18

    theirs = resnet18(weights=None).layer2[0]
    summary = analyze({"input": [64, 56, 56], "layers": [{"type": "residual", "layers": basic_body(128, 2)}]})
    assert summary.layers[0].params == count_params(theirs) == 230_144
    assert summary.layers[0].output_shape == (128, 28, 28)


# --- what the walker says ----------------------------------------------------------------


def test_projection_stride_params_and_receptive_field():
    summary = analyze({"input": [16, 28, 28], "layers": [{"type": "residual", "layers": basic_body(32, 2)}]})
    assert summary.ok
    block = summary.layers[0]
    assert block.output_shape == (32, 14, 14)
    assert block.projection.stride == (2, 2)
    assert block.projection.params == 16 * 32 + 2 * 32
    assert block.projection.macs == 32 * 14 * 14 * 16
    assert block.params == sum(info.params for info in block.inner) + block.projection.params
    # the layers' path: 3×3 (stride 2) then 3×3 at jump 2; the shortcut's 1×1 sees only 1×1
    assert block.receptive_field == (7, 7) and block.jump == (2, 2)
    assert [info.path for info in summary.every_layer()] == [(0,), (0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]
    assert block.settings == "5 layers + projection"


def test_an_identity_block_has_no_projection_and_adds_nothing():
    summary = analyze({"input": [8, 10, 10], "layers": [{"type": "residual", "layers": basic_body(8, 1)}]})
    block = summary.layers[0]
    assert block.projection is None and block.params == 2 * (8 * 8 * 9 + 16)


@pytest.mark.parametrize("layers, message", [
    ([{"type": "residual", "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3}]}],
     "layer 0 (residual): its layers turn 9×9 into 7×7; the shortcut's 1×1 conv needs the input size to be a whole "
     "multiple of the output size"),
    ([{"type": "residual", "layers": [{"type": "flatten"}]}],
     "layer 0 (residual): its layers turn 4×9×9 into 324; a block adds its input to its output"),
    ([{"type": "residual", "layers": [{"type": "relu"}, {"type": "conv2d", "out_channels": 4, "kernel_size": 30}]}],
     "layer 0.1 (conv2d): kernel 30×30 is larger than its padded input 9×9"),
    ([{"type": "residual"}], 'layer 0 (residual): needs "layers": a list of the layers inside the block'),
    ([{"type": "residual", "layers": [], "kernel_size": 3}],
     'layer 0 (residual): unknown field "kernel_size" (residual takes no fields, only "layers")'),
    ([{"type": "residual", "layers": [{"type": "relu"}, {"type": "conv"}]}],
     'layer 0.1 (conv): unknown layer type; did you mean "conv2d"?'),
    ([{"type": "flatten"}, {"type": "residual", "layers": [{"type": "linear", "out_features": 3}]}],
     "layer 1 (residual): its layers turn 324 into 3; a block adds its input to its output"),
])
def test_bad_blocks_say_where_and_why(layers, message):
    summary = analyze({"input": [4, 9, 9], "layers": layers})
    assert message in str(summary.error)


def test_a_bad_inner_layer_keeps_the_numbers_above_it():
    summary = analyze({"input": [4, 9, 9], "layers": [
        {"type": "relu"},
        {"type": "residual", "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
                                        {"type": "conv2d", "out_channels": 0, "kernel_size": 3}]}]})
    assert summary.error.path == (1, 1) and summary.error.index == 1
    assert summary.seen[(1, 0)].output_shape == (4, 9, 9)
    assert len(summary.layers) == 1  # the block itself is not complete


def test_a_flat_block_of_the_same_size_is_an_identity_add():
    summary = analyze({"input": [1, 4, 4], "layers": [
        {"type": "flatten"}, {"type": "residual", "layers": [{"type": "linear", "out_features": 16}, {"type": "relu"}]}]})
    assert summary.ok and summary.layers[1].output_shape == (16,) and summary.layers[1].params == 16 * 16 + 16


def test_blocks_nest_only_so_deep():
    data: dict = {"type": "relu"}
    for _ in range(MAX_BLOCK_DEPTH + 1):
        data = {"type": "residual", "layers": [data]}
    with pytest.raises(ArchitectureError, match=f"at most {MAX_BLOCK_DEPTH} are allowed"):
        Architecture.from_dict({"layers": [data]})
    assert "at most" in str(analyze({"input": [1, 4, 4], "layers": [data]}).error)


def test_nested_blocks_round_trip_exactly(tmp_path):
    data = {"input": [3, 8, 8], "layers": [{"type": "residual", "layers": [
        {"type": "residual", "layers": [conv3(3)]}, {"type": "batchnorm2d"}]}, {"type": "relu"}]}
    arch = Architecture.from_dict(data)
    arch.save(tmp_path / "a.json")
    assert json.loads((tmp_path / "a.json").read_text()) == data
    assert Architecture.load(tmp_path / "a.json") == arch


def test_summary_table_indents_inner_rows_and_totals_each_block():
    summary = analyze({"input": [16, 28, 28], "layers": [{"type": "residual", "layers": basic_body(32, 2)},
                                                         {"type": "relu"}]})
    lines = ["".join(text for text, _ in line) for line in SummaryTable(summary).lines(120)]
    body = [line for line in lines if line.strip()][3:]
    assert body[0].split()[:3] == ["0", "residual", "5"]
    assert body[1].split()[:2] == ["0.0", "conv2d"] and body[1].index("conv2d") > body[0].index("residual")
    assert "↳ projection" in body[6] and "576" in body[6] and "100,352" in body[6]
    assert "= block total" in body[7] and "14,528" in body[7]
    assert body[8].split()[:2] == ["1", "relu"]


# --- the presets -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet-small", "vgg-bn"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_new_presets_fit_both_input_sizes_and_build(name, shape):
    summary = infer_shapes(preset(name), shape)
    assert summary.ok and summary.output_shape == (10,)
    model = build_model(preset(name), shape).eval()
    assert count_params(model) == summary.total_params
    with torch.no_grad():
        assert model(torch.rand(2, *shape)).shape == (2, 10)


def test_resnet_small_has_basic_blocks_with_projections_where_the_stage_changes():
    summary = infer_shapes(preset("resnet-small"), (3, 32, 32))
    blocks = [info for info in summary.layers if info.type == "residual"]
    assert [block.output_shape for block in blocks] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    assert [block.projection is not None for block in blocks] == [False, True, True]
