"""The set-up files agree: environment.yml <-> pyproject.toml <-> constraints.txt (the lock),
Makefile <-> .ci/run <-> README."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = "constraints.txt"


def lower_bounds(requirements):
    """{canonical name: lower bound} of requirement strings; each must have exactly one `>=`."""
    bounds = {}
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name not in bounds, f"{requirement.name} is listed twice"
        lows = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert len(lows) == 1, f"{text!r} should give exactly one lower bound (>=)"
        bounds[name] = lows[0]
    return bounds


def pyproject():
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def pyproject_requirements():
    project = pyproject()["project"]
    extras = project.get("optional-dependencies", {})
    return list(project["dependencies"]) + [req for group in extras.values() for req in group]


def environment_yml_pip_list(text):
    """The entries of the `- pip:` list in environment.yml (a tiny parser, no PyYAML)."""
    entries, pip_indent = [], None
    for line in text.splitlines():
        content = line.split("#", 1)[0].rstrip()
        if not content.strip():
            continue
        indent = len(content) - len(content.lstrip())
        stripped = content.strip()
        if pip_indent is None:
            if stripped in ("- pip:", "-  pip:"):
                pip_indent = indent
            continue
        if indent <= pip_indent:
            break  # the pip list has ended
        assert stripped.startswith("- "), f"unexpected line in the pip list: {line!r}"
        entries.append(stripped[2:].strip().strip("'\""))
    assert pip_indent is not None, "environment.yml has no `- pip:` list"
    return entries


def environment_yml_conda_list(text):
    """Top-level conda dependencies (the lines at the indentation of `- pip:`)."""
    lines = [line.split("#", 1)[0].rstrip() for line in text.splitlines()]
    start = lines.index("dependencies:")
    conda = []
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break
        stripped = line.strip()
        if stripped.startswith("- ") and line.startswith("  - "):
            conda.append(stripped[2:].strip())
    return conda


def test_parser_reads_a_pip_list():
    text = "name: x\ndependencies:\n  - python>=3.11\n  - pip\n  - pip:\n      - a>=1  # note\n      - -e .\n" \
           "  - other\n"
    assert environment_yml_pip_list(text) == ["a>=1", "-e ."]


def requirements_of(pip_list):
    """The package requirements of a pip list, without its options (`-e .`, `-c FILE`)."""
    return [entry for entry in pip_list if not entry.startswith("-")]


def test_environment_yml_and_pyproject_name_the_same_dependencies():
    text = (ROOT / "environment.yml").read_text()
    pip_list = environment_yml_pip_list(text)
    assert "-e ." in pip_list, "environment.yml should install the package itself with `-e .`"
    from_yml = lower_bounds(requirements_of(pip_list))
    from_pyproject = lower_bounds(pyproject_requirements())
    assert sorted(from_yml) == sorted(from_pyproject), (
        f"only in environment.yml: {sorted(set(from_yml) - set(from_pyproject))}; "
        f"only in pyproject.toml: {sorted(set(from_pyproject) - set(from_yml))}")
    different = {name: (from_yml[name], from_pyproject[name])
                 for name in from_pyproject if from_yml[name] != from_pyproject[name]}
    assert not different, f"lower bounds differ (environment.yml, pyproject.toml): {different}"


def test_every_extra_is_in_environment_yml():
    pip_names = {canonicalize_name(Requirement(entry).name)
                 for entry in requirements_of(environment_yml_pip_list((ROOT / "environment.yml").read_text()))}
    extras = pyproject()["project"]["optional-dependencies"]
    assert {"notebooks", "test"} <= set(extras)  # what `make install` asks for
    for group, requirements in extras.items():
        for text in requirements:
            assert canonicalize_name(Requirement(text).name) in pip_names, f"[{group}] {text}"


def test_python_versions_agree():
    conda = environment_yml_conda_list((ROOT / "environment.yml").read_text())
    pythons = [entry for entry in conda if re.match(r"python\b", entry)]
    assert len(pythons) == 1
    assert pythons[0].replace(" ", "") == "python" + pyproject()["project"]["requires-python"].replace(" ", "")


def read_lock(text):
    """{canonical name: version} of a constraints file; every entry must be an exact `name==version`."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{line!r} is not an exact pin"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{requirement.name} is locked twice"
        pins[name] = Version(specifiers[0].version)
    return pins


def test_read_lock_refuses_ranges_and_duplicates():
    assert read_lock("# comment\nKeras==3.15.1\nnumpy==2.4.6  # why\n") == {"keras": Version("3.15.1"),
                                                                           "numpy": Version("2.4.6")}
    with pytest.raises(AssertionError, match="not an exact pin"):
        read_lock("keras>=3.11\n")
    with pytest.raises(AssertionError, match="locked twice"):
        read_lock("keras==3.15.1\nKeras==3.15.0\n")


