"""The architecture file format: layer types, their fields, parsing and saving.

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
PROB = "prob"  # float in [0, 1): a dropout probability
SLOPE = "slope"  # float in [-SLOPE_LIMIT, SLOPE_LIMIT]

# PyTorch takes sizes as 64-bit integers and refuses a tensor of more than 2^63 - 1 bytes,
# so no field, input size or tensor (weights, or one sample's output) may go past that.
# Bounding every number here also keeps every figure we print a small, formattable int.
MAX_INT = 2**63 - 1
MAX_TENSOR_BYTES = 2**63 - 1
BYTES_PER_FLOAT = 4  # float32 everywhere
# A leaky slope must fit float32 (torch refuses one that does not); past ±1000 every
# negative activation overflows float32 within a few layers anyway, so stop there.
SLOPE_LIMIT = 1000.0

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
    "leakyrelu": {"negative_slope": FieldSpec(SLOPE, 0.01)},
    "sigmoid": {},
    "tanh": {},
    "gelu": {},
    "flatten": {},
    "linear": {
        "out_features": FieldSpec(COUNT),
        "bias": FieldSpec(BOOL, True),
    },
}

# Only these count as "layers" in the teaching sense.
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


def show(value: Any, room: int = 40) -> str:
    """A short JSON-like rendering of any value for an error message.

    Never fails and never walks more than `room` characters' worth of the value: a deeply
    nested list, a megabyte string or a 5,000-digit integer each become a few words.
    """
    out: list[str] = []

    def emit(v: Any, depth: int) -> None:
        if sum(map(len, out)) > room:
            return
        if isinstance(v, bool) or v is None:
            out.append(json.dumps(v))
        elif isinstance(v, int):
            out.append(str(v) if v.bit_length() <= 100 else f"<a number of about {digit_count(v)} digits>")
        elif isinstance(v, float):
            out.append(repr(v) if math.isfinite(v) else str(v))
        elif isinstance(v, str):
            out.append(json.dumps(v[:room]) if len(v) <= room else json.dumps(v[:room])[:-1] + '…"')
        elif isinstance(v, (list, tuple, dict)):
            if depth >= 4:
                out.append("[…]" if not isinstance(v, dict) else "{…}")
                return
            items = list(v.items()) if isinstance(v, dict) else list(v)
            out.append("{" if isinstance(v, dict) else "[")
            for i, item in enumerate(items):
                if sum(map(len, out)) > room:
                    out.append("…")
                    break
                if i:
                    out.append(", ")
                if isinstance(v, dict):
                    out.append(json.dumps(str(item[0])[:room]) + ": ")
                    emit(item[1], depth + 1)
                else:
                    emit(item, depth + 1)
            out.append("}" if isinstance(v, dict) else "]")
        else:
            out.append(type(v).__name__)

    emit(value, 0)
    text = "".join(out)
    return text if len(text) <= room + 20 else text[: room + 19] + "…"


def digit_count(value: int) -> int:
    """About how many digits a huge int has, without str() (which refuses past 4,300)."""
    return int(abs(value).bit_length() * 0.30103) + 1


def _clip(text: str, room: int = 40) -> str:
    """A name from the file, cut short enough for a one-line message, control characters escaped."""
    text = text[: room + 1]
    if not text.isprintable():
        text = json.dumps(text)[1:-1]
    return text if len(text) <= room else text[:room] + "…"


def _too_large(name: str, value: Any) -> str:
    return f"{name} {show(value)} is too large: PyTorch's limit is {MAX_INT:,}"


def _check_value(name: str, spec: FieldSpec, value: Any) -> str | None:
    """Return why `value` is not acceptable for a field of `spec`, or None when it is."""
    kind = spec.kind
    if spec.default is None and value is None:
        return None
    if kind == COUNT:
        if not _is_int(value):
            return f"{name} must be a positive integer, got {show(value)}"
        if value <= 0:
            return f"{name} must be positive, got {show(value)}"
        if value > MAX_INT:
            return _too_large(name, value)
        return None
    if kind in (SIZE, PAD, CONV_PAD):
        if kind == CONV_PAD and isinstance(value, str):
            if value in ("same", "valid"):
                return None
            return f'{name} must be an integer, [h, w], "same" or "valid", got {show(value)}'
        minimum = 1 if kind == SIZE else 0
        what = "positive" if minimum else "non-negative"
        parts = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) != 2:
            return f"{name} must be an integer or a pair [h, w], got {show(value)}"
        if not all(_is_int(v) for v in parts):
            return f"{name} must be a {what} integer or [h, w], got {show(value)}"
        if any(v < minimum for v in parts):
            return f"{name} must be {what}, got {show(value)}"
        if any(v > MAX_INT for v in parts):
            return _too_large(name, value)
        return None
    if kind == BOOL:
        if not isinstance(value, bool):
            return f"{name} must be true or false, got {show(value)}"
        return None
    if kind in (PROB, SLOPE):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"{name} must be a number, got {show(value)}"
        if isinstance(value, float) and not math.isfinite(value):  # ints compare exactly, any size
            return f"{name} must be a finite number, got {show(value)}"
        if kind == PROB and not 0 <= value < 1:
            return f"{name} must be at least 0 and below 1 (1 would drop everything), got {show(value)}"
        if kind == SLOPE and not -SLOPE_LIMIT <= value <= SLOPE_LIMIT:
            return f"{name} must be between -{SLOPE_LIMIT:g} and {SLOPE_LIMIT:g} (0.01 to 0.3 is usual), got {show(value)}"
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
            f'must be an object like {{"type": "relu"}}, got {show(data)}', index
        )
    layer_type = data.get("type")
    if not isinstance(layer_type, str):
        raise ArchitectureError('has no "type" (a string such as "conv2d")', index)
    key = layer_type.lower()
    if key not in LAYER_TYPES:
        raise ArchitectureError(
            "unknown layer type"
            + _did_you_mean(key[:40], list(LAYER_TYPES))
            + f" (known: {', '.join(LAYER_TYPES)})",
            index,
            _clip(layer_type),
        )
    specs = LAYER_TYPES[key]
    fields: dict[str, Any] = {}
    for name, value in data.items():
        if name == "type":
            continue
        if name not in specs:
            name = _clip(name)
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


def format_field(value: Any) -> str:
    """A field value as the editor shows it in a form input."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return format_size(value)
