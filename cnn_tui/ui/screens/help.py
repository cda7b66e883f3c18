"""The help screen: every key, and how the editor reads what you type."""

from __future__ import annotations

from rich.markdown import Markdown
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import RichLog

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
| `d` | delete the selected layer (asks first) |
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


class HelpScreen(KeptStyles, ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background; }  /* opaque: the dimmed screen behind cost ~10 ms to draw */
    HelpScreen RichLog { width: 90%; max-width: 96; height: 90%; border: round $accent; background: $surface; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._drawn_width: int | None = None  # the width the text was last drawn at

    def compose(self) -> ComposeResult:
        # Rich's Markdown drawn once into lines that scroll: Textual's Markdown widget mounts a
        # widget per block and per table cell, and a Static draws its Markdown again at every
        # layout pass; either took 100-280 ms to open on a 2-core machine.
        yield RichLog(wrap=True, markup=False, auto_scroll=False, id="help-text")

    def on_mount(self) -> None:
        self.call_after_refresh(self._draw)

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw)

    def _draw(self) -> None:
        """The text at the width left beside the scrollbar (which it always needs)."""
        log = self.query_one(RichLog)
        width = log.content_region.width - log.styles.scrollbar_size_vertical
        if width > 0 and width != self._drawn_width:
            self._drawn_width = width
            log.clear()
            log.write(Markdown(HELP), width=width)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
