"""`cnn-tui export`: a session as PyTorch source, JSON, CSV, Markdown and ONNX."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap

import pytest
import torch

from cnn_tui.core.build import build_model, count_params
from cnn_tui.core.export import metrics_csv, python_source, summary_markdown
from cnn_tui.core.presets import PRESET_NAMES, preset
from cnn_tui.core.sessions import SessionStore
from cnn_tui.core.shapes import infer_shapes
from cnn_tui.core.spec import Architecture

from .test_cli_train import cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A resnet-small session trained for two short epochs on synthetic 1×12×12 images."""
    folder = tmp_path_factory.mktemp("export")
    result = cli("train", "--preset", "resnet-small", "--dataset", "synthetic", "--input", "1,12,12",
                 "--epochs", "2", "--train-size", "200", "--test-size", "50", "--batch-size", "50",
                 "--session", "run", "--sessions-dir", str(folder))
    assert result.returncode == 0, result.stderr
    return folder


def export(folder, *args):
    return cli("export", "run", "--sessions-dir", str(folder), *args)


def trainers_model(folder) -> torch.nn.Module:
    session = SessionStore(folder).open("run")
    model = build_model(session.architecture, session.config.input)
    model.load_state_dict(session.load_checkpoint().model)
    return model.eval()


def test_python_export_runs_with_torch_alone_and_predicts_as_the_trainer(trained, tmp_path):
    source = tmp_path / "net.py"
    result = export(trained, "-f", "python", "-o", str(source))
    assert result.returncode == 0, result.stderr
    checkpoint = trained / "run" / "checkpoint.pt"
    script = textwrap.dedent(f"""
        import runpy, sys, torch
        module = runpy.run_path({str(source)!r})
        model = module["load_model"]({str(checkpoint)!r})
        assert not model.training
        torch.manual_seed(0)
        x = torch.rand(8, *module["INPUT_SHAPE"])
        with torch.no_grad():
            torch.save({{"x": x, "out": model(x), "params": sum(p.numel() for p in model.parameters()),
                         "fresh": sum(p.numel() for p in module["load_model"]().parameters())}}, {str(tmp_path / "out.pt")!r})
        assert not [name for name in sys.modules if name.startswith("cnn_tui")], "needs cnn_tui"
    """)
    run = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    got = torch.load(tmp_path / "out.pt")
    session = SessionStore(trained).open("run")
    params = infer_shapes(session.architecture, session.config.input).total_params
    assert got["params"] == got["fresh"] == params
    with torch.no_grad():
        expected = trainers_model(trained)(got["x"])
    assert torch.equal(got["out"].argmax(1), expected.argmax(1))
    assert torch.allclose(got["out"], expected, atol=1e-6)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_exports_to_the_module_the_builder_makes(name):
    arch = preset(name)
    summary = infer_shapes(arch)
    namespace: dict = {}
    exec(compile(python_source(arch, summary, name), f"{name}.py", "exec"), namespace)
    theirs, ours = namespace["load_model"](), build_model(arch).eval()
    assert count_params(theirs) == count_params(ours) == summary.total_params
    theirs.load_state_dict(ours.state_dict())  # the same names: a checkpoint loads as it is
    x = torch.rand(3, *arch.input)
    with torch.no_grad():
        assert torch.equal(theirs(x), ours(x))


def test_the_source_writes_out_same_padding_implicit_flattens_and_nested_blocks():
    arch = Architecture.from_dict({"input": [2, 9, 7], "layers": [
        {"type": "conv2d", "out_channels": 4, "kernel_size": [3, 2], "padding": "same", "bias": False},
        {"type": "residual", "layers": [{"type": "residual", "layers": [{"type": "gelu"}]},
                                        {"type": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1, "stride": [3, 1]}]},
        {"type": "leakyrelu", "negative_slope": 0.2}, {"type": "linear", "out_features": 5}, {"type": "dropout", "p": 0.1}]})
    summary = infer_shapes(arch)
    source = python_source(arch, summary, "odd")
    assert "padding='same'" in source and "flattens for the linear layer below" in source
    namespace: dict = {}
    exec(compile(source, "odd.py", "exec"), namespace)
    theirs, ours = namespace["load_model"](), build_model(arch).eval()
    theirs.load_state_dict(ours.state_dict())
    x = torch.rand(2, 2, 9, 7)
    with torch.no_grad():
        assert torch.equal(theirs(x), ours(x))


