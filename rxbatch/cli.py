"""The ``rxbatch`` command: stream JSON lines into a database in batches.

Exit status: 0 done; 1 the load stopped on an error (the summary says how
far it got); 2 a usage error, or ``--strict`` and something was
dead-lettered; 128 + N when signal N (Ctrl-C: 130) ended it. Every error is
one line on stderr, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from types import FrameType
from typing import IO, Any, NoReturn
from urllib.parse import unquote, urlsplit

import click

from .load import DeadLetter, LineSource, LoadedBatch, Loader, LoadError, LoadSummary

__all__ = ["main"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_OPTION_OF = {
    "db": "--db",
    "table": "--table",
    "pk": "--pk",
    "source": "SOURCE",
    "dead_letters": "--dead-letter",
    "journal_mode": "--journal-mode",
    "flush_interval": "--flush-interval",
    "busy_timeout": "--busy-timeout",
    "max_line_bytes": "--max-line-bytes",
    "on_conflict": "--upsert/--replace/--ignore",
    "stream": "--stream",
    "durable": "--durable",
    "ack_wait": "--ack-wait",
    "subject": "SOURCE",
    "servers": "SOURCE",
}


@click.group()
@click.version_option(package_name="rxbatch")
def cli() -> None:
    """Batch streams of events with rxbatch."""


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the command; every error ends as one line on stderr and an exit status."""
    try:
        code = cli.main(args=argv, prog_name="rxbatch", standalone_mode=False)
    except SystemExit as done:  # a command's own exit status
        code = done.code if isinstance(done.code, int) else 1
    except KeyboardInterrupt:  # before the load's own handlers are in place
        code = 130
    except click.ClickException as error:
        hint = ""
        if isinstance(error, click.UsageError) and error.ctx is not None:
            hint = f" (see '{error.ctx.command_path} --help')"
        _say(f"rxbatch: error: {error.format_message()}{hint}", err=True)
        code = error.exit_code
    except click.Abort:
        code = 130
    except Exception as error:  # a bug of ours: still one line, unless asked for more
        if os.environ.get("RXBATCH_TRACEBACK"):
            raise
        _say(
            f"rxbatch: internal error: {type(error).__name__}: {error} "
            "(set RXBATCH_TRACEBACK=1 to see where)",
            err=True,
        )
        code = 1
    _flush()
    # Leave at once, without Python's shutdown: that restores the default
    # SIGINT action, and a second Ctrl-C landing during it would kill the
    # process by signal instead of exiting with our status.
    os._exit(code if isinstance(code, int) else 0)


