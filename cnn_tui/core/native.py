"""Small C kernels compiled on this machine, once, and loaded with ctypes. No torch here.

A kernel is specialised to the numbers it works on (a layer's channels and sizes become
constants, so the compiler unrolls and vectorises for them), which is why it is compiled
where it runs rather than shipped: the first run of a new geometry compiles it (a fraction of
a second), and later runs load it from the cache folder:

    $CNN_TUI_CACHE, else $XDG_CACHE_HOME/cnn-tui, else ~/.cache/cnn-tui

A library's file name is a hash of its source, of the compiler and flags, and of this CPU's
model and features, so a home folder shared between different machines never loads code
built for another CPU. The compiler is $CC, else gcc, else cc; it is asked for OpenMP, which
links the libgomp that torch has already loaded, so the kernels share torch's threads.

When there is no compiler, or it fails, `load` raises `NativeUnavailable` with the reason and
callers keep torch's own operations: nothing here is needed for correctness.
`CNN_TUI_NATIVE=0` turns the kernels off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

FLAGS = ("-O3", "-march=native", "-std=gnu11", "-fopenmp", "-shared", "-fPIC")
KERNELS = Path(__file__).with_name("kernels")
COMPILE_SECONDS = 120
KEEP_DAYS = 90  # a library not rebuilt for this long is removed when another one is compiled


class NativeUnavailable(RuntimeError):
    """The kernels cannot be had here; the message says why."""


def enabled() -> bool:
    return os.environ.get("CNN_TUI_NATIVE", "1").strip().lower() not in ("0", "no", "off", "false")


def cache_dir() -> Path:
    if os.environ.get("CNN_TUI_CACHE"):
        return Path(os.environ["CNN_TUI_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnn-tui"


def compiler() -> str | None:
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_identity() -> str:
    """The CPU's model and feature flags (one core's worth of /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""
    keep = [line for line in text.split("\n\n")[0].splitlines()
            if line.split(":")[0].strip() in ("vendor_id", "model name", "flags", "cpu family", "model")]
    return "\n".join(keep)


_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL] = {}


def load(name: str, source: str) -> ctypes.CDLL:
    """The library built from `source` (C that may include files from the kernels folder),
    compiled on the first call on this machine and cached; raises NativeUnavailable."""
    if not enabled():
        raise NativeUnavailable("turned off by CNN_TUI_NATIVE=0")
    cc = compiler()
    if cc is None:
        raise NativeUnavailable("no C compiler found (set CC, or install gcc)")
    included = "".join(p.read_text() for p in sorted(KERNELS.glob("*.c")))
    key = hashlib.sha256("\0".join((source, included, cc, " ".join(FLAGS), _cpu_identity())).encode()).hexdigest()[:20]
    with _lock:
        if key in _loaded:
            return _loaded[key]
        folder = cache_dir()
        path = folder / f"{name}-{key}.so"
        if not path.exists():
            _compile(cc, source, folder, path)
        _check_private(folder)
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:  # a damaged file (a disk that filled, a copy cut short): built again, once
            path.unlink(missing_ok=True)
            _compile(cc, source, folder, path)
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as exc:
                raise NativeUnavailable(f"could not load {path}: {exc}") from exc
        _loaded[key] = lib
        return lib


def _check_private(folder: Path) -> None:
    """Code is loaded from the cache, so nobody else may be able to put a file there."""
    try:
        info = folder.stat()
    except OSError as exc:
        raise NativeUnavailable(f"cannot read the kernel cache {folder}: {exc.strerror or exc}") from exc
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise NativeUnavailable(f"the kernel cache {folder} can be written by other users; "
                                "point CNN_TUI_CACHE at a folder of your own")


def _compile(cc: str, source: str, folder: Path, path: Path) -> None:
    """Compile into a temporary file beside `path`, then rename it there: a reader never sees
    half a library, and two processes compiling at once both end with a whole one."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise NativeUnavailable(f"cannot make the kernel cache {folder}: {exc.strerror or exc}") from exc
    _tidy(folder)
    with tempfile.TemporaryDirectory(prefix="build-", dir=folder) as build:
        unit = Path(build) / f"{path.stem}.c"
        unit.write_text(source)
        built = Path(build) / path.name
        try:
            done = subprocess.run([cc, *FLAGS, f"-I{KERNELS}", "-o", str(built), str(unit)],
                                  capture_output=True, text=True, timeout=COMPILE_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NativeUnavailable(f"{Path(cc).name} did not run: {exc}") from exc
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            if not lines:
                raise NativeUnavailable(f"{Path(cc).name} exited with status {done.returncode} and no message")
            raise NativeUnavailable(f"{Path(cc).name} failed: {lines[0][:200]}")
        os.replace(built, path)


def _tidy(folder: Path) -> None:
    """Old libraries (another version's source, geometries no longer trained) and the build
    folders of a compile that was killed go; a file in use elsewhere stays mapped."""
    now = time.time()
    for entry in folder.iterdir():
        try:
            age = now - entry.lstat().st_mtime
            if entry.suffix == ".so" and age > KEEP_DAYS * 86400:
                entry.unlink()
            elif entry.name.startswith("build-") and entry.is_dir() and age > COMPILE_SECONDS * 2:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass


__all__ = ["NativeUnavailable", "cache_dir", "compiler", "enabled", "load"]
