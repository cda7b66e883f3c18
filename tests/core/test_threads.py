"""The rule that picks torch's thread count on a shared machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from cnn_tui.core import threads
from cnn_tui.core.threads import busy_cores, choose_threads, usable_cores


@pytest.mark.parametrize("cores, busy, expected", [
    (2, 0.0, 2), (2, 0.3, 2), (2, 0.7, 1), (2, 1.0, 1), (2, 2.5, 1),
    (8, 0.0, 8), (8, 3.2, 5), (8, 9.0, 1), (1, 0.0, 1),
])
def test_busy_cores_are_left_alone(cores, busy, expected):
    assert choose_threads(cores, busy) == expected


def test_a_busy_neighbour_is_seen():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert busy_cores(0.5) >= 0.6
    finally:
        spinner.kill()
        spinner.wait()


def test_without_proc_stat_the_load_average_counts(monkeypatch):
    monkeypatch.setattr(threads, "_cpu_times", lambda: None)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.4, 0.0, 0.0))
    assert busy_cores(0) == 1.4


@pytest.mark.parametrize("wanted", [1, 2])
def test_train_uses_the_threads_asked_for(tmp_path, wanted):
    import torch

    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.presets import preset
    from cnn_tui.core.sessions import SessionStore
    from cnn_tui.core.trainer import train

    config = TrainConfig(dataset="synthetic", epochs=1, train_size=100, test_size=50, batch_size=50, threads=wanted)
    ended = train(preset("seed"), config, SessionStore(tmp_path))
    assert ended.status == "finished" and torch.get_num_threads() == wanted


class _Machine:
    """A fake clock, /proc/stat and process CPU time: each `advance` is `seconds` of wall
    time in which this process used `own` cores and the others `others` (of 2 cores)."""

    def __init__(self):
        self.now = self.own = self.busy = self.total = 0.0
        self.looks = 0

    def advance(self, seconds, own, others):
        self.now += seconds
        self.own += own * seconds
        self.busy += (own + others) * seconds * 100  # jiffies over both cores
        self.total += 2 * seconds * 100

    def stat(self):
        self.looks += 1
        return self.busy, self.total, 2

    def steer(self, count=2):
        applied = []
        cores = threads.FreeCores(count, 2, applied.append, clock=lambda: self.now,
                                  own_cpu=lambda: self.own, machine=self.stat)
        return cores, applied


def _intervals(machine, cores, count, own, others):
    for _ in range(count):
        machine.advance(cores.INTERVAL, own, others)
        cores.poll()


def test_a_neighbour_who_arrives_mid_run_gets_its_core_back_and_leaves_it():
    machine = _Machine()
    cores, applied = machine.steer(count=2)
    _intervals(machine, cores, 3, own=2.0, others=0.0)
    assert cores.threads == 2 and applied == []
    _intervals(machine, cores, 1, own=1.4, others=0.6)  # a neighbour arrives: one look is not enough
    assert applied == []
    _intervals(machine, cores, 1, own=1.4, others=0.6)
    assert applied == [1] and cores.threads == 1
    _intervals(machine, cores, 4, own=1.0, others=1.0)  # it stays: so do we
    assert applied == [1]
    _intervals(machine, cores, 2, own=1.0, others=0.0)  # it leaves
    assert applied == [1, 2] and cores.changes == 2


def test_our_own_threads_are_not_a_neighbour_and_a_short_burst_changes_nothing():
    machine = _Machine()
    cores, applied = machine.steer(count=2)
    _intervals(machine, cores, 5, own=2.0, others=0.0)  # the machine is full, all of it ours
    for _ in range(3):  # a burst next door, one interval at a time
        _intervals(machine, cores, 1, own=1.3, others=0.7)
        _intervals(machine, cores, 1, own=2.0, others=0.1)
    assert applied == [] and cores.threads == 2


def test_a_neighbour_squeezed_by_our_threads_counts_from_less():
    """Beside our 2 spinning threads a neighbour that wants 75% of a core gets 40-50%: that
    counts while we hold every core; with a core left free it gets what it wants, and 45%
    is then less than half a core."""
    machine = _Machine()
    cores, applied = machine.steer(count=2)
    _intervals(machine, cores, 2, own=1.55, others=0.45)
    assert applied == [1]
    _intervals(machine, cores, 2, own=1.0, others=0.45)
    assert applied == [1, 2]
    assert threads.choose_threads(2, 0.45) == 2 and threads.choose_threads(2, 0.4, threads.BUSY_SQUEEZED) == 1


def test_without_proc_stat_the_count_stays():
    machine = _Machine()
    cores, applied = machine.steer(count=2)
    cores.machine = lambda: None
    _intervals(machine, cores, 4, own=1.0, others=1.0)
    assert applied == [] and cores.threads == 2


def test_between_looks_a_poll_costs_a_clock_read():
    machine = _Machine()
    cores, _ = machine.steer()
    looks = machine.looks
    for _ in range(100):
        machine.advance(cores.INTERVAL / 200, own=2.0, others=0.0)
        cores.poll()
    assert machine.looks == looks
    machine.advance(cores.INTERVAL, own=2.0, others=0.0)
    cores.poll()
    assert machine.looks == looks + 1


def test_a_real_busy_neighbour_is_seen_while_we_work():
    """Real /proc/stat: our process keeps one core busy, a spinner another one."""
    cores = usable_cores()
    if cores < 2:
        pytest.skip("needs a machine with 2 or more usable cores")
    applied = []
    steer = threads.FreeCores(cores, cores, applied.append)
    steer.INTERVAL = 0.3
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        end = time.monotonic() + 3.0
        while time.monotonic() < end and not applied:
            steer.poll()  # between looks, our own busy loop
    finally:
        spinner.kill()
        spinner.wait()
    assert applied and applied[0] <= cores - 1


def test_the_trainer_follows_the_free_cores_unless_the_count_was_chosen(monkeypatch, tmp_path):
    import torch

    from cnn_tui.core import trainer
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.events import BatchProgress
    from cnn_tui.core.presets import preset
    from cnn_tui.core.sessions import SessionStore

    made = []

    class NeighbourArrives(threads.FreeCores):
        """The machine asks for one thread from the second batch on."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)
            self.polls = 0

        def poll(self):
            self.polls += 1
            if self.polls == 2:
                self.apply(1)
                self.threads = 1
            return self.threads

    monkeypatch.setattr(trainer, "FreeCores", NeighbourArrives)
    monkeypatch.setattr(trainer, "usable_cores", lambda: 2)
    monkeypatch.setattr(trainer, "default_threads", lambda: 2)
    before = torch.get_num_threads()
    store = SessionStore(tmp_path)
    try:
        config = TrainConfig(dataset="synthetic", epochs=1, train_size=300, test_size=50, batch_size=50)
        events = []
        assert trainer.train(preset("seed"), config, store, name="free", on_event=events.append).status == "finished"
        assert len(made) == 1 and made[0].polls == 6  # one look per batch
        assert torch.get_num_threads() == 1
        assert store.open("free").read_metrics()[0][0]["threads"] == 1  # 5 of the 6 batches
        last = [e.system for e in events if isinstance(e, BatchProgress)][-1]
        assert (last["threads"], last["threads_at_start"]) == (1, 2)

        for told in ({"threads": 2}, {}):
            exact = not told
            chosen = TrainConfig(dataset="synthetic", epochs=1, train_size=100, test_size=50, batch_size=50, **told)
            assert trainer.train(preset("seed"), chosen, store, exact=exact).status == "finished"
        assert len(made) == 1  # a chosen count, and an exact run, keep theirs
    finally:
        torch.set_num_threads(before)


