"""Every layer type's record, checked against torch: a new type is a record and this passes."""

from __future__ import annotations

import pytest
import torch

from cnn_tui.core.build import build_model, count_params
from cnn_tui.core.layers import TYPES
from cnn_tui.core.shapes import analyze
from cnn_tui.core.spec import LAYER_TYPES, Architecture, format_field, parse_field_text


@pytest.mark.parametrize("name", list(TYPES))
def test_a_new_layer_of_each_type_has_torchs_numbers(name):
    """The fields a new layer starts with make a valid layer, on a C×H×W input or (for the
    types that need one) a flat one; its shape and params are what torch builds."""
    kind = TYPES[name]
    layer = {"type": name, **kind.new((4, 8, 8))}
    for head in ([], [{"type": "flatten"}]):
        data = {"input": [4, 8, 8], "layers": [*head, layer]}
        summary = analyze(data)
        if summary.ok:
            break
    assert summary.ok, summary.error
    model = build_model(Architecture.from_dict(data)).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 4, 8, 8))
    assert tuple(out.shape[1:]) == summary.output_shape
    assert count_params(model) == summary.total_params
    assert summary.layers[-1].settings == Architecture.from_dict(data).layers[-1].describe() + (
        " + projection" if summary.layers[-1].projection else "")


@pytest.mark.parametrize("name", list(TYPES))
def test_every_field_default_is_what_the_editor_shows_and_parses(name):
    for field, spec in LAYER_TYPES[name].items():
        if spec.required or spec.default is None:
            continue
        assert parse_field_text(name, field, format_field(spec.default)) == spec.default


def test_batchnorm1d_normalises_flat_features_only():
    summary = analyze({"input": [2, 3, 3], "layers": [{"type": "linear", "out_features": 7}, {"type": "batchnorm1d"}]})
    assert summary.ok and summary.layers[1].params == 14 and summary.layers[1].output_shape == (7,)
    refused = analyze({"input": [2, 3, 3], "layers": [{"type": "batchnorm1d"}]})
    assert str(refused.error) == ("layer 0 (batchnorm1d): needs a flat input (after flatten or linear) but gets "
                                  "2×3×3; use batchnorm2d on C×H×W outputs")


def test_dropout_after_a_linear_layer_and_convs_without_bias():
    summary = analyze({"input": [1, 8, 8], "layers": [
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "bias": False},
        {"type": "linear", "out_features": 5}, {"type": "dropout", "p": 0.2}, {"type": "silu"}]})
    assert summary.ok and summary.layers[0].params == 4 * 9 and summary.layers[2].output_shape == (5,)
    assert summary.layers[0].settings == "4@3×3 s1 p0 nobias"


@pytest.mark.parametrize("name", ["seed", "vgg-small", "resnet-small"])
def test_pooling_before_the_activation_is_the_same_function_and_gradients(name):
    """The fast mode's reordering: equal outputs and gradients bit for bit, the same state dict."""
    from cnn_tui.core.build import pool_before_activation
    from cnn_tui.core.presets import preset

    arch = preset(name)
    torch.manual_seed(0)
    plain = build_model(arch)
    torch.manual_seed(0)
    swapped = build_model(arch)
    moved = pool_before_activation(swapped)
    assert moved == {"seed": 2, "vgg-small": 3, "resnet-small": 0}[name]
    assert list(plain.state_dict()) == list(swapped.state_dict())
    x = torch.randn(4, *arch.input)
    plain.train(), swapped.train()
    torch.manual_seed(1)  # dropout draws the same masks for both
    out_plain = plain(x)
    torch.manual_seed(1)
    out_swapped = swapped(x)
    assert torch.equal(out_plain, out_swapped)
    out_plain.square().sum().backward()
    out_swapped.square().sum().backward()
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(plain.parameters(), swapped.parameters()))
    if moved:
        kinds = [type(m).__name__ for m in swapped]
        assert kinds[kinds.index("MaxPool2d") + 1] == "ReLU"
