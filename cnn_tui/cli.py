"""The `cnn-tui` command line.

Every subcommand imports what it needs inside its handler, so `cnn-tui summary` never pays
for torch and the app's first frame does not wait for it. A user mistake is one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from . import __version__
from .core.config import AMP_DTYPES, DEVICES, INPUT_RULE, MAX_BATCH, OPTIMIZERS, TrainConfig, resolve_input
from .core.datasets import DATASETS, DEFAULT_DATASET
from .core.presets import DEFAULT_PRESET, PRESET_NAMES
from .words import count, kernels_off, worded

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake by the person at the keyboard: printed as one line, exit code 2."""


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, where it has one worth printing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is False or default == argparse.SUPPRESS \
                or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".strip()


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage dump) and exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _shape(text: str) -> tuple[int, int, int]:
    from .core.spec import ArchitectureError, parse_input

    try:
        parts = tuple(int(p) for p in text.replace("×", ",").replace("x", ",").split(","))
    except ValueError:  # not numbers, or more than 4,300 digits
        parts = ()
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W with three positive integers, got {text[:40]!r}")
    try:
        return parse_input(list(parts))
    except ArchitectureError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole(text: str) -> int:
    """argparse's int, but a number too long to be meant is refused in a short line
    (Python itself refuses to read one of more than 4,300 digits)."""
    digits = text.strip().lstrip("+-")
    if len(digits) > 30:
        raise argparse.ArgumentTypeError(f"{text.strip()[:20]}… ({len(digits)} digits) is too large")
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text[:40]!r}") from None


# Options shared between commands, each declared once and given to argparse as `parents=`.


def architecture_options() -> argparse.ArgumentParser:
    """ARCH.json, --preset, --input: what `summary`, `train` and the app start from."""
    p = _Parser(add_help=False)
    p.add_argument("arch", nargs="?", metavar="ARCH.json", help="architecture JSON file")
    p.add_argument("--preset", choices=PRESET_NAMES, help=f"start from a preset (without a file: {DEFAULT_PRESET})")
    p.add_argument("--input", type=_shape, metavar="C,H,W", help="input shape. " + INPUT_RULE)
    return p


def training_options() -> argparse.ArgumentParser:
    """The training options of `train` and the app, with their defaults from TrainConfig."""
    d = TrainConfig()
    p = _Parser(add_help=False)
    group = p.add_argument_group("training")
    group.add_argument("--dataset", choices=list(DATASETS), default=DEFAULT_DATASET, help="images to train on")
    group.add_argument("--data-dir", help="dataset root (default: $CNN_TUI_DATA, else ./data)")
    group.add_argument("--epochs", type=_whole, default=d.epochs, help="passes over the training set")
    group.add_argument("--batch-size", type=_whole, default=d.batch_size, help="images per step")
    group.add_argument("--lr", type=float, default=d.lr, help="learning rate")
    group.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="optimizer")
    group.add_argument("--seed", type=_whole, default=d.seed, help="initial weights and shuffling")
    group.add_argument("--no-shuffle", action="store_true", help="the reference order, batch after batch")
    group.add_argument("--device", choices=DEVICES, default=d.device, help="auto: CUDA, else MPS, else CPU")
    group.add_argument("--threads", type=_whole, metavar="N",
                       help="CPU threads for torch (default: one per free core, followed while the run trains; "
                            "1 on a busy 2-core machine)")
    group.add_argument("--amp", choices=AMP_DTYPES,
                       help="mixed precision: forward passes in bf16 or fp16, weights in float32 "
                            "(fastest on GPUs with tensor cores; default: float32 throughout)")
    group.add_argument("--train-size", type=_whole, help="use the first N training images")
    group.add_argument("--test-size", type=_whole, help="use the first N test images")
    group.add_argument("--session", metavar="NAME", help="session name ([A-Za-z0-9._-])")
    return p


def sessions_dir_option() -> argparse.ArgumentParser:
    """--sessions-dir, for every command that reads or writes sessions."""
    p = _Parser(add_help=False)
    p.add_argument("--sessions-dir", metavar="DIR", help="where sessions live (default ./sessions)")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    config = TrainConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        seed=args.seed,
        shuffle=not args.no_shuffle,
        device=args.device,
        threads=args.threads,
        train_size=args.train_size,
        test_size=args.test_size,
        input_shape=getattr(args, "input", None),
        amp=args.amp,
    )
    try:
        config.validate()
    except ValueError as exc:
        raise UsageError(worded(exc, "cli")) from None
    return config


