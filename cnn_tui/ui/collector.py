"""Keeping Python's full garbage collections from freezing the screen."""

from __future__ import annotations

import gc
import time

# Full collections are left to the app's quiet moments: Python's own would otherwise run
# every 10-20 s of editing, each walking what was made since the last freeze (the screen's
# cached lines, ~20,000 tracked objects: 8-20 ms on a 2-core machine, the worst key presses).
FULL_COLLECTION_EVERY = 1_000  # young collections before Python would do a full one itself
QUIET_SECONDS = 2.0  # no key or click for this long: a full collection disturbs nobody


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


class QuietCollector:
    """Full collections when the person has paused, not in the middle of a key press.

    While it runs, Python does its young collections (a few ms at most) as usual but waits
    for FULL_COLLECTION_EVERY of them before a full one; `tick()`, called every second or
    so, runs the full collection itself once nothing was pressed for QUIET_SECONDS and
    Python has done young collections since the last one. `stop()` puts Python's own
    schedule back."""

    def __init__(self, quiet_seconds: float = QUIET_SECONDS) -> None:
        self.quiet_seconds = quiet_seconds
        self.last_input = time.monotonic()
        self._thresholds: tuple[int, int, int] | None = None

    def start(self) -> None:
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            young, middle, _ = self._thresholds
            gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)

    def stop(self) -> None:
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def touched(self) -> None:
        """A key or a click: the person is at work."""
        self.last_input = time.monotonic()

    def tick(self) -> bool:
        """A full collection now if the moment is quiet and there is anything new to look
        at; whether one ran."""
        if self._thresholds is None or time.monotonic() - self.last_input < self.quiet_seconds:
            return False
        if gc.get_count()[2] == 0:  # no young collection since the last full one
            return False
        gc.collect()
        return True
