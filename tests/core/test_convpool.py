"""The fused conv + max pool kernel against torch's pair, its place in a model, and the
compile-once cache behind it (core/native.py)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_tui.core import convpool, native
from cnn_tui.core.build import build_model, pool_before_activation
from cnn_tui.core.convpool import ConvPool, fuse_conv_pool, kernels_off, prepare_kernels
from cnn_tui.core.presets import preset

pytestmark = pytest.mark.skipif(native.compiler() is None, reason="needs a C compiler (gcc or $CC) for the kernels")

# (in, out, height, width, kernel, padding, pool)
GEOMETRIES = [
    (1, 6, 28, 28, (5, 5), (0, 0), (2, 2)),    # the seed network's first layer
    (6, 12, 12, 12, (5, 5), (0, 0), (2, 2)),   # and its second
    (3, 8, 15, 13, (3, 3), (1, 1), (2, 2)),    # odd sizes: the last row and column are not pooled
    (2, 5, 11, 20, (3, 5), (1, 2), (2, 3)),    # uneven kernel, padding and pool window
    (4, 3, 9, 9, (1, 1), (0, 0), (3, 3)),
    (2, 4, 10, 17, (8, 8), (3, 3), (2, 2)),    # the widest kernel row the kernel takes
    (3, 32, 32, 32, (3, 3), (1, 1), (2, 2)),   # many output channels: more than one block of them
]


def _pair(ci, co, h, w, kernel, padding, pool, bias=True, seed=0):
    torch.manual_seed(seed)
    conv = nn.Conv2d(ci, co, kernel, padding=padding, bias=bias)
    return conv, nn.MaxPool2d(pool)


def _torch(conv, pool, relu):
    return nn.Sequential(conv, pool, *([nn.ReLU()] if relu else []))


def _input(n, ci, h, w, seed=1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, ci, h, w, generator=generator)
    x[:, :, : h // 3] = 0  # flat regions: every window there ties, at the conv's bias
    return x


@pytest.mark.parametrize("relu", [False, True], ids=["pool", "pool_relu"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{g[0]}to{g[1]}_{g[2]}x{g[3]}_k{g[4]}_p{g[5]}_pool{g[6]}")
def test_forward_and_gradients_equal_torchs_conv_then_pool(geometry, relu):
    conv, pool = _pair(*geometry)
    fused = ConvPool(conv, pool, nn.ReLU() if relu else None)
    x = _input(7, geometry[0], geometry[2], geometry[3])
    x_ours, x_torch = x.clone().requires_grad_(), x.clone().requires_grad_()

    expected = _torch(conv, pool, relu)(x_torch)
    grad = torch.randn_like(expected)
    grad[torch.rand_like(grad) < 0.4] = 0  # as a ReLU after it would leave it: many zeros
    expected.backward(grad)
    torch_grads = [x_torch.grad, conv.weight.grad.clone(), conv.bias.grad.clone()]
    conv.weight.grad = conv.bias.grad = None

    out = fused(x_ours)
    assert fused.fallback is None
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    out.backward(grad)
    for ours, theirs in zip([x_ours.grad, fused.weight.grad, fused.bias.grad], torch_grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("relu", [False, True], ids=["pool", "pool_relu"])
def test_ties_pick_torchs_maximum_and_nan_wins(relu):
    conv, pool = _pair(2, 3, 12, 12, (3, 3), (1, 1), (2, 2))
    x = torch.zeros(2, 2, 12, 12)  # every window ties: the first value in row order is the maximum
    x[0, 0, 5, 7] = float("nan")
    fused = ConvPool(conv, pool, nn.ReLU() if relu else None)
    x_ours, x_torch = x.clone().requires_grad_(), x.clone().requires_grad_()
    expected = _torch(conv, pool, relu)(x_torch)
    out = fused(x_ours)
    torch.testing.assert_close(out, expected, equal_nan=True)
    assert out.isnan().sum() > 0
    grad = torch.ones_like(out)
    out.backward(grad)
    expected.backward(grad)
    clean = ~x_torch.grad.isnan()
    assert torch.equal(clean, ~x_ours.grad.isnan())
    torch.testing.assert_close(x_ours.grad[clean], x_torch.grad[clean])


def test_no_bias_and_an_input_that_needs_no_gradient():
    conv, pool = _pair(1, 4, 10, 10, (3, 3), (0, 0), (2, 2), bias=False)
    fused = ConvPool(conv, pool)
    x = _input(3, 1, 10, 10)
    expected = F.max_pool2d(conv(x), 2)
    expected.sum().backward()
    torch_weight_grad = conv.weight.grad.clone()
    conv.weight.grad = None
    out = fused(x)
    out.sum().backward()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(fused.weight.grad, torch_weight_grad, rtol=1e-4, atol=1e-5)
    assert "bias" not in dict(fused.named_parameters())


def test_every_thread_count_gives_the_same_gradients():
    conv, pool = _pair(6, 12, 12, 12, (5, 5), (0, 0), (2, 2))
    fused = ConvPool(conv, pool)
    x = _input(9, 6, 12, 12)
    grads = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            fused.weight.grad = None
            fused(x).square().sum().backward()
            grads.append(fused.weight.grad.clone())
    finally:
        torch.set_num_threads(before)
    for other in grads[1:]:
        torch.testing.assert_close(other, grads[0], rtol=1e-5, atol=1e-5)


def test_fusing_keeps_the_state_dict_and_leaves_other_layers_alone():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.MaxPool2d(2),                          # fused
        nn.Conv2d(4, 4, 3, stride=2), nn.MaxPool2d(2),                # strided conv: not
        nn.Conv2d(4, 4, 3, padding=1), nn.AvgPool2d(2),               # average pool: not
        nn.Conv2d(4, 4, 3, padding=1), nn.MaxPool2d(2, stride=1),     # overlapping windows: not
        nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.MaxPool2d(2),     # grouped: not
        nn.Conv2d(4, 4, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),  # the activation in between
        nn.Conv2d(4, 32, 3, padding=1), nn.MaxPool2d(2, ceil_mode=True),  # ceil mode: not
        nn.Conv2d(32, 64, 3, padding=1), nn.MaxPool2d(2),             # many channels: torch is faster there
        nn.Conv2d(12, 24, 3, padding=1), nn.MaxPool2d(2),             # 12 inputs for a 3-wide kernel: so is it here
        nn.Conv2d(12, 24, 5, padding=2), nn.MaxPool2d(2),             # but not for a 5-wide one: fused
    )
    keys = list(model.state_dict())
    weight = model[0].weight
    assert fuse_conv_pool(model) == 2
    assert isinstance(model[0], ConvPool) and isinstance(model[1], nn.Identity)
    assert isinstance(model[19], ConvPool) and isinstance(model[20], nn.Identity)
    assert model[0].weight is weight
    assert [type(model[i]) for i in (2, 4, 6, 8, 10, 13, 15, 17)] == [nn.Conv2d] * 8
    assert list(model.state_dict()) == keys
    assert pool_before_activation(model) == 1  # once the activation follows the pool, that pair fuses too
    assert fuse_conv_pool(model) == 1
    assert isinstance(model[10], ConvPool) and model[10].relu  # the ReLU after the pool folded in
    assert isinstance(model[11], nn.Identity) and isinstance(model[12], nn.Identity)
    assert list(model.state_dict()) == keys


def test_a_fused_seed_network_trains_like_the_plain_one():
    plain = build_model(preset("seed"), (1, 28, 28))
    torch.manual_seed(0)
    fused = build_model(preset("seed"), (1, 28, 28))
    fused.load_state_dict(plain.state_dict())
    pool_before_activation(fused)
    assert fuse_conv_pool(fused) == 2
    x, labels = _input(50, 1, 28, 28).abs(), torch.arange(50) % 10
    losses = {id(plain): [], id(fused): []}
    optimizers = [torch.optim.SGD(model.parameters(), lr=0.05) for model in (plain, fused)]
    for step in range(5):
        for model, optimizer in zip((plain, fused), optimizers):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            losses[id(model)].append(loss.item())
            optimizer.step()
        for (name, ours), theirs in zip(fused.named_parameters(), plain.parameters()):
            torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-3, atol=1e-5, msg=f"step {step}: {name}")
    assert losses[id(fused)] == pytest.approx(losses[id(plain)], rel=1e-5)
    assert losses[id(fused)][-1] < losses[id(fused)][0]
    again = build_model(preset("seed"), (1, 28, 28))
    again.load_state_dict(fused.state_dict())  # what a checkpoint of the fused net loads into


def test_without_a_compiler_the_layer_runs_torchs_pair_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(native, "compiler", lambda: None)
    monkeypatch.setattr(convpool, "KERNELS", convpool._Kernels())
    conv, pool = _pair(1, 2, 8, 8, (3, 3), (0, 0), (2, 2))
    model = nn.Sequential(conv, pool)
    assert fuse_conv_pool(model) == 1
    x = _input(2, 1, 8, 8)
    assert prepare_kernels(model, x[:1]) == "no C compiler found (set CC, or install gcc)"
    torch.testing.assert_close(model(x), F.max_pool2d(conv(x), 2))
    assert kernels_off(model) is not None


def test_turned_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("CNN_TUI_NATIVE", "0")
    monkeypatch.setattr(convpool, "KERNELS", convpool._Kernels())
    model = nn.Sequential(*_pair(1, 2, 8, 8, (3, 3), (0, 0), (2, 2)))
    fuse_conv_pool(model)
    assert prepare_kernels(model, _input(1, 1, 8, 8)) == "turned off by CNN_TUI_NATIVE=0"


SOURCE = "int answer(void) { return %d; }\n"


def test_a_library_is_compiled_once_then_loaded_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_TUI_CACHE", str(tmp_path / "cache"))
    source = SOURCE % os.getpid()
    lib = native.load("probe", source)
    assert lib.answer() == os.getpid()
    built = list((tmp_path / "cache").iterdir())
    assert len(built) == 1 and built[0].suffix == ".so"  # no build folder, no temporary file left

    native._loaded.clear()  # as a new process would start
    monkeypatch.setattr(native, "_compile", lambda *args: pytest.fail("compiled again"))
    assert native.load("probe", source).answer() == os.getpid()


def test_a_compile_error_is_one_line_and_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_TUI_CACHE", str(tmp_path / "cache"))
    with pytest.raises(native.NativeUnavailable, match="failed: .*error"):
        native.load("broken", "int broken(void) { return }\n")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_compiler_that_fails_without_a_word_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_TUI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", "false")
    with pytest.raises(native.NativeUnavailable, match=r"^false exited with status 1 and no message$"):
        native.load("probe", SOURCE % 5)


def test_a_cache_others_can_write_to_is_not_loaded_from(monkeypatch, tmp_path):
    cache = tmp_path / "shared"
    cache.mkdir()
    cache.chmod(0o777)
    monkeypatch.setenv("CNN_TUI_CACHE", str(cache))
    with pytest.raises(native.NativeUnavailable, match="can be written by other users; point CNN_TUI_CACHE"):
        native.load("probe", SOURCE % 13)


def test_a_damaged_library_is_built_again(tmp_path):
    """A library cut short (a disk that filled, a copy interrupted) is compiled again. In fresh
    processes: one that has loaded a library keeps it mapped, and would not read the file."""
    import subprocess
    import sys

    env = {**os.environ, "CNN_TUI_CACHE": str(tmp_path / "cache")}
    probe = ("from cnn_tui.core import native; "
             f"print(native.load('probe', {SOURCE % 17!r}).answer())")
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).stdout == "17\n"
    (built,) = (tmp_path / "cache").iterdir()
    damaged = tmp_path / "damaged"
    damaged.write_bytes(b"\x7fELF cut short")
    os.replace(damaged, built)
    again = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert again.stdout == "17\n", again.stderr
    assert built.read_bytes()[:4] == b"\x7fELF" and built.stat().st_size > 1000


def test_a_cache_that_cannot_be_made_is_reported(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("CNN_TUI_CACHE", str(tmp_path / "file" / "cache"))
    with pytest.raises(native.NativeUnavailable, match="cannot make the kernel cache"):
        native.load("probe", SOURCE % 3)


def test_the_kernels_share_torchs_openmp_runtime():
    """One OpenMP runtime in the process: the kernels' threads are torch's threads."""
    torch.ones(1)  # torch (and its libgomp) loaded
    conv, pool = _pair(1, 2, 8, 8, (3, 3), (0, 0), (2, 2))
    ConvPool(conv, pool)(_input(1, 1, 8, 8))
    with open(f"/proc/{os.getpid()}/maps") as maps:
        runtimes = {line.split()[-1] for line in maps if "libgomp" in line or "libomp" in line}
    assert len(runtimes) == 1, runtimes


def test_the_trainer_fuses_in_the_fast_mode_on_the_cpu_only(tmp_path, monkeypatch):
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.events import BatchProgress
    from cnn_tui.core.sessions import SessionStore
    from cnn_tui.core.trainer import train

    calls = []
    real = convpool._ConvPoolFunction.apply
    monkeypatch.setattr(convpool._ConvPoolFunction, "apply", lambda *args: calls.append(1) or real(*args))
    config = TrainConfig(dataset="synthetic", train_size=200, test_size=100, batch_size=50, epochs=1)
    store = SessionStore(tmp_path / "sessions")
    events = []
    assert train(preset("seed"), config, store, "fast", False, events.append, None).status == "finished"
    # two layers, each: 1 image before the run (the kernels compiled), 4 batches, the test pass
    assert len(calls) == 2 * (1 + 4 + 1)
    assert all("kernels_off" not in (e.system or {}) for e in events if isinstance(e, BatchProgress))
    calls.clear()
    assert train(preset("seed"), config, store, "exact", False, lambda e: None, None, exact=True).status == "finished"
    assert calls == []


def test_the_system_panel_says_when_the_kernels_are_off():
    from cnn_tui.ui.training.system_panel import system_lines

    lines = system_lines({"device": "cpu", "threads": 2, "kernels_off": "no C compiler found (set CC, or install gcc)"})
    assert lines[1] == "no conv+pool kernel, slower: no C compiler found (set CC, or install gcc)"
    assert len(system_lines({"device": "cpu", "threads": 2})) == 1


def test_compiling_removes_old_libraries_and_killed_builds(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CNN_TUI_CACHE", str(cache))
    cache.mkdir()
    old, recent = cache / "convpool-old.so", cache / "convpool-recent.so"
    killed, running = cache / "build-killed", cache / "build-running"
    for path in (old, recent):
        path.write_bytes(b"")
    for path in (killed, running):
        path.mkdir()
        (path / "half.so").write_bytes(b"\x7fELF")
    long_ago = os.path.getmtime(recent) - (native.KEEP_DAYS + 1) * 86400
    os.utime(old, (long_ago, long_ago))
    os.utime(killed, (long_ago, long_ago))
    native.load("probe", SOURCE % 11)
    left = {path.name for path in cache.iterdir()}
    assert "convpool-old.so" not in left and "build-killed" not in left
    assert {"convpool-recent.so", "build-running"} <= left


def test_the_command_line_says_once_when_the_kernel_is_off(tmp_path, monkeypatch, capsys):
    from cnn_tui.cli import main

    monkeypatch.setenv("CNN_TUI_NATIVE", "0")
    monkeypatch.setattr(convpool, "KERNELS", convpool._Kernels())
    assert main(["train", "--dataset", "synthetic", "--train-size", "300", "--test-size", "100", "--epochs", "2",
                 "--sessions-dir", str(tmp_path)]) == 0
    said = capsys.readouterr()
    assert said.err.count("note: no conv+pool kernel, slower: turned off by CNN_TUI_NATIVE=0") == 1
    assert "no conv+pool" not in said.out and said.out.count("epoch ") == 2
