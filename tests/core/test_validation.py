"""Every invalid case of SPEC §2 gets a message naming the layer and the reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_tui.core.shapes import analyze, infer_shapes
from cnn_tui.core.spec import Architecture, ArchitectureError, parse_field_text


def error_of(layers, input=(1, 28, 28)) -> str:
    summary = analyze({"input": list(input), "layers": layers})
    assert summary.error is not None, "expected an error"
    return str(summary.error)


CONV = {"type": "conv2d", "out_channels": 6, "kernel_size": 5}

CASES = [
    ([{"type": "conv3d"}], 'layer 0 (conv3d): unknown layer type; did you mean "conv2d"?'),
    ([{"type": "relu", "inplace": True}], 'layer 0 (relu): unknown field "inplace" (relu takes no fields)'),
    ([{"type": "conv2d", "out_channels": 6, "kernal_size": 5}], 'layer 0 (conv2d): unknown field "kernal_size"; did you mean "kernel_size"?'),
    ([{"type": "conv2d", "out_channels": 6}], 'layer 0 (conv2d): missing "kernel_size"'),
    ([{"type": "conv2d", "in_channels": 1, "out_channels": 6, "kernel_size": 5}], '"in_channels" is never written: it comes from the previous layer'),
    ([{**CONV, "kernel_size": "5"}], 'layer 0 (conv2d): kernel_size must be a positive integer or [h, w], got "5"'),
    ([{**CONV, "kernel_size": 0}], "layer 0 (conv2d): kernel_size must be positive, got 0"),
    ([{**CONV, "kernel_size": [3, -1]}], "layer 0 (conv2d): kernel_size must be positive, got [3, -1]"),
    ([{**CONV, "kernel_size": [3, 3, 3]}], "kernel_size must be an integer or a pair [h, w]"),
    ([{**CONV, "out_channels": 2.5}], "layer 0 (conv2d): out_channels must be a positive integer, got 2.5"),
    ([{**CONV, "out_channels": True}], "out_channels must be a positive integer, got true"),
    ([{**CONV, "padding": "full"}], 'padding must be an integer, [h, w], "same" or "valid", got "full"'),
    ([{**CONV, "padding": -1}], "layer 0 (conv2d): padding must be non-negative, got -1"),
    ([{**CONV, "bias": 1}], "layer 0 (conv2d): bias must be true or false, got 1"),
    ([{"type": "dropout", "p": 1.5}], "layer 0 (dropout): p must be at least 0 and below 1 (1 would drop everything), got 1.5"),
    ([{**CONV, "groups": 4}], "layer 0 (conv2d): groups 4 must divide both in_channels 1 and out_channels 6"),
    ([CONV, {"type": "maxpool2d", "kernel_size": 2}, CONV, {"type": "maxpool2d", "kernel_size": 2}, CONV],
     "layer 4 (conv2d): kernel 5×5 is larger than its padded input 4×4; padding 2 keeps 4×4, or use a kernel of at most 4×4"),
    ([{**CONV, "kernel_size": 4}], None),  # fits: 25×25
    ([{**CONV, "kernel_size": 30}], "layer 0 (conv2d): kernel 30×30 is larger than its padded input 28×28; padding 1 makes it fit"),
    ([{**CONV, "kernel_size": 3, "dilation": 14}], "dilated kernel 29×29 is larger than its padded input 28×28"),
    ([{"type": "maxpool2d", "kernel_size": 2, "padding": 2}], "layer 0 (maxpool2d): padding 2×2 is over half the kernel 2×2; PyTorch allows at most 1×1"),
    ([{"type": "avgpool2d", "kernel_size": 40}], "layer 0 (avgpool2d): kernel 40×40 is larger than its padded input 28×28"),
    ([{**CONV, "stride": 2, "padding": "same"}], 'layer 0 (conv2d): padding "same" needs stride 1'),
    ([{"type": "flatten"}, CONV], "layer 1 (conv2d): needs a C×H×W input but gets a flat [784]; move it above the flatten / linear layers"),
    ([{"type": "linear", "out_features": 10}, {"type": "batchnorm2d"}], "layer 1 (batchnorm2d): needs a C×H×W input but gets a flat [10]"),
    ([{"type": "linear", "out_features": 10}, {"type": "maxpool2d", "kernel_size": 2}], "layer 1 (maxpool2d): needs a C×H×W input"),
    (["relu"], 'layer 0: must be an object like {"type": "relu"}'),
    ([{"kernel_size": 3}], 'layer 0: has no "type"'),
]


@pytest.mark.parametrize("layers, message", CASES)
def test_invalid_layer_messages(layers, message):
    summary = analyze({"input": [1, 28, 28], "layers": layers})
    if message is None:
        assert summary.ok
    else:
        assert summary.error is not None
        assert message in str(summary.error)


def test_error_keeps_the_layers_above_it():
    summary = analyze({"input": [1, 28, 28], "layers": [CONV, {"type": "relu"}, {**CONV, "kernel_size": 0}]})
    assert [info.output_shape for info in summary.layers] == [(6, 24, 24), (6, 24, 24)]
    assert summary.error.index == 2 and summary.error.field == "kernel_size"
    assert summary.layer_count == 3


def test_error_names_the_field_for_the_editor():
    summary = analyze({"input": [1, 8, 8], "layers": [{**CONV, "kernel_size": 9}]})
    assert summary.error.field == "kernel_size"
    summary = analyze({"input": [1, 8, 8], "layers": [{"type": "maxpool2d", "kernel_size": 2, "padding": 3}]})
    assert summary.error.field == "padding"


@pytest.mark.parametrize(
    "data, message",
    [
        ([], 'an architecture must be a JSON object with a "layers" list'),
        ({"layers": 3}, '"layers" must be a list'),
        ({"input": [1, 28], "layers": []}, "input must be [C, H, W] with three positive integers, got [1, 28]"),
        ({"input": [0, 28, 28], "layers": []}, "input must be [C, H, W]"),
        ({"layer": []}, 'unknown top-level field "layer"; did you mean "layers"?'),
    ],
)
def test_top_level_messages(data, message):
    with pytest.raises(ArchitectureError) as info:
        analyze(data)
    assert message in str(info.value)
    with pytest.raises(ArchitectureError):
        Architecture.from_dict(data)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"layers": [')
    with pytest.raises(ArchitectureError, match=r"bad.json: not valid JSON"):
        Architecture.load(bad)
    with pytest.raises(ArchitectureError, match=r"missing.json: no such file"):
        Architecture.load(tmp_path / "missing.json")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
layerish = st.fixed_dictionaries(
    {"type": st.sampled_from(["conv2d", "linear", "maxpool2d", "avgpool2d", "adaptiveavgpool2d", "dropout", "relu", "x"])},
    optional={
        k: st.one_of(st.integers(-2, 40), st.lists(st.integers(-1, 9), max_size=3), st.sampled_from(["same", "valid", "?"]), st.booleans(), st.floats())
        for k in ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "out_features", "output_size", "p", "ceil_mode", "bias")
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.fixed_dictionaries({"input": json_values | st.just([1, 28, 28]), "layers": st.lists(layerish | json_values, max_size=6)})))
def test_garbage_never_raises_anything_but_architecture_error(data):
    try:
        summary = analyze(data)
        if summary.ok:
            infer_shapes(Architecture.from_dict(data), summary.input_shape)
    except ArchitectureError as exc:
        assert str(exc)
    # And the same via text: an ArchitectureError or nothing (anything else fails the test)
    try:
        Architecture.loads(json.dumps(data))
    except ArchitectureError as exc:
        assert str(exc)


@pytest.mark.parametrize(
    "layer_type, field, text, value",
    [
        ("conv2d", "kernel_size", "5", 5),
        ("conv2d", "kernel_size", "3x5", [3, 5]),
        ("conv2d", "kernel_size", "3×5", [3, 5]),
        ("conv2d", "padding", "same", "same"),
        ("conv2d", "stride", "", 1),
        ("conv2d", "bias", "no", False),
        ("dropout", "p", "0.25", 0.25),
    ],
)
def test_field_text_parses(layer_type, field, text, value):
    assert parse_field_text(layer_type, field, text) == value


@pytest.mark.parametrize(
    "layer_type, field, text, message",
    [
        ("conv2d", "kernel_size", "five", "kernel_size must be an integer or h×w, got 'five'"),
        ("conv2d", "out_channels", "3x3", "out_channels must be an integer, got '3x3'"),
        ("conv2d", "out_channels", "", "out_channels is required"),
        ("conv2d", "padding", "full", "padding must be an integer or h×w, same or valid, got 'full'"),
        ("dropout", "p", "half", "p must be a number, got 'half'"),
    ],
)
def test_field_text_errors(layer_type, field, text, message):
    with pytest.raises(ArchitectureError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_field_text(layer_type, field, text)
