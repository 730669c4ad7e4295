"""How `serve` runs the app under uvicorn, with limits for slow or hostile clients.

uvicorn closes a kept-alive connection that stays idle (timeout_keep_alive), but a client
that connects and sends nothing, or trickles a request's headers a byte at a time, holds
its connection for ever. HeaderDeadline gives every request's headers a deadline, counted
from the connection's start or the end of the previous response. h11 refuses (400) a
request head once more than MAX_HEADER_BYTES of it wait incomplete, so a head can be no
larger than that plus one socket read. Request bodies are not timed: an upload
over a slow link may take long, and its size is bounded by the upload limit."""

from __future__ import annotations

import asyncio

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

KEEP_ALIVE_S = 5  # an idle kept-alive connection is closed after this
HEADER_TIMEOUT_S = 10.0  # a request's line and headers must have arrived within this
MAX_HEADER_BYTES = 16 * 1024  # of a request line and headers waiting incomplete


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose next request's headers have not
    all arrived within header_timeout seconds."""

    header_timeout = HEADER_TIMEOUT_S
    _deadline: asyncio.TimerHandle | None = None

    def _sync_deadline(self) -> None:
        """Armed while the connection waits for a request's headers (h11's client state IDLE),
        once per request: more bytes do not push it back. Cancelled once they are in."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting and self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)
        elif not waiting and self._deadline is not None:
            self._cancel_deadline()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._sync_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._sync_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._cancel_deadline()  # the next request gets a deadline of its own
        self._sync_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)


def server_config(app, host: str, port: int, header_timeout: float = HEADER_TIMEOUT_S,
                  keep_alive: int = KEEP_ALIVE_S) -> uvicorn.Config:
    """The uvicorn configuration `serve` runs: h11 with the header deadline and size limit,
    and the keep-alive timeout."""
    protocol = type("SitewatchH11", (HeaderDeadline,), {"header_timeout": header_timeout})
    return uvicorn.Config(app, host=host, port=port, log_level="warning", http=protocol,
                          timeout_keep_alive=keep_alive, h11_max_incomplete_event_size=MAX_HEADER_BYTES)
