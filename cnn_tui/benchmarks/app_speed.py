"""The app's figures: training inside the app vs headless, key latency, first frame.

    CNN_TUI_DATA=../shared/data python -m cnn_tui.benchmarks.app_speed [--epochs 3] [--rounds 2]

- Training speed: the same configuration (reference network, --no-shuffle, seed 0) trained by
  `cnn-tui train` and by the app (run headless, `t` pressed, nothing else touched), each in a
  fresh process, interleaved; seconds per epoch as medians, and their ratio.
- Key latency: while the app trains, a key (down / up on the layer table) every 100 ms;
  latency is from posting the key to the end of the next screen refresh that shows it.
- First frame: a fresh process that starts the app and leaves at its first refresh, against
  `python -c "import torch"`; and, where tmux exists, `cnn-tui` in a real terminal until its
  first screen appears.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textual import events

from . import PYTHON, interleaved_medians, machine_line


def _config(data_dir: str | None, epochs: int):
    from cnn_tui.core.config import TrainConfig

    if data_dir:
        return TrainConfig(data_dir=data_dir, epochs=epochs, shuffle=False)
    return TrainConfig(dataset="synthetic", train_size=60000, test_size=10000, epochs=epochs, shuffle=False)


def app_worker(data_dir: str | None, epochs: int, sessions: str, keys: bool) -> None:
    """Train in the app (headless); print the key latencies measured meanwhile as JSON."""
    from cnn_tui.ui.app import CnnTuiApp

    app = CnnTuiApp(config=_config(data_dir, epochs), sessions_dir=sessions)
    latencies: list[float] = []

    async def press(key: str) -> float:
        """Deliver a key as the terminal driver does; wait for its effect to be on screen.
        (Pilot.press is no use here: it waits for the *process* to go idle, which it never
        does while training.)"""
        table = app.query_one("#layers")
        before = table.cursor_row
        start = time.perf_counter()
        app.post_message(events.Key(key, None))
        while table.cursor_row == before:
            await asyncio.sleep(0.0005)
        refreshed = asyncio.Event()
        app.call_after_refresh(refreshed.set)
        await refreshed.wait()
        return time.perf_counter() - start

    async def drive(pilot) -> None:
        await pilot.pause()
        await pilot.press("t")
        direction = "down"
        while not app.training:  # let the worker start
            await asyncio.sleep(0.01)
        while app.training:
            if keys:
                latencies.append(await press(direction))
                direction = "up" if direction == "down" else "down"
            await asyncio.sleep(0.1)
        await app.workers.wait_for_complete()
        app.exit()

    app.run(headless=True, size=(120, 40), auto_pilot=drive)
    print(json.dumps({"latencies": latencies}))


def first_frame_worker() -> None:
    """Start the app, leave at its first refresh; report whether torch was imported by then."""
    from cnn_tui.ui.app import CnnTuiApp

    app = CnnTuiApp(probe_device=False, sessions_dir=tempfile.mkdtemp())
    seen: dict[str, bool] = {}

    async def leave(pilot) -> None:
        seen["torch"] = "torch" in sys.modules
        app.exit()

    app.run(headless=True, size=(120, 40), auto_pilot=leave)
    print(json.dumps(seen))


def _metrics(sessions: str) -> list[dict]:
    files = list(Path(sessions).glob("*/metrics.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines()]


def run_app(data_dir: str | None, epochs: int, keys: bool) -> tuple[list[dict], list[float]]:
    with tempfile.TemporaryDirectory() as sessions:
        argv = [PYTHON, "-m", "cnn_tui.benchmarks.app_speed", "--app-worker", "--epochs", str(epochs),
                "--sessions", sessions] + (["--keys"] if keys else []) + (["--data-dir", data_dir] if data_dir else [])
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        return _metrics(sessions), result["latencies"]


def run_cli(data_dir: str | None, epochs: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as sessions:
        data = ["--data-dir", data_dir] if data_dir else ["--dataset", "synthetic", "--train-size", "60000",
                                                          "--test-size", "10000"]
        subprocess.run([PYTHON, "-m", "cnn_tui", "train", *data, "--epochs", str(epochs), "--no-shuffle",
                        "--sessions-dir", sessions], capture_output=True, text=True, check=True)
        return _metrics(sessions)


def tmux_first_frame(repeats: int) -> float | None:
    """Seconds from `cnn-tui` starting in a real (tmux) terminal to its first screen."""
    if not shutil.which("tmux"):
        return None
    cnn_tui = str(Path(PYTHON).with_name("cnn-tui"))
    if not Path(cnn_tui).exists():
        return None
    times = []
    for i in range(repeats):
        name = f"cnn-tui-bench-{os.getpid()}-{i}"
        for attempt in range(3):  # the last session's kill stops tmux's server; a new one may meet it dying
            start = time.perf_counter()
            started = subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", cnn_tui,
                                      "--sessions-dir", tempfile.mkdtemp()], capture_output=True)
            if started.returncode == 0:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"tmux would not start a session: {started.stderr.decode(errors='replace').strip()}")
        try:
            while time.perf_counter() - start < 30:
                screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
                if "Architecture" in screen and "32,998" in screen:
                    times.append(time.perf_counter() - start)
                    break
                time.sleep(0.005)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    return statistics.median(times) if times else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("CNN_TUI_DATA"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--app-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first-frame-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keys", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sessions", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.app_worker:
        app_worker(args.data_dir, args.epochs, args.sessions, args.keys)
        return
    if args.first_frame_worker:
        first_frame_worker()
        return

    data = f"FashionMNIST from {args.data_dir}" if args.data_dir else "synthetic 60,000 images (no $CNN_TUI_DATA)"
    print(f"machine: {machine_line()}; {data}; reference network, --no-shuffle, {args.epochs} epochs\n")

    app_seconds: list[float] = []
    cli_seconds: list[float] = []
    for _ in range(args.rounds):
        app_seconds += [row["seconds"] for row in run_app(args.data_dir, args.epochs, keys=False)[0]]
        cli_seconds += [row["seconds"] for row in run_cli(args.data_dir, args.epochs)]
    app_med, cli_med = statistics.median(app_seconds), statistics.median(cli_seconds)
    rows, latencies = run_app(args.data_dir, args.epochs, keys=True)
    keyed_med = statistics.median(row["seconds"] for row in rows)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))] * 1000

    frame = interleaved_medians({
        "app": [PYTHON, "-m", "cnn_tui.benchmarks.app_speed", "--first-frame-worker"],
        "torch": [PYTHON, "-c", "import torch"],
    }, repeats=7)
    torch_seen = json.loads(subprocess.run([PYTHON, "-m", "cnn_tui.benchmarks.app_speed", "--first-frame-worker"],
                                           capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    real = tmux_first_frame(5)

    print("| what | measured | target |")
    print("|---|---|---|")
    print(f"| training s/epoch, app / headless `cnn-tui train` ({args.rounds} interleaved rounds) | "
          f"**{app_med / cli_med:.2f}** ({app_med:.2f} s vs {cli_med:.2f} s, medians) | ≤ 1.10 |")
    print(f"| key press → refreshed screen while training on CPU ({len(latencies)} presses) | "
          f"p50 {p50:.0f} ms, **p95 {p95:.0f} ms** | p95 ≤ 100 ms |")
    print(f"| s/epoch in the app while keys are pressed | {keyed_med:.2f} s ({keyed_med / cli_med:.2f}× headless) | |")
    print(f"| launch → first frame (headless process) / `python -c 'import torch'` | "
          f"**{frame['app'] / frame['torch']:.2f}** ({frame['app'] * 1000:.0f} ms vs {frame['torch'] * 1000:.0f} ms); "
          f"torch imported by then: {torch_seen.get('torch')} | well under 1 |")
    if real is not None:
        print(f"| `cnn-tui` in a real terminal (tmux 120×40) until its first screen is drawn | "
              f"{real * 1000:.0f} ms ({real / frame['torch']:.2f}× import torch) | |")


if __name__ == "__main__":
    main()
