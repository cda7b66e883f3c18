"""Figures for runs that outlive the terminal: watcher overhead, latency, terminal output.

    python -m cnn_tui.benchmarks.watch_speed [--epochs 12] [--seconds 20]
    (with CNN_TUI_DATA set, the overhead run uses the real FashionMNIST, else synthetic data)

- Overhead: one background run (`cnn-tui train --detach`) with `cnn-tui watch` in a real
  pseudo-terminal at 120×40, drawing on half of the epochs and stopped (SIGSTOP: no CPU at
  all) on the others, in ABBA order after two epochs of warm-up. Ratio of median seconds per
  epoch, watched / alone.
- Latency: `cnn-tui watch` (the app, driven in process) on a background run of short epochs;
  for each epoch, the time from its metrics line reaching the disk (seen by a 2 ms poller)
  to the row being added to the watcher's table. p50 / p95.
- Terminal output: bytes the app writes to a 120×40 pseudo-terminal per second while it
  trains in process, and while it watches a background run (mean and the busiest second).
  At 25 KB/s a link carries the busiest second in busiest/25 KB seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import tempfile
import termios
import threading
import time
from pathlib import Path

from . import PYTHON, machine_line

SIZE = (40, 120)  # rows, columns
SMALL = ["--dataset", "synthetic", "--train-size", "3000", "--test-size", "500", "--batch-size", "50"]


def _detach(sessions: str, name: str, args: list[str]) -> None:
    subprocess.run([PYTHON, "-m", "cnn_tui", "train", "--detach", *args, "--session", name,
                    "--sessions-dir", sessions], check=True, stdout=subprocess.DEVNULL)


def _wait_started(sessions: str, name: str) -> None:
    from cnn_tui.core.sessions import SessionStore

    store = SessionStore(sessions)
    while not (store.open(name).started and store.open(name).live):
        time.sleep(0.05)


class Terminal:
    """A program on a pseudo-terminal of 120×40; counts what it writes, second by second."""

    def __init__(self, argv: list[str]) -> None:
        self.pid, self.master = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm-256color"
            os.execv(argv[0], argv)
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", *SIZE, 0, 0))
        self.per_second: dict[int, int] = {}
        self.start = time.monotonic()
        self.counting = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                if select.select([self.master], [], [], 0.1)[0]:
                    data = os.read(self.master, 65536)
                    if not data:
                        return
                    if self.counting:
                        second = int(time.monotonic() - self.start)
                        self.per_second[second] = self.per_second.get(second, 0) + len(data)
            except OSError:
                return

    def count_from_now(self) -> None:
        self.per_second, self.start, self.counting = {}, time.monotonic(), True

    def rates(self) -> tuple[float, int]:
        """Mean bytes per second over whole seconds counted, and the busiest second."""
        full = [v for k, v in self.per_second.items() if k < int(time.monotonic() - self.start)]
        seconds = max(1, int(time.monotonic() - self.start))
        return sum(full) / seconds, max(full, default=0)

    def press(self, key: bytes) -> None:
        os.write(self.master, key)

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        os.close(self.master)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def watched_epoch(epoch: int) -> bool:
    """Epochs 2, 3 | 4, 5 | ... in ABBA order: watched, alone, alone, watched, watched, ..."""
    return (epoch - 2) % 4 in (0, 3)


def overhead(epochs: int) -> dict:
    """Seconds per epoch of one background run, with `cnn-tui watch` drawing on some epochs.

    The watcher starts with the run and stays; on the epochs it is "away" it is stopped
    (SIGSTOP: it takes no CPU at all, as if it were not there) and continued (SIGCONT) for
    the next, when it catches up with what it missed, as a watcher does. Epochs 0 and 1
    (warm-up, the watcher's start) are left out; the rest alternate in ABBA order so that a
    drift of the machine's speed falls on both arms alike.
    """
    from cnn_tui.core.sessions import SessionStore

    sessions = tempfile.mkdtemp()
    data = os.environ.get("CNN_TUI_DATA")
    args = ["--no-shuffle", "--epochs", str(epochs)] if data else [*SMALL, "--train-size", "30000", "--epochs", str(epochs)]
    _detach(sessions, "o", args)
    _wait_started(sessions, "o")
    watcher = Terminal([PYTHON, "-m", "cnn_tui", "watch", "o", "--sessions-dir", sessions])
    metrics = Path(sessions) / "o" / "metrics.jsonl"
    store = SessionStore(sessions)
    done, running = 0, True
    while done < epochs and store.open("o").live:
        lines = _lines(metrics)
        if lines != done:
            done = lines
            want = done < 2 or watched_epoch(done)  # the epoch now starting
            if want != running:
                os.kill(watcher.pid, signal.SIGCONT if want else signal.SIGSTOP)
                running = want
        time.sleep(0.05)
    os.kill(watcher.pid, signal.SIGCONT)
    watcher.close()
    rows = [r for r in store.open("o").read_metrics()[0] if r["epoch"] >= 2]
    shutil.rmtree(sessions, ignore_errors=True)
    watched = [r["seconds"] for r in rows if watched_epoch(r["epoch"])]
    alone = [r["seconds"] for r in rows if not watched_epoch(r["epoch"])]
    return {"watched": statistics.median(watched), "alone": statistics.median(alone),
            "ratio": statistics.median(watched) / statistics.median(alone), "epochs": len(rows),
            "data": "FashionMNIST" if data else "synthetic 30,000"}


def latency(epochs: int) -> dict:
    """Epoch line on disk → its row in the watcher's table, for every epoch of a run."""
    from cnn_tui.ui.app import CnnTuiApp

    sessions = tempfile.mkdtemp()
    _detach(sessions, "l", [*SMALL, "--epochs", str(epochs)])
    _wait_started(sessions, "l")
    on_disk: dict[int, float] = {}
    shown: dict[int, float] = {}
    metrics = Path(sessions) / "l" / "metrics.jsonl"

    def poll_disk() -> None:
        while len(on_disk) < epochs:
            try:
                lines = metrics.read_bytes().count(b"\n")
            except OSError:
                lines = 0
            for epoch in range(len(on_disk), lines):
                on_disk[epoch] = time.monotonic()
            time.sleep(0.002)

    threading.Thread(target=poll_disk, daemon=True).start()

    async def watch() -> None:
        app = CnnTuiApp(session="l", sessions_dir=sessions, watch=True, probe_device=False)
        async with app.run_test(size=(120, 40)):
            pane = app.pane
            original = pane.epoch_finished

            def record(m: dict) -> None:
                original(m)
                shown[int(m["epoch"])] = time.monotonic()

            pane.epoch_finished = record  # type: ignore[method-assign]
            while app.follower is None or app.follower.ended is None:
                await asyncio.sleep(0.02)

    asyncio.run(watch())
    delays = sorted(shown[e] - on_disk[e] for e in shown if e in on_disk)
    shutil.rmtree(sessions, ignore_errors=True)
    p95 = delays[min(len(delays) - 1, int(round(0.95 * (len(delays) - 1))))]
    return {"p50": statistics.median(delays), "p95": p95, "epochs": len(delays)}


def terminal_output(seconds: float) -> dict:
    """Bytes per second the app writes at 120×40: training in process, and watching."""
    results = {}
    sessions = tempfile.mkdtemp()
    app = Terminal([PYTHON, "-m", "cnn_tui", *SMALL, "--train-size", "60000", "--epochs", "50",
                    "--sessions-dir", sessions])
    time.sleep(4)  # first frame, torch imported
    app.press(b"t")
    time.sleep(4)  # data built, training under way
    app.count_from_now()
    time.sleep(seconds)
    results["app training"] = app.rates()
    app.press(b"s")
    time.sleep(1)
    app.close()
    _detach(sessions, "t", [*SMALL, "--train-size", "60000", "--epochs", "50"])
    _wait_started(sessions, "t")
    watcher = Terminal([PYTHON, "-m", "cnn_tui", "watch", "t", "--sessions-dir", sessions])
    time.sleep(5)
    watcher.count_from_now()
    time.sleep(seconds)
    results["watcher"] = watcher.rates()
    watcher.close()
    from cnn_tui.core.sessions import SessionStore

    SessionStore(sessions).send_control("t", "stop")
    time.sleep(2)
    shutil.rmtree(sessions, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=18, help="epochs of the overhead run")
    parser.add_argument("--latency-epochs", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20, help="how long to count terminal output")
    args = parser.parse_args()
    print(machine_line())
    o = overhead(args.epochs)
    print(f"overhead ({o['data']}, {o['epochs']} epochs after two of warm-up): s/epoch watched {o['watched']:.2f}, "
          f"alone {o['alone']:.2f}, ratio {o['ratio']:.3f}")
    lat = latency(args.latency_epochs)
    print(f"epoch line on disk -> row in the watcher ({lat['epochs']} epochs): p50 {lat['p50'] * 1000:.0f} ms, "
          f"p95 {lat['p95'] * 1000:.0f} ms")
    for what, (mean, busiest) in terminal_output(args.seconds).items():
        print(f"terminal output, {what} at 120x40: mean {mean / 1000:.2f} KB/s, busiest second {busiest / 1000:.2f} KB "
              f"({busiest / 25000:.2f} s at 25 KB/s)")
    print(json.dumps({"overhead": o, "latency": lat}))


if __name__ == "__main__":
    main()
