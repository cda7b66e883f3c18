"""A session (or any architecture) in the forms people take elsewhere: a standalone PyTorch
source file, the architecture JSON, the metrics as CSV, the summary as a Markdown table,
and ONNX.

Pure Python except ONNX: the PyTorch source is written by the layer records' own `build`
functions, handed a stand-in for `nn` that writes each call down instead of making a module
(`SourceMaker`), so the file builds exactly the modules the trainer builds, in the same
order, with the same parameter names (a checkpoint's weights load into it as they are).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .layers import make_modules
from .shapes import ArchitectureSummary, LayerInfo
from .spec import Architecture, format_shape

FORMATS = ("python", "json", "csv", "markdown", "onnx")
TEXT_FORMATS = FORMATS[:-1]
INDENT = "    "


class ExportError(Exception):
    """An export that cannot be made; the message says what to do."""


# --- the PyTorch source ----------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A constructor call written down: `nn.Conv2d(1, 6, (5, 5), stride=(1, 1))`."""

    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]

    def lines(self, indent: str) -> list[str]:
        """The call as source lines (the first without indent), nested calls one per line."""
        prefix = "" if self.name == "Residual" else "nn."
        if not any(isinstance(a, Call) for a in self.args):
            parts = [_literal(a) for a in self.args] + [f"{k}={_literal(v)}" for k, v in self.kwargs]
            return [f"{prefix}{self.name}({', '.join(parts)})"]
        lines = [f"{prefix}{self.name}("]
        for arg in self.args:
            inner = arg.lines(indent + INDENT) if isinstance(arg, Call) else [_literal(arg)]
            lines.append(indent + INDENT + inner[0])
            lines.extend(inner[1:])
            lines[-1] += ","
        lines += [f"{indent}{INDENT}{k}={_literal(v)}," for k, v in self.kwargs]
        lines.append(indent + ")")
        return lines


def _literal(value: Any) -> str:
    """Python source for a value a record passes to a module: ints, floats, bools, str,
    None, and pairs (as tuples: what torch stores)."""
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


class SourceMaker:
    """Stands in for torch's `nn` (and `Residual`) when the records build: each call is
    written down as a `Call`."""

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> Call:
            return Call(name, args, tuple(kwargs.items()))

        return record


_RESIDUAL_SOURCE = '''

class Residual(nn.Module):
    """A residual block: `body(x) + x`, or `body(x) + shortcut(x)` where the body changes
    the shape (the shortcut is then a 1x1 conv and batchnorm). No activation after the add."""

    def __init__(self, body: nn.Sequential, shortcut: nn.Module | None) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))
'''


def _comment(info: LayerInfo) -> str:
    what = f"{info.type} {info.settings}".rstrip()
    counted = f", {info.params:,} params" if info.params else ""
    return f"# {'.'.join(map(str, info.path))} {what}: {format_shape(info.input_shape)} -> {format_shape(info.output_shape)}{counted}"


def python_source(arch: Architecture, summary: ArchitectureSummary, title: str,
                  class_names: Sequence[str] = ()) -> str:
    """A file defining the network as `Net(nn.Sequential)`, every derived size written out,
    with `load_model(checkpoint=None)`; it needs torch and nothing else."""
    summary.raise_for_error()
    calls = make_modules(arch.layers, summary.layers, SourceMaker())
    body: list[str] = []
    position = 0
    for info in summary.layers:
        if info.implicit_flatten:
            body.append(f"{INDENT * 3}{calls[position].lines(INDENT * 3)[0]},  # flattens for the linear layer below")
            position += 1
        lines = calls[position].lines(INDENT * 3)
        position += 1
        body.append(INDENT * 3 + _comment(info))
        body.append(INDENT * 3 + lines[0])
        body.extend(lines[1:])
        body[-1] += ","
    shape = summary.input_shape
    names = f"CLASSES = {tuple(class_names)!r}\n" if class_names else ""
    has_blocks = any(info.type == "residual" for info in summary.layers)
    return f'''"""{title}: a network designed in cnn-tui, as a standalone PyTorch module.

Input: float images N x {shape[0]} x {shape[1]} x {shape[2]} with values in [0, 1] (what
torchvision's ToTensor() gives; the network was trained on such images). Output: one score
per class. {summary.total_params:,} parameters; {summary.total_macs:,} multiply-accumulates per image.

    from this_file import load_model
    model = load_model("path/to/checkpoint.pt")  # the session's weights; load_model() for new ones
    predictions = model(images).argmax(dim=1)
"""

from __future__ import annotations

import torch
from torch import nn

INPUT_SHAPE = {tuple(shape)!r}
{names}{_RESIDUAL_SOURCE if has_blocks else ""}

class Net(nn.Sequential):
    """The layers in order; module names (0, 1, 3.body.0, ...) match the checkpoint's."""

    def __init__(self) -> None:
        super().__init__(
{chr(10).join(body)}
        )


def load_model(checkpoint: str | None = None) -> Net:
    """The network in eval mode; with `checkpoint` (a cnn-tui session's checkpoint.pt, or a
    file holding just a state dict), with those weights."""
    model = Net()
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"] if isinstance(state, dict) and "model" in state else state)
    return model.eval()


if __name__ == "__main__":
    net = load_model()
    print(net)
    print("output for one image:", tuple(net(torch.rand(1, *INPUT_SHAPE)).shape))
'''


