"""Keys act in the order they were typed, however many arrive in one read: over a slow link
(or while the app is busy) the terminal delivers a burst of keys at once."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from cnn_tui.ui.screens.prompt import TextPrompt

from .conftest import wait_for

PATH = [*[(ch, ch) for ch in "/tmp"], ("slash", "/"), *[(ch, ch) for ch in "no"], ("full_stop", "."),
        *[(ch, ch) for ch in "json"]]


def arrive_at_once(app, keys: list[tuple[str, str | None]]) -> None:
    """The keys as the terminal's driver hands over one read: all queued before any is handled."""
    for key, character in keys:
        app.post_message(events.Key(key, character).set_sender(app))


async def test_a_path_typed_right_behind_l_goes_into_the_load_prompt(make_app):
    # `l` is the app's own key: it acts when the key comes back up from the layer list. The
    # keys behind it were handed to the list before that, so the path's letters acted on
    # the panes: `t` started training, `o` opened the sessions list.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        arrive_at_once(app, [("l", "l"), *PATH, ("enter", "\r")])
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt) and bool(app.screen.problem), timeout=5)
        await pilot.pause(0.2)
        prompt = app.screen
        assert prompt.query_one(Input).value == "/tmp/no.json"
        assert prompt.problem.startswith("cannot load")  # enter submitted it: no such file
        assert not app.training and app.editor.table.row_count == 12
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, TextPrompt)


async def test_keys_in_one_read_move_through_the_layers_and_type_in_order(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        arrive_at_once(app, [("down", None)] * 5 + [("up", None)] * 2)
        await pilot.pause(0.2)
        assert app.editor.table.cursor_row == 3
        arrive_at_once(app, [("up", None)] * 3 + [("enter", "\r"), ("1", "1"), ("6", "6"), ("escape", None)])
        await pilot.pause(0.3)  # the first conv's 6 channels, selected by enter, become 16
        assert app.editor.draft.layers[0]["out_channels"] == 16 and app.focused is app.editor.table


async def test_the_same_keys_one_by_one_do_the_same(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("enter", "1", "6", "escape")
        await pilot.pause(0.3)
        assert app.editor.draft.layers[0]["out_channels"] == 16 and app.focused is app.editor.table


async def test_keys_typed_behind_o_wait_for_the_sessions_list(make_app, tmp_path, monkeypatch):
    # The list is read off the event loop: a down and an enter typed right behind `o` went to
    # the panes while the disk was read (enter opened the first layer's field), and the list
    # then came up with neither.
    import time

    from cnn_tui.core.sessions import SessionStore

    from .test_compare_export import sessions

    sessions(tmp_path)
    listed = SessionStore.list

    def slow_list(store):
        time.sleep(0.3)  # a slow disk, or many sessions
        return listed(store)

    monkeypatch.setattr(SessionStore, "list", slow_list)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        arrive_at_once(app, [("o", "o"), ("down", None), ("enter", "\r")])
        await wait_for(pilot, lambda: app.session_name is not None, timeout=10)
        await pilot.pause(0.2)
        assert app.session_name == "wider"  # the second of "base" and "wider"
        assert app.focused is app.editor.table
