"""Rich renderings for the command line (formatting only: the numbers come from the core)."""

from __future__ import annotations

import sys
from typing import Iterator, Sequence

from rich import box
from rich.console import Console, ConsoleOptions
from rich.filesize import decimal
from rich.segment import Segment
from rich.style import Style
from rich.table import Table

from .core.sessions import SessionInfo
from .core.shapes import ArchitectureSummary, LayerInfo
from .core.spec import format_shape


def compact_bytes(n: int) -> str:
    """Bytes in about six characters, for narrow columns: `1.4MB`, `345.6kB`."""
    return decimal(int(n), separator="")


_COLUMNS = ("#", "layer", "output", "params", "MACs", "RF", "memory")
_GAP = "   "


def _summary_rows(summary: ArchitectureSummary) -> list[tuple[str, ...]]:
    """The table's cells as plain text: index, type, settings, then the number columns.
    A block's row names it; its layers follow, indented, then its projection (if any) and a
    row with the block's total, so the rows that are not totals add up to the footer."""
    rows: list[tuple[str, ...]] = []

    def numbers(info: LayerInfo, params: int, macs: int, rf: bool = True) -> tuple[str, ...]:
        return (format_shape(info.output_shape), f"{params:,}" if params else "–", f"{macs:,}" if macs else "–",
                format_shape(info.receptive_field) if rf and info.receptive_field else "–",
                compact_bytes(info.output_bytes))

    def add(info: LayerInfo) -> None:
        indent = "  " * (len(info.path) - 1)
        where = ".".join(map(str, info.path))
        if not info.inner and info.projection is None and info.type != "residual":
            rows.append((where, indent + info.type, ("(flattens) " if info.implicit_flatten else "") + info.settings,
                         *numbers(info, info.params, info.macs)))
            return
        rows.append((where, indent + info.type, info.settings, "", "", "", "", ""))
        for inner in info.inner:
            add(inner)
        if info.projection is not None:
            rows.append(("", indent + "  ↳ projection", info.projection.describe(),
                         *numbers(info, info.projection.params, info.projection.macs, rf=False)))
        rows.append(("", indent + "  = block total", "", *numbers(info, info.params, info.macs)))

    for info in summary.layers:
        add(info)
    return rows


class SummaryTable:
    """torchinfo-style table: one row per layer, totals in the footer (a rich renderable).

    Laid out by hand and yielded as ready-made segments rather than built with rich's
    Table, which measures and wraps every cell through its layout engine: 40,000 layers
    took 26 s that way. Numbers are never cut; the layer column gives way (ellipsis) to
    fit the console's width.
    """

    def __init__(self, summary: ArchitectureSummary) -> None:
        self.summary = summary

    def lines(self, width: int) -> Iterator[list[tuple[str, str]]]:
        """Each line as (text, style) pieces."""
        summary = self.summary
        rows = _summary_rows(summary)
        footer = ("", f"total: {summary.counted_layers} layers", format_shape(summary.output_shape),
                  f"{summary.total_params:,}", f"{summary.total_macs:,}", "",
                  compact_bytes(summary.activation_bytes))
        widths = [
            max([len(_COLUMNS[c])] + [len(row[c + 1]) for row in rows] + [len(footer[c])])
            for c in range(2, len(_COLUMNS))
        ]
        index_width = max([1] + [len(row[0]) for row in rows])
        fixed = 1 + index_width + len(_GAP) * (len(_COLUMNS) - 1) + sum(widths)
        layer_width = max([len("layer")] + [len(row[1]) + 1 + len(row[2]) for row in rows])
        layer_width = max(len(footer[1]), min(layer_width, width - fixed))

        def numbers(cells: Sequence[str]) -> str:
            return _GAP + _GAP.join(cell.rjust(w) for cell, w in zip(cells, widths))

        total_width = fixed + layer_width
        title = f"input {format_shape(summary.input_shape)} · batch {summary.batch_size}"
        yield [(title.center(total_width).rstrip(), "")]
        yield []
        yield [(" " + "#".rjust(index_width) + _GAP + "layer".ljust(layer_width) + numbers(_COLUMNS[2:]), "bold")]
        yield [(" " + "─" * (total_width - 1), "")]
        for row in rows:
            name, settings = row[1], row[2]
            if len(name) + 1 + len(settings) > layer_width:
                settings = settings[: max(0, layer_width - len(name) - 2)] + "…"
            yield [
                (" " + row[0].rjust(index_width) + _GAP, ""),
                (name, "bold" if name.strip() in ("conv2d", "linear") or "total" in name else ""),
                ((" " + settings).ljust(layer_width - len(name)), "dim"),
                (numbers(row[3:]), ""),
            ]
        yield []
        yield [(" " + " " * index_width + _GAP + footer[1].ljust(layer_width) + numbers(footer[2:]), "bold")]
        yield []

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        styles = {"": Style.null(), "bold": Style(bold=True), "dim": Style(dim=True)}
        newline = Segment.line()
        for line in self.lines(options.max_width):
            for text, style in line:
                yield Segment(text, styles[style])
            yield newline


