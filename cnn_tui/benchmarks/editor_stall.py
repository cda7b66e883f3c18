"""How long the editor holds the screen still: each key a person presses, and a 40,000-layer file.

    python -m cnn_tui.benchmarks.editor_stall [--layers 40000] [--repeats 3] [--keys-only]

The app runs headless at 120×40 while a task on its event loop wakes every 2 ms and records
how late it woke: the longest delay is the longest time nothing could be drawn. Measured
while `l` loads the file (typed into the prompt, as a person does), and while a digit is
typed into the selected layer's field. Each is measured twice in one process: as the editor
works (large drafts' numbers worked out in a thread) and with that turned off (every number
on the event loop), so the two figures share the machine's mood. Medians of the repeats.

The keys: at 120×40 with the seed network, each key (or short sequence) pressed `repeats`
times in one app, each from the first layer (a conv2d) selected, the longest stall of each
press kept. Printed: the median and the worst press; the first press alone (the first time
the app does it, its caches and Textual's cold, as when a person does it once); and the
median and the most, over the presses, of the most CPU time the event loop's thread used
between two of the task's wake-ups (the work of the longest stall, less sensitive to other
processes on a busy machine; it counts the whole stretch between two wake-ups, up to 2 ms
more than the stall). A frame at 60 frames a second is 16.7 ms. Loading a file is one of
the keys: enter in the `l` prompt, with the path of a 101-layer file typed in (a table
narrower than the seed network's); so is opening a finished 5-epoch session from the `o`
list. The seed network is loaded back after each. Not keys, and measured first, in the
process's first app (as in use): a run of 600-batch epochs one by one, half-way through each
the live loss chart drawn again, at its end a row in the epoch table (in the room for up to
ten rows made as the run started, then scrolled) and a point on both charts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from . import machine_line

BATCHES = 600  # an epoch of FashionMNIST at batch size 100


def big_architecture(layers: int) -> dict:
    """flatten, then linear / relu pairs: every layer valid, every row with numbers."""
    pairs = [{"type": "linear", "out_features": 10}, {"type": "relu"}] * ((layers - 1) // 2)
    return {"input": [1, 28, 28], "layers": [{"type": "flatten"}, *pairs]}


class StallMeter:
    """A task that sleeps 2 ms at a time; the longest oversleep is the longest stall.
    `busiest` is the most CPU time the event loop's thread used in one such sleep: the work
    of the longest stall without the time other processes took the core from it."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.busiest = 0.0
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while True:
            before, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.002)
            self.longest = max(self.longest, time.perf_counter() - before - 0.002)
            self.busiest = max(self.busiest, time.thread_time() - cpu)

    def start(self) -> None:
        self.longest = self.busiest = 0.0
        self._task = asyncio.get_running_loop().create_task(self._tick())

    def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        return self.longest


async def measure(path: str) -> dict[str, float]:
    from cnn_tui.ui.app import CnnTuiApp

    app = CnnTuiApp(probe_device=False, sessions_dir=tempfile.mkdtemp())
    meter = StallMeter()
    result: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        app.screen.query_one("Input").value = path
        meter.start()
        await pilot.press("enter")
        while not app.editor.source.endswith(Path(path).name):
            await asyncio.sleep(0.01)
        await pilot.pause()
        result["load"] = meter.stop()
        app.editor.table.move_cursor(row=1)  # the first linear layer
        await pilot.pause()
        app.editor.sync_form()
        await pilot.pause()
        app.editor.form.query("Input").first().focus()
        await pilot.pause()
        shown = app.editor.summary
        meter.start()
        await pilot.press("end", "1")
        while app.editor.summary is shown:  # a new summary: the edit's numbers are worked out
            await asyncio.sleep(0.01)
        await pilot.pause()
        result["keystroke"] = meter.stop()
    return result


