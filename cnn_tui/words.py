"""Small wording helpers shared by the app and the command line. Pure Python."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 epoch`, `2 epochs`, `1,000 images`: the number and the noun that agrees with it."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"