def load_architecture(args: argparse.Namespace) -> Any:
    """The architecture the arguments name: a file, a preset, or the default preset."""
    from .core.presets import preset
    from .core.spec import Architecture

    if args.arch and args.preset:
        raise UsageError("give an architecture file or --preset, not both")
    if args.arch:
        return Architecture.load(args.arch)
    if args.preset:
        return preset(args.preset)
    return preset(DEFAULT_PRESET).with_input(None)  # the default network follows the dataset


# --- summary ---------------------------------------------------------------------------


def _summary_parser(sub: Any) -> None:
    p = sub.add_parser("summary", help="per-layer shapes, params, MACs and receptive field",
                       parents=[architecture_options()])
    p.add_argument("--dataset", choices=list(DATASETS),
                   help="the images the network is for: gives the input shape and checks it")
    p.add_argument("--batch-size", type=_whole, default=100, help="for activation memory")
    p.add_argument("--json", action="store_true", help="print every number as one JSON object")
    p.set_defaults(handler=cmd_summary)


def cmd_summary(args: argparse.Namespace) -> int:
    from .core.shapes import infer_shapes

    arch = load_architecture(args)
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise UsageError(f"--batch-size must be between 1 and {MAX_BATCH:,}, got {args.batch_size}")
    try:
        shape = resolve_input(args.input, arch.input, args.dataset)
    except ValueError as exc:
        raise UsageError(worded(exc, "cli")) from None
    summary = infer_shapes(arch, shape, batch_size=args.batch_size)
    summary.raise_for_error()
    if args.json:
        print(json.dumps(summary.to_json()))
    else:
        from .render import print_summary

        print_summary(summary)
    return 0


# --- train -----------------------------------------------------------------------------


def _train_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train without the UI; one line per epoch; writes a session",
                       parents=[architecture_options(), training_options(), sessions_dir_option()],
                       epilog="On the CPU, each convolution followed by a max pool (and a ReLU) trains as one "
                              "kernel, compiled with the machine's C compiler ($CC, else gcc) the first time a "
                              "layer shape is met and kept in $CNN_TUI_CACHE (else ~/.cache/cnn-tui); without a "
                              "compiler, or with CNN_TUI_NATIVE=0, torch's own operations run instead (slower).")
    p.add_argument("--resume", action="store_true",
                   help="continue --session NAME from its checkpoint until it has --epochs epochs")
    p.add_argument("--exact", action="store_true",
                   help="reference-compatible math (plain NCHW, default Adam): slower, bit-identical")
    p.add_argument("--detach", action="store_true",
                   help="train in a background process that outlives the terminal; prints how to watch it")
    p.add_argument("--claimed-fd", type=int, help=argparse.SUPPRESS)  # a background run's inherited claim
    p.add_argument("--force", action="store_true",
                   help="train even when the memory estimate says the run will not fit")
    group = p.add_argument_group("several processes (data-parallel, through torchrun)")
    group.add_argument("--nproc-per-node", metavar="N", help="processes on this machine: one per GPU with "
                       "--device cuda, or CPU processes; auto: every visible GPU (without one: every core)")
    group.add_argument("--nnodes", type=_whole, default=1, help="machines taking part (default: 1)")
    group.add_argument("--node-rank", type=int, default=0, help="this machine's number, 0 to NNODES-1 (default: 0)")
    group.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                       help="where the machines meet: an address of node rank 0 (needed with --nnodes)")
    p.set_defaults(handler=cmd_train)


def format_epoch_line(m: dict[str, Any]) -> str:
    """The reference log's line, then more fields."""
    return (
        f"epoch {m['epoch']} total_correct: {m['total_correct']} loss: {m['total_loss']:.4f} "
        f"test_accuracy: {m['test_accuracy']:.4f} seconds: {m['seconds']:.1f} "
        f"train_accuracy: {m['train_accuracy']:.4f} test_loss: {m['test_loss']:.4f} "
        f"images_per_second: {m['images_per_second']:.0f}"
        + (f" threads: {m['threads']}" if m.get("threads") else "")  # it can change with the machine's load
    )