def test_json_csv_and_markdown(trained):
    session = SessionStore(trained).open("run")
    arch = json.loads(export(trained, "-f", "json").stdout)
    assert Architecture.from_dict(arch) == session.architecture.with_input((1, 12, 12))
    rows = list(csv.DictReader(io.StringIO(export(trained, "-f", "csv").stdout)))
    metrics, _ = session.read_metrics()
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    assert [int(row["test_correct"]) for row in rows] == [m["test_correct"] for m in metrics]
    markdown = export(trained, "-f", "markdown").stdout
    summary = infer_shapes(session.architecture, (1, 12, 12))
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + sum(1 for _ in summary.every_layer()) + 2  # header, layers, two projections
    assert f"**{summary.total_params:,} parameters**" in markdown


def test_csv_leaves_out_lists_and_keeps_every_number():
    text = metrics_csv([{"epoch": 0, "test_correct": 5, "confusion": [[1, 2], [3, 4]]},
                        {"epoch": 1, "test_correct": 7, "peak_memory_bytes": 9}])
    assert text.splitlines() == ["epoch,test_correct,peak_memory_bytes", "0,5,", "1,7,9"]


def test_markdown_escapes_nothing_it_should_not():
    summary = infer_shapes(preset("seed"))
    assert "| 0 | conv2d | 6@5×5 s1 p0 | 6×24×24 | 156 | 86,400 | 5×5 |" in summary_markdown(summary)


def test_onnx_gives_the_trainers_numbers(trained, tmp_path):
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'cnn-tui[onnx]')")
    pytest.importorskip("onnxscript", reason="the onnx extra is not installed (pip install 'cnn-tui[onnx]')")
    from onnx.reference import ReferenceEvaluator

    target = tmp_path / "run.onnx"
    result = export(trained, "-f", "onnx", "-o", str(target))
    assert result.returncode == 0, result.stderr
    model = onnx.load(str(target))
    onnx.checker.check_model(model)
    x = torch.rand(5, 1, 12, 12)  # a batch size the export never saw
    (scores,) = ReferenceEvaluator(model).run(None, {"images": x.numpy()})
    with torch.no_grad():
        expected = trainers_model(trained)(x)
    assert torch.allclose(torch.from_numpy(scores), expected, atol=1e-4)


@pytest.mark.parametrize("args, message", [
    (["-f", "onnx"], "ONNX is binary: give a file with -o"),
    (["-f", "json", "-o", "/no/such/folder/x.json"], "the folder /no/such/folder does not exist"),
    (["-f", "pdf"], "invalid choice: 'pdf'"),
])
def test_export_mistakes_are_one_line(trained, args, message):
    result = export(trained, *args)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_session_and_one_without_epochs(tmp_path):
    result = cli("export", "nope", "-f", "json", "--sessions-dir", str(tmp_path))
    assert result.returncode == 2 and "no session 'nope'" in result.stderr
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.sessions import new_record

    with SessionStore(tmp_path).create("empty", new_record(preset("seed"), TrainConfig(dataset="synthetic"), "cpu")):
        pass
    result = cli("export", "empty", "-f", "csv", "--sessions-dir", str(tmp_path))
    assert result.returncode == 2 and "has no finished epoch yet" in result.stderr
    result = cli("export", "empty", "-f", "onnx", "-o", str(tmp_path / "x.onnx"), "--sessions-dir", str(tmp_path))
    assert result.returncode == 2 and "train first" in result.stderr
