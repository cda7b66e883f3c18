"""Comparing runs: best and last values, the network diff with its params and MACs, the
settings diff, and `cnn-tui compare` as a user runs it."""

from __future__ import annotations

import pytest

from cnn_tui.core.compare import Run, architecture_diff, config_diff, run_stats
from cnn_tui.core.config import TrainConfig
from cnn_tui.core.presets import preset
from cnn_tui.core.shapes import infer_shapes
from cnn_tui.core.spec import Architecture

from .test_cli_train import cli


def run(name: str, arch: Architecture, rows=(), **config) -> Run:
    return Run(name, list(rows), arch, TrainConfig(**config).to_json(), infer_shapes(arch, (1, 28, 28)))


def seed_with(change) -> Architecture:
    data = preset("seed").to_dict()
    change(data["layers"])
    return Architecture.from_dict(data)


def test_one_conv_changed_is_named_with_its_params_and_macs():
    wider = seed_with(lambda layers: layers[3].update(out_channels=16))
    changes = architecture_diff(run("a", preset("seed")), run("b", wider))
    conv = changes[0]
    assert conv.before.path == (3,) and conv.kind == "changed"
    assert conv.fields == (("out_channels", 12, 16),)
    assert conv.params_change == (16 - 12) * (6 * 25 + 1) == 604
    assert conv.macs_change == (16 - 12) * 8 * 8 * 6 * 25 == 38_400
    assert conv.describe() == ("layer 3 conv2d: out_channels 12 → 16; params 1,812 → 2,416 (+604), "
                               "MACs 115,200 → 153,600 (+38,400)")
    # the linear layer after the flatten takes 4×4×16 features now: listed with its numbers
    linear = changes[1]
    assert linear.before.path == (7,) and linear.kind == "input changed"
    assert linear.params_change == 4 * 4 * 4 * 120
    assert [c.before.path for c in changes] == [(3,), (7,)]  # relu, pool, flatten: nothing to say


def test_added_and_removed_layers_and_a_kernel_pair():
    changed = seed_with(lambda layers: (layers.insert(1, {"type": "batchnorm2d"}), layers.pop(9),
                                        layers[0].update(kernel_size=[5, 3], padding=[0, 1])))
    changes = architecture_diff(run("a", preset("seed")), run("b", changed))
    described = [change.describe() for change in changes]
    assert described[0].startswith("layer 0 conv2d: kernel_size 5 → 5×3, padding (default) → 0×1")
    assert any(text.startswith("layer 1 batchnorm2d: added") and "params 0 → 12 (+12)" in text for text in described)
    assert any("removed" in text and text.startswith("layer 8") for text in described)


def test_blocks_are_compared_inside():
    a = preset("resnet-small")
    data = a.to_dict()
    data["layers"][5]["layers"][0]["kernel_size"] = 5
    data["layers"][5]["layers"][0]["padding"] = 2
    changes = architecture_diff(run("a", a), run("b", Architecture.from_dict(data)))
    inner = next(c for c in changes if c.kind == "changed")
    assert inner.before.path == (5, 0) and ("kernel_size", 3, 5) in inner.fields
    assert inner.params_change == 16 * 32 * (25 - 9)
    block = next(c for c in changes if c.before.path == (5,))
    assert "layers inside changed" in block.describe() and block.params_change == inner.params_change


def test_the_same_network_has_no_diff_and_settings_are_listed():
    a, b = run("a", preset("seed")), run("b", preset("seed"), lr=0.001, epochs=9)
    assert architecture_diff(a, b) == []
    assert config_diff(a, b) == [("epochs", 5, 9), ("lr", 0.01, 0.001)]


def test_best_and_last_values():
    rows = [{"epoch": e, "total_loss": loss * 4, "batches": 4, "train_accuracy": acc, "test_accuracy": test,
             "test_loss": tl, "seconds": s}
            for e, (loss, acc, test, tl, s) in enumerate([(2.0, 0.5, 0.6, 1.0, 3.0), (1.0, 0.7, 0.8, 0.7, 1.0),
                                                          (0.5, 0.9, 0.7, 0.9, 2.0)])]
    stats = run_stats(run("a", preset("seed"), rows))
    assert stats.best["test_accuracy"] == (0.8, 2) and stats.last["test_accuracy"] == 0.7
    assert stats.best["test_loss"] == (0.7, 2) and stats.best["train_loss"] == (0.5, 3)
    assert stats.seconds_per_epoch == 2.0 and stats.epochs == 3 and stats.params == 32_998


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    common = ["--dataset", "synthetic", "--epochs", "2", "--train-size", "200", "--test-size", "50",
              "--batch-size", "50", "--sessions-dir", str(folder)]
    arch = folder / "wider.json"
    seed_with(lambda layers: layers[3].update(out_channels=16)).save(arch)
    for args in (["--session", "base"], [str(arch), "--session", "wider", "--lr", "0.005"]):
        result = cli("train", *args, *common)
        assert result.returncode == 0, result.stderr
    return folder


def test_compare_command(two_runs):
    result = cli("compare", "base", "wider", "--sessions-dir", str(two_runs))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "test acc." in out and "base" in out and "wider" in out
    assert "test accuracy" in out and "train loss (mean per batch)" in out  # the overlaid charts
    assert "layer 3 conv2d: out_channels 12 → 16; params 1,812 → 2,416 (+604), MACs 115,200 → 153,600 (+38,400)" in out
    assert "settings: lr 0.01 → 0.005" in out
    assert "total params 32,998 → " in out


@pytest.mark.parametrize("args, message", [
    (["base"], "compare needs two sessions or more"),
    (["base", "base"], "a session is named twice"),
    (["base", "nope"], "no session 'nope'"),
])
def test_compare_mistakes(two_runs, args, message):
    result = cli("compare", *args, "--sessions-dir", str(two_runs))
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