def summary_totals_line(summary: ArchitectureSummary) -> str:
    return (
        f"params {summary.total_params:,} ({decimal(summary.param_bytes)}, "
        f"{decimal(summary.train_state_bytes)} with Adam state) · "
        f"MACs {summary.total_macs:,} · {summary.counted_layers} counted layers (conv + linear) · "
        f"activations {decimal(summary.activation_bytes)} per batch of {summary.batch_size}"
    )


def print_summary(summary: ArchitectureSummary, console: Console | None = None) -> None:
    console = console or Console()
    console.print(SummaryTable(summary), crop=False)
    console.print(summary_totals_line(summary), highlight=False)


STATUS_STYLES = {"finished": "green", "running": "cyan", "stopped": "yellow", "interrupted": "yellow", "failed": "red"}


def live_progress(progress: dict | None) -> str:
    """A live run's place: `epoch 3/5 20% · 9,800 img/s` (epochs counted from 1)."""
    if not progress:
        return "starting"
    try:
        done = int(progress["batch"]) / max(1, int(progress["batches"]))
        text = (f"epoch {int(progress['epoch']) + 1}/{int(progress.get('epochs') or 0) or '?'} "
                f"{done:.0%} · {float(progress['images_per_second']):,.0f} img/s")
    except (KeyError, TypeError, ValueError):
        return "?"
    state = progress.get("state")
    return f"{text} · {state}" if state in ("paused", "stopping") else text


