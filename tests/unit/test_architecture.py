"""The layout rules of the guide as checks (import-linter contracts in pyproject.toml): each service
imports only `shared`, never another service; `shared` imports no service; PM4Py stays test-only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"]


def lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(LINT, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_every_import_contract_is_kept():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_service_importing_another_service_breaks_the_contract(tmp_path):
    for package in ("services", "shared"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "services" / "intake" / "shortcut.py").write_text("from services.routing import plans  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "Services are independent of each other BROKEN" in result.stdout
