"""What a layer field can hold: the kinds of value, their checks, and how sizes are written.

Pure Python and the bottom of the architecture engine: the layer records (`layers.py`), the
file format (`spec.py`) and the shape walker (`shapes.py`) all build on it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

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




def is_int(value: Any) -> bool:
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



def _too_large(name: str, value: Any) -> str:
    return f"{name} {show(value)} is too large: PyTorch's limit is {MAX_INT:,}"


def check_value(name: str, spec: FieldSpec, value: Any) -> str | None:
    """Return why `value` is not acceptable for a field of `spec`, or None when it is."""
    kind = spec.kind
    if spec.default is None and value is None:
        return None
    if kind == COUNT:
        if not is_int(value):
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
        if not all(is_int(v) for v in parts):
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



def format_size(value: Any) -> str:
    """Sizes as the editor shows them: `5`, `3×5`, `same`."""
    if isinstance(value, (list, tuple)):
        return f"{value[0]}×{value[1]}"
    return str(value)


def format_shape(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "?"
    return "×".join(str(s) for s in shape)



def format_field(value: Any) -> str:
    """A field value as the editor shows it in a form input."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return format_size(value)
