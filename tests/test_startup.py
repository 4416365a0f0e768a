"""`aae.NAME` starts TensorFlow with its C++ start-up noise kept out of notebook outputs, and only that."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FAKE_TENSORFLOW = '''
import os
os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\\n")
os.write(2, b"a real problem worth reading\\n")

class config:
    @staticmethod
    def list_physical_devices():
        os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine\\n")
        return []
'''


def run(code, extra_path=None):
    path = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    env = {"PYTHONPATH": ":".join(path), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=300, check=True)


def test_start_up_noise_is_dropped_and_every_other_line_passes(tmp_path):
    (tmp_path / "tensorflow.py").write_text(FAKE_TENSORFLOW)
    result = run("import aae_helpers as aae; aae.start_tensorflow()", extra_path=tmp_path)
    assert "a real problem worth reading" in result.stderr
    assert "cuInit" not in result.stderr and "cuda drivers" not in result.stderr


def test_the_real_tensorflow_starts_quietly():
    result = run("import aae_helpers as aae; print(aae.Autoencoder(hidden_units=(8,)).latent_dim)")
    assert result.stdout.strip() == "2"
    assert "cuInit" not in result.stderr and "cudart_stub" not in result.stderr, result.stderr


def test_in_a_notebook_importing_the_package_starts_tensorflow_quietly():
    result = run("import sys, IPython, aae_helpers, keras; print('tensorflow' in sys.modules)")
    assert result.stdout.strip() == "True"
    assert "cuInit" not in result.stderr and "cudart_stub" not in result.stderr, result.stderr


def test_outside_a_notebook_importing_the_package_does_not_start_tensorflow():
    result = run("import sys, aae_helpers; print('tensorflow' in sys.modules)")
    assert result.stdout.strip() == "False"
