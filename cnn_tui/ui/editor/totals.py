"""Totals under the layer table."""

from __future__ import annotations

from rich.filesize import decimal
from rich.text import Text
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Static

from ...core.shapes import ArchitectureSummary


def totals_text(summary: ArchitectureSummary) -> Text:
    """The totals line. Each total walks every layer (8 ms at 40,000 layers), so a large
    draft's is worked out in a thread with its other numbers."""
    text = Text("" if summary.ok else "up to the error: ")
    text.append("params ").append(f"{summary.total_params:,}", style="bold")
    text.append(f" ({decimal(summary.param_bytes)}; {decimal(summary.train_state_bytes)} with Adam)")
    text.append(" · MACs ").append(f"{summary.total_macs:,}", style="bold")
    text.append(" · ").append(str(summary.counted_layers), style="bold")
    text.append(" layer" if summary.counted_layers == 1 else " layers")
    text.append(f" · activations {decimal(summary.activation_bytes)} per batch of {summary.batch_size}")
    return text


class WrappedText(Static):
    """Text as tall as it wraps: showing new text asks for a layout pass of the screen
    (10-15 ms on a 2-core machine) only when it wraps to another number of lines."""

    DEFAULT_CSS = """
    WrappedText { height: auto; }
    """

    # Set by each layout pass to the text's size; as a layout reactive it asked for a second
    # pass of the whole screen whenever the text grew or shrank. The text never scrolls.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    _shown: Text | None = None
    _lines = -1  # unknown: the first text lays out

    def show(self, text: Text) -> None:
        """Show `text`: unchanged, nothing happens."""
        if self._shown is not None and text.plain == self._shown.plain:
            return
        self._shown = text
        lines = self._count_lines()
        self.update(text, layout=lines != self._lines)
        self._lines = lines

    def _count_lines(self) -> int:
        text = self._shown
        if text is None or not text.plain:
            return 0
        return len(text.wrap(self.app.console, max(1, self.content_region.width)))

    def on_resize(self) -> None:
        self._lines = self._count_lines()  # as tall as it is now laid out at the new width


class Totals(WrappedText):
    DEFAULT_CSS = """
    Totals { color: $text-muted; }
    """
