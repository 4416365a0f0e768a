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


def test_the_namespace_is_what_dir_shows_and_every_name_has_one_home():
    """dir(aae) lists the public names (tab completion), each resolves to the object its module
    defines, and no public name is defined by two modules (an ambiguous `aae.NAME`)."""
    import ast
    import importlib

    import aae_helpers as aae

    assert set(dir(aae)) == {*aae.PUBLIC, *aae.SUBMODULES, "start_tensorflow", "__version__"}
    homes = {}
    for path in sorted((ROOT / "aae_helpers").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            names = ([node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                     else [target.id for target in getattr(node, "targets", []) if isinstance(target, ast.Name)])
            for name in names:
                homes.setdefault(name, set()).add(module.removesuffix(".__init__"))
    for name, module in aae.PUBLIC.items():
        (home,) = homes[name]   # defined once in the package
        assert home == f"aae_helpers.{module}" or home.startswith(f"aae_helpers.{module}."), (name, home)
        assert getattr(aae, name) is getattr(importlib.import_module(f"aae_helpers.{module}"), name)


def test_a_name_outside_the_namespace_is_refused_with_where_it_lives():
    import pytest

    import aae_helpers as aae

    with pytest.raises(AttributeError, match=r"use `from aae_helpers.extras.speed import use_xla_adam`"):
        aae.use_xla_adam
    with pytest.raises(AttributeError, match=r"has no attribute 'no_such_name'$"):
        aae.no_such_name
