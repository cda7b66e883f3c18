"""The architecture file format (SPEC §2): layer types, their fields, parsing and saving.

Pure Python, no torch: the editor and `cnn-tui summary` depend on this being instant.
A layer keeps exactly the fields it was given, so load -> save round-trips the JSON;
defaults are filled in on read through `Layer.get`.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .files import atomic_write_text

# Field kinds. Each names how a value is checked and how the editor parses typed text.
COUNT = "count"  # positive int (channels, features, groups)
SIZE = "size"  # positive int or [h, w]
PAD = "pad"  # non-negative int or [h, w]
CONV_PAD = "conv_pad"  # PAD, or "same" / "valid"
BOOL = "bool"
PROB = "prob"  # float in [0, 1]
FLOAT = "float"  # any finite number

REQUIRED = object()  # marks a field without a default


@dataclass(frozen=True)
class FieldSpec:
    """One field of a layer type: its kind and PyTorch's default (or REQUIRED)."""

    kind: str
    default: Any = REQUIRED
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# The one table of layer types. `stride=None` on pools means "same as kernel_size",
# PyTorch's own default.
LAYER_TYPES: dict[str, dict[str, FieldSpec]] = {
    "conv2d": {
        "out_channels": FieldSpec(COUNT, help="output channels"),
        "kernel_size": FieldSpec(SIZE, help="kernel, int or h×w"),
        "stride": FieldSpec(SIZE, 1),
        "padding": FieldSpec(CONV_PAD, 0, "int, h×w, same or valid"),
        "dilation": FieldSpec(SIZE, 1),
        "groups": FieldSpec(COUNT, 1),
        "bias": FieldSpec(BOOL, True),
    },
    "maxpool2d": {
        "kernel_size": FieldSpec(SIZE),
        "stride": FieldSpec(SIZE, None, "defaults to the kernel size"),
        "padding": FieldSpec(PAD, 0),
        "dilation": FieldSpec(SIZE, 1),
        "ceil_mode": FieldSpec(BOOL, False),
    },
    "avgpool2d": {
        "kernel_size": FieldSpec(SIZE),
        "stride": FieldSpec(SIZE, None, "defaults to the kernel size"),
        "padding": FieldSpec(PAD, 0),
        "ceil_mode": FieldSpec(BOOL, False),
    },
    "adaptiveavgpool2d": {"output_size": FieldSpec(SIZE, help="output h×w")},
    "batchnorm2d": {},
    "dropout": {"p": FieldSpec(PROB, 0.5)},
    "dropout2d": {"p": FieldSpec(PROB, 0.5)},
    "relu": {},
    "leakyrelu": {"negative_slope": FieldSpec(FLOAT, 0.01)},
    "sigmoid": {},
    "tanh": {},
    "gelu": {},
    "flatten": {},
    "linear": {
        "out_features": FieldSpec(COUNT),
        "bias": FieldSpec(BOOL, True),
    },
}

# Only these count as "layers" in the teaching sense (SPEC §1).
COUNTED_TYPES = frozenset({"conv2d", "linear"})


