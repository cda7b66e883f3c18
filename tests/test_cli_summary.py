"""`cnn-tui summary` as a user runs it: the table, the JSON, and one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnn_tui.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnn_tui", *args], capture_output=True, text=True)


def test_summary_json_default_is_the_seed_network(capsys):
    assert main(["summary", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["total_params"], data["total_macs"], data["counted_layers"]) == (32998, 232440, 5)
    assert data["layers"][3]["output_shape"] == [12, 8, 8]


def test_summary_table_shows_every_layer_and_totals(capsys):
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "6×24×24" in out and "12×4×4" in out and "32,998" in out and "232,440" in out
    assert "5 layers" in out and "16×16" in out


def test_summary_of_a_file_with_input_override(tmp_path, capsys):
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": [3, 5]}]}))
    assert main(["summary", str(path), "--input", "3,10,20", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input"] == [3, 10, 20]
    assert data["layers"][0]["output_shape"] == [4, 8, 16]
    assert data["layers"][0]["params"] == 4 * 3 * 15 + 4


def test_summary_dataset_gives_the_input_shape(capsys):
    assert main(["summary", "--preset", "vgg-small", "--dataset", "cifar10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["input"] == [3, 32, 32]


@pytest.mark.parametrize(
    "args, content, message",
    [
        (["{f}"], {"input": [1, 8, 8], "layers": [{"type": "conv2d", "out_channels": 2, "kernel_size": 9}]},
         "layer 0 (conv2d): kernel 9×9 is larger than its padded input 8×8"),
        (["{f}"], "{not json", "not valid JSON"),
        (["missing.json"], None, "missing.json: no such file"),
        (["--preset", "resnet"], None, "invalid choice: 'resnet'"),
        (["--input", "1,28"], None, "expected C,H,W with three positive integers"),
        (["--bogus"], None, "unrecognized arguments: --bogus"),
        (["{f}", "--preset", "seed"], {"layers": []}, "give an architecture file or --preset, not both"),
    ],
)
def test_summary_errors_are_one_line_and_exit_2(tmp_path, args, content, message):
    path = tmp_path / "arch.json"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    result = run_cli("summary", *[a.replace("{f}", str(path)) for a in args])
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cnn-tui: error: ") and message in lines[0]
    assert "Traceback" not in result.stderr
