"""Two or more runs side by side: their curves, their best and last values, and what differs
in their networks (layer by layer, with the change in params and MACs) and their settings.

Pure Python, no torch: `cnn-tui compare` and the app's comparison read sessions as data.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Sequence

from .shapes import ArchitectureSummary, LayerInfo
from .spec import Architecture, format_shape


@dataclass(frozen=True)
class Run:
    """One session as the comparison sees it: its name, metrics rows, network and settings."""

    name: str
    rows: list[dict[str, Any]]
    architecture: Architecture
    config: dict[str, Any]
    summary: ArchitectureSummary

    @classmethod
    def of(cls, session: Any) -> "Run":
        from .shapes import infer_shapes

        config = session.config
        rows, _ = session.read_metrics()
        return cls(session.name, rows, session.architecture, config.to_json(),
                   infer_shapes(session.architecture, config.input, batch_size=config.batch_size))

    def curve(self, metric: str) -> list[float]:
        """One value per epoch: `train_loss` (mean per batch), `test_loss`, `train_accuracy`,
        `test_accuracy`."""
        if metric == "train_loss":
            return [row["total_loss"] / max(1, row.get("batches") or 1) for row in self.rows]
        return [float(row[metric]) for row in self.rows]


# What the table shows for each run: (column, metric, best is the highest?)
STATS = (("test acc.", "test_accuracy", True), ("test loss", "test_loss", False),
         ("train loss", "train_loss", False))


@dataclass(frozen=True)
class RunStats:
    name: str
    epochs: int
    best: dict[str, tuple[float, int] | None]  # metric -> (value, epoch counted from 1)
    last: dict[str, float | None]
    seconds_per_epoch: float | None
    params: int


def run_stats(run: Run) -> RunStats:
    best: dict[str, tuple[float, int] | None] = {}
    last: dict[str, float | None] = {}
    for _, metric, highest in STATS:
        values = run.curve(metric)
        if not values:
            best[metric], last[metric] = None, None
            continue
        pick = max if highest else min
        value = pick(values)
        best[metric], last[metric] = (value, values.index(value) + 1), values[-1]
    seconds = [float(row["seconds"]) for row in run.rows]
    return RunStats(run.name, len(run.rows), best, last,
                    sorted(seconds)[len(seconds) // 2] if seconds else None, run.summary.total_params)


# --- the networks, layer by layer -------------------------------------------------------


@dataclass(frozen=True)
class LayerChange:
    """One difference between two networks. `before` / `after` are None for a layer only one
    of them has; `fields` lists (field, before, after) for a layer both have."""

    before: LayerInfo | None
    after: LayerInfo | None
    fields: tuple[tuple[str, Any, Any], ...] = ()

    @property
    def params_change(self) -> int:
        return (self.after.params if self.after else 0) - (self.before.params if self.before else 0)

    @property
    def macs_change(self) -> int:
        return (self.after.macs if self.after else 0) - (self.before.macs if self.before else 0)

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed" if self.fields else "input changed"

    def describe(self) -> str:
        """`layer 3 conv2d: out_channels 12 -> 16; params 1,812 -> 2,416 (+604), MACs ...`"""
        info = self.after or self.before
        assert info is not None
        where = "layer " + ".".join(map(str, info.path))
        if self.before is not None and self.after is not None and self.before.path != self.after.path:
            where = f"layer {'.'.join(map(str, self.before.path))} → {'.'.join(map(str, self.after.path))}"
        head = f"{where} {info.type}"
        if self.kind == "added":
            text = f"{head}: added ({self.after.settings or 'no settings'}, output {format_shape(self.after.output_shape)})"
        elif self.kind == "removed":
            text = f"{head}: removed (was {self.before.settings or 'no settings'})"
        elif self.kind == "changed":
            text = f"{head}: " + ", ".join(f"{name} {_value(a)} → {_value(b)}" for name, a, b in self.fields)
        elif self.before.input_shape != self.after.input_shape:
            text = f"{head}: same settings, input {format_shape(self.before.input_shape)} → {format_shape(self.after.input_shape)}"
        else:
            text = f"{head}: same settings, layers inside changed"
        numbers = []
        if self.params_change:
            numbers.append(_count_change("params", self.before.params if self.before else 0,
                                         self.after.params if self.after else 0))
        if self.macs_change:
            numbers.append(_count_change("MACs", self.before.macs if self.before else 0,
                                         self.after.macs if self.after else 0))
        return text + ("; " + ", ".join(numbers) if numbers else "")


def _value(value: Any) -> str:
    if value is None:
        return "(default)"
    if isinstance(value, list):
        return "×".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _count_change(what: str, before: int, after: int) -> str:
    return f"{what} {before:,} → {after:,} ({after - before:+,})"


def _flat(arch: Architecture, summary: ArchitectureSummary) -> list[tuple[dict[str, Any], LayerInfo | None]]:
    """Every layer (inner ones too) as written, with its numbers where the walk reached it."""
    out: list[tuple[dict[str, Any], LayerInfo | None]] = []

    def walk(layers: Sequence[Any], prefix: tuple[int, ...]) -> None:
        for i, layer in enumerate(layers):
            path = (*prefix, i)
            written = {k: v for k, v in layer.to_dict().items() if k != "layers"}
            out.append((written, summary.seen.get(path)))
            walk(layer.layers, path)

    walk(arch.layers, ())
    return out


def architecture_diff(a: Run, b: Run) -> list[LayerChange]:
    """What changed from `a`'s network to `b`'s: layers matched in order by type and depth
    (difflib), then field by field; a layer whose settings are equal but whose numbers moved
    (its input changed above it) is listed too."""
    left, right = _flat(a.architecture, a.summary), _flat(b.architecture, b.summary)

    def key(item: tuple[dict[str, Any], LayerInfo | None]) -> tuple[str, int]:
        return item[0]["type"], len(item[1].path) if item[1] else 0

    changes: list[LayerChange] = []
    matcher = difflib.SequenceMatcher(a=[key(x) for x in left], b=[key(x) for x in right], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for (la, ia), (lb, ib) in zip(left[i1:i2], right[j1:j2]):
                names = [n for n in dict.fromkeys([*la, *lb]) if n != "type"]
                fields = tuple((n, la.get(n), lb.get(n)) for n in names if la.get(n) != lb.get(n))
                moved = ia is not None and ib is not None and (ia.params, ia.macs) != (ib.params, ib.macs)
                if fields or moved:
                    changes.append(LayerChange(ia, ib, fields))
            continue
        changes += [LayerChange(info, None) for _, info in left[i1:i2] if info is not None]
        changes += [LayerChange(None, info) for _, info in right[j1:j2] if info is not None]
    return changes


def config_diff(a: Run, b: Run) -> list[tuple[str, Any, Any]]:
    """The settings that differ: (name, a's value, b's value)."""
    names = dict.fromkeys([*a.config, *b.config])
    return [(n, a.config.get(n), b.config.get(n)) for n in names if a.config.get(n) != b.config.get(n)]


def difference_lines(first: Run, other: Run) -> list[str]:
    """What differs from `first` to `other`, one line each: layers, totals, settings."""
    lines = [change.describe() for change in architecture_diff(first, other)] or ["the same network"]
    a, b = first.summary, other.summary
    lines.append(f"total params {a.total_params:,} → {b.total_params:,} ({b.total_params - a.total_params:+,}), "
                 f"MACs {a.total_macs:,} → {b.total_macs:,} ({b.total_macs - a.total_macs:+,})")
    settings = config_diff(first, other)
    lines.append("settings: " + ("; ".join(f"{n} {_value(va)} → {_value(vb)}" for n, va, vb in settings)
                                 if settings else "the same"))
    return lines
