"""`gridpulse init` and `gridpulse demo`: set up a data folder, load demo data."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gridpulse.cli.context import make_settings, read_server_record
from gridpulse.cli.options import DATA_DIR, config_option
from gridpulse.config import option_docs
from gridpulse.errors import StoreUnavailable

__all__ = ["demo", "init"]

console = Console()

_CONFIG = config_option()


def _example_config() -> str:
    lines = ["# gridpulse configuration. Every option, its default and GRIDPULSE_* override:", ""]
    section = ""
    for key, env, default, help_text in option_docs():
        sec, name = key.split(".", 1)
        if sec != section and name == "<name>" and default == "[]":
            # a list of tables ([[sources]]): an empty `[sources]` header would not be a list
            lines += ["", f"# [[{sec}]]"]
            section = sec
        elif sec != section:
            lines += ["", f"[{sec}]"]
            section = sec
        lines.append(f"# {help_text} ({env})")
        lines.append(f"# {name} = {default}")
    return "\n".join(lines) + "\n"


def init(
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    write_config: bool = typer.Option(
        True, "--write-config/--no-write-config", help="Write gridpulse.toml when absent."
    ),
) -> None:
    """Create the data folder and the store (migrations applied), and an example gridpulse.toml."""
    settings = make_settings(config, data_dir)
    if read_server_record(settings.data_dir):
        raise StoreUnavailable(
            f"a server is running on {settings.data_dir}; it already initialised the store"
        )
    from gridpulse.store import open_store, store_options

    store = open_store(settings.store_url, store_options(settings))
    stats = store.stats()
    store.close()
    console.print(f"store ready: {settings.store_url} ({stats['series']} series, {stats['points']} points)")
    target = Path("gridpulse.toml")
    if write_config and not target.exists():
        target.write_text(_example_config())
        console.print(f"wrote {target} (every option, commented out with its default)")


def demo(data_dir: Path | None = DATA_DIR, config: Path | None = _CONFIG) -> None:
    """Load the synthetic demo fleet (and ../shared/datasets when present) into the store, once."""
    settings = make_settings(config, data_dir)
    if (rec := read_server_record(settings.data_dir)) is not None:
        raise StoreUnavailable(
            f"a server (pid {rec.pid}) holds {settings.data_dir}: restart it with `gridpulse serve --demo`"
        )
    from gridpulse.demo_load import load_demo_once
    from gridpulse.ingest.writer import Writer
    from gridpulse.store import open_store, store_options

    store = open_store(settings.store_url, store_options(settings))
    writer = Writer(store).start()
    try:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task("demo data", total=None)
            load_demo_once(store, writer, settings, lambda msg: bar.update(task, description=msg))
    finally:
        writer.stop()
        stats = store.stats()
        store.close()
    console.print(f"store now holds {stats['series']} series and {stats['points']} points")
