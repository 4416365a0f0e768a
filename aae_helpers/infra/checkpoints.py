"""The run folder on disk: checkpoints with a checked state.json, atomic files and an OS lock.

A run folder holds `state.json` (epochs completed, history, the trainer's class and settings,
how it was trained) and the model file it names (`model-epoch0005.keras`). A checkpoint is
saved in three steps, so that a run killed at any instant leaves a consistent, loadable one:

1. the model is written under a temporary name, flushed to disk and renamed into place;
2. state.json is written the same way and renamed over the old one, naming the new model;
3. only then is the model file the old state.json named removed.

Ctrl-C (SIGINT) during a save is held until the save ends. Besides that old model file the
package deletes only its own temporaries (`.tmp-PID-...`) of processes that no longer run; it
reads and writes nothing outside the run folder, and only names it wrote itself inside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import signal
import threading
from pathlib import Path

__all__ = ["STATE_FILE", "RunFolderInUseError", "model_file_name", "check_run_dir", "locked",
           "atomic_path", "write_atomically", "sigint_held", "save_checkpoint", "read_state",
           "load_checkpoint", "load_trainer", "check_no_foreign_models", "remove_leftovers", "saved_epochs"]

SAVE_EVERY = 30.0  # seconds of training between checkpoints (training.train saves the last epoch too)
STATE_FILE = "state.json"
MODEL_FILE = re.compile(r"model-epoch(\d{4,})\.keras")
MAX_EPOCHS = 10**6
# What the package's temporaries look like: .tmp-PID-NAME (and .state.json.PID.tmp from older versions).
TEMPORARY = re.compile(r"^\.(?:tmp-(\d+)[-.]|" + re.escape(STATE_FILE) + r"\.(\d+)\.tmp$)")
DAMAGED = ("It was damaged or edited by hand: restore it from a copy, or move the run folder "
           "aside and train again.")


class RunFolderInUseError(BlockingIOError):
    """Another process holds the run folder's lock (it is training into the folder now)."""


def model_file_name(epochs_completed: int) -> str:
    """The name of the checkpoint after `epochs_completed` epochs: model-epoch0005.keras."""
    return f"model-epoch{epochs_completed:04d}.keras"


