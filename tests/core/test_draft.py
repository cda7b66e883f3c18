"""The editor's draft: editing keeps what was typed, numbers follow every change."""

from __future__ import annotations

import pytest

from cnn_tui.core.draft import ArchitectureDraft
from cnn_tui.core.presets import preset
from cnn_tui.core.spec import ArchitectureError


@pytest.fixture
def draft():
    return ArchitectureDraft(preset("seed"), (1, 28, 28))


def test_editing_a_kernel_changes_every_layer_below(draft):
    assert draft.summary().layers[3].output_shape == (12, 8, 8)
    draft.set_field_text(0, "kernel_size", "3")
    summary = draft.summary()
    assert summary.layers[0].output_shape == (6, 26, 26)
    assert summary.layers[3].output_shape == (12, 9, 9)
    assert summary.layers[7].params == 12 * 4 * 4 * 120 + 120
    assert draft.to_architecture().layers[0].fields["kernel_size"] == 3


def test_pairs_and_words(draft):
    draft.set_field_text(0, "kernel_size", "3x5")
    draft.set_field_text(0, "padding", "same")
    assert draft.summary().layers[0].output_shape == (6, 28, 28)
    assert draft.field_text(0, "kernel_size") == "3×5"


def test_bad_text_is_kept_with_its_reason_and_stops_the_numbers_there(draft):
    draft.set_field_text(3, "out_channels", "twelve")
    summary = draft.summary()
    assert str(summary.error) == "layer 3 (conv2d): out_channels must be an integer, got 'twelve'"
    assert len(summary.layers) == 3  # the layers above keep their numbers
    assert draft.field_text(3, "out_channels") == "twelve"  # nothing typed is lost
    with pytest.raises(ArchitectureError):
        draft.to_architecture()
    draft.set_field_text(3, "out_channels", "16")
    assert draft.summary().ok and draft.summary().layers[3].output_shape == (16, 8, 8)


@pytest.mark.parametrize("text, message", [
    ("", "out_channels is required"),
    ("0", "out_channels must be positive, got 0"),
    ("-3", "out_channels must be positive, got -3"),
])
def test_empty_zero_negative(draft, text, message):
    draft.set_field_text(0, "out_channels", text)
    assert message in str(draft.summary().error)


def test_kernel_larger_than_input_marks_the_row_and_field(draft):
    draft.set_field_text(3, "kernel_size", "13")
    error = draft.summary().error
    assert (error.index, error.field) == (3, "kernel_size")
    assert "kernel 13×13 is larger than its padded input 12×12" in str(error)


def test_clearing_an_optional_field_means_the_default_and_is_not_written(draft):
    draft.set_field_text(0, "stride", "2")
    assert draft.layers[0]["stride"] == 2
    draft.set_field_text(0, "stride", "")
    assert "stride" not in draft.layers[0]
    assert draft.to_architecture() == preset("seed").with_input((1, 28, 28))


def test_class_count_is_checked_against_the_dataset(draft):
    draft.set_field_text(11, "out_features", "12")
    error = draft.summary(classes=10, dataset="fashion-mnist").error
    assert str(error) == "layer 11 (linear): outputs 12 features but fashion-mnist has 10 classes; set out_features to 10"
    assert draft.summary().ok  # without a dataset the net itself is fine


def test_insert_delete_move_duplicate(draft):
    at = draft.insert(1, "batchnorm2d")
    assert at == (1,) and draft.layers[1] == {"type": "batchnorm2d"}
    assert draft.summary().layers[1].params == 12
    draft.delete(1)
    assert draft.layers == preset("seed").to_dict()["layers"]
    assert draft.move(7, -1) == (6,) and draft.layers[6]["type"] == "linear"
    assert draft.summary().layers[6].implicit_flatten
    draft.move(6, +1)
    copy_at = draft.duplicate(0)
    assert copy_at == (1,) and draft.layers[1] == draft.layers[0]
    summary = draft.summary()
    assert summary.layers[1].output_shape == (6, 20, 20)  # the copy takes 6 channels in
    assert summary.layers[1].params == 6 * 6 * 25 + 6
    assert summary.layers[7].output_shape == (12 * 3 * 3,)
    draft.delete(1)
    assert draft.summary().ok
    new = draft.insert(len(draft.layers), "conv2d")
    assert draft.layer(new) == {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}