@cli.command()
@click.argument("source")
@click.option("--db", "db_path", required=True, help="SQLite database file (created if missing).")
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
    type=float,
    help="Seconds after a batch's first record when it is written even if not full "
    "(0.001 to 604800).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Batches parsed at once (they commit one at a time, in order).",
)
@click.option(
    "--retries",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="Further tries of a batch, or of opening the database, when it is busy or locked.",
)
@click.option(
    "--busy-timeout",
    default=2.0,
    show_default=True,
    type=float,
    help="Seconds each try waits for a lock.",
)
@click.option(
    "--pk",
    help="Primary key column(s), comma-separated: set when the table is "
    "created; with an existing table, its primary key or a UNIQUE index.",
)
@click.option(
    "--upsert", is_flag=True, help="A record whose key exists updates that row's columns it holds."
)
@click.option("--replace", is_flag=True, help="A record whose key exists replaces that row.")
@click.option("--ignore", is_flag=True, help="A record whose key exists is skipped (counted).")
@click.option(
    "--resume",
    is_flag=True,
    help="Record progress in the database (table "
    "_rxbatch_loads) with each batch, and continue after the last committed line of "
    "the same file. A file SOURCE only.",
)
@click.option(
    "--journal-mode",
    type=click.Choice(["wal", "delete", "truncate", "persist"]),
    help="Set the database's journal mode. Default: WAL for a database rxbatch "
    "creates; an existing database keeps its mode.",
)
@click.option(
    "--max-line-bytes",
    default=64 << 20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Longer lines are dead-lettered.",
)
@click.option(
    "--dead-letter",
    type=click.Path(dir_okay=False),
    help="JSON-lines file for lines that could not be loaded (default: stderr).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
@click.option("--strict", is_flag=True, help="Exit with status 2 if any line was dead-lettered.")
@click.option("--stream", help="nats:// SOURCE: the JetStream stream (it must exist).")
@click.option(
    "--durable",
    help="nats:// SOURCE: the durable consumer (created if missing); processes "
    "using the same one share its messages.",
)
@click.option(
    "--ack-wait",
    default=30.0,
    show_default=True,
    type=float,
    help="nats:// SOURCE: seconds before JetStream delivers an unacked message "
    "again (for a consumer rxbatch creates).",
)
def load(source: str, db_path: str, table: str, batch_size: int, flush_interval: float,
         workers: int, retries: int, busy_timeout: float, pk: str | None, upsert: bool,
         replace: bool, ignore: bool, resume: bool, journal_mode: str | None,
         max_line_bytes: int, dead_letter: str | None, progress: bool | None,
         strict: bool, stream: str | None, durable: str | None,
         ack_wait: float) -> None:  # fmt: skip
    """Load the JSON lines of SOURCE (a file, - for stdin, or nats://HOST:PORT/SUBJECT)
    into a SQLite table.

    Each batch is written in one transaction. A line that is not a JSON
    object, or a record the database rejects, goes to the dead letters with
    its line number and the reason; it never stops the load. An error no
    retry can fix (disk full, read-only database) stops it: what was
    committed stays, the summary says how far it got, exit status 1.

    Ctrl-C (or SIGTERM, SIGHUP) commits what was read, prints the summary
    and exits with status 128 + the signal (130 for Ctrl-C); a second one
    stops at once, rolling back the batch in progress. With --resume, a rerun
    of the same command continues after the last committed line.

    From NATS JetStream (nats://HOST:PORT/SUBJECT --stream NAME --durable
    NAME), each message is a line, and each batch is acked once its
    transaction has committed (dead-lettered messages are terminated): a
    message not committed is delivered again, to this process or another on
    the same durable consumer. It runs until a signal.
    """
    modes = [
        name for name, on in (("upsert", upsert), ("replace", replace), ("ignore", ignore)) if on
    ]
    if len(modes) > 1:
        raise click.UsageError("--upsert, --replace and --ignore exclude each other")
    if resume and source == "-":
        raise click.UsageError("--resume needs a file SOURCE: stdin cannot be read again")
    opened: str | LineSource = source
    if source.startswith("nats://"):
        if resume:
            raise click.UsageError(
                "--resume is for files: with a nats:// SOURCE the durable consumer "
                "(--durable) is the checkpoint"
            )
        opened = _jetstream_source(source, stream, durable, ack_wait)
    elif stream is not None or durable is not None:
        raise click.UsageError("--stream and --durable are for a nats:// SOURCE")
    options = {
        "batch_size": batch_size, "flush_interval": flush_interval, "workers": workers,
        "retries": retries, "busy_timeout": busy_timeout, "pk": pk,
        "on_conflict": modes[0] if modes else "error", "resume": resume,
        "journal_mode": journal_mode, "max_line_bytes": max_line_bytes,
    }  # fmt: skip
    outcome = _run(opened, db_path, table, options, dead_letter, progress)
    if outcome.interrupted_by:
        _exit(128 + outcome.interrupted_by)
    if strict and outcome.summary.dead_lettered:
        _exit(2)


def _jetstream_source(
    source: str, stream: str | None, durable: str | None, ack_wait: float
) -> LineSource:
    """``nats://HOST:PORT/SUBJECT`` with ``--stream`` and ``--durable``, as the loader's source."""
    if stream is None or durable is None:
        raise click.UsageError("a nats:// SOURCE needs --stream and --durable")
    try:
        from .connectors._jetstream import redact
        from .connectors.nats import JetStreamLines
    except ImportError:
        raise click.UsageError(
            "a nats:// SOURCE needs nats-py: pip install 'rxbatch[nats]'"
        ) from None
    parts = urlsplit(source)
    subject = unquote(parts.path[1:])
    if not parts.netloc or not subject or parts.query or parts.fragment:
        raise click.UsageError(
            f"SOURCE: {redact(source)!r} is not nats://HOST:PORT/SUBJECT (quote a subject with "
            "wildcards from the shell: 'nats://127.0.0.1:4222/events.>')"
        )
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        port = parts.netloc.rpartition("@")[2].rpartition(":")[2]
        raise click.UsageError(
            f"SOURCE: the port {port!r} of {redact(source)!r} is not a number from 0 to 65535"
        ) from None
    # nats-py's own log (a connection error in its reader, say) as one line, never a traceback
    for name in ("nats", "rxbatch.connectors.nats"):  # ours: messages it could not release
        log = logging.getLogger(name)
        log.addHandler(_OneLineLog())
        log.propagate = False
    try:
        return JetStreamLines(
            f"nats://{parts.netloc}", stream=stream, durable=durable, subject=subject,
            ack_wait=ack_wait,
        )  # fmt: skip
    except (TypeError, ValueError) as error:
        raise click.UsageError(_in_option_words(str(error))) from None


class _OneLineLog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        cause = f": {record.exc_info[1]!r}" if record.exc_info else ""
        _say(f"rxbatch: {record.name}: {record.getMessage()}{cause}", err=True)


class _Outcome:
    def __init__(self, summary: LoadSummary, interrupted_by: int) -> None:
        self.summary = summary
        self.interrupted_by = interrupted_by


def _run(
    source: str | LineSource,
    db_path: str,
    table: str,
    options: dict[str, Any],
    dead_letter: str | None,
    progress: bool | None,
) -> _Outcome:
    """Load, print the summary; exit 1 with one line if the load stopped on an error."""
    bar = _progress_bar(progress)
    say_dead = _dead_letter_printer(bar)
    try:
        loader = Loader(
            db_path,
            table,
            **options,
            dead_letters=dead_letter,
            on_dead_letter=None if dead_letter else say_dead,
            on_batch=_bar_updater(bar) if bar is not None else None,
        )
    except (TypeError, ValueError) as error:
        raise click.UsageError(_in_option_words(str(error))) from None
    # Installed for good: a signal after the load (while the summary prints)
    # must not turn into a KeyboardInterrupt.
    stops = _Signals(loader)
    try:
        summary = loader.load(_open_source(source))
    except LoadError as error:
        if error.summary is None:
            option = _OPTION_OF.get(error.param or "", "")
            message = f"{option}: {error}" if option else str(error)
            if error.usage:
                raise click.UsageError(message) from None
            raise click.ClickException(message) from None  # the world's fault: status 1
        _close(bar)
        _say(error.summary.report())
        _say(f"rxbatch: error: {error}", err=True)
        _exit(1)
    _close(bar)
    _say(summary.report())
    return _Outcome(summary, stops.first)


def _open_source(source: str | LineSource) -> Any:
    if source != "-":
        return source
    # Our own unbuffered handle on fd 0: a reader thread blocked in it holds
    # no lock of sys.stdin's, so exiting while stdin is still open is clean.
    try:
        return open(0, "rb", buffering=0, closefd=False)
    except OSError as error:
        raise click.UsageError(f"SOURCE: stdin is closed ({error.strerror})") from None


class _Signals:
    """SIGINT/SIGTERM/SIGHUP: the first commits what was read, the second stops at once."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.first = 0
        for number in _STOP_SIGNALS:
            signal.signal(number, self._handle)

    def _handle(self, number: int, _frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        if not self.first:
            self.first = number
            self.loader.stop()
            _raw_say(
                f"rxbatch: {name}: committing the batch in progress "
                "(again to stop at once, rolling it back)\n"
            )
        else:
            self.loader.abort()
            _raw_say(f"rxbatch: {name} again: stopping at once\n")


def _dead_letter_printer(bar: Any) -> Callable[[DeadLetter], None]:
    def say(letter: DeadLetter) -> None:
        line = f"dead letter: {letter.to_json()}"
        if sys.stderr is None:
            raise OSError("stderr is closed")
        if bar is not None:
            bar.write(line, file=sys.stderr)
        else:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    return say


def _bar_updater(bar: Any) -> Callable[[LoadedBatch], None]:
    dead = 0

    def update(batch: LoadedBatch) -> None:
        nonlocal dead
        dead += batch.dead_lettered
        bar.set_postfix(dead=dead, refresh=False)
        bar.update(batch.lines)

    return update


def _progress_bar(enabled: bool | None) -> Any:
    if enabled is False or sys.stderr is None:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if enabled:
            raise click.UsageError(
                "--progress needs tqdm: pip install 'rxbatch[progress]'"
            ) from None
        return None
    return tqdm(unit=" lines", desc="loaded", disable=None if enabled is None else False)


def _close(bar: Any) -> None:
    if bar is not None:
        bar.close()


def _in_option_words(message: str) -> str:
    """A Loader argument error in the command's words (``flush_interval``: ``--flush-interval``)."""
    for name, option in _OPTION_OF.items():
        if message.startswith(name + " "):
            return option + message[len(name) :]
    return message


def _say(text: str, *, err: bool = False) -> None:
    """Print a line; a closed or broken stream (``| head``) is silenced, not a traceback."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:
        return
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):
        _silence(stream)


def _raw_say(text: str) -> None:
    """Write to stderr from a signal handler: no buffered-stream locks."""
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


def _silence(stream: IO[str]) -> None:
    # Point the broken descriptor at /dev/null so the exit-time flush is quiet.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _exit(code: int) -> NoReturn:
    """End the command with ``code`` (``main`` flushes and leaves)."""
    sys.exit(code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                _silence(stream)


@cli.command()
@click.option(
    "--events",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Events to generate.",
)
@click.option("--seed", default=7, show_default=True, help="Random seed of the generated events.")
def demo(events: int, seed: int) -> None:  # fmt: skip
    """Generate an event stream (with a few malformed lines) and load it into SQLite."""
    folder = tempfile.mkdtemp(prefix="rxbatch-demo-")
    source = os.path.join(folder, "events.jsonl")
    db_path = os.path.join(folder, "events.db")
    dead_path = os.path.join(folder, "dead-letters.jsonl")
    bad = _write_events(source, events, seed)
    _say(f"generated {events:,} events ({bad} malformed) in {source}")
    options = {"batch_size": 1000, "flush_interval": 0.5}
    outcome = _run(source, db_path, "events", options, dead_path, True)
    _say(f"database: {db_path}\ndead letters: {dead_path}")
    summary = outcome.summary
    if outcome.interrupted_by:
        _exit(128 + outcome.interrupted_by)
    if summary.read != events or not summary.complete:
        raise click.ClickException("the load did not account for every event")


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
