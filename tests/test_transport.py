"""dashboard/transport.py: TCP_NODELAY on the server's connections, and a script run's
messages sent together (the middleware around a fake app; every browser test runs the real
server with both)."""

from __future__ import annotations

import asyncio
import socket
import threading
from asyncio import base_events

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from dashboard import transport


def _run(coro, timeout: float = 10):
    """asyncio.run on a thread of its own: the browser tests leave an event loop on this one."""
    out = []
    t = threading.Thread(target=lambda: out.append(asyncio.run(coro)))
    t.start()
    t.join(timeout=timeout)
    assert len(out) == 1, "the coroutine did not finish"
    return out[0]


def _accepted_socket_options() -> tuple[int, int]:
    """(proto, TCP_NODELAY) of a connection accepted on a listening socket bound the way
    Streamlit's server binds it: socket.socket(family), proto 0."""
    async def main():
        listener = socket.socket(socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        seen = asyncio.get_running_loop().create_future()

        class Report(asyncio.Protocol):
            def connection_made(self, tr):
                sock = tr.get_extra_info("socket")
                if not seen.done():
                    seen.set_result((sock.proto, sock.getsockopt(socket.IPPROTO_TCP,
                                                                  socket.TCP_NODELAY)))
                tr.close()

        server = await asyncio.get_running_loop().create_server(Report, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        result = await asyncio.wait_for(seen, 5)
        writer.close()
        server.close()
        return result
    return _run(main())


def test_asyncio_leaves_nagle_on_for_a_socket_bound_like_streamlits(monkeypatch):
    monkeypatch.setattr(base_events, "_set_nodelay", base_events._set_nodelay)  # restored after
    assert _accepted_socket_options() == (0, 0)  # the bug this module works around


def test_enable_nodelay_turns_it_off_there(monkeypatch):
    monkeypatch.setattr(base_events, "_set_nodelay", base_events._set_nodelay)
    monkeypatch.setattr(transport, "ENABLED", True)
    assert transport.enable_nodelay()
    proto, nodelay = _accepted_socket_options()
    assert proto == 0 and nodelay != 0


def test_enable_nodelay_can_be_switched_off(monkeypatch):
    original = base_events._set_nodelay
    monkeypatch.setattr(base_events, "_set_nodelay", original)
    monkeypatch.setattr(transport, "ENABLED", False)
    assert not transport.enable_nodelay()
    assert base_events._set_nodelay is original


def test_set_nodelay_leaves_other_sockets_alone():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        transport._set_nodelay(udp)  # no TCP option on a datagram socket: no error
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        transport._set_nodelay(unix)


# --- message kinds ----------------------------------------------------------------------------

def _msg(**set_fields) -> bytes:
    m = ForwardMsg()
    for path, value in set_fields.items():
        target = m
        *parents, leaf = path.split("__")
        for p in parents:
            target = getattr(target, p)
        setattr(target, leaf, value)
    return m.SerializeToString()


START = _msg(session_status_changed__script_is_running=True)
NEW_SESSION = _msg(new_session__name="app")
DELTA = _msg(delta__new_element__markdown__body="x")
FINISHED = _msg(script_finished=ForwardMsg.FINISHED_SUCCESSFULLY)
IDLE = _msg(session_status_changed__run_on_save=False)


def test_message_kind():
    assert transport.message_kind(START) == "start"
    assert transport.message_kind(NEW_SESSION) == "new_session"
    assert transport.message_kind(DELTA) == "delta"
    assert transport.message_kind(FINISHED) == "script_finished"
    assert transport.message_kind(IDLE) == "session_status_changed"
    assert transport.message_kind(b"\xff\xff\xff") == "?"


# --- the middleware ---------------------------------------------------------------------------

def _ws(data: bytes) -> dict:
    return {"type": "websocket.send", "bytes": data}


def _through(script, hold: float = 0.05, enabled: bool = True, scope_type: str = "websocket"):
    """Run the middleware around an app that calls script(send) and records, for each
    message the app sends, what had reached the client when the app's send returned."""
    sent: list[dict] = []
    seen_after: list[int] = []

    async def client_send(message):
        sent.append(message)

    async def app(scope, receive, send):
        async def recording_send(message):
            await send(message)
            seen_after.append(len(sent))
        await script(recording_send)

    async def receive():
        return {"type": "websocket.receive"}

    middleware = transport.BurstMiddleware(app, hold=hold, enabled=enabled)
    _run(middleware({"type": scope_type}, receive, client_send))
    return sent, seen_after


def test_a_runs_messages_are_held_until_it_finishes_then_sent_in_order():
    run = [START, NEW_SESSION, DELTA, DELTA, FINISHED]

    async def script(send):
        for m in run:
            await send(_ws(m))
        await send(_ws(IDLE))  # after the run: at once

    sent, seen_after = _through(script, hold=5.0)
    assert [m["bytes"] for m in sent] == run + [IDLE]
    assert seen_after == [0, 0, 0, 0, 5, 6]


def test_messages_outside_a_run_go_out_at_once():
    async def script(send):
        await send(_ws(DELTA))
        await send(_ws(IDLE))
        await send({"type": "websocket.send", "text": "not bytes"})

    sent, seen_after = _through(script, hold=5.0)
    assert seen_after == [1, 2, 3]
    assert sent[2] == {"type": "websocket.send", "text": "not bytes"}


def test_a_long_run_is_sent_after_the_hold_without_waiting_for_its_end():
    async def script(send):
        await send(_ws(START))
        await send(_ws(DELTA))
        await asyncio.sleep(0.2)  # the run goes on: the two messages must not wait for it
        assert len(sent_so_far) == 2
        await send(_ws(DELTA))
        await send(_ws(FINISHED))

    sent_so_far: list[dict] = []

    async def client_send(message):
        sent_so_far.append(message)

    async def app(scope, receive, send):
        await script(send)

    middleware = transport.BurstMiddleware(app, hold=0.02)
    _run(middleware({"type": "websocket"}, None, client_send))
    assert [m["bytes"] for m in sent_so_far] == [START, DELTA, DELTA, FINISHED]


def test_a_close_sends_what_is_held_first():
    async def script(send):
        await send(_ws(START))
        await send(_ws(DELTA))
        await send({"type": "websocket.close", "code": 1000})

    sent, seen_after = _through(script, hold=5.0)
    assert [m["type"] for m in sent] == ["websocket.send"] * 2 + ["websocket.close"]
    assert seen_after == [0, 0, 3]


def test_a_failed_timed_send_is_raised_to_the_next_send():
    class Gone(Exception):
        pass

    async def client_send(message):
        raise Gone()

    async def app(scope, receive, send):
        await send(_ws(START))
        await asyncio.sleep(0.1)  # the timed flush fails meanwhile
        with pytest.raises(Gone):
            await send(_ws(DELTA))
        return "done"

    middleware = transport.BurstMiddleware(app, hold=0.01)
    _run(middleware({"type": "websocket"}, None, client_send))


def test_switched_off_or_not_a_websocket_it_changes_nothing():
    async def script(send):
        for m in (START, DELTA, FINISHED):
            await send(_ws(m))

    assert _through(script, hold=5.0, enabled=False)[1] == [1, 2, 3]
    assert _through(script, hold=5.0, scope_type="http")[1] == [1, 2, 3]
