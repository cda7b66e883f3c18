"""The current epoch's progress: a bar, then a line of batches, images/s, ETA and running loss."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from ...core.events import BatchProgress
from ..unscrolled import WithoutScrollbars


def format_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class ProgressText(WithoutScrollbars, Static):
    """The line under the bar: a new number of rows lays the screen out once, not twice."""


class EpochProgress(WithoutScrollbars, Vertical):
    """Two rows so that the whole line shows in a 45-column pane; the text wraps, never cuts."""

    DEFAULT_CSS = """
    EpochProgress { height: auto; }
    EpochProgress ProgressBar { width: 1fr; }
    EpochProgress ProgressBar Bar { width: 1fr; }
    EpochProgress #progress-text { height: auto; color: $text-muted; }
    """

    _rows = 1  # rows the text takes on screen (the empty line drawn at start: one)
    _least = 1  # rows kept for a run's progress lines (see make_room)

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=1, show_eta=False, show_percentage=True, id="bar")
        yield ProgressText("", id="progress-text")

    def show(self, event: BatchProgress, epochs: int) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=event.batches, progress=event.batch)
        if event.batch == 0:  # paused (or stopping) before the epoch's first batch: nothing measured yet
            self._set_text(f"epoch {event.epoch + 1}/{epochs} · batch 0/{event.batches} · not started")
            return
        self._set_text(progress_line(event.epoch, epochs, event.batch, event.batches, event.images_per_second,
                                     event.eta_seconds, event.mean_loss))

    def make_room(self, epochs: int, batches: int) -> None:
        """As a run starts (in the layout pass that makes room for its epochs' rows): rows
        for its progress lines at their longest, so that none lays the screen out. The first
        one did, wrapping onto a second row: 14 ms on 2 cores."""
        longest = progress_line(epochs - 1, epochs, batches, batches, 999_999, 99 * 3600, 99.0)
        self._least = max(1, self._rows_for(longest))
        self.query_one("#progress-text", Static).styles.min_height = self._least

    def release_room(self) -> None:
        """The run is over: the text takes the rows it needs from its next line on."""
        if self._least != 1:
            self._least = 1
            self.query_one("#progress-text", Static).styles.min_height = None

    def show_text(self, text: str, done: bool | None = None) -> None:
        bar = self.query_one(ProgressBar)
        if done is True:
            bar.update(total=1, progress=1)
        elif done is False:
            bar.update(total=1, progress=0)
        self._set_text(text)

    def _set_text(self, text: str) -> None:
        """A new line of text; the screen is laid out again only when it wraps onto a different
        number of rows (a relayout of the whole screen twice a second is most of what a
        watcher costs the machine)."""
        label = self.query_one("#progress-text", Static)
        rows = self._rows_for(text)
        rows = max(rows, self._least) if rows > 0 else rows
        label.update(text, layout=rows != self._rows or rows < 0)
        self._rows = rows

    def _rows_for(self, text: str) -> int:
        """Rows `text` wraps onto in the pane as it is (-1 before it is laid out)."""
        width = self.query_one("#progress-text", Static).content_region.width
        return len(Text(text).wrap(self.app.console, width)) if width > 0 else -1


def progress_line(epoch: int, epochs: int, batch: int, batches: int, images_per_second: float,
                  eta_seconds: float, mean_loss: float) -> str:
    return (f"epoch {epoch + 1}/{epochs} · batch {batch}/{batches} · {images_per_second:,.0f} img/s · "
            f"ETA {format_eta(eta_seconds)} · loss {mean_loss:.4f}")
