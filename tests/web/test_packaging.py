"""The dashboard ships in the package: every static file is package data a wheel carries, and no
page loads anything from another host."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from gridpulse.web import STATIC_DIR
from tests.conftest import REPO

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|import\s[^;]*["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//""")


def _static_files() -> list[Path]:
    return sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())


def test_no_page_loads_anything_from_another_host() -> None:
    for path in _static_files():
        if path.suffix in (".html", ".js", ".css") and "vendor" not in path.parts:
            assert not EXTERNAL.search(path.read_text(encoding="utf-8")), f"{path} loads from another host"


def test_the_vendored_chart_library_comes_with_its_licence() -> None:
    vendor = STATIC_DIR / "vendor" / "uplot"
    assert {p.name for p in vendor.iterdir()} == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    assert "MIT License" in (vendor / "LICENSE").read_text()


def test_the_build_collects_every_dashboard_file(tmp_path: Path) -> None:
    """setuptools' build_py is the step that gathers a wheel's package files (pyproject's
    package-data globs); running it alone takes a second where a full isolated wheel build
    takes ten or more."""
    # built from a copy: a build writes build/ and *.egg-info beside the sources
    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    out = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib", str(tmp_path / "lib")],
        capture_output=True, text=True, timeout=120, cwd=src,
    )
    assert out.returncode == 0, out.stderr
    built = {p.relative_to(tmp_path / "lib").as_posix() for p in (tmp_path / "lib").rglob("*") if p.is_file()}
    expected = {"gridpulse/" + p.relative_to(STATIC_DIR.parents[1]).as_posix() for p in _static_files()}
    assert len(expected) > 10 and expected <= built, sorted(expected - built)