class TerminalOutput:
    """Printing that never stops a run: a closed pipe (`| head`) or a terminal that hung up
    (SIGHUP, then EIO on write) turns the rest of the output off instead of raising."""

    def __init__(self) -> None:
        self.lost = False

    def print(self, text: str, err: bool = False) -> None:
        if self.lost:
            return
        try:
            print(text, file=sys.stderr if err else sys.stdout, flush=True)
        except OSError:  # BrokenPipeError, EIO from a hung-up terminal, ...
            self.lose()

    def lose(self) -> None:
        """From now on, stdin/stdout/stderr lead nowhere (so exit-time flushes cannot fail)."""
        from .terminal import detach_from_terminal

        self.lost = True
        detach_from_terminal()


def _sessions_dir_option(args: argparse.Namespace) -> str:
    return f" --sessions-dir {args.sessions_dir}" if args.sessions_dir else ""


def cmd_train(args: argparse.Namespace) -> int:
    import os
    import signal

    from .core.events import BatchProgress, EpochFinished, TrainingControl, TrainingStarted
    from .core.launcher import LAUNCHED_ENV
    from .core.sessions import SessionStore

    config = config_from_args(args)
    arch = None if args.resume and not args.arch and not args.preset else load_architecture(args)
    store = SessionStore(args.sessions_dir)
    if args.detach:
        return _train_in_background(args, arch, config, store)
    if _launches_processes(args):
        return _train_distributed(args, arch, config, store)
    from .core.events import Terminated
    from .core.trainer import TrainingRefused, train

    control = TrainingControl()
    out = TerminalOutput()
    started: dict[str, str] = {}
    noted: set[str] = set()  # notes said once per run

    def on_sigterm(signum: int, frame: Any) -> None:
        """torchrun ends a distributed run whose other process failed: record it, then go
        (a run already recording its end finishes that first)."""
        if control.ending.is_set():
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated

    def on_sigint(signum: int, frame: Any) -> None:
        if control.stop_requested:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        out.print("stopping after this batch (Ctrl-C again to abort)...", err=True)
        control.stop()

    def on_sighup(signum: int, frame: Any) -> None:
        """The terminal went away (SSH dropped, tmux killed): train on, silently."""
        out.lose()
        control.terminal_lost.set()

    def on_event(event: Any) -> None:
        if isinstance(event, TrainingStarted):
            started["session"] = event.session
            out.print(f"session {event.session}: {event.train_samples} train / {event.test_samples} test images, "
                      f"{event.total_params:,} params, {event.device_name} [{event.device}]"
                      + (f", resuming at epoch {event.start_epoch}" if event.start_epoch else ""), err=True)
            for note in config.notes_at_start(event.device, event.train_samples):
                out.print(f"note: {note.for_audience('cli')}", err=True)
        elif isinstance(event, EpochFinished):
            out.print(format_epoch_line(event.metrics))
        elif isinstance(event, BatchProgress) and (event.system or {}).get("kernels_off") \
                and "kernels_off" not in noted:
            noted.add("kernels_off")
            out.print(f"note: {kernels_off(event.system['kernels_off'])}", err=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    previous_hup = signal.signal(signal.SIGHUP, on_sighup)
    previous_term = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        ended = train(arch, config, store, args.session, args.resume, on_event, control,
                      exact=args.exact, claim_fd=args.claimed_fd, force=args.force)
    except TrainingRefused as exc:
        raise UsageError(worded(exc, "cli")) from None
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGHUP, previous_hup)
        signal.signal(signal.SIGTERM, previous_term)
    if LAUNCHED_ENV in os.environ:  # the launcher that started this process says how the run ended
        return 0 if ended.status == "finished" else 1
    return _report_end(ended, out, started.get("session", args.session), args, config.epochs)


def _report_end(ended: Any, out: TerminalOutput, name: str | None, args: argparse.Namespace, epochs: int) -> int:
    """The last line of a run, and the command's exit status."""
    from .core.events import FINISHED, STOPPED

    if ended.status == FINISHED:
        return 0
    if ended.status == STOPPED:
        out.print(f"cnn-tui: {ended.reason}; continue with: cnn-tui train --session {name} --resume "
                  f"--epochs {epochs}" + _sessions_dir_option(args), err=True)
        return 130
    out.print(f"cnn-tui: error: {ended.reason_for('cli')}", err=True)
    return EXIT_USAGE if ended.user_error else 1


