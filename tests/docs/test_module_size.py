"""Issue 13: no module of kvcli is over about 400 lines (docs/architecture.md, "Known to be out of shape").

A module that grows past the limit is split by moving code into cohesive sibling modules that import downwards.
"""

from __future__ import annotations

from pathlib import Path

import kvcli

LIMIT = 400
PACKAGE = Path(kvcli.__file__).parent


def long_modules(package: Path = PACKAGE, limit: int = LIMIT) -> dict[str, int]:
    """Every module of ``package`` over ``limit`` lines, by its path inside the package."""
    sizes = {}
    for path in sorted(package.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            sizes[path.relative_to(package).as_posix()] = lines
    return sizes


def test_no_kvcli_module_is_over_400_lines():
    assert long_modules() == {}, "split these by moving code into sibling modules (see docs/architecture.md)"


def test_the_check_counts_lines(tmp_path):
    (tmp_path / "short.py").write_text("x = 1\n" * LIMIT)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "long.py").write_text("x = 1\n" * (LIMIT + 1))
    assert long_modules(tmp_path) == {"sub/long.py": LIMIT + 1}
