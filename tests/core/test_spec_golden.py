"""The reference network's table (SPEC §1), exact, and the file format's round trip."""

from __future__ import annotations

import json

import pytest

from cnn_tui.core.presets import PRESET_NAMES, preset
from cnn_tui.core.shapes import infer_shapes
from cnn_tui.core.spec import Architecture

# index -> (output shape, params, MACs, receptive field, jump), straight from SPEC §1 / §3.
SEED_GOLDEN = {
    0: ((6, 24, 24), 156, 86_400, (5, 5), (1, 1)),
    1: ((6, 24, 24), 0, 0, (5, 5), (1, 1)),
    2: ((6, 12, 12), 0, 0, (6, 6), (2, 2)),
    3: ((12, 8, 8), 1_812, 115_200, (14, 14), (2, 2)),
    4: ((12, 8, 8), 0, 0, (14, 14), (2, 2)),
    5: ((12, 4, 4), 0, 0, (16, 16), (4, 4)),
    6: ((192,), 0, 0, None, None),
    7: ((120,), 23_160, 23_040, None, None),
    8: ((120,), 0, 0, None, None),
    9: ((60,), 7_260, 7_200, None, None),
    10: ((60,), 0, 0, None, None),
    11: ((10,), 610, 600, None, None),
}


def test_seed_network_matches_the_reference_table():
    summary = infer_shapes(preset("seed"))
    assert summary.ok
    got = {
        info.index: (info.output_shape, info.params, info.macs, info.receptive_field, info.jump)
        for info in summary.layers
    }
    assert got == SEED_GOLDEN
    assert summary.total_params == 32_998
    assert summary.total_macs == 232_440
    assert summary.counted_layers == 5


def test_seed_memory_totals():
    summary = infer_shapes(preset("seed"), batch_size=100)
    assert summary.layers[0].output_bytes == 100 * 6 * 24 * 24 * 4
    assert summary.param_bytes == 32_998 * 4
    assert summary.train_state_bytes == 32_998 * 4 * 3
    per_sample = 2 * 6 * 24 * 24 + 6 * 12 * 12 + 2 * 12 * 8 * 8 + 2 * 192 + 2 * 120 + 2 * 60 + 10
    assert summary.activation_bytes == 100 * per_sample * 4


def test_summary_json_is_the_spec_object():
    data = infer_shapes(preset("seed")).to_json()
    assert data["input"] == [1, 28, 28]
    assert data["layers"][0] == {
        "index": 0, "type": "conv2d", "output_shape": [6, 24, 24], "params": 156,
        "macs": 86400, "receptive_field": [5, 5], "jump": [1, 1], "output_bytes": 1382400,
    }
    assert data["layers"][6]["receptive_field"] is None
    assert (data["total_params"], data["total_macs"], data["counted_layers"]) == (32998, 232440, 5)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_presets_are_valid_and_end_in_ten_classes(name):
    summary = infer_shapes(preset(name))
    assert summary.ok, summary.error
    assert summary.output_shape == (10,)


def test_vgg_small_takes_cifar_shaped_input():
    assert preset("vgg-small").input == (3, 32, 32)


ROUND_TRIP = {
    "input": [3, 32, 17],
    "layers": [
        {"type": "conv2d", "out_channels": 8, "kernel_size": [3, 5], "padding": "same", "bias": False},
        {"type": "batchnorm2d"},
        {"type": "leakyrelu", "negative_slope": 0.2},
        {"type": "maxpool2d", "kernel_size": [2, 3], "stride": [2, 1], "ceil_mode": True},
        {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "groups": 8, "dilation": [1, 2],
         "padding": "valid"},
        {"type": "dropout2d", "p": 0.1},
        {"type": "avgpool2d", "kernel_size": 2, "padding": 1},
        {"type": "adaptiveavgpool2d", "output_size": [2, 1]},
        {"type": "gelu"},
        {"type": "linear", "out_features": 7, "bias": True},
        {"type": "sigmoid"},
        {"type": "tanh"},
        {"type": "dropout"},
        {"type": "flatten"},
    ],
}


def test_round_trip_is_exact(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(ROUND_TRIP))
    arch = Architecture.load(path)
    assert arch.to_dict() == ROUND_TRIP
    arch.save(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == ROUND_TRIP
    assert Architecture.load(tmp_path / "again.json") == arch
    assert infer_shapes(arch).ok


def test_input_may_be_omitted_and_comes_from_outside():
    data = {"layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3}]}
    arch = Architecture.from_dict(data)
    assert arch.input is None and arch.to_dict() == data
    assert infer_shapes(arch, (3, 32, 32)).output_shape == (4, 30, 30)


def test_linear_after_spatial_output_flattens_implicitly():
    arch = Architecture.from_dict({"input": [2, 5, 5], "layers": [{"type": "linear", "out_features": 3}]})
    info = infer_shapes(arch).layers[0]
    assert info.implicit_flatten and info.params == 50 * 3 + 3 and info.macs == 150


def test_settings_text_in_the_editor_style():
    layers = preset("seed").layers
    assert layers[0].describe() == "6@5×5 s1 p0"
    assert layers[2].describe() == "2×2 s2"
    assert layers[7].describe() == "→120"
