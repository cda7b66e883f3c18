"""Hostile architectures: any JSON at all is an ArchitectureError or numbers, never a crash
or a freeze, and every number is computed in time that does not depend on the sizes."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_tui.core.shapes import analyze, infer_shapes, widest_adaptive_bin
from cnn_tui.core.spec import MAX_INT, Architecture, ArchitectureError, parse_field_text

huge_ints = st.integers(min_value=2**62, max_value=10**400) | st.integers(max_value=-(2**62), min_value=-(10**400))
numbers = st.integers(-3, 40) | huge_ints | st.floats(allow_nan=True, allow_infinity=True) | st.just(1e308)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
FIELDS = ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "out_features",
          "output_size", "p", "negative_slope", "ceil_mode", "bias")
layerish = st.fixed_dictionaries(
    {"type": st.sampled_from(["conv2d", "linear", "maxpool2d", "avgpool2d", "adaptiveavgpool2d", "dropout",
                              "leakyrelu", "batchnorm2d", "flatten"])},
    optional={name: numbers | st.lists(numbers, min_size=2, max_size=2) for name in FIELDS},
)


def _only_architecture_errors(data) -> None:
    try:
        summary = analyze(data)
        if summary.ok:
            infer_shapes(Architecture.from_dict(data), summary.input_shape)
            for info in summary.layers:  # every number is an int we can print
                json.dumps(info.to_json())
            json.dumps(summary.to_json())
    except ArchitectureError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 400, message


@settings(max_examples=400, deadline=None)
@given(st.one_of(
    json_values,
    st.fixed_dictionaries({"input": json_values | st.lists(numbers, min_size=3, max_size=3) | st.just([1, 28, 28]),
                           "layers": st.lists(layerish | json_values, max_size=6)}),
))
def test_any_json_value_is_numbers_or_an_architecture_error(data):
    _only_architecture_errors(data)
    try:
        text = json.dumps(data)
    except ValueError:  # a Python int json cannot write (over 4,300 digits)
        return
    try:
        Architecture.loads(text)
    except ArchitectureError:
        pass


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"layers": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"input": [1, 28, ' + "9" * 5000 + '], "layers": []}', "more than 4,300 digits"),
        ('{"input": [1, 28, 28], "layers": [{"type": "linear", "out_features": 1' + "0" * 305 + "}]}",
         "out_features <a number of about 306 digits> is too large"),
        ('{"input": [1, 28, 28], "layers": [{"type": "linear", "out_features": 1e400}]}', "positive integer, got inf"),
        ('{"input": [1, 28, 28], "layers": [{"type": "leakyrelu", "negative_slope": 1e308}]}',
         "negative_slope must be between -1000 and 1000"),
        ('{"input": [1, 28, 28], "layers": [{"type": "dropout", "p": 1}]}', "p must be at least 0 and below 1"),
        ('{"input": [1, 28, 28], "layers": [{"type": "linear", "out_features": 1000000000000000000}]}',
         "layer 0 (linear): its weight 1000000000000000000×784 would be over PyTorch's limit"),
        ('{"input": [1, 28, 28], "layers": [{"type": "adaptiveavgpool2d", "output_size": 1000000000000000}]}',
         "its output 1×1000000000000000×1000000000000000 would be over PyTorch's limit"),
        ('{"input": [1, 28, 28], "layers": [{"type": "conv2d", "out_channels": 1, "kernel_size": 1, "padding": 4000000000000000000}]}',
         "would be over PyTorch's limit"),
        ('{"input": [1, 9223372036854775807, 28], "layers": []}', "input [1, 9223372036854775807, 28] is too large"),
        ('{"input": [1, 28, 28], "layers": [{"type": "x' + "y" * 100_000 + '"}]}', "unknown layer type"),
    ],
)
def test_hostile_files_are_one_short_line(text, message):
    with pytest.raises(ArchitectureError) as info:
        arch = Architecture.loads(text)
        infer_shapes(arch).raise_for_error()
    assert message in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


@pytest.mark.parametrize(
    "layer_type, field, text, message",
    [
        ("conv2d", "kernel_size", "9" * 5000, "kernel_size 99999"),
        ("conv2d", "out_channels", "9" * 25, "is too large"),
        ("conv2d", "kernel_size", f"3x{MAX_INT + 1}", "is too large"),
        ("linear", "out_features", "1" + "0" * 305, "is too large"),
        ("dropout", "p", "1e400", "p must be a finite number"),
        ("leakyrelu", "negative_slope", "nan", "negative_slope must be a finite number"),
        ("conv2d", "kernel_size", "٣", "kernel_size must be an integer or h×w"),  # a non-ASCII digit
    ],
)
def test_field_text_refuses_huge_numbers(layer_type, field, text, message):
    with pytest.raises(ArchitectureError) as info:
        parse_field_text(layer_type, field, text)
    assert message in str(info.value) and len(str(info.value)) < 200


def test_field_text_accepts_the_largest_size():
    assert parse_field_text("conv2d", "out_channels", str(MAX_INT)) == MAX_INT


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300))
def test_widest_adaptive_bin_is_pytorchs_bins(size, out):
    widest = max(-(-(i + 1) * size // out) - (i * size // out) for i in range(out))
    assert widest_adaptive_bin(size, out) == widest


@pytest.mark.parametrize("output_size", [10**8, [10**8, 3], [2**40, 1]])
def test_numbers_take_no_longer_for_huge_sizes(output_size):
    """Adaptive pooling to 10^8 cells walked every bin: a minute per keystroke in the editor."""
    data = {"input": [3, 28, 28], "layers": [{"type": "adaptiveavgpool2d", "output_size": output_size}]}
    start = time.perf_counter()
    for _ in range(20):
        summary = analyze(data)
    assert time.perf_counter() - start < 1.0
    assert summary.ok and summary.layers[0].receptive_field is not None


def test_what_validation_accepts_torch_builds_and_runs():
    """The extremes the validation lets through are ones PyTorch takes (torch is the oracle)."""
    import torch

    from cnn_tui.core.build import build_model

    arch = Architecture.from_dict({"input": [2, 9, 9], "layers": [
        {"type": "leakyrelu", "negative_slope": 1000}, {"type": "leakyrelu", "negative_slope": -1000},
        {"type": "dropout", "p": 0.999}, {"type": "dropout2d", "p": 0}, {"type": "adaptiveavgpool2d", "output_size": [40, 1]},
        {"type": "flatten"}, {"type": "linear", "out_features": 3}]})
    out = build_model(arch)(torch.rand(4, 2, 9, 9))
    assert out.shape == (4, 3)


def test_what_torch_refuses_validation_refuses_first():
    import torch

    with pytest.raises(RuntimeError):  # beyond float32: torch cannot use the slope
        torch.nn.LeakyReLU(1e308)(torch.tensor([-1.0]))
    with pytest.raises(ArchitectureError):
        Architecture.from_dict({"layers": [{"type": "leakyrelu", "negative_slope": 1e308}]})


def test_the_largest_seed_seeds_torch_and_synthetic_data():
    import torch

    from cnn_tui.core.config import MAX_SEED, TrainConfig
    from cnn_tui.core.data import synthetic_split

    torch.manual_seed(MAX_SEED)
    assert len(synthetic_split(5, (1, 4, 4), 10, MAX_SEED, train=False)) == 5  # seeds 2·seed + 2
    TrainConfig(seed=MAX_SEED).validate()
    with pytest.raises(ValueError, match="seed must be between 0 and"):
        TrainConfig(seed=MAX_SEED + 1).validate()
