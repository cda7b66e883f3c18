"""The architecture file format: layers as written, parsing and saving.

Pure Python, no torch: the editor and `cnn-tui summary` depend on this being instant.
A layer keeps exactly the fields it was given, so load -> save round-trips the JSON;
defaults are filled in on read through `Layer.get`. What each layer type is (its fields,
numbers and module) is its record in `layers.py`.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .fields import (  # noqa: F401 - re-exported: the format's vocabulary
    BOOL,
    BYTES_PER_FLOAT,
    CONV_PAD,
    COUNT,
    MAX_INT,
    MAX_TENSOR_BYTES,
    PAD,
    PROB,
    REQUIRED,
    SIZE,
    SLOPE,
    SLOPE_LIMIT,
    FieldSpec,
    check_value,
    digit_count,
    format_field,
    format_shape,
    format_size,
    is_int,
    pair,
    show,
)
from .files import atomic_write_text
from .layers import MAX_BLOCK_DEPTH, TYPES

# Each layer type's fields, from its record.
LAYER_TYPES: dict[str, dict[str, FieldSpec]] = {name: kind.fields for name, kind in TYPES.items()}

# Where a layer sits: its index, then its index inside each block around it (3, 1 is the
# second layer inside the block at index 3).
LayerPath = tuple[int, ...]


class ArchitectureError(ValueError):
    """An invalid architecture; names the layer (where it sits and its type) and, where
    known, the field. `index` is the top-level layer it is in; `path` where exactly (a layer
    inside a block is `3.1`). Both are None for a problem of the whole file."""

    def __init__(
        self,
        reason: str,
        index: int | LayerPath | None = None,
        layer_type: str | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.path: LayerPath | None = (index,) if isinstance(index, int) else index
        self.index = self.path[0] if self.path else None
        self.layer_type = layer_type
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        if not self.path:
            return self.reason
        where = ".".join(map(str, self.path))
        if self.layer_type:
            return f"layer {where} ({self.layer_type}): {self.reason}"
        return f"layer {where}: {self.reason}"


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f'; did you mean "{close[0]}"?' if close else ""


def _clip(text: str, room: int = 40) -> str:
    """A name from the file, cut short enough for a one-line message, control characters escaped."""
    text = text[: room + 1]
    if not text.isprintable():
        text = json.dumps(text)[1:-1]
    return text if len(text) <= room else text[:room] + "…"




@dataclass(frozen=True)
class Layer:
    """One layer as written in the file: its type, exactly the fields given, and for a
    block its inner layers."""

    type: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    layers: tuple[Any, ...] = ()  # a block's inner layers (parsed; as written while the walker reads them)

    def get(self, name: str) -> Any:
        """The field's value, or PyTorch's default when it was not written."""
        if name in self.fields:
            return self.fields[name]
        default = LAYER_TYPES[self.type][name].default
        if name == "stride" and default is None:  # pools: stride defaults to the kernel
            return self.get("kernel_size")
        return None if default is REQUIRED else default

    def size(self, name: str) -> tuple[int, int]:
        """A size field (kernel_size, stride, ...) as (h, w)."""
        return pair(self.get(name))

    @property
    def counted(self) -> bool:
        return TYPES[self.type].counted

    def to_dict(self) -> dict[str, Any]:
        data = {"type": self.type, **self.fields}
        if TYPES[self.type].nested:
            data["layers"] = [layer.to_dict() for layer in self.layers]
        return data

    def describe(self) -> str:
        """A short settings text for tables, e.g. `6@5×5 s1 p0`."""
        return TYPES[self.type].describe(self)


def parse_layer(where: int | LayerPath, data: Any, shallow: bool = False) -> Layer:
    """Validate one layer's JSON object; raise ArchitectureError naming what is wrong.

    `where` is the layer's index, or its path inside blocks. A block's inner layers are
    parsed too, unless `shallow`: then they stay as written, for the shape walker to parse
    one by one (so the layers above a bad inner layer still get their numbers).
    """
    path: LayerPath = (where,) if isinstance(where, int) else where
    if not isinstance(data, dict):
        raise ArchitectureError(
            f'must be an object like {{"type": "relu"}}, got {show(data)}', path
        )
    layer_type = data.get("type")
    if not isinstance(layer_type, str):
        raise ArchitectureError('has no "type" (a string such as "conv2d")', path)
    key = layer_type.lower()
    if key not in LAYER_TYPES:
        raise ArchitectureError(
            "unknown layer type"
            + _did_you_mean(key[:40], list(LAYER_TYPES))
            + f" (known: {', '.join(LAYER_TYPES)})",
            path,
            _clip(layer_type),
        )
    specs = LAYER_TYPES[key]
    nested = TYPES[key].nested
    fields: dict[str, Any] = {}
    for name, value in data.items():
        if name == "type" or (nested and name == "layers"):
            continue
        if name not in specs:
            name = _clip(name)
            if name in ("in_channels", "in_features"):
                reason = f'"{name}" is never written: it comes from the previous layer'
            elif specs:
                reason = f'unknown field "{name}"' + _did_you_mean(name, list(specs))
                reason += f" (fields: {', '.join(specs)})"
            else:
                reason = f'unknown field "{name}" ({key} takes no fields' + (
                    ', only "layers"' if nested else "") + ")"
            raise ArchitectureError(reason, path, key, name)
        problem = check_value(name, specs[name], value)
        if problem:
            raise ArchitectureError(problem, path, key, name)
        fields[name] = value
    for name, spec in specs.items():
        if spec.required and name not in fields:
            raise ArchitectureError(f'missing "{name}" ({spec.help or spec.kind})', path, key, name)
    if not nested:
        return Layer(key, fields)
    inner = data.get("layers")
    if not isinstance(inner, list):
        raise ArchitectureError('needs "layers": a list of the layers inside the block', path, key, "layers")
    if len(path) > MAX_BLOCK_DEPTH:
        raise ArchitectureError(f"blocks are nested {len(path)} deep; at most {MAX_BLOCK_DEPTH} are allowed",
                                path, key)
    if shallow:
        return Layer(key, fields, tuple(inner))
    return Layer(key, fields, tuple(parse_layer((*path, i), layer) for i, layer in enumerate(inner)))


def parse_input(value: Any) -> tuple[int, int, int]:
    """Validate an `[C, H, W]` input shape."""
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 3
        or not all(is_int(v) and v > 0 for v in value)
    ):
        raise ArchitectureError(
            f"input must be [C, H, W] with three positive integers, got {show(value)}"
        )
    c, h, w = value
    if c * h * w * BYTES_PER_FLOAT > MAX_TENSOR_BYTES:
        raise ArchitectureError(
            f"input {show(list(value))} is too large: one image would be over PyTorch's "
            f"{MAX_TENSOR_BYTES:,}-byte limit for a tensor"
        )
    return (c, h, w)


def parse_top_level(data: Any) -> tuple[list[Any], tuple[int, int, int] | None]:
    """Check the object around the layers; return the raw layer list and the input shape."""
    if not isinstance(data, dict):
        raise ArchitectureError('an architecture must be a JSON object with a "layers" list')
    unknown = set(data) - {"input", "layers"}
    if unknown:
        name = _clip(sorted(unknown)[0])
        raise ArchitectureError(
            f'unknown top-level field "{name}"' + _did_you_mean(name, ["input", "layers"])
            + ' (allowed: "input", "layers")'
        )
    layers = data.get("layers")
    if not isinstance(layers, list):
        raise ArchitectureError('"layers" must be a list of layer objects')
    shape = parse_input(data["input"]) if data.get("input") is not None else None
    return layers, shape


@dataclass(frozen=True)
class Architecture:
    """A network as the file describes it: an optional input shape and the layer list."""

    layers: tuple[Layer, ...]
    input: tuple[int, int, int] | None = None

    @classmethod
    def from_dict(cls, data: Any) -> "Architecture":
        """Parse and validate an architecture file's JSON object (shape checks come later, in shapes)."""
        layers, shape = parse_top_level(data)
        return cls(tuple(parse_layer(i, layer) for i, layer in enumerate(layers)), shape)

    @classmethod
    def loads(cls, text: str) -> "Architecture":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchitectureError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except RecursionError:
            raise ArchitectureError("not a usable architecture: its JSON is nested too deeply") from None
        except ValueError:  # an integer of more than 4,300 digits, Python's limit
            raise ArchitectureError("not a usable architecture: it holds a number of more than 4,300 digits") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Architecture":
        """Read an architecture file; errors name the file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ArchitectureError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ArchitectureError(f"{path}: cannot read ({exc})") from None
        try:
            return cls.loads(text)
        except ArchitectureError as exc:
            exc.reason = f"{path}: {exc.reason}" if exc.index is None else exc.reason
            raise

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.input is not None:
            data["input"] = list(self.input)
        data["layers"] = [layer.to_dict() for layer in self.layers]
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the file atomically: a crash never leaves half a file."""
        atomic_write_text(Path(path), self.dumps())

    def with_input(self, shape: tuple[int, int, int] | None) -> "Architecture":
        return Architecture(self.layers, shape)


