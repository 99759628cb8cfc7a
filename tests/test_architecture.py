"""The layering is enforced, not hoped for: `lint-imports` keeps the contracts in
pyproject.toml, and breaks them when a core module imports a front-end library or a front end
reaches past the service into the core."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def copy(tmp_path) -> Path:
    shutil.copytree(REPO / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_project_keeps_its_contracts():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("bot/core/index/lexical.py", "import click", "The core imports no front end"),
        ("bot/core/answering/engine.py", "from bot import config", "The core imports no front end"),
        ("bot/cli/render.py", "from bot.core.index import store", "Front ends reach the core only"),
        ("bot/telegram/format.py", "from bot.cli import render", "Layers"),
    ],
)
def test_a_forbidden_import_breaks_the_build(copy, module, line, contract):
    path = copy / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    result = lint(copy)
    assert result.returncode != 0
    _, _, broken = result.stdout.partition("Broken contracts")
    assert contract in broken, result.stdout


def test_every_core_internal_is_forbidden_to_the_front_ends():
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [front] = [
        c for c in contracts if c.get("source_modules") == ["bot.cli", "bot.telegram", "bot.tools"]
    ]
    public = {"__init__", "types", "errors"}  # `types` is a package: its modules are public too
    core = REPO / "bot" / "core"
    packages = {p.parent.name for p in core.glob("*/__init__.py")}
    modules = {p.stem for p in core.glob("*.py")} | packages
    internals = {f"bot.core.{name}" for name in modules - public}
    assert internals == set(front["forbidden_modules"])


def _mismatches(architecture: str) -> list[str]:
    """What ARCHITECTURE.md's package table (each package's folder and the modules it names)
    gets wrong about bot/ on disk: a package or module missing, or one that does not exist."""
    rows = {}
    for line in architecture.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`bot/"):
            rows[cells[0].strip("`")] = set(re.findall(r"`(\w+)`", cells[1]))
    on_disk = {}
    for init in (REPO / "bot").rglob("__init__.py"):
        modules = {p.stem for p in init.parent.glob("*.py") if p.stem != "__init__"}
        if modules:
            on_disk[f"{init.parent.relative_to(REPO).as_posix()}/"] = modules
    wrong = [f"{p}: no row" for p in sorted(set(on_disk) - set(rows))]
    wrong += [f"{p}: no such package" for p in sorted(set(rows) - set(on_disk))]
    for package in sorted(set(rows) & set(on_disk)):
        wrong += [f"{package}{m}: not named" for m in sorted(on_disk[package] - rows[package])]
        wrong += [f"{package}{m}: no such module" for m in sorted(rows[package] - on_disk[package])]
    return wrong


def test_architecture_names_every_module_and_no_other():
    assert _mismatches((REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("edit", "found"),
    [
        (("`snapshot`, ", ""), "bot/core/index/snapshot: not named"),
        (("`reader`, `read`", "`reader`, `reading_old`, `read`"), "reading_old: no such module"),
        (("| `bot/tools/` |", "| `bot/tool/` |"), "bot/tools/: no row"),
    ],
)
def test_a_drifted_architecture_fails(edit, found):
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert edit[0] in text
    assert any(found in m for m in _mismatches(text.replace(edit[0], edit[1], 1)))
