"""The ``rxbatch`` command: stream JSON lines into a database in batches."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from typing import IO, Any

import click

from .loader import DeadLetter, Loader, LoadSummary

__all__ = ["main"]


@click.group()
@click.version_option(package_name="rxbatch")
def main() -> None:
    """Batch streams of events with rxbatch."""


@main.command()
@click.argument("source", type=click.File("r", encoding="utf-8", lazy=False))
@click.option(
    "--db",
    "db_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="SQLite database file (created if missing).",
)
@click.option(
    "--table", required=True, help="Table to load into (created from the first records' keys)."
)
@click.option(
    "--batch-size",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Records per transaction, at most.",
)
@click.option(
    "--flush-interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds after a batch's first record when it is written even if not full.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Batches written at once.",
)
@click.option(
    "--retries",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="Retries of a batch when the database is busy or locked.",
)
@click.option(
    "--dead-letter",
    type=click.File("a", encoding="utf-8"),
    help="JSON-lines file for lines that could not be loaded (default: stderr).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
@click.option("--strict", is_flag=True, help="Exit with status 2 if any line was dead-lettered.")
def load(
    source: IO[str],
    db_path: str,
    table: str,
    batch_size: int,
    flush_interval: float,
    workers: int,
    retries: int,
    dead_letter: IO[str] | None,
    progress: bool | None,
    strict: bool,
) -> None:
    """Load the JSON lines of SOURCE (a file, or - for stdin) into a SQLite table.

    Each batch is written in one transaction. A line that is not a JSON
    object, or a record the database rejects, goes to the dead letters with
    its line number and the reason; it never stops the load. Ctrl-C commits
    what was read, prints the summary and exits with status 130.
    """
    summary = _run(
        source, db_path, table, batch_size, flush_interval, workers, retries, dead_letter, progress
    )
    click.echo(summary.report())
    if summary.interrupted:
        sys.exit(130)
    if strict and summary.dead_lettered:
        sys.exit(2)


@main.command()
@click.option(
    "--events",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Events to generate.",
)
@click.option("--seed", default=7, show_default=True, help="Random seed of the generated events.")
def demo(events: int, seed: int) -> None:
    """Generate an event stream (with a few malformed lines) and load it into SQLite."""
    folder = tempfile.mkdtemp(prefix="rxbatch-demo-")
    source = os.path.join(folder, "events.jsonl")
    db_path = os.path.join(folder, "events.db")
    dead_path = os.path.join(folder, "dead-letters.jsonl")
    bad = _write_events(source, events, seed)
    click.echo(f"generated {events:,} events ({bad} malformed) in {source}")
    with open(source, encoding="utf-8") as lines, open(dead_path, "w", encoding="utf-8") as dead:
        summary = _run(lines, db_path, "events", 1000, 0.5, 1, 3, dead, True)
    click.echo(summary.report())
    click.echo(f"database: {db_path}\ndead letters: {dead_path}")
    if summary.read != events or not summary.complete:
        raise click.ClickException("the load did not account for every event")


def _run(
    source: IO[str],
    db_path: str,
    table: str,
    batch_size: int,
    flush_interval: float,
    workers: int,
    retries: int,
    dead_letter: IO[str] | None,
    progress: bool | None,
) -> LoadSummary:
    out = dead_letter or sys.stderr

    def on_dead_letter(letter: DeadLetter) -> None:
        out.write((letter.to_json() if dead_letter else f"dead letter: {letter.to_json()}") + "\n")

    bar = _progress_bar(progress)
    loader = Loader(
        db_path,
        table,
        batch_size=batch_size,
        flush_interval=flush_interval,
        workers=workers,
        retries=retries,
        on_dead_letter=on_dead_letter,
        on_batch=(lambda result: bar.update(len(result.items[0]))) if bar is not None else None,
    )
    try:
        return loader.load(source)
    finally:
        if bar is not None:
            bar.close()
        out.flush()


def _progress_bar(enabled: bool | None) -> Any:
    if enabled is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if enabled:
            raise click.UsageError(
                "--progress needs tqdm: pip install 'rxbatch[progress]'"
            ) from None
        return None
    return tqdm(unit="record", desc="written", disable=None if enabled is None else False)


def _write_events(path: str, count: int, seed: int) -> int:
    """Write ``count`` synthetic events, about 1% malformed; return how many are."""
    rng = random.Random(seed)
    kinds = ["click", "view", "purchase", "signup"]
    bad = 0
    with open(path, "w", encoding="utf-8") as file:
        for n in range(count):
            if rng.random() < 0.01:
                bad += 1
                file.write(
                    rng.choice(['{"id": ', "not json", "[1, 2, 3]", '"just a string"']) + "\n"
                )
                continue
            event: dict[str, Any] = {
                "id": n,
                "user": f"user-{rng.randrange(500)}",
                "kind": rng.choice(kinds),
            }
            if event["kind"] == "purchase":
                event["amount"] = round(rng.uniform(1, 200), 2)
            if n > count // 2:
                event["session"] = {"device": rng.choice(["ios", "android", "web"])}  # a new column
            file.write(json.dumps(event) + "\n")
    return bad
