"""The key bar along the bottom of the main screen: the keys that work now, on one line.

Textual's Footer mounts one widget per key and mounts them all again whenever the keys can
change: every focus move, every dialog that closes. On this app's main screen that was
about half of the time the screen stood still when a dialog closed (23.6 ms against
12.1 ms without it, at 120×40; `python -m cnn_tui.benchmarks.editor_stall`). This bar is
one widget that draws one line of text and redraws only when the keys it shows change; it
never lays the screen out again. It redraws a moment after they change, in a frame of its
own: a frame redraws every widget in the rectangle around all that changed, and this line
spans the screen, so drawn with the editor's changes it pulled the whole screen into their
frame (about 90 widgets).

It reads the same bindings the Footer reads (`Screen.active_bindings`): each action once,
in binding order, dimmed when its `check_action` says it cannot run now, the command
palette's key on the right. A click on a key presses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget

REDRAW_DELAY = 0.12  # seconds from a change of keys to the bar's redraw: after the widgets that changed them


@dataclass(frozen=True)
class ShownKey:
    """One key as the bar shows it."""

    key: str  # what a click presses
    display: str  # how the key is written ("^s", "?")
    description: str
    enabled: bool


class KeyBar(Widget, can_focus=False):
    """One line of key hints, redrawn only when they change."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--hover"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .keybar--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
        & > .keybar--description { color: $footer-description-foreground; background: $footer-description-background; }
        & > .keybar--hover { background: $block-hover-background; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.keys: tuple[ShownKey, ...] = ()
        self.palette: ShownKey | None = None
        self._spans: list[tuple[int, int, ShownKey]] = []  # cells each key covers, as last drawn
        self._hover: ShownKey | None = None
        self._redraw: Timer | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        keys, palette = self.shown_keys()
        if (keys, palette) != (self.keys, self.palette):
            self.keys, self.palette = keys, palette
            if self._redraw is None:  # one redraw shows the latest keys
                self._redraw = self.set_timer(REDRAW_DELAY, self._draw_keys)

    def _draw_keys(self) -> None:
        self._redraw = None
        self.refresh()  # the same one line: a repaint, never a layout

    def shown_keys(self) -> tuple[tuple[ShownKey, ...], ShownKey | None]:
        """The keys to show now, and the command palette's (None when it is off)."""
        app = self.app
        keys: dict[str, ShownKey] = {}
        palette: ShownKey | None = None
        for key, (_node, binding, enabled, _tooltip) in self.screen.active_bindings.items():
            shown = ShownKey(binding.key, app.get_key_display(binding), binding.description, enabled)
            if key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE:
                palette = shown
            elif binding.show and binding.action not in keys:
                keys[binding.action] = shown
        return tuple(keys.values()), palette

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key", partial=True)
        description_style = self.get_component_rich_style("keybar--description", partial=True)
        hover_style = self.get_component_rich_style("keybar--hover", partial=True)
        dim = Style(dim=True)
        line = Text(no_wrap=True, overflow="crop", end="")
        self._spans = []

        def add(shown: ShownKey, lead: str = " ") -> None:
            start = line.cell_len
            extra = (dim if not shown.enabled else Style()) + (hover_style if shown is self._hover else Style())
            line.append(f"{lead}{shown.display} ", key_style + extra)
            if shown.description:
                line.append(f"{shown.description} ", description_style + extra)
            self._spans.append((start, line.cell_len, shown))

        for shown in self.keys:
            add(shown)
        if self.palette is not None:  # on the right, after the keys that fit before it
            room = max(0, self.size.width - self._width(self.palette))
            line.truncate(room, overflow="crop", pad=True)
            self._spans = [span for span in self._spans if span[1] <= room]
            line.append("▏")
            add(self.palette, lead="")
        return line

    @staticmethod
    def _width(shown: ShownKey) -> int:
        return cell_len(f"▏{shown.display} ") + (cell_len(shown.description) + 1 if shown.description else 0)

    def key_at(self, x: int) -> ShownKey | None:
        """The key drawn at column x, if any."""
        return next((shown for start, end, shown in self._spans if start <= x < end), None)

    def on_click(self, event: events.Click) -> None:
        shown = self.key_at(event.x)
        if shown is None:
            return
        if shown.enabled:
            self.app.simulate_key(shown.key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        hover = self.key_at(event.x)
        if hover is not self._hover:
            self._hover = hover
            self.refresh()

    def on_leave(self, _event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()
