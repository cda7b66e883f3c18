"""The editor's working copy of an architecture. Pure Python: the app's editor pane is a view
of this, and every operation here is unit-tested without a UI.

A draft keeps what the person typed even when it is not (yet) a value: the text stays in
its field with the reason, the layers above keep their numbers, and nothing entered is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .shapes import ArchitectureSummary, analyze, check_classes
from .layers import TYPES
from .spec import (
    LAYER_TYPES,
    Architecture,
    ArchitectureError,
    LayerPath,
    format_field,
    parse_field_text,
)

@dataclass(frozen=True)
class DraftState:
    """A draft's content at one moment, for undo."""

    layers: list[dict[str, Any]]
    bad_text: dict[tuple[LayerPath, str], tuple[str, str]]
    folded: frozenset[LayerPath] = frozenset()


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


def copy_layers(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy to keep (undo, what was saved): every layer dict and every block's list is new.
    Field values are shared: the draft replaces a value, it never changes one in place."""
    return [dict(layer, layers=copy_layers(layer["layers"])) if isinstance(layer.get("layers"), list) else dict(layer)
            for layer in layers]


def inner_layers(layer: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A block's list of layers, or None for a layer that holds none."""
    inner = layer.get("layers")
    kind = TYPES.get(str(layer.get("type", "")).lower())
    return inner if isinstance(inner, list) and kind is not None and kind.nested else None


def walk_layers(layers: list[dict[str, Any]], prefix: LayerPath = (), folded: Callable[[dict[str, Any]], bool] | None = None
                ) -> Iterator[tuple[LayerPath, dict[str, Any]]]:
    """Every layer with its path, a block before its layers; `folded(block)` True skips them."""
    for i, layer in enumerate(layers):
        path = (*prefix, i)
        yield path, layer
        inner = inner_layers(layer)
        if inner is not None and not (folded and folded(layer)):
            yield from walk_layers(inner, path, folded)


class ArchitectureDraft:
    """Layers as raw dicts (a block holds its own list) plus the text of fields whose typed
    value does not parse, and which blocks are folded in the editor.

    A layer is addressed by its path: `(3,)` is the fourth layer, `(3, 1)` the second inside
    the block at 3 (an int is taken as a top-level index). Typed-but-bad texts and folds
    belong to the layer dict itself (kept by identity), so they follow it through moves,
    inserts and deletes without bookkeeping.
    """

    def __init__(self, arch: Architecture, input_shape: tuple[int, int, int]) -> None:
        self.layers: list[dict[str, Any]] = [layer.to_dict() for layer in arch.layers]
        self.input_shape = input_shape
        self._bad: dict[tuple[int, str], tuple[dict[str, Any], str, str]] = {}  # (id(layer), field) -> (layer, text, reason)
        self._folded: dict[int, dict[str, Any]] = {}  # id(block) -> block

    # --- finding layers -------------------------------------------------------------

    def _siblings(self, where: int | LayerPath) -> tuple[list[dict[str, Any]], int]:
        """The list the layer at `where` is in, and its index there (IndexError if none)."""
        path = _path(where)
        layers = self.layers
        for i in path[:-1]:
            inner = inner_layers(layers[i])
            if inner is None:
                raise IndexError(f"layer {'.'.join(map(str, path))} is not inside a block")
            layers = inner
        if not path or not 0 <= path[-1] <= len(layers):
            raise IndexError(f"no layer at {path}")
        return layers, path[-1]

    def layer(self, where: int | LayerPath) -> dict[str, Any]:
        layers, i = self._siblings(where)
        return layers[i]

    def exists(self, where: int | LayerPath) -> bool:
        try:
            layers, i = self._siblings(where)
        except IndexError:
            return False
        return i < len(layers)

    def is_block(self, where: int | LayerPath) -> bool:
        return self.exists(where) and inner_layers(self.layer(where)) is not None

    def paths(self, visible: bool = False) -> list[LayerPath]:
        """Every layer's path in order; `visible`: not those inside folded blocks."""
        folded = self.folded_layer if visible else None
        return [path for path, _ in walk_layers(self.layers, (), folded)]

    def _path_of(self) -> dict[int, LayerPath]:
        return {id(layer): path for path, layer in walk_layers(self.layers)}

    # --- reading --------------------------------------------------------------------

    def bad_text(self) -> dict[tuple[LayerPath, str], tuple[str, str]]:
        """The typed-but-bad texts of the layers still in the draft, by (path, field)."""
        if not self._bad:
            return {}
        where = self._path_of()
        return {(where[key[0]], key[1]): (text, reason) for key, (_, text, reason) in self._bad.items()
                if key[0] in where}

    def has_bad_text(self) -> bool:
        return bool(self.bad_text())

    def to_architecture(self) -> Architecture:
        """The architecture as it would be saved; raises while any field holds bad text."""
        bad = self.bad_text()
        if bad:
            (path, name), (_, reason) = min(bad.items())
            raise ArchitectureError(reason, path, self.layer(path)["type"], name)
        return Architecture.from_dict({"input": list(self.input_shape), "layers": copy_layers(self.layers)})

    def field_names(self, where: int | LayerPath) -> list[str]:
        return list(LAYER_TYPES[self.layer(where)["type"]])

    def field_text(self, where: int | LayerPath, name: str) -> str:
        """What the field's input shows: the bad text being edited, else the value or default."""
        layer = self.layer(where)
        bad = self._bad.get((id(layer), name))
        if bad is not None:
            return bad[1]
        if name in layer:
            return format_field(layer[name])
        default = LAYER_TYPES[layer["type"]][name].default
        return "" if default is None or not isinstance(default, (int, float, bool, str)) else format_field(default)

    def field_error(self, where: int | LayerPath, name: str) -> str | None:
        bad = self._bad.get((id(self.layer(where)), name))
        return bad[2] if bad else None

    def summary(self, batch_size: int = 100, classes: int | None = None, dataset: str = "") -> ArchitectureSummary:
        """Every layer's numbers, stopping at the first problem: a field's bad text, a shape
        error, or (when `classes` is given) an output that does not match the dataset."""
        result = analyze({"input": list(self.input_shape), "layers": self.layers}, batch_size=batch_size)
        bad = self.bad_text()
        if bad:
            (path, name), (_, reason) = min(bad.items())
            if result.error is None or (result.error.path or ()) >= path:
                error = ArchitectureError(reason, path, self.layer(path)["type"], name)
                before = {p: info for p, info in result.seen.items() if p < path and p != path[: len(p)]}
                return ArchitectureSummary(result.input_shape, batch_size, result.layers[: path[0]], error,
                                           len(self.layers), before)
        if result.ok and classes is not None:
            problem = check_classes(result, classes, dataset)
            if problem is not None:
                return ArchitectureSummary(result.input_shape, batch_size, result.layers, problem,
                                           len(self.layers), result.seen)
        return result

    def shape_before(self, where: int | LayerPath, summary: ArchitectureSummary) -> tuple[int, ...] | None:
        """The shape a layer at `where` would get (None where an error above hides it)."""
        path = _path(where)
        if path[-1] > 0:
            before = summary.seen.get((*path[:-1], path[-1] - 1))
            return before.output_shape if before is not None else None
        if len(path) > 1:
            block = summary.seen.get(path[:-1])
            return block.input_shape if block is not None else self.shape_before(path[:-1], summary)
        return self.input_shape

    # --- editing --------------------------------------------------------------------

    def set_field_text(self, where: int | LayerPath, name: str, text: str) -> None:
        """What a keystroke does: parse the text; keep it with the reason when it is not a value."""
        layer = self.layer(where)
        try:
            value = parse_field_text(layer["type"], name, text)
        except ArchitectureError as exc:
            self._bad[(id(layer), name)] = (layer, text, exc.reason)
            return
        self._bad.pop((id(layer), name), None)
        spec = LAYER_TYPES[layer["type"]][name]
        if text.strip() == "" and not spec.required:
            layer.pop(name, None)  # empty means PyTorch's default
        else:
            layer[name] = value

    def insert(self, where: int | LayerPath, layer_type: str, shape: tuple[int, ...] | None = None) -> LayerPath:
        """Insert a new layer at `where` (`shape`: its input, for types that start from it);
        returns its path."""
        if layer_type not in LAYER_TYPES:
            raise ArchitectureError(f"unknown layer type {layer_type!r}")
        path = _path(where)
        layers, _ = self._siblings((*path[:-1], 0))  # the list it goes into
        i = max(0, min(path[-1], len(layers)))
        layers.insert(i, {"type": layer_type, **TYPES[layer_type].new(shape)})
        return (*path[:-1], i)

    def delete(self, where: int | LayerPath) -> None:
        if not self.exists(where):
            return
        layers, i = self._siblings(where)
        del layers[i]
        self._forget_unreachable()

    def duplicate(self, where: int | LayerPath) -> LayerPath:
        path = _path(where)
        if not self.exists(path):
            return path
        layers, i = self._siblings(path)
        copy, = copy_layers([layers[i]])
        layers.insert(i + 1, copy)
        old = dict(walk_layers([layers[i]]))
        for new_path, layer in walk_layers([copy]):  # the copy keeps what was typed in its fields
            original = old[new_path]
            for (key, name), (_, text, reason) in list(self._bad.items()):
                if key == id(original):
                    self._bad[(id(layer), name)] = (layer, text, reason)
        return (*path[:-1], i + 1)

    def move(self, where: int | LayerPath, delta: int) -> LayerPath:
        """Move a layer up (-1) or down (+1) among its neighbours; returns its new path.

        It goes into an unfolded block it meets (as its last layer going up, its first going
        down) and out of its block past the block's first or last layer."""
        path = _path(where)
        if not self.exists(path):
            return path
        layers, i = self._siblings(path)
        target = i + delta
        if 0 <= target < len(layers):
            neighbour = layers[target]
            inner = inner_layers(neighbour)
            if inner is not None and id(neighbour) not in self._folded:
                layer = layers.pop(i)
                block_at = target if delta < 0 else target - 1
                if delta > 0:
                    inner.insert(0, layer)
                    return (*path[:-1], block_at, 0)
                inner.append(layer)
                return (*path[:-1], block_at, len(inner) - 1)
            layers[i], layers[target] = layers[target], layers[i]
            return (*path[:-1], target)
        if len(path) == 1:
            return path
        outer, block_at = self._siblings(path[:-1])
        layer = layers.pop(i)
        to = block_at if delta < 0 else block_at + 1
        outer.insert(to, layer)
        return (*path[:-2], to)

    # --- folding blocks -------------------------------------------------------------

    def folded(self, where: int | LayerPath) -> bool:
        return self.exists(where) and id(self.layer(where)) in self._folded

    def folded_layer(self, layer: dict[str, Any]) -> bool:
        """Is this block (one of the draft's own dicts) folded?"""
        return id(layer) in self._folded

    def set_folded(self, where: int | LayerPath, fold: bool) -> None:
        """Fold (hide the layers of) or unfold a block; nothing for any other layer."""
        if not self.is_block(where):
            return
        block = self.layer(where)
        if fold:
            self._folded[id(block)] = block
        else:
            self._folded.pop(id(block), None)

    # --- undo -----------------------------------------------------------------------

    def snapshot(self) -> "DraftState":
        """The layers, typed-but-bad texts and folds as they are now (a copy)."""
        where = self._path_of() if self._bad or self._folded else {}
        folded = frozenset(where[key] for key in self._folded if key in where)
        return DraftState(copy_layers(self.layers), self.bad_text(), folded)

    def restore(self, state: "DraftState") -> None:
        self.layers = copy_layers(state.layers)
        self._bad, self._folded = {}, {}
        for (path, name), (text, reason) in state.bad_text.items():
            layer = self.layer(path)
            self._bad[(id(layer), name)] = (layer, text, reason)
        for path in state.folded:
            self.set_folded(path, True)

    def _forget_unreachable(self) -> None:
        """Drop the typed texts and folds of layers no longer in the draft."""
        if self._bad or self._folded:
            where = self._path_of()
            self._bad = {key: bad for key, bad in self._bad.items() if key[0] in where}
            self._folded = {key: block for key, block in self._folded.items() if key in where}


def _path(where: int | LayerPath) -> LayerPath:
    return (where,) if isinstance(where, int) else tuple(where)
