"""The set-up files agree: environment.yml <-> pyproject.toml, Makefile <-> .ci/run <-> README."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


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


def test_environment_yml_and_pyproject_name_the_same_dependencies():
    text = (ROOT / "environment.yml").read_text()
    pip_list = environment_yml_pip_list(text)
    assert "-e ." in pip_list, "environment.yml should install the package itself with `-e .`"
    from_yml = lower_bounds(entry for entry in pip_list if entry != "-e .")
    from_pyproject = lower_bounds(pyproject_requirements())
    assert sorted(from_yml) == sorted(from_pyproject), (
        f"only in environment.yml: {sorted(set(from_yml) - set(from_pyproject))}; "
        f"only in pyproject.toml: {sorted(set(from_pyproject) - set(from_yml))}")
    different = {name: (from_yml[name], from_pyproject[name])
                 for name in from_pyproject if from_yml[name] != from_pyproject[name]}
    assert not different, f"lower bounds differ (environment.yml, pyproject.toml): {different}"


def test_every_extra_is_in_environment_yml():
    pip_names = {canonicalize_name(Requirement(entry).name)
                 for entry in environment_yml_pip_list((ROOT / "environment.yml").read_text()) if entry != "-e ."}
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
    assert {"test", "lab"} <= set(phony.split(":", 1)[1].split())


def test_readme_mentions_make_test_and_make_lab():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md does not exist yet")
    text = readme.read_text()
    assert "make test" in text
    assert "make lab" in text