def _launches_processes(args: argparse.Namespace) -> bool:
    """--nproc-per-node (or --nnodes) asked for, and this is not already one of torchrun's processes."""
    import os

    distributed = args.nproc_per_node is not None or args.nnodes > 1
    return distributed and "TORCHELASTIC_RUN_ID" not in os.environ


def _train_distributed(args: argparse.Namespace, arch: Any, config: Any, store: Any) -> int:
    """Start torchrun with the session claimed, wait for it; Ctrl-C stops every process."""
    import signal

    from .core.distributed import Launch, split_note
    from .core.launcher import start_distributed
    from .core.prepare import TrainingRefused

    launch = Launch(args.nproc_per_node or "1", args.nnodes, args.node_rank, args.rdzv_endpoint)
    out = TerminalOutput()
    try:
        run = start_distributed(arch, config, store, args.session, args.resume, launch, exact=args.exact,
                                claim_fd=args.claimed_fd, force=args.force, relayed=True)
    except TrainingRefused as exc:
        raise UsageError(worded(exc, "cli")) from None
    run.relay_output(lambda line: out.print(line, err=True))
    world = run.processes * args.nnodes
    if run.name is not None:
        out.print(f"session {run.name}: {count(world, 'process', 'processes')} through torchrun "
                  f"(pid {run.process.pid})", err=True)
        if note := split_note(config.batch_size, world):
            out.print(f"note: {note}", err=True)

    def on_sigint(signum: int, frame: Any) -> None:
        if not run.stop_sent:
            out.print("stopping every process after this batch (Ctrl-C again to end them now)...", err=True)
        run.stop(store)

    previous = signal.signal(signal.SIGINT, on_sigint)
    previous_hup = signal.signal(signal.SIGHUP, lambda signum, frame: out.lose())  # the run goes on
    try:
        ended = run.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGHUP, previous_hup)
    return _report_end(ended, out, run.name, args, config.epochs)


def _train_in_background(args: argparse.Namespace, arch: Any, config: Any, store: Any) -> int:
    from .core.background import start_background
    from .core.prepare import TrainingRefused

    from .core.distributed import Launch

    if args.claimed_fd is not None:
        raise UsageError("--detach cannot be given to the background process itself")
    launch = None
    if args.nproc_per_node is not None or args.nnodes > 1:
        launch = Launch(args.nproc_per_node or "1", args.nnodes, args.node_rank, args.rdzv_endpoint)
    try:
        run = start_background(arch, config, store, args.session, exact=args.exact, launch=launch,
                               resume=args.resume)
    except TrainingRefused as exc:
        raise UsageError(worded(exc, "cli")) from None
    print(f"session {run.name}: training in the background (pid {run.pid}); it outlives this terminal")
    print(f"  watch, pause or stop it:  cnn-tui watch {run.name}{_sessions_dir_option(args)}")
    print(f"  its output:               {run.log}")
    return 0


# --- watch -----------------------------------------------------------------------------


def _watch_parser(sub: Any) -> None:
    p = sub.add_parser("watch", help="the live view of a session another process trains: progress, charts, p/s",
                       parents=[sessions_dir_option()])
    p.add_argument("name", metavar="NAME", help="the session (see cnn-tui sessions)")
    p.set_defaults(handler=cmd_watch)


def cmd_watch(args: argparse.Namespace) -> int:
    from .core.sessions import SessionError, SessionStore

    try:
        SessionStore(args.sessions_dir).open(args.name)
    except SessionError as exc:
        raise UsageError(f"{exc} (see cnn-tui sessions{_sessions_dir_option(args)})") from None
    from .ui.app import run_app

    return run_app(session=args.name, sessions_dir=args.sessions_dir, watch=True,
                   probe_device=False)  # the device is the trainer's, read from the session


# --- sessions --------------------------------------------------------------------------


def _sessions_parser(sub: Any) -> None:
    p = sub.add_parser("sessions", help="list saved sessions", parents=[sessions_dir_option()])
    p.add_argument("--json", action="store_true", help="a JSON list of the sessions, with live and progress")
    p.set_defaults(handler=cmd_sessions)


