"""Random SIGKILL soak: kill a training run at random moments, resume it, compare.

    python -m cnn_tui.benchmarks.kill_soak [--kills 30] [--epochs 8] [--seed 1]

An uninterrupted run of the same configuration is the reference. The soak run is started,
killed with SIGKILL after a random delay (any moment: loading, mid-batch, mid-write),
resumed with --resume, killed again, ... `--kills` times, then resumed to the end. After
every kill the session must open, list and resume; at the end its metrics must equal the
reference's epoch for epoch (wall-clock fields aside). Prints a one-line verdict and the
counts the README quotes.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import tempfile
import time

from . import PYTHON, machine_line

CONFIG = ["--dataset", "synthetic", "--train-size", "2000", "--test-size", "200", "--batch-size", "50",
          "--threads", "1"]  # a fixed thread count: the same rounding whatever the load at each resume
VARYING = ("seconds", "images_per_second", "peak_memory_bytes")


def numbers(sessions: str, name: str) -> list[dict]:
    from cnn_tui.core.sessions import SessionStore

    rows, _ = SessionStore(sessions).open(name).read_metrics()
    return [{k: v for k, v in row.items() if k not in VARYING} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1, help="of the random kill times")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sessions = tempfile.mkdtemp()
    train = [PYTHON, "-m", "cnn_tui", "train", *CONFIG, "--epochs", str(args.epochs), "--sessions-dir", sessions]
    subprocess.run([*train, "--session", "reference"], check=True, capture_output=True)
    reference = numbers(sessions, "reference")

    from cnn_tui.core.sessions import SessionStore

    store = SessionStore(sessions)
    kills = resumes = refused = 0
    started = time.monotonic()
    while kills < args.kills:
        resuming = store.exists("soak")
        command = [*train, "--session", "soak"] + (["--resume"] if resuming else [])
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.3, 4.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        resumes += resuming
        if proc.returncode == 0:  # it finished before the kill: start over with more epochs to kill
            shutil.rmtree(store.path("soak"))
        elif proc.returncode not in (-9,):
            refused += 1
            print(f"unexpected exit {proc.returncode}: {proc.stderr.read().strip()[-300:]}")
        if store.exists("soak"):
            session = store.open("soak")  # must open, list and agree with itself after any kill
            store.list()
            if session.status == "finished":  # killed while exiting, after its last write
                assert numbers(sessions, "soak") == reference
                shutil.rmtree(store.path("soak"))
            else:
                assert session.status == "interrupted", session.status
    final = subprocess.run([*train, "--session", "soak", "--resume"] if store.exists("soak")
                           else [*train, "--session", "soak"], capture_output=True, text=True)
    soaked = numbers(sessions, "soak")
    differences = sum(a != b for a, b in zip(soaked, reference)) + abs(len(soaked) - len(reference))
    print(machine_line())
    print(f"{kills} SIGKILLs at random moments, {resumes + 1} resumes, {len(soaked)} epochs compared with an "
          f"uninterrupted run: {differences} differences; unexpected exits {refused}; final exit {final.returncode}; "
          f"{time.monotonic() - started:.0f} s")
    print(json.dumps({"kills": kills, "resumes": resumes + 1, "epochs": len(soaked), "differences": differences,
                      "unexpected": refused}))
    shutil.rmtree(sessions, ignore_errors=True)


if __name__ == "__main__":
    main()