# --- the other text formats ------------------------------------------------------------


def architecture_json(arch: Architecture) -> str:
    return arch.dumps()


def metrics_csv(rows: Iterable[dict[str, Any]]) -> str:
    """One line per epoch, a column per number (lists such as a confusion matrix are left
    out: they do not fit a cell). Columns in the order they first appear."""
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in columns and not isinstance(value, (list, dict)):
                columns.append(key)
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def summary_markdown(summary: ArchitectureSummary, title: str = "") -> str:
    """The per-layer table as Markdown, inner layers of a block indented, then the totals."""
    summary.raise_for_error()
    lines = [f"## {title}", ""] if title else []
    lines += [f"Input {format_shape(summary.input_shape)}, batch {summary.batch_size}.", "",
              "| # | layer | settings | output | params | MACs | RF |",
              "|---|---|---|---|---:|---:|---|"]

    def row(info: LayerInfo) -> None:
        indent = "&nbsp;&nbsp;" * (len(info.path) - 1)
        rf = format_shape(info.receptive_field) if info.receptive_field else "–"
        settings = info.settings.replace("|", "\\|") or "–"
        lines.append(f"| {'.'.join(map(str, info.path))} | {indent}{info.type} | {settings} | "
                     f"{format_shape(info.output_shape)} | {info.params:,} | {info.macs:,} | {rf} |")
        for inner in info.inner:
            row(inner)
        if info.projection is not None:
            p = info.projection
            lines.append(f"| | {indent}&nbsp;&nbsp;↳ projection | {p.describe()} | {format_shape(info.output_shape)} "
                         f"| {p.params:,} | {p.macs:,} | – |")

    for info in summary.layers:
        row(info)
    lines += ["", f"**{summary.total_params:,} parameters**, {summary.total_macs:,} MACs per image, "
              f"{summary.counted_layers} counted layers (conv + linear).", ""]
    return "\n".join(lines)


# --- ONNX ------------------------------------------------------------------------------


def onnx_bytes(model: Any, input_shape: tuple[int, int, int]) -> bytes:
    """The model as ONNX (batch size free), through torch's exporter, which needs the
    `onnx` and `onnxscript` packages."""
    import importlib.util

    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"ONNX export needs the {' and '.join(missing)} package{'s' if len(missing) > 1 else ''}: "
                          "pip install 'cnn-tui[onnx]' (or pip install onnx onnxscript)")
    import contextlib
    import warnings

    import torch

    model = model.eval()
    example = torch.rand(2, *input_shape)
    with warnings.catch_warnings(), io.StringIO() as chatter:
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(chatter):  # the exporter reports its steps on stdout
            program = torch.onnx.export(model, (example,), dynamo=True, input_names=["images"],
                                        output_names=["scores"], dynamic_shapes=({0: torch.export.Dim("batch")},))
    buffer = io.BytesIO()
    program.save(buffer)
    return buffer.getvalue()


# --- a session, in any format ------------------------------------------------------------

SUFFIXES = {"python": ".py", "json": ".json", "csv": ".csv", "markdown": ".md", "onnx": ".onnx"}


def default_file(session_name: str, fmt: str) -> str:
    """The file name an export is offered under: `run.py`, `run.onnx`, ..."""
    return session_name + SUFFIXES[fmt]


def export_session(session: Any, fmt: str) -> str | bytes:
    """A session in `fmt` (one of FORMATS): text, or bytes for ONNX. The network is the
    session's, at the input its dataset gives; python and onnx carry the checkpoint's
    weights (python by `load_model(path)`, onnx inside the file)."""
    from .datasets import DATASETS
    from .sessions import SessionError
    from .shapes import infer_shapes

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    config = session.config
    arch = session.architecture.with_input(config.input)
    summary = infer_shapes(arch, config.input, batch_size=config.batch_size)
    if fmt == "python":
        return python_source(arch, summary, session.name, DATASETS[config.dataset].class_names)
    if fmt == "json":
        return architecture_json(arch)
    if fmt == "markdown":
        return summary_markdown(summary, f"{session.name} ({config.dataset})")
    if fmt == "csv":
        rows, _ = session.read_metrics()
        if not rows:
            raise ExportError(f"session {session.name!r} has no finished epoch yet: no metrics to write")
        return metrics_csv(rows)
    try:
        checkpoint = session.load_checkpoint()
    except SessionError as exc:
        raise ExportError(f"{exc}: ONNX holds the trained weights, so train first") from None
    from .build import build_model

    model = build_model(arch, config.input)
    model.load_state_dict(checkpoint.model)
    return onnx_bytes(model, config.input)