def cmd_sessions(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .core.sessions import SessionError, SessionStore

    store = SessionStore(args.sessions_dir)
    try:
        infos, problems = store.list()
    except SessionError as exc:
        raise UsageError(worded(exc, "cli")) from None
    for problem in problems:
        print(f"cnn-tui: skipped {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps([asdict(info) for info in infos]))
        return 0
    if not infos:
        print(f"no sessions in {store.root}")
        return 0
    from rich.console import Console
    from rich.measure import Measurement

    from .render import sessions_table

    table = sessions_table(infos)
    console = Console()
    if not console.is_terminal:  # piped: whole names, however wide (they are copied for --resume)
        console = Console(width=max(80, Measurement.get(console, console.options.update(max_width=10_000), table).maximum))
    console.print(table)
    return 0


# --- export ----------------------------------------------------------------------------


def _export_parser(sub: Any) -> None:
    from .core.export import FORMATS

    p = sub.add_parser("export", help="a session as PyTorch source, architecture JSON, metrics CSV, "
                       "a Markdown summary or ONNX", parents=[sessions_dir_option()])
    p.add_argument("name", metavar="NAME", help="the session (see cnn-tui sessions)")
    p.add_argument("--format", "-f", required=True, choices=FORMATS,
                   help="python: a module file with load_model(checkpoint=None); json: the architecture; "
                        "csv: the metrics; markdown: the summary table; onnx: the trained network")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output; onnx needs a file)")
    p.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from .core.export import ExportError, export_session
    from .core.files import atomic_writer
    from .core.sessions import SessionError, SessionStore

    if args.format == "onnx" and not args.output:
        raise UsageError("ONNX is binary: give a file with -o, e.g. -o model.onnx")
    if args.output and not Path(args.output).parent.is_dir():
        raise UsageError(f"-o {args.output}: the folder {Path(args.output).parent} does not exist")
    try:
        session = SessionStore(args.sessions_dir).open(args.name)
        result = export_session(session, args.format)
    except SessionError as exc:
        raise UsageError(f"{worded(exc, 'cli')} (see cnn-tui sessions{_sessions_dir_option(args)})") from None
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    if not args.output:
        sys.stdout.write(result if isinstance(result, str) else "")
        return 0
    try:
        with atomic_writer(Path(args.output), "wb" if isinstance(result, bytes) else "w") as handle:
            handle.write(result)
    except OSError as exc:
        raise UsageError(f"-o {args.output}: cannot write ({exc.strerror or exc})") from None
    print(f"wrote {args.output} ({args.format})", file=sys.stderr)
    return 0


# --- compare ---------------------------------------------------------------------------


def _compare_parser(sub: Any) -> None:
    p = sub.add_parser("compare", help="two or more sessions side by side: curves, best and last values, "
                       "what differs in their networks and settings", parents=[sessions_dir_option()])
    p.add_argument("names", metavar="NAME", nargs="+", help="the sessions (see cnn-tui sessions); the first is "
                   "the one the others are compared with")
    p.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text

    from .core.compare import Run, difference_lines, run_stats
    from .core.sessions import SessionError, SessionStore
    from .render import compare_chart, compare_table

    if len(args.names) < 2:
        raise UsageError("compare needs two sessions or more, e.g. cnn-tui compare run-a run-b")
    if len(set(args.names)) != len(args.names):
        raise UsageError("a session is named twice; name each session once")
    store = SessionStore(args.sessions_dir)
    runs = []
    for name in args.names:
        try:
            runs.append(Run.of(store.open(name)))
        except (SessionError, ValueError) as exc:
            raise UsageError(f"{worded(exc, 'cli')} (see cnn-tui sessions{_sessions_dir_option(args)})") from None
    console = Console(highlight=False)
    if not console.is_terminal:  # piped: whole lines, never cut to 80 columns
        console = Console(highlight=False, width=160)
    console.print(compare_table([run_stats(run) for run in runs]))
    if any(run.rows for run in runs):
        width = min(console.width, 100)
        for metric, title in (("test_accuracy", "test accuracy"), ("train_loss", "train loss (mean per batch)")):
            chart = compare_chart(runs, metric, title, width, console.is_terminal)
            console.print(Text.from_ansi(chart), "")
    for other in runs[1:]:
        console.print(f"[bold]{runs[0].name} → {other.name}[/]")
        for line in difference_lines(runs[0], other):
            console.print("  " + line, markup=False)
        console.print()
    return 0


# --- gallery ---------------------------------------------------------------------------


def _gallery_parser(sub: Any) -> None:
    p = sub.add_parser("gallery", help="test images with their true and predicted labels, drawn in the terminal",
                       parents=[sessions_dir_option()])
    p.add_argument("name", metavar="NAME", help="the session (see cnn-tui sessions); its checkpoint predicts")
    p.add_argument("--wrong", action="store_true", help="only the images the network gets wrong")
    p.add_argument("--label", metavar="CLASS", help="only images of this class (its name or number)")
    p.add_argument("-n", "--count", type=_whole, default=12, help="how many images (default 12)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset is (else $CNN_TUI_DATA, else ./data)")
    p.add_argument("--graphics", choices=("auto", "kitty", "blocks"), default="auto",
                   help="kitty: real pixels through the kitty graphics protocol (kitty, WezTerm, Ghostty); "
                        "blocks: half blocks, in any terminal; auto (default): kitty where the terminal has it")
    p.set_defaults(handler=cmd_gallery)


def cmd_gallery(args: argparse.Namespace) -> int:
    from rich.columns import Columns
    from rich.console import Console

    from .core.data import DataError
    from .core.gallery import predict_session
    from .core.sessions import SessionError, SessionStore
    from .render import kitty_graphics_available, sample_card

    try:
        predictions = predict_session(SessionStore(args.sessions_dir).open(args.name), data_dir=args.data_dir)
    except SessionError as exc:
        raise UsageError(f"{worded(exc, 'cli')} (see cnn-tui sessions{_sessions_dir_option(args)})") from None
    except DataError as exc:
        raise UsageError(worded(exc, "cli")) from None
    label = None
    if args.label is not None:
        names = [name.lower() for name in predictions.class_names]
        if args.label.lower() in names:
            label = names.index(args.label.lower())
        elif args.label.isdigit() and int(args.label) < len(names):
            label = int(args.label)
        else:
            raise UsageError(f"--label {args.label}: not a class of this dataset; use one of "
                             + ", ".join(predictions.class_names) + " (or its number)")
    chosen = predictions.chosen(args.wrong, label)
    console = Console(highlight=False)
    what = ("misclassified " if args.wrong else "") + (f"{predictions.name(label)} " if label is not None else "")
    console.print(f"{args.name} after {predictions.epochs} epochs: {predictions.accuracy:.2%} of "
                  f"{len(predictions.samples):,} test images right; {len(chosen):,} {what}images, "
                  f"the first {min(args.count, len(chosen))} shown", markup=False, soft_wrap=True)
    if chosen:
        graphics = args.graphics if args.graphics != "auto" else ("kitty" if kitty_graphics_available() else "blocks")
        if graphics == "kitty":  # asked for: the protocol's commands go out even when piped
            console = Console(highlight=False, force_terminal=True)
        console.print(Columns([sample_card(predictions, s, graphics) for s in chosen[: args.count]], padding=(1, 2)))
    return 0


# --- confusion -------------------------------------------------------------------------


def _confusion_parser(sub: Any) -> None:
    p = sub.add_parser("confusion", help="an epoch's confusion matrix of the test set: per-class accuracy, "
                       "the classes most often confused", parents=[sessions_dir_option()])
    p.add_argument("name", metavar="NAME", help="the session (see cnn-tui sessions)")
    p.add_argument("--epoch", type=_whole, metavar="N",
                   help="the epoch, numbered as cnn-tui train prints it: from 0 (default: the last)")
    p.set_defaults(handler=cmd_confusion)


def cmd_confusion(args: argparse.Namespace) -> int:
    """Reads metrics.jsonl only: never imports torch."""
    from rich.console import Console

    from .core.confusion import ConfusionError, confusion_table, epoch_confusion, pairs_lines, recorded, summary_line
    from .core.sessions import SessionError, SessionStore

    name = args.name
    try:
        session = SessionStore(args.sessions_dir).open(name)
        rows, _ = session.read_metrics()
        dataset = session.config.dataset
    except (SessionError, ValueError, TypeError) as exc:
        raise UsageError(f"{worded(exc, 'cli')} (see cnn-tui sessions{_sessions_dir_option(args)})") from None
    if not rows:
        raise UsageError(f"session {name!r} has no finished epoch yet: no confusion matrix to show")
    last = len(rows) - 1
    epoch = last if args.epoch is None else args.epoch
    if not 0 <= epoch <= last:
        has = "only epoch 0" if last == 0 else f"epochs 0 to {last}"
        raise UsageError(f"--epoch {epoch}: session {name!r} has {has} (numbered from 0, as cnn-tui train prints them)")
    try:
        confusion = epoch_confusion(rows[epoch], dataset)
    except ConfusionError as exc:
        with_one = [row["epoch"] for row in rows if recorded(row)]
        hint = ("" if recorded(rows[epoch]) else f"; --epoch {with_one[-1]} has one" if with_one else
                f"; epochs trained from now on record one (cnn-tui train --session {name} --resume "
                f"--epochs {len(rows) + 1}{_sessions_dir_option(args)})")
        raise UsageError(f"session {name!r}: {exc}{hint}") from None
    console = Console(highlight=False)
    console.print(f"session {name} · {dataset} · epoch {epoch} of 0–{last} · {summary_line(confusion)}",
                  markup=False, soft_wrap=True)
    console.print()
    console.print(confusion_table(confusion))
    console.print("rows: the true class · columns: the predicted class, numbered as the rows\n"
                  "acc.: the share of the class's test images predicted right", style="dim", markup=False)
    console.print("\nmost confused (true → predicted):", markup=False)
    for line in pairs_lines(confusion):
        console.print("  " + line, markup=False)
    return 0


# --- the app ---------------------------------------------------------------------------


def _app_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cnn-tui", description="Design and train small CNNs in the terminal.",
                epilog="subcommands: " + ", ".join(SUBCOMMANDS) + " (cnn-tui SUBCOMMAND --help)",
                parents=[architecture_options(), training_options(), sessions_dir_option()])
    p.add_argument("--version", action="version", version=f"cnn-tui {__version__}")
    return p