class ArchitectureError(ValueError):
    """An invalid architecture; names the layer (index and type) and, where known, the field."""

    def __init__(
        self,
        reason: str,
        index: int | None = None,
        layer_type: str | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.index = index
        self.layer_type = layer_type
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.index is None:
            return self.reason
        if self.layer_type:
            return f"layer {self.index} ({self.layer_type}): {self.reason}"
        return f"layer {self.index}: {self.reason}"


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f'; did you mean "{close[0]}"?' if close else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(name: str, spec: FieldSpec, value: Any) -> str | None:
    """Return why `value` is not acceptable for a field of `spec`, or None when it is."""
    kind = spec.kind
    if spec.default is None and value is None:
        return None
    if kind == COUNT:
        if not _is_int(value):
            return f"{name} must be a positive integer, got {json.dumps(value)}"
        if value <= 0:
            return f"{name} must be positive, got {value}"
        return None
    if kind in (SIZE, PAD, CONV_PAD):
        if kind == CONV_PAD and isinstance(value, str):
            if value in ("same", "valid"):
                return None
            return f'{name} must be an integer, [h, w], "same" or "valid", got {json.dumps(value)}'
        minimum = 1 if kind == SIZE else 0
        what = "positive" if minimum else "non-negative"
        parts = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) != 2:
            return f"{name} must be an integer or a pair [h, w], got {json.dumps(value)}"
        if not all(_is_int(v) for v in parts):
            return f"{name} must be a {what} integer or [h, w], got {json.dumps(value)}"
        if any(v < minimum for v in parts):
            return f"{name} must be {what}, got {json.dumps(value)}"
        return None
    if kind == BOOL:
        if not isinstance(value, bool):
            return f"{name} must be true or false, got {json.dumps(value)}"
        return None
    if kind in (PROB, FLOAT):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"{name} must be a number, got {json.dumps(value)}"
        if not math.isfinite(value):
            return f"{name} must be a finite number, got {value}"
        if kind == PROB and not 0 <= value <= 1:
            return f"{name} must be between 0 and 1, got {value}"
        return None
    raise AssertionError(f"unknown field kind {kind}")


def pair(value: int | list[int] | tuple[int, int]) -> tuple[int, int]:
    """An int or [h, w] as an (h, w) tuple."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


@dataclass(frozen=True)
class Layer:
    """One layer as written in the file: its type and exactly the fields given."""

    type: str
    fields: Mapping[str, Any] = field(default_factory=dict)

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
        return self.type in COUNTED_TYPES

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.fields}

    def describe(self) -> str:
        """A short settings text for tables, e.g. `6@5×5 s1 p0`."""
        t = self.type
        if t == "conv2d":
            text = f"{self.get('out_channels')}@{format_size(self.size('kernel_size'))}"
            text += f" s{format_size(self.get('stride'))} p{format_size(self.get('padding'))}"
            if self.get("dilation") != 1:
                text += f" d{format_size(self.get('dilation'))}"
            if self.get("groups") != 1:
                text += f" g{self.get('groups')}"
            if not self.get("bias"):
                text += " nobias"
            return text
        if t in ("maxpool2d", "avgpool2d"):
            text = f"{format_size(self.size('kernel_size'))} s{format_size(self.get('stride'))}"
            if self.get("padding") != 0:
                text += f" p{format_size(self.get('padding'))}"
            if t == "maxpool2d" and self.get("dilation") != 1:
                text += f" d{format_size(self.get('dilation'))}"
            if self.get("ceil_mode"):
                text += " ceil"
            return text
        if t == "adaptiveavgpool2d":
            return f"→{format_size(self.get('output_size'))}"
        if t in ("dropout", "dropout2d"):
            return f"p={self.get('p')}"
        if t == "leakyrelu":
            return f"slope={self.get('negative_slope')}"
        if t == "linear":
            return f"→{self.get('out_features')}" + ("" if self.get("bias") else " nobias")
        return ""


def format_size(value: Any) -> str:
    """Sizes as the editor shows them: `5`, `3×5`, `same`."""
    if isinstance(value, (list, tuple)):
        return f"{value[0]}×{value[1]}"
    return str(value)


def format_shape(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "?"
    return "×".join(str(s) for s in shape)


def parse_layer(index: int, data: Any) -> Layer:
    """Validate one layer's JSON object; raise ArchitectureError naming what is wrong."""
    if not isinstance(data, dict):
        raise ArchitectureError(
            f'must be an object like {{"type": "relu"}}, got {json.dumps(data)[:40]}', index
        )
    layer_type = data.get("type")
    if not isinstance(layer_type, str):
        raise ArchitectureError('has no "type" (a string such as "conv2d")', index)
    key = layer_type.lower()
    if key not in LAYER_TYPES:
        raise ArchitectureError(
            "unknown layer type"
            + _did_you_mean(key, list(LAYER_TYPES))
            + f" (known: {', '.join(LAYER_TYPES)})",
            index,
            layer_type,
        )
    specs = LAYER_TYPES[key]
    fields: dict[str, Any] = {}
    for name, value in data.items():
        if name == "type":
            continue
        if name not in specs:
            if name in ("in_channels", "in_features"):
                reason = f'"{name}" is never written: it comes from the previous layer'
            elif specs:
                reason = f'unknown field "{name}"' + _did_you_mean(name, list(specs))
                reason += f" (fields: {', '.join(specs)})"
            else:
                reason = f'unknown field "{name}" ({key} takes no fields)'
            raise ArchitectureError(reason, index, key, name)
        problem = _check_value(name, specs[name], value)
        if problem:
            raise ArchitectureError(problem, index, key, name)
        fields[name] = value
    for name, spec in specs.items():
        if spec.required and name not in fields:
            raise ArchitectureError(f'missing "{name}" ({spec.help or spec.kind})', index, key, name)
    return Layer(key, fields)


