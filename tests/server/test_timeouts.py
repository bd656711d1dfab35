"""Stalled clients on raw sockets against a real uvicorn with short timeouts: closed, never held.

Each socket waits at most HELD_LIMIT seconds for the server to close it; without the timeouts the
server holds it forever and the read times out.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time

import pytest

from vistamatch.server import create_app
from vistamatch.server.timeouts import server_options

from .helpers import LiveServer

TIMEOUT = 1.0  # header, body and keep-alive timeouts of the server under test, in seconds
HELD_LIMIT = 20.0  # how long a test waits for the server to close a stalled socket

HALF_HEADERS = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
SHORT_BODY = (
    b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
    b"Content-Length: 5000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.jpg\"\r\n\r\n\xff\xd8"
)


@pytest.fixture
def short_settings(settings):
    return dataclasses.replace(
        settings, header_timeout_seconds=TIMEOUT, body_timeout_seconds=TIMEOUT, keep_alive_seconds=TIMEOUT, max_connections=8
    )


@pytest.fixture
def strict(short_settings, engine):
    with LiveServer(create_app(short_settings, engine=engine), **server_options(short_settings)) as server:
        yield server


def stalled(server: LiveServer, sent: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=HELD_LIMIT)
    if sent:
        sock.sendall(sent)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; socket.timeout if it holds the socket open."""
    chunks = []
    with sock:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("sent", [b"", HALF_HEADERS], ids=["nothing-sent", "half-headers"])
def test_late_headers_get_408_and_the_connection_closed(strict, sent):
    sock = stalled(strict, sent)
    with strict.client() as http:  # the server answers others meanwhile
        assert http.get("/api/health").status_code == 200
    answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in answer.lower()


def test_a_body_shorter_than_its_content_length_gets_408_and_the_connection_closed(strict):
    sock = stalled(strict, SHORT_BODY)
    with strict.client() as http:
        assert http.get("/api/health").status_code == 200
    head, _, body = read_until_closed(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower(), head
    assert "request timeout" in json.loads(body)["error"]
    with strict.client() as http:
        assert http.get("/api/history").json()["total"] == 0


def test_headers_trickled_after_a_first_request_are_cut_off(strict):
    """Slowloris on a kept-alive connection: each byte would restart uvicorn's keep-alive timer."""
    sock = stalled(strict, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 ")
    deadline = time.monotonic() + HELD_LIMIT
    try:
        for byte in HALF_HEADERS * 100:
            assert time.monotonic() < deadline, "the trickling client was never cut off"
            sock.sendall(bytes([byte]))
            time.sleep(TIMEOUT / 4)
    except (BrokenPipeError, ConnectionResetError):
        pass
    answers = first + read_until_closed(sock)
    assert answers.count(b"HTTP/1.1 ") == 2 and b"HTTP/1.1 408 " in answers, answers


def test_an_idle_kept_alive_connection_is_closed(strict):
    sock = stalled(strict, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert read_until_closed(sock).startswith(b"HTTP/1.1 200 ")


def test_a_slow_answer_is_not_cut_by_the_header_timeout(short_settings, engine):
    """The header timer runs only while no request is being answered: a long response completes."""
    app = create_app(short_settings, engine=engine)

    @app.get("/slow")
    async def slow() -> dict:
        import asyncio

        await asyncio.sleep(3 * TIMEOUT)
        return {"slow": True}

    with LiveServer(app, **server_options(short_settings)) as server, server.client() as http:
        assert http.get("/slow").json() == {"slow": True}


def test_many_stalled_sockets_are_closed_and_the_server_answers_again(strict):
    socks = [stalled(strict, HALF_HEADERS if i % 2 else b"") for i in range(50)]
    answers = [read_until_closed(s) for s in socks]
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers)
    deadline = time.monotonic() + HELD_LIMIT
    with strict.client() as http:
        while (status := http.get("/api/health").status_code) == 503 and time.monotonic() < deadline:
            time.sleep(0.1)  # the server may still be counting the last closed connections
    assert status == 200
