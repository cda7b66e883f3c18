"""Keeping Python's full garbage collections from freezing the screen."""

from __future__ import annotations

import gc


def settle_garbage_collector() -> None:
    """Move every object alive now out of reach of Python's full collections.

    A full collection walks every tracked object while holding the interpreter, so the
    event loop: with the app's ~100,000 objects at start-up that is 30-60 ms, several times
    a minute while editing (measured on a 2-core machine); with torch imported, or a
    40,000-layer table and its undo copies, 0.2-0.7 s. What lives at these moments (the
    modules, the widgets, torch, the table's rows) is long-lived, so it is frozen: the app
    calls this once it is drawn, once torch is imported, and after a large draft is read.
    Freed objects are still freed by reference counting; only cyclic garbage made before a
    freeze stays (a few KB each time).
    """
    gc.freeze()
