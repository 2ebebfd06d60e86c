"""Every module's __all__ names things that exist, and every module imports cleanly."""

from __future__ import annotations

import importlib
import pkgutil

import gridpulse


def test_all_names_exist_in_every_module() -> None:
    for info in pkgutil.walk_packages(gridpulse.__path__, "gridpulse."):
        if info.name == "gridpulse.__main__":
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{info.name}.__all__ lists {name!r}, which it does not define"