def parse_field_text(layer_type: str, name: str, text: str) -> Any:
    """Turn what a person typed into a field value: `5`, `3x5`, `3×5`, `same`, `true`, `0.2`.

    Raises ArchitectureError (without an index) with the reason when the text is not a value,
    including a number too large for PyTorch. The result still goes through `parse_layer`
    for range checks.
    """
    spec = LAYER_TYPES[layer_type][name]
    raw = text.strip().lower()
    typed = _clip(text.strip())
    if raw == "":
        if not spec.required:
            return spec.default
        raise ArchitectureError(f"{name} is required")
    if spec.kind == BOOL:
        if raw in ("true", "yes", "y", "1", "on"):
            return True
        if raw in ("false", "no", "n", "0", "off"):
            return False
        raise ArchitectureError(f"{name} must be true or false, got {typed!r}", field=name)
    if spec.kind in (PROB, SLOPE):
        try:
            value = float(raw)
        except ValueError:
            raise ArchitectureError(f"{name} must be a number, got {typed!r}", field=name) from None
        if not math.isfinite(value):
            raise ArchitectureError(f"{name} must be a finite number, got {typed!r}", field=name)
        return value
    if spec.kind == CONV_PAD and raw in ("same", "valid"):
        return raw
    hint = "an integer or h×w" if spec.kind != COUNT else "an integer"
    if spec.kind == CONV_PAD:
        hint += ", same or valid"
    parts = [p.strip() for p in raw.replace("×", "x").replace(",", "x").split("x")]
    if len(parts) > 2 or len(parts) == 2 and spec.kind == COUNT:
        raise ArchitectureError(f"{name} must be {hint}, got {typed!r}", field=name)
    numbers = []
    for part in parts:
        digits = part.lstrip("+-")
        if not digits.isdigit() or not digits.isascii():
            raise ArchitectureError(f"{name} must be {hint}, got {typed!r}", field=name)
        # Past 19 digits int() is pointless (and past 4,300 Python refuses it).
        number = int(part) if len(digits) <= 19 else MAX_INT + 1
        if number > MAX_INT:
            raise ArchitectureError(f"{name} {typed} is too large: PyTorch's limit is {MAX_INT:,}", field=name)
        numbers.append(number)
    return numbers[0] if len(numbers) == 1 else numbers


