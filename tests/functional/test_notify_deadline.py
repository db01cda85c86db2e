"""A run's notifications end before its deadline, whatever the webhook does (issue 20).

Each test runs the stop function on one instance with FC_TIMEOUT=3 (the run's deadline is then
2.25 s in: the limit less a quarter of it), against a local webhook on 127.0.0.1 that hangs, drips
its answer a header line at a time, or refuses the connection. The run must return before the
time limit, in real time (the emulator's clock only moves on sleeps), and its summary must say
what was not sent. Before the time budget, such a run took attempts x a 10 s per-read timeout
plus the waits, per channel in series: 47 s with FC_TIMEOUT=30.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ecs_emulator import EcsEmulator
from ecs_lifecycle.model import Function
from tests.support import Runner

LIMIT_SECONDS = 3.0
DEV = {"env": "dev"}
TOKEN = "deadline-token-" + "0123456789abcdef"


class TcpServer:
    """A socket server on 127.0.0.1 whose every connection `behave` handles, in a thread.

    Every loop is bounded: the accept loop by the stop event (0.05 s polls), and each handler
    by its own count or time.
    """

    def __init__(self, behave: Callable[[socket.socket, threading.Event], None]) -> None:
        self._behave = behave
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self.stopped = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.05)
            if not ready:
                continue
            conn, _ = self._listener.accept()
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        # OSError: the client cut the connection, which is the point.
        with conn, contextlib.suppress(OSError):
            self._behave(conn, self.stopped)

    def close(self) -> None:
        self.stopped.set()
        self._thread.join(timeout=2)
        self._listener.close()


def hang(conn: socket.socket, stopped: threading.Event) -> None:
    """Accept, read the request, never answer (until the test ends, at most 30 s)."""
    conn.settimeout(0.1)
    deadline = time.monotonic() + 30
    while not stopped.is_set() and time.monotonic() < deadline:
        try:
            if conn.recv(65536) == b"":
                return
        except TimeoutError:
            continue


def drip(conn: socket.socket, stopped: threading.Event) -> None:
    """Answer a status line, then one header line every 0.3 s, for up to 30 s: a per-read
    timeout never fires on it."""
    conn.settimeout(0.3)
    with contextlib.suppress(TimeoutError):
        conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for line in range(100):
        if stopped.wait(0.3):
            return
        conn.sendall(f"X-Drip-{line}: still here\r\n".encode())


@pytest.fixture
def servers() -> Iterator[list[TcpServer]]:
    started: list[TcpServer] = []
    yield started
    for server in started:
        server.close()


def serve(
    servers: list[TcpServer], behave: Callable[[socket.socket, threading.Event], None]
) -> int:
    server = TcpServer(behave)
    servers.append(server)
    return server.port


def refusing_port() -> int:
    """A port on 127.0.0.1 where nothing listens: a connection there is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_one(
    run: Runner, ecs_emulator: EcsEmulator, urls: list[str]
) -> tuple[dict[str, Any], float]:
    """The stop function on one Running instance, reporting to `urls`; the result and its time."""
    ecs_emulator.add_instance(status="Running", tags=DEV)
    started = time.monotonic()
    result = run(
        Function.STOP,
        {"tags": DEV},
        NOTIFY_URLS=",".join(urls),
        FC_TIMEOUT=str(int(LIMIT_SECONDS)),
    )
    return result, time.monotonic() - started


def not_sent(result: dict[str, Any], channel: str) -> dict[str, Any]:
    [outcome] = [entry for entry in result["notifications"] if entry["channel"] == channel]
    assert isinstance(outcome, dict)
    assert outcome["kind"] == "report"
    assert outcome["delivered"] is False
    return outcome


def test_a_webhook_that_never_answers_does_not_keep_the_run_past_its_limit(
    run: Runner, ecs_emulator: EcsEmulator, servers: list[TcpServer]
) -> None:
    port = serve(servers, hang)

    result, took = stop_one(run, ecs_emulator, [f"webhook=http://127.0.0.1:{port}/hook"])

    assert took < LIMIT_SECONDS
    assert result["counts"]["done"] == 1, "the ECS work stands"
    outcome = not_sent(result, "webhook#1")
    assert outcome["out_of_time"] is True
    assert outcome["unsent"] == 1
    assert "report to webhook#1 not delivered by the run's deadline" in " ".join(result["notes"])


def test_a_webhook_that_drips_its_answer_is_cut_at_the_budget(
    run: Runner, ecs_emulator: EcsEmulator, servers: list[TcpServer]
) -> None:
    port = serve(servers, drip)

    result, took = stop_one(run, ecs_emulator, [f"slack=http://127.0.0.1:{port}/services/x"])

    assert took < LIMIT_SECONDS
    outcome = not_sent(result, "slack#1")
    assert outcome["out_of_time"] is True
    assert "not delivered by the run's deadline" in " ".join(result["notes"])


def test_a_refused_connection_ends_in_time_and_says_so(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    port = refusing_port()

    result, took = stop_one(run, ecs_emulator, [f"wecom=http://127.0.0.1:{port}/send?key={TOKEN}"])

    assert took < LIMIT_SECONDS
    outcome = not_sent(result, "wecom#1")
    # Retried while the budget had room for the backoff (the waits pass on the emulator's clock).
    assert "connection failed (ConnectionRefusedError)" in outcome["error"]
    assert TOKEN not in json.dumps(result)


def test_channels_share_one_budget_in_parallel_and_a_good_one_still_arrives(
    run: Runner, ecs_emulator: EcsEmulator, servers: list[TcpServer], httpserver: HTTPServer
) -> None:
    arrived: list[dict[str, Any]] = []

    def wecom(request: Request) -> Response:
        arrived.append(json.loads(request.data))
        return Response('{"errcode":0,"errmsg":"ok"}', content_type="application/json")

    httpserver.expect_request("/send", method="POST").respond_with_handler(wecom)
    urls = [
        f"webhook=http://127.0.0.1:{serve(servers, hang)}/hook",
        f"dingtalk=http://127.0.0.1:{serve(servers, drip)}/robot/send?access_token={TOKEN}",
        f"feishu=http://127.0.0.1:{refusing_port()}/open-apis/bot/v2/hook/{TOKEN}",
        f"wecom={httpserver.url_for('/send')}?key={TOKEN}",
    ]

    result, took = stop_one(run, ecs_emulator, urls)

    # In series, the hanging and the dripping channel would each have taken the whole budget.
    assert took < LIMIT_SECONDS
    delivered = {entry["channel"]: entry["delivered"] for entry in result["notifications"]}
    assert delivered == {
        "webhook#1": False,
        "dingtalk#2": False,
        "feishu#3": False,
        "wecom#4": True,
    }
    assert len(arrived) == 1
    notes = " ".join(result["notes"])
    assert "report to webhook#1 not delivered" in notes
    assert "report to dingtalk#2 not delivered" in notes
    assert TOKEN not in json.dumps(result)