def test_the_threads_benchmark_runs_a_neighbour_who_arrives():
    from cnn_tui.benchmarks.threads import run_seconds

    seconds, per_epoch = run_seconds(None, "a whole core, arriving after epoch 1", "synthetic", 300, 2)
    assert seconds > 0 and len(per_epoch) == 2 and all(t >= 1 for t in per_epoch)


def test_the_threads_benchmark_runs_two_trainings_at_once():
    from cnn_tui.benchmarks.threads import two_runs_seconds

    seconds, per_run = two_runs_seconds(None, "synthetic", 200, 1)
    assert seconds > 0 and len(per_run) == 2 and all(threads.isdigit() for threads in per_run)


def _cgroup_tree(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


V1_MOUNTS = ("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
             "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
             "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")


def test_a_cgroup_v1_quota_limits_the_cores_and_a_parent_s_counts(tmp_path):
    root = _cgroup_tree(tmp_path, {
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1", "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
        "sys/fs/cgroup/cpu,cpuacct/jobs/cpu.cfs_quota_us": "150000",
        "sys/fs/cgroup/cpu,cpuacct/jobs/cpu.cfs_period_us": "100000",
        "sys/fs/cgroup/cpu,cpuacct/jobs/run/cpu.cfs_quota_us": "-1",
        "sys/fs/cgroup/cpu,cpuacct/jobs/run/cpu.cfs_period_us": "100000",
    })
    cgroup = "4:memory:/jobs/run\n3:cpu,cpuacct:/jobs/run\n"
    assert threads.cpu_quota(cgroup, V1_MOUNTS, root) == 1.5
    assert threads.cpu_quota("3:cpu,cpuacct:/\n", V1_MOUNTS, root) is None  # the top has no limit


def test_a_cgroup_v2_quota_and_a_container_s_own_root(tmp_path):
    mounts = "40 30 0:26 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    root = _cgroup_tree(tmp_path, {"sys/fs/cgroup/cpu.max": "100000 100000", "sys/fs/cgroup/app/cpu.max": "max 100000"})
    assert threads.cpu_quota("0::/kubepods/pod1/app\n", mounts, root) == 1.0
    assert threads.cpu_quota("0::/elsewhere\n", mounts, root) is None  # not under the mounted part
    (root / "sys/fs/cgroup/cpu.max").write_text("max 100000")
    assert threads.cpu_quota("0::/kubepods/pod1/app\n", mounts, root) is None


def test_unreadable_or_odd_cgroup_files_mean_no_quota(tmp_path):
    root = _cgroup_tree(tmp_path, {"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "lots",
                                   "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000"})
    assert threads.cpu_quota("3:cpu,cpuacct:/\n", V1_MOUNTS, root) is None
    assert threads.cpu_quota("garbage", "also garbage", root) is None
    assert threads.cpu_quota("3:cpu,cpuacct:/\n", V1_MOUNTS, tmp_path / "missing") is None


@pytest.mark.parametrize("quota, expected", [(None, 4), (1.0, 1), (1.4, 1), (1.5, 2), (2.0, 2), (16.0, 4)])
def test_the_quota_caps_the_usable_cores(monkeypatch, quota, expected):
    monkeypatch.setattr(threads, "_usable_set", lambda: {0, 1, 2, 3})
    monkeypatch.setattr(threads, "cpu_quota", lambda: quota)
    assert threads.usable_cores() == expected


def test_a_real_cgroup_quota_is_seen_by_a_process_inside_it():
    """Where this user may make a CPU-limited cgroup (root, a writable cgroup file system),
    a process inside one limited to 1 CPU counts 1 usable core."""
    from cnn_tui.benchmarks.threads import cpu_limited

    code = "from cnn_tui.core.threads import cpu_quota, usable_cores; print(cpu_quota(), usable_cores())"
    try:
        with cpu_limited(1.0) as group:
            result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    preexec_fn=lambda: (group / "cgroup.procs").write_text(str(os.getpid())))
    except SystemExit as exc:  # cpu_limited's own message: why no cgroup could be made
        pytest.skip(f"no CPU-limited cgroup can be made here: {exc}")
    assert result.stdout.split() == ["1.0", "1"]