def check_run_dir(run_dir) -> Path:
    """Path(run_dir), created if needed; a clear ValueError if it is a file or not writable."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"run folder {run_dir} exists but is a file; pass a folder path.")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create the run folder {run_dir} ({error}); "
                         "choose a writable location.") from error
    if not os.access(run_dir, os.W_OK):
        raise ValueError(f"run folder {run_dir} is not writable; choose a writable location.")
    return run_dir


# ---- the lock ----------------------------------------------------------------------------
_HELD = {}  # (device, inode) of a run folder -> [file descriptor, depth]: this process's locks


@contextlib.contextmanager
def locked(run_dir):
    """Hold an exclusive OS lock (flock) on the existing folder `run_dir` while the block runs.

    A second process asking for it gets RunFolderInUseError at once, so two runs never write
    into one folder. Re-entrant within a process; the OS drops the lock when a process dies.
    """
    descriptor = os.open(run_dir, os.O_RDONLY)
    info = os.fstat(descriptor)
    key = (info.st_dev, info.st_ino)
    if key in _HELD:
        os.close(descriptor)
        _HELD[key][1] += 1
    else:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise RunFolderInUseError(
                f"{run_dir} is in use: another process is training into it (it holds the folder's "
                "lock). Wait for it to finish, or choose another run folder.") from None
        _HELD[key] = [descriptor, 1]
    try:
        yield Path(run_dir)
    finally:
        _HELD[key][1] -= 1
        if _HELD[key][1] == 0:
            os.close(_HELD.pop(key)[0])  # closing the descriptor releases the lock


# ---- atomic files and Ctrl-C ---------------------------------------------------------------
@contextlib.contextmanager
def sigint_held():
    """Hold Ctrl-C (SIGINT) while the block runs, then deliver it: a save is never cut in half.

    Only the main thread can change signal handlers; elsewhere the block runs unprotected.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    held = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            signal.raise_signal(signal.SIGINT)  # now handled as usual (KeyboardInterrupt)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path` to write; when the block succeeds, the file is flushed
    to disk and renamed over `path` in one step; when it fails, the temporary is removed."""
    path = Path(path)
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomically(path, text: str) -> None:
    """Replace the file `path` with `text` in one step (never a half-written file)."""
    with atomic_path(path) as temporary:
        Path(temporary).write_text(text)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def remove_leftovers(run_dir) -> list[str]:
    """Delete the package's temporaries left by processes that no longer run (a run killed
    mid-save, a full disk); returns their names. Nothing else is touched."""
    removed = []
    for path in Path(run_dir).iterdir():
        match = TEMPORARY.match(path.name)
        if match and path.is_file() and not path.is_symlink():
            pid = int(match.group(1) or match.group(2))
            if pid != os.getpid() and not _alive(pid):
                path.unlink(missing_ok=True)
                removed.append(path.name)
    return removed


# ---- saving ------------------------------------------------------------------------------
def plain(value):
    """JSON-friendly copy (tuples become lists) so configs compare equal after a round-trip."""
    return json.loads(json.dumps(value))


def check_no_foreign_models(run_dir, first_epoch: int, last_epoch: int) -> None:
    """A clear ValueError if a run saving epochs first_epoch..last_epoch into `run_dir` would
    overwrite a model file that state.json does not name (the user's own, or one a run killed
    between two renames left behind): such a file is never replaced or deleted."""
    run_dir = Path(run_dir)
    state = read_state(run_dir) if (run_dir / STATE_FILE).is_file() else None
    ours = state["model_file"] if state else None
    for epoch in range(max(first_epoch, 1), last_epoch + 1):
        name = model_file_name(epoch)
        if name != ours and os.path.lexists(run_dir / name):
            raise ValueError(f"{run_dir / name} exists, but {STATE_FILE} does not name it, so it is not "
                             f"this run's checkpoint (your own file, or one left by a run killed "
                             f"mid-save); training would overwrite it at epoch {epoch}. Move it out of "
                             "the run folder, then train again.")


def save_checkpoint(trainer, run_dir, history: dict, epochs_completed: int, extra: dict | None = None) -> Path:
    """Save the whole trainer (weights, optimizers, random stream), its history and `extra`
    facts about the run into `run_dir`, atomically; returns the model file's path."""
    run_dir = check_run_dir(run_dir)
    name = model_file_name(epochs_completed)
    with locked(run_dir), sigint_held():
        remove_leftovers(run_dir)
        check_no_foreign_models(run_dir, epochs_completed, epochs_completed)
        previous = read_state(run_dir) if (run_dir / STATE_FILE).is_file() else None
        with atomic_path(run_dir / name) as temporary:
            trainer.save(temporary)
        state = {"model_file": name, "epochs_completed": int(epochs_completed),
                 "trainer": type(trainer).__name__, "config": plain(trainer.get_config()),
                 "compile": plain(trainer.get_compile_config()),
                 "history": {key: [float(v) for v in values] for key, values in history.items()},
                 **plain(extra or {})}
        write_atomically(run_dir / STATE_FILE, json.dumps(state, indent=1))
        if previous and previous["model_file"] != name:
            (run_dir / previous["model_file"]).unlink(missing_ok=True)
    return run_dir / name


