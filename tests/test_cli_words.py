"""The command line's words: defaults in --help, a mistyped command, full session names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnn_tui.cli import main
from cnn_tui.core.config import TrainConfig
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import SessionStore, new_record


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_help_shows_the_defaults(capsys, argv):
    with pytest.raises(SystemExit):
        main(argv)
    out = " ".join(capsys.readouterr().out.split())
    for option, default in (("--epochs", "5"), ("--batch-size", "100"), ("--lr", "0.01"), ("--dataset", "fashion-mnist")):
        assert option in out and f"(default: {default})" in out
    assert "SPEC" not in out


@pytest.mark.parametrize("typo, command", [("trian", "train"), ("summry", "summary"), ("session", "sessions")])
def test_a_mistyped_command_suggests_the_command(capsys, tmp_path, monkeypatch, typo, command):
    monkeypatch.chdir(tmp_path)
    assert main([typo]) == 2
    err = capsys.readouterr().err
    assert f"did you mean `cnn-tui {command}`" in err and "no such file" not in err


def test_sessions_piped_shows_whole_names(tmp_path):
    store = SessionStore(tmp_path)
    names = ["draft-2026-11-28-with-a-long-descriptive-name-for-the-experiment-a",
             "draft-2026-11-28-with-a-long-descriptive-name-for-the-experiment-b"]
    for name in names:
        store.create(name, new_record(preset("seed"), TrainConfig(), "cpu"))
    result = subprocess.run([sys.executable, "-m", "cnn_tui", "sessions", "--sessions-dir", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in names:
        assert name in result.stdout


def test_threads_option(capsys, tmp_path):
    assert main(["train", "--dataset", "synthetic", "--threads", "0", "--sessions-dir", str(tmp_path)]) == 2
    assert "--threads must be from 1 to 4096, got 0" in capsys.readouterr().err


def test_a_setting_is_a_flag_on_the_command_line_and_a_field_in_the_app():
    from dataclasses import fields

    from cnn_tui.words import SETTINGS, SettingError, worded

    problem = SettingError("{lr} must be a positive number, got -1", "lr", 0.01)
    assert str(problem) == "lr must be a positive number, got -1; try lr 0.01"
    assert worded(problem, "cli") == "--lr must be a positive number, got -1; try --lr 0.01"
    assert worded(problem, "app") == "lr: must be a positive number, got -1; try 0.01"
    inside = SettingError("set {input_shape} 1,28,28 or {batch_size} 10 in {data_dir}", "batch_size")
    assert worded(inside, "cli") == "set --input 1,28,28 or --batch-size 10 in --data-dir"
    assert worded(inside, "app") == "batch: set --input 1,28,28 or batch 10 in --data-dir"  # no such field: a flag
    assert worded(SettingError("path {x}/{lr} {}", None), "cli") == "path {x}/--lr {}"  # only settings are named
    assert {f.name for f in fields(TrainConfig)} <= SETTINGS  # every field can be named


def test_a_sessions_folder_that_is_a_file_is_named(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["sessions", "--sessions-dir", str(tmp_path / "file")]) == 2
    assert "is not a folder; pick another with --sessions-dir" in capsys.readouterr().err
