"""A client may not hold a connection by trickling its headers, nor send headers of any size.
Raw sockets on loopback against the running ingest; every wait is bounded."""
import socket
import time
from urllib.parse import urlsplit

import pytest

from referral_hub.services.ingest.bounded_head import HEAD_BYTES, HEAD_SECONDS

TRICKLERS = 40
GIVE_UP_AFTER = HEAD_SECONDS + 10  # the test's own bound; the hub's limit is HEAD_SECONDS


@pytest.fixture
def ingest_address(hub):
    parts = urlsplit(hub.urls()["ingest"])
    return parts.hostname, parts.port


def connect(address) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    sock.settimeout(0.05)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def answer(address, head: bytes) -> bytes:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(head)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received:
                break
        return received


def test_clients_trickling_their_headers_are_cut_off(ingest_address):
    open_ = [connect(ingest_address) for _ in range(TRICKLERS)]
    for sock in open_:
        sock.sendall(b"POST /v1/incidents HTTP/1.1\r\nHost: hub\r\n")
    deadline = time.monotonic() + GIVE_UP_AFTER
    try:
        while open_ and time.monotonic() < deadline:
            for sock in list(open_):
                try:
                    sock.sendall(b"X")  # one byte of a header that never ends
                except OSError:
                    pass  # a closed connection is what we wait for; recv below says so
                if closed_by_server(sock):
                    open_.remove(sock)
                    sock.close()
            time.sleep(0.2)
        assert open_ == [], f"{len(open_)} of {TRICKLERS} trickling connections still open"
    finally:
        for sock in open_:
            sock.close()


@pytest.mark.parametrize("size", [HEAD_BYTES + 1, 100 * 1024])
def test_headers_over_the_limit_are_refused_431(ingest_address, size):
    head = b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Padding: " + b"a" * size + b"\r\n\r\n"
    assert answer(ingest_address, head).startswith(b"HTTP/1.1 431 ")


def test_headers_within_the_limit_are_served(ingest_address):
    head = b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\nX-Padding: " + b"a" * 8000 + b"\r\n\r\n"
    assert answer(ingest_address, head).startswith(b"HTTP/1.1 200 ")
