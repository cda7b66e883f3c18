"""The help screen: every key, and how the editor reads what you type."""

from __future__ import annotations

import io
import threading

from rich.console import Console
from rich.markdown import Markdown
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .kept import KeptStyles

HELP = """\
# cnn-tui keys

| key | does |
|---|---|
| `t` | train (continues an opened session when its architecture is unchanged) |
| `b` | train in the background: a process of its own that goes on if this terminal closes; watched here (procs above 1: `t` does this too, with that many processes) |
| `p` | pause / resume training (also a run watched from another process) |
| `s` | stop training after the current batch (the session stays resumable) |
| `a` | add a layer below the selected one: a menu of the layer types opens under it (type a name's first letters to jump to it; enter adds, escape cancels) |
| `d` | delete the selected layer (asks under its row: y or enter deletes, n or escape keeps) |
| `[` / `]` | move the selected layer up / down (into an unfolded block it meets; out of a block past its ends) |
| `space` | fold / unfold the block the cursor is on or in |
| `enter` on a block | go to its first layer (`a` there adds a layer at the block's top) |
| `c` | duplicate the selected layer |
| `ctrl+z` / `ctrl+y` | undo / redo an edit to the network |
| `home` / `end` | first / last layer |
| `r` | replace the network with a preset (asks first when it has unsaved edits) |
| `ctrl+s` | save the network and configuration as a session (asks for its name) |
| `o` | the saved sessions: `enter` opens (a live one is watched), `n` renames, `x` deletes, `e` exports (PyTorch file, JSON, CSV, Markdown, ONNX), `c` compares (mark with `space`, `c` again to compare), `g` shows test images with the network's predictions (`w` wrong ones only, `←`/`→` a class) |
| `l` / `w` | load / write an architecture JSON file (`w` asks before replacing a file) |
| `m` | the test set's confusion matrix of the epoch highlighted in the epoch table (else the last): per-class accuracy and the most confused classes; `←`/`→` other epochs; it follows new epochs as they finish |
| `+` / `-` / `y` | the loss chart: smooth the per-batch curve more / less; logarithmic y axis on or off |
| `v` | the other pane: its first field (narrow terminals: shows it) |
| `enter` / `tab` / `escape` | edit the layer's fields / next field / leave the field |
| `?` | this help |
| `ctrl+p` | the command palette: every action by what it does, with its key |
| `q` | quit (stops training first; asks when the network has unsaved edits) |

**Fields** take an integer (`5`), a pair (`3x5` or `3×5`), `same` / `valid` for conv
padding, `true` / `false`, or a number for `p` and `negative_slope`. An empty field means
PyTorch's default. Every keystroke recomputes the layers below; a bad value marks its row
and field with the reason, and training waits until it is fixed.

**Numbers**: output shape as PyTorch produces it; params; MACs (conv and linear, bias
excluded); RF is the receptive field in input pixels. Only conv and linear count as layers.
A `residual` block adds its input to its layers' output; when they change the shape, the
input goes through the projection shown after them (1×1 conv and batchnorm). Its row shows
the block's totals.

**Training**: epochs are counted from 1. The loss chart draws every batch's loss as the
epoch runs (faint) and its moving average: `+`/`-` smooth more or less, `y` switches to a
logarithmic y axis. The table shows each epoch's mean loss per batch; the line above it reads
out the epoch under its cursor, marked on the charts; *train acc.* and *test acc.* are
accuracies, *train correct* the images classified right while training. *threads* empty
lets the trainer choose: one per free core, 1 on a busy two-core machine, looked at again
four times a second while it trains (the system panel shows the count in use).

**Runs outlive the terminal**: if the connection drops while a run trains here, it trains on
to its end and its session records that the terminal was lost. From any login,
`cnn-tui watch NAME` shows a running session and steers it with `p` and `s`.
"""


_drawn: dict[int, list[Strip]] = {}  # the help text's lines, by width
_drawing = threading.Lock()


def help_lines(width: int) -> list[Strip]:
    """The help text as lines `width` cells wide: Rich's Markdown, drawn once per width.
    About 10 ms on 2 cores, so it is drawn in a thread: first when the app starts, at the
    width the screen gives it, and again only for a new width."""
    with _drawing:
        if width not in _drawn:
            console = Console(width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor")
            rendered = console.render_lines(Markdown(HELP), console.options.update_width(width), pad=True)
            _drawn[width] = [Strip(line, width) for line in rendered]
        return _drawn[width]


class HelpText(ScrollView, can_focus=True):
    """Lines drawn beforehand, scrolled: a new width is the only new work."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lines: list[Strip] = []

    def show(self, lines: list[Strip]) -> None:
        self.lines = lines
        self.virtual_size = Size(max((line.cell_length for line in lines), default=0), len(lines))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        index = y + self.scroll_offset.y
        style = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(self.size.width, style)
        return self.lines[index].crop_extend(self.scroll_offset.x, self.scroll_offset.x + self.size.width, style)


class HelpScreen(KeptStyles, ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]
    MAX_WIDTH = 96  # columns of the box, borders and scrollbar included; and at most 90% of the screen
    DEFAULT_CSS = f"""
    HelpScreen {{ align: center middle; background: $background; }}  /* opaque: the dimmed screen behind cost ~10 ms to draw */
    HelpScreen HelpText {{ width: 90%; max-width: {MAX_WIDTH}; height: 90%; border: round $accent; background: $surface;
                          scrollbar-size-vertical: 1; }}
    """

    def __init__(self) -> None:
        super().__init__()
        self._drawn_width: int | None = None  # the width the text was last shown at

    @classmethod
    def text_width(cls, screen_width: int) -> int:
        """The width the text is drawn at on a screen this wide (as the styles above lay it
        out: the box, less its borders and the scrollbar it always needs)."""
        return min(cls.MAX_WIDTH, screen_width * 90 // 100) - 2 - 1

    @staticmethod
    def draw_ahead(screen_width: int) -> None:
        """Draw the text for a screen this wide, in a thread, so the first `?` only shows it."""
        width = HelpScreen.text_width(screen_width)
        if width > 0:
            threading.Thread(target=help_lines, args=(width,), name="help text", daemon=True).start()

    def compose(self) -> ComposeResult:
        # Rich's Markdown drawn into lines that scroll: Textual's Markdown widget mounts a
        # widget per block and per table cell, and a Static draws its Markdown again at every
        # layout pass; either took 100-280 ms to open on a 2-core machine.
        yield HelpText(id="help-text")

    def on_mount(self) -> None:
        self.call_after_refresh(self._draw)

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw)

    def _draw(self) -> None:
        """The text at the width left beside the scrollbar: at once when it is drawn already,
        else drawn in a thread and shown when it is ready."""
        view = self.query_one(HelpText)
        width = view.content_region.width - view.styles.scrollbar_size_vertical
        if width <= 0 or width == self._drawn_width:
            return
        self._drawn_width = width
        if width in _drawn:
            view.show(_drawn[width])
        else:
            self._draw_in_thread(width)

    @work(thread=True, exclusive=True, group="help")
    def _draw_in_thread(self, width: int) -> None:
        lines = help_lines(width)
        self.app.call_from_thread(self._show, width, lines)

    def _show(self, width: int, lines: list[Strip]) -> None:
        if width == self._drawn_width:  # not resized again meanwhile
            self.query_one(HelpText).show(lines)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