def test_the_lock_pins_every_dependency_within_its_lower_bound():
    pins = read_lock((ROOT / LOCK).read_text())
    assert canonicalize_name(pyproject()["project"]["name"]) not in pins, "the lock must not pin the project itself"
    for text in pyproject_requirements():
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} (pyproject.toml) is not locked in {LOCK}; run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK} locks {requirement.name}=={pins[name]}, outside pyproject.toml's {requirement.specifier}")


def test_keras_is_above_the_releases_with_published_safe_mode_bypasses():
    # CVE-2025-1550, -8747, -9905 and -9906: the last of them was fixed in Keras 3.11.3.
    assert Version(lower_bounds(pyproject_requirements())["keras"]) >= Version("3.11.3")


def test_every_install_uses_the_lock():
    pip_list = environment_yml_pip_list((ROOT / "environment.yml").read_text())
    assert f"-c {LOCK}" in pip_list, f"environment.yml's pip list should use the lock: `- -c {LOCK}`"
    assert makefile_variables()["LOCK"] == LOCK
    lines = (ROOT / "Makefile").read_text().splitlines()
    stamp = next(line for line in lines if line.startswith("$(STAMP):"))
    assert "$(LOCK)" in stamp.split(":", 1)[1].split(), "the venv must be reinstalled when the lock changes"
    installs = [line for line in stamp_recipe(lines) if "pip install" in line and "-e" in line.split()]
    assert installs and all("-c $(LOCK)" in line for line in installs), installs


def test_make_lock_runs_the_suite_before_it_writes_the_lock():
    recipe = makefile_rules()["lock"]
    tests = next(i for i, line in enumerate(recipe) if "-m pytest" in line)
    words = recipe[tests].split()
    assert {"tests", "notebooks"} <= set(words[words.index("pytest"):])
    assert "-c" not in " ".join(line for line in recipe if "pip install" in line).split(), \
        "make lock must resolve the newest releases, not reinstall the old lock"
    freeze = next(i for i, line in enumerate(recipe) if "pip freeze" in line)
    assert "--exclude-editable" in recipe[freeze]
    writes = [i for i, line in enumerate(recipe) if re.search(r"(>|mv \S+) ?\$\(LOCK\)(\s|$)", line)]
    assert writes and min(writes) > tests > 0, f"the lock must be written only after the tests pass: {recipe}"


def makefile_variables():
    """{name: value} of the Makefile's `NAME := value` and `NAME ?= value` lines."""
    pattern = re.compile(r"^([A-Z_]+)\s*[:?]?=\s*(.*?)\s*$")
    return {match.group(1): match.group(2) for line in (ROOT / "Makefile").read_text().splitlines()
            if (match := pattern.match(line))}


def stamp_recipe(lines):
    start = next(i for i, line in enumerate(lines) if line.startswith("$(STAMP):"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def makefile_rules():
    """{target: [recipe lines]} of the Makefile."""
    rules, current = {}, None
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("\t") and current is not None:
            rules[current].append(line.strip())
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", line)
        current = match.group(1) if match else None
        if current is not None:
            rules.setdefault(current, [])
    return rules


def test_ci_runs_make_test():
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert "make test" in commands
    assert commands[-1] == "make test"  # its exit status is the CI's


def test_make_test_runs_the_unit_tests():
    rules = makefile_rules()
    assert "test" in rules and "lab" in rules
    pytest_lines = [line for line in rules["test"] if "-m pytest" in line]
    assert len(pytest_lines) == 1, rules["test"]
    words = pytest_lines[0].split()
    assert "tests" in words[words.index("pytest"):]
    phony = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith(".PHONY"))
    assert {"test", "lab", "lock"} <= set(phony.split(":", 1)[1].split())


@pytest.mark.parametrize("target", ["test", "notebooks"])
def test_the_notebooks_run_from_an_empty_fast_mode_run_folder(target):
    """Fast mode keeps the notebooks' runs in notebooks/runs/fast (training.run_folder); a used
    checkout would load them instead of retraining, so the recipe empties it first."""
    recipe = makefile_rules()[target]
    tests = next(i for i, line in enumerate(recipe) if "--nbval-lax" in line)
    assert any(re.fullmatch(r"rm -rf (\S+ )*notebooks/runs/fast( \S+)*", line) for line in recipe[:tests]), recipe


def test_readme_mentions_make_test_and_make_lab():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md does not exist yet")
    text = readme.read_text()
    assert "make test" in text
    assert "make lab" in text
