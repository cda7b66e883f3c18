"""Everything `train` checks before it writes a file, without torch.

`cnn-tui train` calls it in the trainer; `cnn-tui train --detach` and the app's background
key call it in the foreground, so a mistake is one line and exit 2 there too, and the
background process is only started for a run that can start.
"""

from __future__ import annotations

from dataclasses import replace

from ..words import blaming
from .config import TrainConfig
from .datasets import DATASETS, missing_files
from .resources import check_training_memory
from .sessions import SessionError, SessionStore
from .shapes import check_classes, infer_shapes
from .spec import Architecture


class TrainingRefused(Exception):
    """The run cannot start: a bad architecture, option, dataset or session. Nothing was written.
    Raised from a SettingError when a setting is to blame (see `words.worded`)."""


def refuse(text: str, setting: str | None = None, value: object = None) -> TrainingRefused:
    """A refusal that names a setting (in braces: "{epochs}") and a value that would work."""
    return blaming(TrainingRefused, text, setting, value)


def ensure_dataset(config: TrainConfig) -> None:
    """The dataset's files are there, or are fetched now where the network allows."""
    info = DATASETS[config.dataset]
    if not missing_files(info, config.resolved_data_dir()):
        return
    from .data import DataError  # torch and torchvision: only to download
    from .data import ensure_dataset as fetch

    try:
        fetch(config)
    except DataError as exc:
        raise TrainingRefused(str(exc)) from exc


def prepare(
    arch: Architecture | None,
    config: TrainConfig,
    store: SessionStore,
    name: str | None = None,
    resume: bool = False,
    claimed: bool = False,
    force: bool = False,
    gpu_memory: int | None = None,
    exact: bool = False,
) -> tuple[Architecture, TrainConfig]:
    """Check everything that can be checked before any file is written.

    Returns the architecture and configuration to train with (from the session when
    resuming, with the new epoch target). `claimed`: this process already holds the
    session's claim (a background run's parent took it). `gpu_memory`: the total memory of
    the GPU that will train (None: the run is on the CPU, checked against free memory);
    `force` skips the memory estimate; `exact`: the run reproduces the reference loop.
    Raises TrainingRefused.
    """
    try:
        config.validate()
    except ValueError as exc:
        raise TrainingRefused(str(exc)) from exc
    try:
        if resume:
            arch, config = _resumed_run(arch, config, store, name, claimed)
        elif name is not None and store.exists(name):
            raise refuse(f"session {name!r} already exists in {store.root}; add {{resume}} to continue it, "
                         "or pick another name", "session")
        elif name is not None:
            store.path(name)  # validates the name
    except SessionError as exc:
        raise TrainingRefused(str(exc)) from exc
    if arch is None:
        raise TrainingRefused("no architecture given")
    if exact and config.amp is not None:  # a resumed session's own setting included
        raise refuse(f"{{exact}} reproduces the reference loop in float32, and this run asks for {{amp}} "
                     f"{config.amp}; leave out one of them", "amp")
    try:
        config = config.for_architecture(arch)
    except ValueError as exc:
        raise TrainingRefused(str(exc)) from exc
    summary = infer_shapes(arch, config.input)
    problem = check_classes(summary, config.classes, config.dataset)
    if problem is not None:
        raise TrainingRefused(str(problem))
    memory = None if force else check_training_memory(  # --force: the person knows better
        [info.output_shape for info in summary.layers], summary.total_params, config, gpu_memory)
    if memory is not None:
        raise TrainingRefused(str(memory)) from memory
    ensure_dataset(config)
    return arch, config


def _resumed_run(arch: Architecture | None, config: TrainConfig, store: SessionStore, name: str | None,
                 claimed: bool) -> tuple[Architecture, TrainConfig]:
    """The architecture and configuration a resume trains: the session's own, with the new
    epoch target and device."""
    if not name:
        raise refuse("{resume} needs {session} NAME (see cnn-tui sessions)", "session")
    session = store.open(name)
    if not claimed and session.live:
        raise TrainingRefused(f"session {name!r} is being trained by process {session.pid}; "
                              f"watch it with: cnn-tui watch {name}")
    stored = session.architecture
    if arch is not None and arch.layers != stored.layers:
        raise refuse(f"session {name!r} has its own architecture; {{resume}} trains that one (leave out ARCH.json)")
    config = replace(session.config, epochs=config.epochs, device=config.device)
    check_more_epochs(name, session.epochs_done, config.epochs)
    return stored, config


def check_more_epochs(name: str, done: int, wanted: int) -> None:
    """Continuing a session must ask for more epochs than it has."""
    if done >= wanted:
        raise refuse(f"session {name!r} already has {done} epochs; ask for more", "epochs", done + 5)