def sessions_table(infos: list[SessionInfo]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    for name, justify in (("session", "left"), ("status", "left"), ("epochs", "right"),
                          ("best acc", "right"), ("dataset", "left"), ("updated", "left"), ("live", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for info in infos:
        style = STATUS_STYLES.get(info.status, "")
        table.add_row(
            info.name,
            f"[{style}]{info.status}[/]" if style else info.status,
            f"{info.epochs_done}/{info.epochs_target}",
            f"{info.best_test_accuracy:.4f}" if info.best_test_accuracy is not None else "–",
            info.dataset,
            info.updated.replace("T", " ")[5:16],  # MM-DD HH:MM
            f"[cyan]● {live_progress(info.progress)}[/]" if info.live else "",
        )
    return table


# --- cnn-tui compare -----------------------------------------------------------------------


def compare_chart(runs: list, metric: str, title: str, width: int, color: bool) -> str:
    """One metric of every run against the epoch (counted from 1), overlaid (plotext)."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(max(40, width), 14)
    plt.theme("pro" if color else "clear")
    plt.title(title)
    plt.xlabel("epoch")
    for n, run in enumerate(runs):
        values = run.curve(metric)
        if values:  # without colour, each run has its own mark
            marker = "braille" if color else _MARKS[n % len(_MARKS)]
            plt.plot(list(range(1, len(values) + 1)), values, label=run.name, marker=marker)
    return plt.build()


_MARKS = ("•", "x", "+", "o", "*", "#")


def compare_table(stats: list) -> Table:
    """Each run's epochs, best (with its epoch) and last values, seconds per epoch, params."""
    from .core.compare import STATS

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    table.add_column("session", no_wrap=True)
    table.add_column("epochs", justify="right", no_wrap=True)
    for column, _, _ in STATS:
        table.add_column(f"{column}\nbest @epoch", justify="right", no_wrap=True)
        table.add_column("\nlast", justify="right", no_wrap=True)
    table.add_column("s/epoch", justify="right", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    for run in stats:
        cells = [run.name, str(run.epochs)]
        for _, metric, _ in STATS:
            best, last = run.best[metric], run.last[metric]
            cells += [f"{best[0]:.4f} @{best[1]}" if best else "–", f"{last:.4f}" if last is not None else "–"]
        cells += [f"{run.seconds_per_epoch:.2f}" if run.seconds_per_epoch is not None else "–", f"{run.params:,}"]
        table.add_row(*cells)
    return table


# --- sample gallery ------------------------------------------------------------------------


class HalfBlockImage:
    """An image drawn with half blocks: two pixels per cell, in every terminal (truecolor
    where it has it; Rich brings colours down to what the terminal shows)."""

    def __init__(self, pixels, shape: tuple[int, int, int]) -> None:
        self.pixels, self.shape = pixels, shape

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        from rich.color import Color

        from .core.gallery import half_block_rows

        styles: dict[tuple, Style] = {}
        for row in half_block_rows(self.pixels, self.shape):
            for top, bottom in row:
                style = styles.get((top, bottom))
                if style is None:
                    style = styles[(top, bottom)] = Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom))
                yield Segment("▀", style)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions):
        from rich.measure import Measurement

        return Measurement(self.shape[2], self.shape[2])


class KittyImage:
    """An image sent with the kitty graphics protocol (kitty, WezTerm, Ghostty): real pixels,
    scaled by the terminal to the cells half blocks would take, which are left blank under it."""

    CHUNK = 4096

    def __init__(self, pixels, shape: tuple[int, int, int]) -> None:
        self.pixels, self.shape = pixels, shape

    def escape(self) -> str:
        """The protocol's commands: a PNG in base64 chunks, shown at the cursor (which stays)."""
        import base64
        import io as _io

        from PIL import Image

        c, h, w = self.shape
        data = bytes(self.pixels)
        if c >= 3:
            plane = h * w
            rgb = bytes(v for i in range(plane) for v in (data[i], data[plane + i], data[2 * plane + i]))
            image = Image.frombytes("RGB", (w, h), rgb)
        else:
            image = Image.frombytes("L", (w, h), data[: h * w])
        buffer = _io.BytesIO()
        image.save(buffer, format="PNG")
        payload = base64.standard_b64encode(buffer.getvalue()).decode("ascii")
        chunks = [payload[i:i + self.CHUNK] for i in range(0, len(payload), self.CHUNK)] or [""]
        out = []
        for n, chunk in enumerate(chunks):
            more = 1 if n < len(chunks) - 1 else 0
            keys = f"a=T,f=100,q=2,C=1,c={w},r={-(-h // 2)},m={more}" if n == 0 else f"m={more}"
            out.append(f"\x1b_G{keys};{chunk}\x1b\\")
        return "".join(out)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        from rich.segment import ControlType

        _, h, w = self.shape
        yield Segment(self.escape(), control=[(ControlType.BELL,)])  # written as is, no width
        for _ in range(-(-h // 2)):
            yield Segment(" " * w)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions):
        from rich.measure import Measurement

        return Measurement(self.shape[2], self.shape[2])


def kitty_graphics_available() -> bool:
    """Does this terminal show kitty-protocol images? kitty, WezTerm and Ghostty do; inside
    tmux or screen the protocol does not reach the terminal, and piped output has none."""
    import os

    if not sys.stdout.isatty() or os.environ.get("TMUX") or os.environ.get("STY"):
        return False
    term, program = os.environ.get("TERM", ""), os.environ.get("TERM_PROGRAM", "")
    return "kitty" in term or "ghostty" in term or program in ("WezTerm", "ghostty")


def sample_card(predictions, sample, graphics: str = "blocks"):
    """One test image with its true label, the prediction and its confidence (green when
    right, red when wrong); `graphics` "kitty" sends the image's pixels, "blocks" draws
    half blocks."""
    from rich.console import Group
    from rich.text import Text

    caption = Text(f"#{sample.index} {predictions.name(sample.label)}", no_wrap=True, overflow="ellipsis")
    guess = Text(f"{'✓' if sample.correct else '✗'} {predictions.name(sample.predicted)} {sample.confidence:.0%}",
                 style="green" if sample.correct else "bold red", no_wrap=True, overflow="ellipsis")
    picture = (KittyImage if graphics == "kitty" else HalfBlockImage)(predictions.image(sample), predictions.shape)
    return Group(picture, caption, guess)
