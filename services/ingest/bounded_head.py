"""uvicorn's HTTP/1.1 protocol with the two limits on a request's head that uvicorn lacks.

- Time: a request's head (request line and headers) must be complete within
  HEAD_SECONDS of the connection opening or of the previous response, else the
  connection is closed. uvicorn has no such timeout (its issue #157, "timeout-request-
  start", is open): its keep-alive timer restarts on every byte, so a client trickling
  a header a byte at a time held a connection for as long as it liked.
- Size: a head over HEAD_BYTES is answered 431 and the connection closed. h11's own
  limit (uvicorn's h11_max_incomplete_event_size, set to the same) applies only while
  a head is incomplete, so a large head that arrives in one read was accepted, and
  uvicorn answers h11's refusal with a plain 400.

Passed to uvicorn as its `http` protocol class (services/ingest/main.py).
"""
from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_SECONDS = 5.0
HEAD_BYTES = 16 * 1024
HEAD_END = b"\r\n\r\n"
_TOO_LARGE_BODY = json.dumps({"detail": [{"path": "(headers)", "problem":
                                          f"are over {HEAD_BYTES} bytes"}]}).encode()
TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
             b"connection: close\r\ncontent-length: " + str(len(_TOO_LARGE_BODY)).encode()
             + b"\r\n\r\n" + _TOO_LARGE_BODY)


class BoundedHeadProtocol(H11Protocol):
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head():
            self._head += data
            end = self._head.find(HEAD_END)
            if (len(self._head) if end < 0 else end) > HEAD_BYTES:
                self._cancel_deadline()
                self.transport.write(TOO_LARGE)
                self.transport.close()
                return
        super().data_received(data)
        if not self._awaiting_head():
            self._head.clear()
            self._cancel_deadline()

    def _awaiting_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _await_head(self) -> None:
        self._head = bytearray()
        self._cancel_deadline()
        self._head_deadline = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._awaiting_head() and not self.transport.is_closing():
            self.transport.close()

    def _cancel_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
