"""The editor's working copy of an architecture. Pure Python: the app's editor pane is a view
of this, and every operation here is unit-tested without a UI.

A draft keeps what the person typed even when it is not (yet) a value: the text stays in
its field with the reason, the layers above keep their numbers, and nothing entered is lost.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .shapes import ArchitectureSummary, analyze, check_classes
from .spec import (
    LAYER_TYPES,
    Architecture,
    ArchitectureError,
    format_field,
    parse_field_text,
)

# What a newly added layer starts with: required fields filled with common values.
NEW_LAYER_FIELDS: dict[str, dict[str, Any]] = {
    "conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1},
    "maxpool2d": {"kernel_size": 2},
    "avgpool2d": {"kernel_size": 2},
    "adaptiveavgpool2d": {"output_size": 1},
    "linear": {"out_features": 10},
}


@dataclass(frozen=True)
class DraftState:
    """A draft's content at one moment, for undo."""

    layers: list[dict[str, Any]]
    bad_text: dict[tuple[int, str], tuple[str, str]]


class DraftHistory:
    """Undo and redo of a draft's edits.

    `record(state, group)` is called before each edit with the state it replaces. Edits with
    the same non-None `group` in a row (keystrokes in one field) make one undo step.
    """

    LIMIT = 200

    def __init__(self) -> None:
        self._undo: list[DraftState] = []
        self._redo: list[DraftState] = []
        self._group: object = None

    def record(self, before: DraftState, group: object = None) -> None:
        self._redo.clear()
        if group is not None and group == self._group and self._undo:
            return  # the same field again: the step already holds the state before it
        self._group = group
        self._undo.append(before)
        del self._undo[: -self.LIMIT]

    def undo(self, current: DraftState) -> DraftState | None:
        """The state to go back to (None: nothing to undo); `current` becomes redoable."""
        return self._step(self._undo, self._redo, current)

    def redo(self, current: DraftState) -> DraftState | None:
        """The state undone last (None: nothing to redo); `current` becomes undoable."""
        return self._step(self._redo, self._undo, current)

    def _step(self, take: list[DraftState], keep: list[DraftState], current: DraftState) -> DraftState | None:
        if not take:
            return None
        self._group = None
        keep.append(current)
        return take.pop()

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._group = None


class ArchitectureDraft:
    """Layers as raw dicts plus the text of fields whose typed value does not parse."""

    def __init__(self, arch: Architecture, input_shape: tuple[int, int, int]) -> None:
        self.layers: list[dict[str, Any]] = [layer.to_dict() for layer in arch.layers]
        self.input_shape = input_shape
        self._bad_text: dict[tuple[int, str], tuple[str, str]] = {}  # (row, field) -> (text, reason)

    # --- reading --------------------------------------------------------------------

    def to_architecture(self) -> Architecture:
        """The architecture as it would be saved; raises while any field holds bad text."""
        if self._bad_text:
            (index, name), (_, reason) = min(self._bad_text.items())
            raise ArchitectureError(reason, index, self.layers[index]["type"], name)
        return Architecture.from_dict({"input": list(self.input_shape), "layers": copy.deepcopy(self.layers)})

    def field_names(self, index: int) -> list[str]:
        return list(LAYER_TYPES[self.layers[index]["type"]])

    def field_text(self, index: int, name: str) -> str:
        """What the field's input shows: the bad text being edited, else the value or default."""
        if (index, name) in self._bad_text:
            return self._bad_text[(index, name)][0]
        layer = self.layers[index]
        if name in layer:
            return format_field(layer[name])
        default = LAYER_TYPES[layer["type"]][name].default
        return "" if default is None or not isinstance(default, (int, float, bool, str)) else format_field(default)

    def field_error(self, index: int, name: str) -> str | None:
        bad = self._bad_text.get((index, name))
        return bad[1] if bad else None

    def summary(self, batch_size: int = 100, classes: int | None = None, dataset: str = "") -> ArchitectureSummary:
        """Every layer's numbers, stopping at the first problem: a field's bad text, a shape
        error, or (when `classes` is given) an output that does not match the dataset."""
        result = analyze({"input": list(self.input_shape), "layers": self.layers}, batch_size=batch_size)
        if self._bad_text:
            (index, name), (_, reason) = min(self._bad_text.items())
            if result.error is None or (result.error.index or 0) >= index:
                error = ArchitectureError(reason, index, self.layers[index]["type"], name)
                return ArchitectureSummary(result.input_shape, batch_size, result.layers[:index], error, len(self.layers))
        if result.ok and classes is not None:
            problem = check_classes(result, classes, dataset)
            if problem is not None:
                return ArchitectureSummary(result.input_shape, batch_size, result.layers, problem, len(self.layers))
        return result

    # --- editing --------------------------------------------------------------------

    def set_field_text(self, index: int, name: str, text: str) -> None:
        """What a keystroke does: parse the text; keep it with the reason when it is not a value."""
        layer = self.layers[index]
        try:
            value = parse_field_text(layer["type"], name, text)
        except ArchitectureError as exc:
            self._bad_text[(index, name)] = (text, exc.reason)
            return
        self._bad_text.pop((index, name), None)
        spec = LAYER_TYPES[layer["type"]][name]
        if text.strip() == "" and not spec.required:
            layer.pop(name, None)  # empty means PyTorch's default
        else:
            layer[name] = value

    def insert(self, index: int, layer_type: str) -> int:
        """Insert a new layer at `index`; returns its index."""
        if layer_type not in LAYER_TYPES:
            raise ArchitectureError(f"unknown layer type {layer_type!r}")
        index = max(0, min(index, len(self.layers)))
        self._shift_bad_text(index, +1)
        self.layers.insert(index, {"type": layer_type, **NEW_LAYER_FIELDS.get(layer_type, {})})
        return index

    def delete(self, index: int) -> None:
        if not 0 <= index < len(self.layers):
            return
        self._bad_text = {k: v for k, v in self._bad_text.items() if k[0] != index}
        del self.layers[index]
        self._shift_bad_text(index + 1, -1)

    def duplicate(self, index: int) -> int:
        if not 0 <= index < len(self.layers):
            return index
        self._shift_bad_text(index + 1, +1)
        self.layers.insert(index + 1, copy.deepcopy(self.layers[index]))
        for (row, name), bad in list(self._bad_text.items()):
            if row == index:
                self._bad_text[(index + 1, name)] = bad
        return index + 1

    def move(self, index: int, delta: int) -> int:
        """Move a layer up (-1) or down (+1); returns its new index."""
        target = index + delta
        if not (0 <= index < len(self.layers) and 0 <= target < len(self.layers)):
            return index
        self.layers[index], self.layers[target] = self.layers[target], self.layers[index]
        swapped: dict[tuple[int, str], tuple[str, str]] = {}
        for (row, name), bad in self._bad_text.items():
            row = target if row == index else index if row == target else row
            swapped[(row, name)] = bad
        self._bad_text = swapped
        return target

    # --- undo -----------------------------------------------------------------------

    def snapshot(self) -> "DraftState":
        """The layers and typed-but-bad texts as they are now (a copy)."""
        return DraftState(copy.deepcopy(self.layers), dict(self._bad_text))

    def restore(self, state: "DraftState") -> None:
        self.layers = copy.deepcopy(state.layers)
        self._bad_text = dict(state.bad_text)

    def _shift_bad_text(self, start: int, by: int) -> None:
        self._bad_text = {((row + by) if row >= start else row, name): bad for (row, name), bad in self._bad_text.items()}
