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