def cmd_app(args: argparse.Namespace) -> int:
    from .ui.app import run_app

    config = config_from_args(args)  # checks the options before the screen is taken over
    arch = None if args.session else load_architecture(args)
    if arch is not None and args.input:
        arch = arch.with_input(args.input)
    try:  # the same input rule as summary and train, checked before the screen is taken
        config = config.for_architecture(arch) if arch is not None else config
    except ValueError as exc:
        raise UsageError(worded(exc, "cli")) from None
    source = Path(args.arch).name if args.arch else f"preset {args.preset or DEFAULT_PRESET}"
    if args.session:
        from .core.sessions import SessionError, SessionStore

        try:
            SessionStore(args.sessions_dir).open(args.session)
        except SessionError as exc:
            raise UsageError(worded(exc, "cli")) from None
    return run_app(arch=arch, config=config, session=args.session, sessions_dir=args.sessions_dir,
                   arch_source=source)


SUBCOMMANDS: dict[str, Callable[[Any], None]] = {
    "summary": _summary_parser,
    "train": _train_parser,
    "sessions": _sessions_parser,
    "watch": _watch_parser,
    "export": _export_parser,
    "compare": _compare_parser,
    "gallery": _gallery_parser,
    "confusion": _confusion_parser,
}


def _suggest_command(word: str) -> None:
    """`cnn-tui trian`: not a file, close to a subcommand: say which one was meant."""
    import difflib

    if word in SUBCOMMANDS or word.startswith("-") or Path(word).exists():
        return
    close = difflib.get_close_matches(word, SUBCOMMANDS, n=1, cutoff=0.6)
    if close:
        raise UsageError(f"{word}: no such command or file; did you mean `cnn-tui {close[0]}`?")


def _parse(argv: list[str]) -> argparse.Namespace:
    if argv:
        _suggest_command(argv[0])
    if argv and argv[0] in SUBCOMMANDS:
        parser = _Parser(prog="cnn-tui")
        sub = parser.add_subparsers(parser_class=_Parser)
        SUBCOMMANDS[argv[0]](sub)
        return parser.parse_args(argv)
    args = _app_parser().parse_args(argv)
    args.handler = cmd_app
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from .core.spec import ArchitectureError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parse(argv)
        return args.handler(args)
    except (UsageError, ArchitectureError) as exc:
        print(f"cnn-tui: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `cnn-tui summary | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
