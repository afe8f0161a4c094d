"""The dependency ranges are bounded on both sides, and the two tested sets (constraints files) match them.

README's test command installs constraints.txt (the newest set the ranges admit, pinned); constraints-lowest.txt
pins every direct dependency at its floor. Both must stay consistent with pyproject.toml, or "tested at both ends"
stops being true; and .ci/run must run README's test command verbatim.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("refresh_constraints", ROOT / "scripts" / "refresh_constraints.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _direct() -> list[Requirement]:
    return [Requirement(r) for r in _script().direct_requirements()]


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            pkg, version = line.split("==")
            pins[canonicalize_name(pkg)] = version
    return pins


def test_every_dependency_has_a_lower_and_an_upper_bound():
    for req in _direct():
        ops = {spec.operator for spec in req.specifier}
        assert ops == {"=="} or ({">=", "<"} <= ops), f"{req}: give it a tested floor (>=) and a ceiling (<)"


def test_the_lowest_set_is_what_the_floors_say():
    assert (ROOT / "constraints-lowest.txt").read_text(encoding="utf-8") == _script().lowest(), (
        "constraints-lowest.txt is stale: run python scripts/refresh_constraints.py --lowest"
    )


def test_the_locked_set_pins_every_direct_dependency_inside_its_range():
    pins = _pins("constraints.txt")
    for req in _direct():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in constraints.txt: run python scripts/refresh_constraints.py"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]} outside {req.specifier}: refresh it"
        )


def test_ci_runs_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    test_command = blocks[1].strip()
    assert "-c constraints.txt" in test_command and "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci


def test_pyproject_requires_the_python_the_constraints_were_made_for():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11"