# ---- reading -----------------------------------------------------------------------------
def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _state_problem(state) -> str | None:
    """What is wrong with a parsed state.json (types, ranges, consistency), or None."""
    if not isinstance(state, dict):
        return f"expected a JSON object, found {type(state).__name__}"
    missing = [key for key in ("model_file", "epochs_completed", "trainer", "config", "history")
               if key not in state]
    if missing:
        return f"the keys {missing} are missing"
    done = state["epochs_completed"]
    if isinstance(done, bool) or not isinstance(done, int) or not 1 <= done <= MAX_EPOCHS:
        return f"epochs_completed must be an integer from 1 to {MAX_EPOCHS:,}, found {done!r}"
    if state["model_file"] != model_file_name(done):
        return (f"model_file must be {model_file_name(done)!r}, the name the package gives the "
                f"checkpoint of epoch {done}, found {state['model_file']!r}")
    if not (isinstance(state["trainer"], str) and state["trainer"].isidentifier()):
        return f"trainer must be a class name such as 'Autoencoder', found {state['trainer']!r}"
    if not isinstance(state["config"], dict) or not isinstance(state.get("compile", {}), dict):
        return "config and compile must be JSON objects"
    history = state["history"]
    if not isinstance(history, dict) or not history:
        return f"history must be a non-empty object of per-epoch lists, found {history!r:.80}"
    for key, values in history.items():
        if not isinstance(values, list) or not all(_number(value) for value in values):
            return f"history[{key!r}] must be a list of finite numbers"
        if len(values) != done:
            return f"history[{key!r}] has {len(values)} values but epochs_completed is {done}"
    seconds = state.get("train_seconds", 0.0)
    if not _number(seconds) or seconds < 0:
        return f"train_seconds must be a number >= 0, found {seconds!r}"
    batch_size = state.get("batch_size", 1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        return f"batch_size must be a positive integer, found {batch_size!r}"
    data = state.get("data", {"source": "", "fingerprint": 0})
    if not (isinstance(data, dict) and isinstance(data.get("source"), str)
            and isinstance(data.get("fingerprint"), int)):
        return f"data must be an object with a source (text) and a fingerprint (integer), found {data!r:.80}"
    sessions = state.get("sessions", [])
    if not (isinstance(sessions, list) and all(
            isinstance(session, dict) and all(isinstance(session.get(key), int) and not isinstance(
                session.get(key), bool) for key in ("from_epoch", "to_epoch")) for session in sessions)):
        return f"sessions must be a list of {{from_epoch, to_epoch}} integer pairs, found {sessions!r:.80}"
    return None


def read_state(run_dir) -> dict:
    """The checkpoint's state.json, checked: a clear ValueError for a damaged or hostile one."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint in {run_dir}: {STATE_FILE} is missing. "
                                "Train first, or check the path.")
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link; a run folder's {STATE_FILE} must be a file "
                         "inside it. " + DAMAGED)
    try:
        state = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a valid checkpoint state ({error}). {DAMAGED}") from error
    problem = _state_problem(state)
    if problem:
        raise ValueError(f"{path} is not a valid checkpoint state: {problem}. {DAMAGED}")
    return state


def saved_epochs(run_dir) -> int | None:
    """Epochs held by the checkpoint in `run_dir`, or None when it holds none (or a broken one).
    Needs no TensorFlow, so a Ctrl-C handler can ask it at once."""
    try:
        return read_state(run_dir)["epochs_completed"]
    except (OSError, ValueError):
        return None


def load_checkpoint(run_dir):
    """Load (trainer, state) from a run folder; the trainer is compiled and ready to resume."""
    state = read_state(run_dir)
    model_path = Path(run_dir) / state["model_file"]
    if model_path.is_symlink():
        raise ValueError(f"{model_path} is a symbolic link; a checkpoint must be a file inside the run "
                         "folder. " + DAMAGED)
    if not model_path.is_file():
        raise FileNotFoundError(f"checkpoint {model_path} named by {STATE_FILE} is missing.")
    trainer = load_trainer(model_path)
    if type(trainer).__name__ != state["trainer"]:
        raise ValueError(f"{model_path} holds a {type(trainer).__name__} model, but {STATE_FILE} names the "
                         f"trainer {state['trainer']}. {DAMAGED}")
    return trainer, state


def load_trainer(path):
    """Load a saved trainer (`.keras`) in Keras safe mode (no arbitrary code is run)."""
    import keras

    import aae_helpers.trainers  # noqa: F401  (registers the custom classes)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"saved model not found: {path}")
    try:
        trainer = keras.models.load_model(path, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - Keras raises many types for a bad file
        if "arbitrary code" in str(error) or "safe_mode" in str(error):
            raise ValueError(f"{path} is not a saved AAE Wizard model: it holds Python code (such as a "
                             "Lambda layer), and models are loaded in Keras safe mode, which never runs "
                             "code from a file.") from error
        raise ValueError(f"{path} is not a saved AAE Wizard model ({type(error).__name__}: "
                         f"{str(error)[:200]}).") from error
    from aae_helpers.trainers.base import Trainer
    if not isinstance(trainer, Trainer):
        raise ValueError(f"{path} holds a {type(trainer).__name__}, not an AAE Wizard trainer.")
    return trainer
