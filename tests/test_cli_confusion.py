"""`cnn-tui confusion NAME [--epoch N]`: the matrix, per-class accuracy and the most confused
pairs of a session's epoch; every mistake one line, exit code 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnn_tui.core.config import TrainConfig
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import SessionStore, new_record

from .test_cli_train import cli

DATA = ["--dataset", "synthetic", "--train-size", "1500", "--test-size", "300", "--batch-size", "50"]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """A session of two epochs ("run"); one whose first epoch was written before matrices
    were recorded ("old"); one saved but never trained ("empty")."""
    root = tmp_path_factory.mktemp("sessions")
    result = cli("train", *DATA, "--epochs", "2", "--session", "run", "--sessions-dir", str(root))
    assert result.returncode == 0, result.stderr
    old = root / "old"
    old.mkdir()
    (old / "session.json").write_text((root / "run" / "session.json").read_text())
    rows = [json.loads(line) for line in (root / "run" / "metrics.jsonl").read_text().splitlines()]
    (old / "metrics.jsonl").write_text(json.dumps({k: v for k, v in rows[0].items() if k != "confusion"}) + "\n")
    with SessionStore(root).create("empty", new_record(preset("seed"), TrainConfig(dataset="synthetic"), "cpu")):
        pass
    return root, rows


def confusion(root, *args):
    return cli("confusion", *args, "--sessions-dir", str(root))


def test_the_last_epoch_by_default_with_names_accuracy_and_pairs(sessions):
    root, rows = sessions
    result = confusion(root, "run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    last = rows[-1]
    assert f"epoch 1 of 0–1 · test accuracy {last['test_accuracy']:.4f} ({last['test_correct']} of 300 images)" in out
    matrix = last["confusion"]
    for t in range(10):  # each row: its number and name, its counts, its accuracy
        line = next(line for line in out.splitlines() if line.startswith(f"{t} class {t} "))
        cells = line.split()[3:]
        assert [0 if c == "·" else int(c) for c in cells[:10]] == matrix[t]
        assert cells[10] == f"{matrix[t][t] / sum(matrix[t]):.1%}"
    # the largest off-diagonal count (on a tie: the lowest true, then predicted class)
    worst = min(((-n, t, p) for t, row in enumerate(matrix) for p, n in enumerate(row) if t != p))
    assert "most confused (true → predicted):" in out
    first_pair = out.split("most confused (true → predicted):\n")[1].splitlines()[0].split()
    assert first_pair[:5] == ["class", str(worst[1]), "→", "class", str(worst[2])] and first_pair[5] == str(-worst[0])


def test_an_earlier_epoch(sessions):
    root, rows = sessions
    result = confusion(root, "run", "--epoch", "0")
    assert result.returncode == 0, result.stderr
    assert f"epoch 0 of 0–1 · test accuracy {rows[0]['test_accuracy']:.4f}" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["nope"], "no session 'nope' in "),
    (["run", "--epoch", "2"], "--epoch 2: session 'run' has epochs 0 to 1 (numbered from 0, as cnn-tui train "
                              "prints them)"),
    (["run", "--epoch", "-1"], "--epoch -1: session 'run' has epochs 0 to 1"),
    (["run", "--epoch", "one"], "argument --epoch: invalid int value: 'one'"),
    (["old"], "session 'old': epoch 0 has no confusion matrix: it was trained before cnn-tui recorded them; "
              "epochs trained from now on record one (cnn-tui train --session old --resume --epochs 2"),
    (["empty"], "session 'empty' has no finished epoch yet: no confusion matrix to show"),
    (["../run"], "invalid session name '../run'"),
])
def test_mistakes_are_one_line(sessions, args, message):
    root, _ = sessions
    result = confusion(root, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cnn-tui: error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_a_damaged_matrix_is_named(sessions, tmp_path):
    root, rows = sessions
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "session.json").write_text((root / "run" / "session.json").read_text())
    (tmp_path / "bad" / "metrics.jsonl").write_text(json.dumps({**rows[0], "confusion": [[1, 2], [3]]}) + "\n")
    result = confusion(tmp_path, "bad")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "metrics.jsonl: line 1 is damaged (confusion is not square" in result.stderr


def test_the_command_never_imports_torch(sessions):
    root, _ = sessions
    code = ("import sys, io, contextlib\n"
            "from cnn_tui.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['confusion', 'run', '--sessions-dir', {str(root)!r}]) == 0\n"
            "assert 'torch' not in sys.modules, 'confusion imported torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