def test_bad_text_follows_its_layer_when_rows_move(draft):
    draft.set_field_text(3, "kernel_size", "x")
    draft.insert(0, "relu")
    assert draft.field_text(4, "kernel_size") == "x"
    draft.move(4, -1)
    assert draft.field_text(3, "kernel_size") == "x" and draft.field_error(3, "kernel_size")
    draft.delete(3)
    assert draft.field_error(3, "kernel_size") is None


# --- blocks ------------------------------------------------------------------------------


@pytest.fixture
def resnet():
    return ArchitectureDraft(preset("resnet-small"), (1, 28, 28))


def test_a_new_block_is_a_basic_block_at_the_channels_it_is_added_at(draft):
    at = draft.insert(3, "residual", draft.shape_before(3, draft.summary()))
    assert at == (3,)
    block = draft.layer(at)
    assert [layer["type"] for layer in block["layers"]] == ["conv2d", "batchnorm2d", "relu", "conv2d", "batchnorm2d"]
    assert block["layers"][0]["out_channels"] == 6  # the maxpool above outputs 6 channels
    summary = draft.summary()
    assert summary.layers[3].projection is None and summary.layers[3].output_shape == (6, 12, 12)


def test_editing_inside_a_block_makes_its_projection(resnet):
    first = (3, 0)  # the first block's first conv
    assert resnet.layer(first)["type"] == "conv2d" and resnet.summary().layers[3].projection is None
    resnet.set_field_text(first, "stride", "2")
    summary = resnet.summary()
    assert summary.layers[3].projection.stride == (2, 2)
    assert summary.seen[(3, 0)].output_shape == (16, 14, 14)
    assert summary.layers[5].output_shape == (32, 7, 7)  # every block below sees the smaller size


def test_bad_text_inside_a_block_is_named_by_path_and_follows_moves(resnet):
    resnet.set_field_text((5, 3), "kernel_size", "x")
    summary = resnet.summary()
    assert str(summary.error).startswith("layer 5.3 (conv2d): kernel_size must be")
    assert summary.seen[(5, 2)].output_shape == (32, 14, 14)  # the layers above keep their numbers
    assert len(summary.layers) == 5
    resnet.move((5, 3), -1)
    assert resnet.field_text((5, 2), "kernel_size") == "x"
    with pytest.raises(ArchitectureError, match="layer 5.2"):
        resnet.to_architecture()
    resnet.delete(5)
    assert not resnet.has_bad_text() and resnet.summary().ok


def test_moves_go_into_unfolded_blocks_and_out_past_their_ends(resnet):
    assert resnet.move(2, +1) == (2, 0)  # the stem's relu goes into the block below, at its top
    assert resnet.layer((2, 0))["type"] == "relu" and len(resnet.layer(2)["layers"]) == 6
    assert resnet.move((2, 0), -1) == (2,)  # and out again above it
    assert resnet.layer(3)["type"] == "residual"
    resnet.set_folded(3, True)
    assert resnet.move(2, +1) == (3,)  # a folded block is passed over whole
    assert resnet.layer(2)["type"] == "residual" and resnet.layer(3)["type"] == "relu"
    resnet.move(3, -1)
    assert resnet.move((3, 4), +1) == (4,)  # past the block's last layer: out, below it
    assert resnet.layer(4)["type"] == "batchnorm2d" and resnet.summary().layers[3].output_shape == (16, 28, 28)


def test_folds_hide_rows_follow_their_block_and_come_back_with_undo(resnet):
    everything = resnet.paths(visible=True)
    resnet.set_folded(5, True)
    shown = resnet.paths(visible=True)
    assert len(shown) == len(everything) - 5 and (5, 0) not in shown and (5,) in shown
    before = resnet.snapshot()
    resnet.insert(0, "relu")
    assert resnet.folded(6) and not resnet.folded(5)
    resnet.restore(before)
    assert resnet.folded(5)
    resnet.set_folded(0, True)  # not a block: nothing
    assert not resnet.folded(0)


def test_duplicating_a_block_copies_its_layers_apart(resnet):
    copy_at = resnet.duplicate(3)
    resnet.set_field_text((*copy_at, 3), "out_channels", "8")
    assert resnet.layer((3, 3))["out_channels"] == 16  # the original is untouched
    assert resnet.summary().layers[4].projection is not None  # 16 -> 8 channels needs one
