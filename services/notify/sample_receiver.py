"""A sample of the recipients' side of the webhook channel: an HTTP server on loopback that
checks each POST's signature as a recipient's case system should, and answers as told:
`accept` (200), `fail` (503) or `hang` (answers only after the hub has stopped waiting).
The path names the recipient: POST /sefton-idva. `make demo` runs one as St Helens IDVA's
case system; the tests make it fail and hang."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)


@dataclass(frozen=True)
class Request:
    recipient: str
    idempotency_key: str
    body: dict
    answer: str  # accept, fail or hang


class SampleReceiver:
    def __init__(self, port: int, secret: bytes, answer_for_seconds: float):
        self.port, self.secret, self.hang_seconds = port, secret, answer_for_seconds
        self.behaviour: dict[str, str] = {}  # recipient -> accept | fail | hang (default accept)
        self.requests: list[Request] = []
        self.bad_signatures = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def received(self, recipient: str, answer: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests
                    if r.recipient == recipient and answer in (None, r.answer)]

    def accepted_ids(self, recipient: str) -> list[str]:
        """Referral ids the recipient accepted (answered 200), in the order it got them."""
        return [r.idempotency_key for r in self.received(recipient, "accept")]

    def _record(self, request: Request | None) -> None:
        with self._lock:
            if request is None:
                self.bad_signatures += 1
            else:
                self.requests.append(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recipients = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not verify_signature([recipients.secret], self.headers.get(TIMESTAMP_HEADER, ""),
                                        self.headers.get(SIGNATURE_HEADER, ""), body, int(time.time())):
                    recipients._record(None)
                    return self._answer(401)
                recipient = self.path.strip("/")
                answer = recipients.behaviour.get(recipient, "accept")
                recipients._record(Request(recipient, self.headers[IDEMPOTENCY_HEADER],
                                           json.loads(body), answer))
                if answer == "hang":
                    time.sleep(recipients.hang_seconds)
                self._answer(200 if answer == "accept" else 503)

            def _answer(self, status: int) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the hub stopped waiting: that was the point

            def log_message(self, *args):
                pass  # callers read self.requests, not a log

        return Handler
