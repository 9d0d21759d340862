"""How the server's messages reach the browser: a script run's messages in one burst, sent as
soon as the run ends.

A script run (a page's, or a fragment's on a slider step) sends its tab a series of small
websocket messages: the run starting, each element's delta, the run finishing. Two things
decide when they arrive.

**Nagle's algorithm.** With it on, the kernel sends the first small message and holds the rest
until the browser acknowledges that one, and the browser's kernel delays that acknowledgement
(up to 40 ms on Linux; Windows' default timer is 200 ms). asyncio turns it off (TCP_NODELAY)
on each TCP connection it accepts, but only when the socket reports ``proto ==
IPPROTO_TCP``; Streamlit's server (Starlette on uvicorn) listens on a socket it binds itself
with ``socket.socket(family)``, whose proto is 0, and the connections it accepts inherit that,
so Nagle stayed on. The same mechanism is uvicorn issue 3149
(https://github.com/Kludex/uvicorn/issues/3149). Measured over Streamlit's protocol on this
machine (benchmarks/st_client.py, an x₀ step of the latent variable models page): the run
ended 22 ms after the request, and every message after the first arrived at 44-52 ms.
``enable_nodelay`` makes asyncio's check accept proto 0, which for a stream socket of the
internet families is TCP.

**Batches in the browser.** Streamlit's frontend redraws the page for each batch of messages
that arrives (it gathers what comes within 10 ms), and a rerun first sends the containers it
will fill: a fragment's elements that arrive in a later batch than their containers are drawn
twice, and its charts are rebuilt instead of updated. With Nagle off alone, a step of the
latent variable models page arrived in two batches and took longer in the browser (slider ->
repaint p50 176 ms against 151 with Nagle on, side by side). ``BurstMiddleware`` keeps a run's
messages together: from the run's start it holds them, and sends them all when the run ends
(its ``script_finished``) or, for a long run, HOLD_S after the first one held. Messages outside
a run go out at once.

Together, on this machine: a slider move's round trip over the protocol, p50 per page
(`python benchmarks/server_cost.py --cache DIR`, idle server, 3 x 30 moves, with
LATENT_LAB_TRANSPORT=0 / without): 48-51 -> 15-31 ms on every page, the server's CPU per move
unchanged (home 9-10 ms, latent space 16-21, latent variable models 32-36); and
slider -> repaint in Chromium, two servers side by side (one with LATENT_LAB_TRANSPORT=0),
4 x 12 steps a page, p50 ms: latent variable models 163 -> 152, home 129 -> 127, autoencoder
152 -> 137, GAN 162 -> 140, VAE 118 -> 117, latent distribution 138 -> 130, latent space
106 -> 100, latent representation 136 -> 130 (the browser's own work is most of a step here; a
browser whose acknowledgements come later no longer waits for them at all).
LATENT_LAB_TRANSPORT=0 leaves both as Streamlit has them (for side-by-side benchmarks).
"""

from __future__ import annotations

import asyncio
import os
import socket
from asyncio import base_events

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

HOLD_S = 0.03  # the longest a message waits for the rest of its run
ENABLED = os.environ.get("LATENT_LAB_TRANSPORT", "1") != "0"
_INET = (socket.AF_INET, socket.AF_INET6)


def _set_nodelay(sock: socket.socket) -> None:
    """asyncio's ``base_events._set_nodelay``, also for TCP sockets that report proto 0."""
    if (sock.family in _INET and sock.type == socket.SOCK_STREAM
            and sock.proto in (0, socket.IPPROTO_TCP)):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def enable_nodelay() -> bool:
    """Make asyncio set TCP_NODELAY on every TCP connection accepted from now on (its socket
    transports call ``base_events._set_nodelay`` as they are made). False when switched off
    (LATENT_LAB_TRANSPORT=0) or when this Python's asyncio has no such hook."""
    if not ENABLED or not callable(getattr(base_events, "_set_nodelay", None)):
        return False
    base_events._set_nodelay = _set_nodelay
    return True


def message_kind(data: bytes) -> str:
    """What a serialized ForwardMsg is, as far as bursts go: "start" (a run begins: the
    session's status says a script is running), "new_session" (also a run's beginning),
    "script_finished" (its end), another message type, or "?" if it does not parse."""
    try:
        msg = ForwardMsg.FromString(data)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError, or anything else: not ours
        return "?"
    kind = msg.WhichOneof("type") or "?"
    if kind == "session_status_changed" and msg.session_status_changed.script_is_running:
        return "start"
    return kind


class BurstMiddleware:
    """ASGI middleware: on the websocket, a script run's messages leave together (above)."""

    def __init__(self, app, hold: float = HOLD_S, enabled: bool = ENABLED):
        self.app = app
        self.hold = hold
        self.enabled = enabled

    async def __call__(self, scope, receive, send):
        if not self.enabled or scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        held: list[dict] = []
        lock = asyncio.Lock()  # one flush at a time, so messages keep their order
        timer: asyncio.TimerHandle | None = None
        in_run = False
        failed: BaseException | None = None  # a timed flush's error, raised to the next send

        async def flush(then: dict | None = None) -> None:
            """Send what is held, then `then` (a message that is not held)."""
            nonlocal timer
            async with lock:
                if timer is not None:
                    timer.cancel()
                    timer = None
                while held:
                    await send(held.pop(0))
                if then is not None:
                    await send(then)

        async def timed_flush() -> None:
            nonlocal failed
            try:
                await flush()
            except BaseException as e:  # noqa: BLE001 - the disconnect, for Streamlit's sender
                held.clear()
                failed = e

        async def burst_send(message: dict) -> None:
            nonlocal timer, in_run, failed
            if failed is not None:
                e, failed = failed, None
                raise e
            data = message.get("bytes") if message["type"] == "websocket.send" else None
            if data is not None:
                kind = message_kind(data)
                if kind in ("start", "new_session"):
                    in_run = True
                if in_run:
                    held.append(message)
                    if kind == "script_finished":
                        in_run = False
                        await flush()
                    elif timer is None:
                        timer = loop.call_later(self.hold,
                                                lambda: loop.create_task(timed_flush()))
                    return
            await flush(then=message)

        try:
            await self.app(scope, receive, burst_send)
        finally:
            if timer is not None:
                timer.cancel()