# (what a person does; keys pressed first, unmeasured; the keys measured; keys that put the
# app back afterwards, unmeasured)
KEY_CASES: list[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = [
    ("move the cursor down a row", (), ("down",), ("up",)),
    ("tab to the next control", (), ("tab",), ("shift+tab",)),
    ("enter a layer's first field", (), ("enter",), ("escape",)),
    ("type a digit into a field", ("enter", "end"), ("1",), ("backspace", "escape")),
    ("open the add-layer menu (a)", (), ("a",), ("escape",)),
    ("pick a layer type there (enter)", ("a",), ("enter",), ("ctrl+z",)),
    ("undo (a copied layer)", ("c",), ("ctrl+z",), ()),
    ("delete a layer (d, then y)", ("d",), ("y",), ("ctrl+z",)),
    ("open the load prompt (l)", (), ("l",), ("escape",)),
    ("load a 101-layer file (enter there)", ("l", "{path}"), ("enter",), ()),  # the seed put back after
    ("open a session (enter in the o list)", ("o",), ("enter",), ()),  # the seed put back after
    ("open help (?)", (), ("question_mark",), ("escape",)),
    ("close help", ("question_mark",), ("escape",), ()),
]


def made_up_losses(epoch: int, batches: int) -> list[float]:
    """Each batch's loss in an epoch, made up: falling, and as noisy as a real run's."""
    noise = random.Random(epoch)
    return [(1 - 0.04 * epoch) / (1 + i / batches) * (0.7 + 0.6 * noise.random()) for i in range(batches)]


def made_up_epoch(epoch: int, batches: int) -> dict:
    """An epoch's metrics line with made-up numbers (accuracy 0.5, up 0.04 an epoch)."""
    from cnn_tui.core.sessions import METRIC_FIELDS

    accuracy = 0.5 + 0.04 * epoch
    losses = made_up_losses(epoch, batches)
    row = {field: 1 for field in METRIC_FIELDS}
    row.update(epoch=epoch, total_correct=1000 + epoch, samples=2000, test_accuracy=accuracy,
               train_accuracy=accuracy, total_loss=sum(losses), batches=batches,
               test_loss=1 - accuracy, seconds=1.5, batch_losses=losses)
    return row


def finished_session(root: str, name: str, epochs: int) -> None:
    """A finished session of the seed network with made-up epochs, as the sessions list shows
    it and the app opens it. It has no checkpoint (opened and listed, never resumed), though
    its record counts every epoch done, as a real run's would."""
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.presets import preset
    from cnn_tui.core.sessions import SessionStore, new_record

    with SessionStore(root).create(name, new_record(preset("seed"), TrainConfig(dataset="synthetic"), "cpu")) as session:
        for epoch in range(epochs):
            session.append_metrics(made_up_epoch(epoch, batches=4))
        session.set_epochs_done(epochs)
        session.set_status("finished")


async def key_stalls(repeats: int, size: tuple[int, int] = (120, 40)) -> dict[str, list[tuple[float, float]]]:
    """Each case's longest stall and busiest CPU time, per press (seconds)."""
    from cnn_tui.ui.app import CnnTuiApp

    stalls: dict[str, list[tuple[float, float]]] = {name: [] for name, *_ in KEY_CASES}
    path = Path(tempfile.mkdtemp()) / "net-101.json"
    path.write_text(json.dumps(big_architecture(101)))

    def keys(sequence: tuple[str, ...]) -> list[str]:  # "{path}": the file's path, typed
        return [key for item in sequence for key in (str(path) if item == "{path}" else [item])]

    sessions = tempfile.mkdtemp()
    finished_session(sessions, "run", epochs=5)
    app = CnnTuiApp(probe_device=False, sessions_dir=sessions)
    meter = StallMeter()
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        seed, seed_source = app.editor.architecture(), app.editor.source
        for _ in range(repeats):
            for name, before, pressed, after in KEY_CASES:
                app.editor.table.move_cursor(row=0)  # each case from the first conv (an undo moves it)
                app.editor.focus_layers()
                await pilot.pause(0.1)  # drawn, as a person sees it before the next key
                await pilot.press(*keys(before))
                await pilot.pause(0.4)
                meter.start()
                await pilot.press(*keys(pressed))
                await pilot.pause(0.3)  # what the keys set off, drawn
                stalls[name].append((meter.stop(), meter.busiest))
                await pilot.press(*keys(after))
                if app.editor.source != seed_source:  # loaded: the seed again, saved (no question at the next `l`)
                    await app.editor.load(seed, seed_source)
                await pilot.pause(0.3)
    return stalls


async def training_stalls(epochs: int, batches: int = BATCHES, size: tuple[int, int] = (120, 40)
                          ) -> dict[str, list[tuple[float, float]]]:
    """A run's epochs one by one in a fresh app, as the trainer's events arrive: half-way
    through each, the live loss chart drawn again with the batches so far (as it is once a
    second); at its end, a row in the epoch table (room for it made as the run started)
    and a point on both charts. The longest stall and busiest CPU time of each (seconds), under
    "live" and "end". `batches` an epoch: FashionMNIST's 60,000 images at batch size 100."""
    from cnn_tui.core.events import BatchProgress, TrainingStarted
    from cnn_tui.ui.app import CnnTuiApp

    app = CnnTuiApp(probe_device=False, sessions_dir=tempfile.mkdtemp())
    meter = StallMeter()
    stalls: dict[str, list[tuple[float, float]]] = {"live": [], "end": []}
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        app.pane.started(TrainingStarted("run", "cpu", "a CPU", 0, epochs, 100 * batches, 10_000, batches, 32_998))
        for epoch in range(epochs):
            half = batches // 2
            await pilot.pause(1.0)  # the live chart is drawn again at most once a second
            meter.start()
            app.pane.progress(BatchProgress(epoch, half, batches, half * 100, 5000.0, 1.0, 0.5, epochs=epochs,
                                            batch_losses=tuple(made_up_losses(epoch, batches)[:half])))
            await pilot.pause(0.3)
            stalls["live"].append((meter.stop(), meter.busiest))
            meter.start()
            app.pane.epoch_finished(made_up_epoch(epoch, batches))
            await pilot.pause(0.3)
            stalls["end"].append((meter.stop(), meter.busiest))
    return stalls


def run(layers: int, repeats: int) -> dict[str, dict[str, float]]:
    import cnn_tui.ui.editor.pane as pane

    path = Path(tempfile.mkdtemp()) / f"big-{layers}.json"
    path.write_text(json.dumps(big_architecture(layers)))
    as_built = pane.OFF_LOOP_LAYERS
    runs: dict[str, list[dict[str, float]]] = {"off the loop": [], "all on the loop": []}
    for _ in range(repeats):
        for name, limit in (("off the loop", as_built), ("all on the loop", 10**9)):
            pane.OFF_LOOP_LAYERS = limit
            runs[name].append(asyncio.run(measure(str(path))))
    pane.OFF_LOOP_LAYERS = as_built
    return {name: {what: statistics.median(r[what] for r in rs) for what in ("load", "keystroke")}
            for name, rs in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keys-only", action="store_true", help="measure the keys, not the large file")
    args = parser.parse_args()
    print(machine_line())
    print("| what a person does (seed network, 120×40) | longest stall, median of presses | worst press "
          "| first press | CPU time in it, median | most |")
    print("|---|---|---|---|---|---|")
    from cnn_tui.ui.training.epoch_table import MOST_ROWS_SHOWN

    # First: the process's one app until then. Up to MOST_ROWS_SHOWN rows the table fills
    # the room made as the run started; past that it scrolls.
    run = asyncio.run(training_stalls(MOST_ROWS_SHOWN + max(args.repeats, 5)))
    cases = asyncio.run(key_stalls(max(args.repeats, 5)))
    first, later = f"1-{MOST_ROWS_SHOWN}", f"{MOST_ROWS_SHOWN + 1}-{len(run['end'])}"
    cases[f"(no key) epochs {first} half-way: the live loss chart, {BATCHES} batches an epoch"] = \
        run["live"][:MOST_ROWS_SHOWN]
    cases[f"(no key) epochs {later} half-way: the same"] = run["live"][MOST_ROWS_SHOWN:]
    cases[f"(no key) epochs {first} end: a row (in the room made for it), two charts' points"] = run["end"][:MOST_ROWS_SHOWN]
    cases[f"(no key) epochs {later} end: a row (the table scrolls), two charts' points"] = run["end"][MOST_ROWS_SHOWN:]
    for name, values in cases.items():
        walls, cpus = [wall for wall, _ in values], [cpu for _, cpu in values]
        print(f"| {name} | {statistics.median(walls) * 1000:.1f} ms | {max(walls) * 1000:.1f} ms "
              f"| {walls[0] * 1000:.1f} ms | {statistics.median(cpus) * 1000:.1f} ms | {max(cpus) * 1000:.1f} ms |")
    print()
    if args.keys_only:
        return
    for name, figures in run(args.layers, args.repeats).items():
        print(f"{args.layers:,} layers, {name}: longest stall loading {figures['load'] * 1000:.0f} ms, "
              f"typing a digit {figures['keystroke'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
