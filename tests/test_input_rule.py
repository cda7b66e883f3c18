"""One rule for a run's input shape, the same in `summary`, `train` and the app:
--input, else the architecture's "input", else the dataset's; a real dataset must match."""

from __future__ import annotations

import json

import pytest

import cnn_tui.ui.app as app_module
from cnn_tui.cli import main
from cnn_tui.core.config import TrainConfig, resolve_input
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import SessionStore
from cnn_tui.core.shapes import infer_shapes
from cnn_tui.core.prepare import prepare
from cnn_tui.words import worded


@pytest.mark.parametrize(
    "explicit, arch_input, dataset, shape",
    [
        ((3, 8, 8), (1, 28, 28), "synthetic", (3, 8, 8)),  # --input first
        ((3, 8, 8), (1, 28, 28), None, (3, 8, 8)),
        (None, (3, 32, 32), "synthetic", (3, 32, 32)),  # then the architecture's
        (None, (3, 32, 32), None, (3, 32, 32)),
        (None, (3, 32, 32), "cifar10", (3, 32, 32)),
        (None, None, "cifar10", (3, 32, 32)),  # then the dataset's
        (None, None, "synthetic", (1, 28, 28)),
        (None, None, None, (1, 28, 28)),  # no dataset named: fashion-mnist's
        ((1, 28, 28), (3, 32, 32), "mnist", (1, 28, 28)),  # --input may rebuild a file for a dataset
    ],
)
def test_the_rule(explicit, arch_input, dataset, shape):
    assert resolve_input(explicit, arch_input, dataset) == shape


@pytest.mark.parametrize(
    "explicit, arch_input, dataset, message",
    [
        (None, (3, 32, 32), "fashion-mnist",
         "the architecture's input is 3×32×32 but fashion-mnist images are 1×28×28; use --dataset cifar10 or "
         "--dataset synthetic, or set --input 1,28,28 to build it for fashion-mnist"),
        (None, (1, 28, 28), "cifar10", "the architecture's input is 1×28×28 but cifar10 images are 3×32×32"),
        ((3, 32, 32), None, "mnist", "--input 3,32,32 does not match mnist's 1×28×28 images"),
    ],
)
def test_a_mismatch_with_a_real_dataset_is_an_error(explicit, arch_input, dataset, message):
    with pytest.raises(ValueError) as info:
        resolve_input(explicit, arch_input, dataset)
    assert message in worded(info.value, "cli")


def summary_json(capsys, *args):
    assert main(["summary", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_summary_follows_the_rule(capsys):
    assert summary_json(capsys, "--preset", "vgg-small")["total_params"] == 667_178  # its own 3×32×32
    assert summary_json(capsys, "--preset", "vgg-small", "--dataset", "cifar10")["total_params"] == 667_178
    assert summary_json(capsys, "--dataset", "cifar10")["input"] == [3, 32, 32]  # the default net follows
    assert summary_json(capsys)["input"] == [1, 28, 28]
    assert summary_json(capsys, "--preset", "vgg-small", "--input", "1,28,28")["total_params"] == 437_226


@pytest.mark.parametrize("args", [["--preset", "vgg-small", "--dataset", "mnist"], ["--preset", "seed", "--dataset", "cifar10"]])
def test_summary_refuses_a_mismatch(capsys, args):
    assert main(["summary", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnn-tui: error: the architecture's input is") and err.count("\n") == 1


def test_train_refuses_a_mismatch_before_any_session(tmp_path, capsys):
    assert main(["train", "--preset", "vgg-small", "--sessions-dir", str(tmp_path / "s")]) == 2
    assert "the architecture's input is 3×32×32 but fashion-mnist images are 1×28×28" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_train_config_takes_the_shape_the_rule_gives(tmp_path):
    store = SessionStore(tmp_path / "s")
    config = TrainConfig(dataset="cifar10").for_architecture(preset("seed").with_input(None))  # no CIFAR-10 here
    assert config.input == (3, 32, 32) and config.input_shape is None
    _, config = prepare(preset("vgg-small"), TrainConfig(dataset="synthetic"), store, force=True)
    assert config.input == (3, 32, 32) and config.input_shape == (3, 32, 32)
    _, config = prepare(preset("vgg-small"), TrainConfig(dataset="synthetic", input_shape=(3, 16, 16)), store, force=True)
    assert config.input == (3, 16, 16)


@pytest.fixture
def launched(monkeypatch):
    """What `cnn-tui ...` would hand the app, without taking over the terminal."""
    seen = {}

    def fake_run_app(arch=None, config=None, **kwargs):
        seen["app"] = app_module.CnnTuiApp(arch, config, **{k: v for k, v in kwargs.items() if k != "session"})
        return 0

    monkeypatch.setattr(app_module, "run_app", fake_run_app)
    return seen


def test_the_app_uses_the_same_shape_as_summary(tmp_path, launched, capsys):
    assert main(["--preset", "vgg-small", "--dataset", "synthetic", "--sessions-dir", str(tmp_path)]) == 0
    app = launched["app"]
    assert app.config.input == (3, 32, 32)
    assert infer_shapes(app.initial_arch, app.config.input).total_params == 667_178
    assert main(["--dataset", "cifar10", "--sessions-dir", str(tmp_path)]) == 0
    assert launched["app"].config.input == (3, 32, 32)


def test_the_app_refuses_a_mismatch_before_the_screen(tmp_path, launched, capsys):
    assert main(["--preset", "vgg-small", "--sessions-dir", str(tmp_path)]) == 2
    assert "the architecture's input is 3×32×32 but fashion-mnist images are 1×28×28" in capsys.readouterr().err
    assert "app" not in launched