def parse_input(value: Any) -> tuple[int, int, int]:
    """Validate an `[C, H, W]` input shape."""
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 3
        or not all(_is_int(v) and v > 0 for v in value)
    ):
        raise ArchitectureError(
            f"input must be [C, H, W] with three positive integers, got {json.dumps(value)}"
        )
    return (value[0], value[1], value[2])


def parse_top_level(data: Any) -> tuple[list[Any], tuple[int, int, int] | None]:
    """Check the object around the layers; return the raw layer list and the input shape."""
    if not isinstance(data, dict):
        raise ArchitectureError('an architecture must be a JSON object with a "layers" list')
    unknown = set(data) - {"input", "layers"}
    if unknown:
        name = sorted(unknown)[0]
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
        """Parse and validate the JSON object of SPEC §2 (shape checks come later, in shapes)."""
        layers, shape = parse_top_level(data)
        return cls(tuple(parse_layer(i, layer) for i, layer in enumerate(layers)), shape)

    @classmethod
    def loads(cls, text: str) -> "Architecture":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchitectureError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
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

    Raises ArchitectureError (without an index) with the reason when the text is not a value.
    The result still goes through `parse_layer` for range checks.
    """
    spec = LAYER_TYPES[layer_type][name]
    raw = text.strip().lower()
    if raw == "":
        if not spec.required:
            return spec.default
        raise ArchitectureError(f"{name} is required")
    if spec.kind == BOOL:
        if raw in ("true", "yes", "y", "1", "on"):
            return True
        if raw in ("false", "no", "n", "0", "off"):
            return False
        raise ArchitectureError(f"{name} must be true or false, got {text.strip()!r}", field=name)
    if spec.kind in (PROB, FLOAT):
        try:
            return float(raw)
        except ValueError:
            raise ArchitectureError(f"{name} must be a number, got {text.strip()!r}", field=name) from None
    if spec.kind == CONV_PAD and raw in ("same", "valid"):
        return raw
    parts = [p.strip() for p in raw.replace("×", "x").replace(",", "x").split("x")]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        hint = "an integer or h×w" if spec.kind != COUNT else "an integer"
        if spec.kind == CONV_PAD:
            hint += ", same or valid"
        raise ArchitectureError(f"{name} must be {hint}, got {text.strip()!r}", field=name) from None
    if len(numbers) == 1:
        return numbers[0]
    if len(numbers) == 2 and spec.kind != COUNT:
        return numbers
    raise ArchitectureError(f"{name} must be {'an integer' if spec.kind == COUNT else 'an integer or h×w'}, got {text.strip()!r}", field=name)


def format_field(value: Any) -> str:
    """A field value as the editor shows it in a form input."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return format_size(value)
