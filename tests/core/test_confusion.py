"""The test set's confusion matrix: recorded by the trainer every epoch, read back by the helper."""

from __future__ import annotations

import json

import pytest

from cnn_tui.core.config import TrainConfig
from cnn_tui.core.confusion import (
    Confusion,
    ConfusionError,
    check_matrix,
    class_names,
    confusion_table,
    epoch_confusion,
    pairs_lines,
)
from cnn_tui.core.datasets import DATASETS
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import SessionError, SessionStore
from cnn_tui.core.trainer import train

# Enough training images for the network to learn something (so the matrix is not one column).
CONFIG = dict(dataset="synthetic", train_size=1500, test_size=300, batch_size=50, epochs=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real short run: its store, metrics rows and configuration."""
    store = SessionStore(tmp_path_factory.mktemp("confusion") / "sessions")
    config = TrainConfig(**CONFIG)
    ended = train(preset("seed"), config, store, "run")
    assert ended.status == "finished"
    rows, warnings = store.open("run").read_metrics()
    assert warnings == [] and len(rows) == 2
    return store, rows, config


def test_every_epoch_records_a_matrix_that_adds_up(trained):
    import torch

    from cnn_tui.core.data import load_data

    _, rows, config = trained
    _, test = load_data(config)
    per_class = torch.bincount(test.labels, minlength=10).tolist()
    for row in rows:
        matrix = row["confusion"]
        assert len(matrix) == 10 and all(len(r) == 10 for r in matrix)
        assert sum(map(sum, matrix)) == row["test_samples"] == 300  # every test image, once
        assert sum(matrix[i][i] for i in range(10)) == row["test_correct"]  # the diagonal is what was right
        assert [sum(r) for r in matrix] == per_class  # rows are the true classes
        confusion = epoch_confusion(row, "synthetic")
        accuracies = confusion.per_class_accuracy()
        assert sum(a * n for a, n in zip(accuracies, per_class)) == pytest.approx(row["test_correct"])
        assert confusion.accuracy == pytest.approx(row["test_accuracy"])
        assert sum(p.count for p in confusion.confused_pairs()) == 300 - row["test_correct"]
    assert rows[-1]["test_accuracy"] > 0.3  # it learned: the matrix is not a single column


def test_rows_are_true_classes_and_columns_predictions(trained):
    """The last epoch's matrix, recounted here one image at a time from the checkpoint's
    predictions: row = label, column = argmax."""
    import torch

    from cnn_tui.core.build import build_model
    from cnn_tui.core.data import load_data, scale

    store, rows, config = trained
    session = store.open("run")
    model = build_model(session.architecture, config.input)
    model.load_state_dict(session.load_checkpoint().model)
    model.eval()
    _, test = load_data(config)
    with torch.no_grad():
        predicted = model(scale(test.images)).argmax(dim=1).tolist()
    expected = [[0] * 10 for _ in range(10)]
    for label, guess in zip(test.labels.tolist(), predicted):
        expected[label][guess] += 1
    assert rows[-1]["confusion"] == expected
    assert any(expected[t][p] for t in range(10) for p in range(10) if t != p)  # some off-diagonal counts


def test_old_metrics_lines_without_a_matrix_still_load(trained, tmp_path):
    store, rows, _ = trained
    old = SessionStore(tmp_path)
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "session.json").write_text((store.root / "run" / "session.json").read_text())
    lines = [{k: v for k, v in row.items() if k not in ("confusion", "peak_memory_bytes")} for row in rows]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    loaded, warnings = old.open("old").read_metrics()
    assert [r["epoch"] for r in loaded] == [0, 1] and warnings == []
    with pytest.raises(ConfusionError, match="epoch 1 has no confusion matrix: it was trained before"):
        epoch_confusion(loaded[1], "synthetic")


@pytest.mark.parametrize("bad, why", [
    ([[1, 2], [3]], "not square"),
    ([[1, -2], [3, 4]], "not all counts"),
    ([[1, 2.5], [3, 4]], "not all counts"),
    ([[True, 2], [3, 4]], "not all counts"),
    ("many", "not a list of rows"),
    ([], "not a list of rows"),
])
def test_a_damaged_matrix_is_named_by_the_session(trained, tmp_path, bad, why):
    store, rows, _ = trained
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "session.json").write_text((store.root / "run" / "session.json").read_text())
    lines = [rows[0], {**rows[1], "confusion": bad}]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(SessionError, match=f"metrics.jsonl: line 2 is damaged \\(confusion is {why}"):
        SessionStore(tmp_path).open("bad").read_metrics()
    assert check_matrix(bad) is not None


def test_per_class_accuracy_and_the_most_confused_pairs():
    names = ("cat", "dog", "bird")
    confusion = Confusion.of([[8, 2, 0],
                              [5, 5, 0],
                              [0, 0, 0]], names)
    assert confusion.total == 20 and confusion.correct == 13 and confusion.accuracy == 0.65
    assert confusion.per_class_accuracy() == [0.8, 0.5, None]  # bird has no test images
    pairs = confusion.confused_pairs()
    assert [(p.true, p.predicted, p.count) for p in pairs] == [(1, 0, 5), (0, 1, 2)]
    assert pairs[0].share == 0.5
    assert confusion.confused_pairs(limit=1) == pairs[:1]
    assert pairs_lines(confusion) == ["dog → cat  5  (50.0% of dog)", "cat → dog  2  (20.0% of cat)"]
    assert pairs_lines(Confusion.of([[3, 0], [0, 4]], ("a", "b"))) == ["no test image was confused"]
    ties = Confusion.of([[0, 1, 1], [1, 0, 0], [0, 0, 0]], names).confused_pairs()
    assert [(p.true, p.predicted) for p in ties] == [(0, 1), (0, 2), (1, 0)]  # equal counts: by class


def test_a_matrix_must_fit_the_classes():
    with pytest.raises(ConfusionError, match="the confusion matrix is 2×2 but the dataset has 3 classes"):
        Confusion.of([[1, 0], [0, 1]], ("a", "b", "c"))
    with pytest.raises(ConfusionError, match="not square"):
        Confusion.of([[1, 0], [0]], ("a", "b"))


def test_every_dataset_names_its_classes_as_torchvision_does():
    import torchvision.datasets as tvd

    assert class_names("fashion-mnist") == tuple(tvd.FashionMNIST.classes)
    assert class_names("kmnist") == tuple(tvd.KMNIST.classes)
    assert class_names("mnist") == tuple(str(d) for d in range(10))  # torchvision's are "0 - zero", ...
    assert class_names("cifar10") == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                      "ship", "truck")
    assert class_names("synthetic") == tuple(f"class {i}" for i in range(10))
    for info in DATASETS.values():
        assert len(info.class_names) == info.classes, info.name
    assert class_names("fashion-mnist", 3) == ("class 0", "class 1", "class 2")  # not its size: numbered


def test_the_table_shows_names_counts_and_accuracy():
    from rich.console import Console

    confusion = Confusion.of([[90, 10], [30, 70]], ("T-shirt/top", "Trouser"))
    console = Console(record=True, width=100, color_system="truecolor")
    console.print(confusion_table(confusion, "epoch 3"))
    text = console.export_text()
    assert "epoch 3" in text and "0 T-shirt/top" in text and "1 Trouser" in text
    lines = [line for line in text.splitlines() if "Trouser" in line]
    assert lines[0].split()[-3:] == ["30", "70", "70.0%"]
    styled = console.export_html(inline_styles=True)
    assert "background-color" in styled  # shaded
