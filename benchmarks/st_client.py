"""A Streamlit client that speaks the server's websocket protocol without drawing anything.

A browser tab and the Streamlit server talk over one websocket: the tab sends `BackMsg`s
(rerun the script, or one fragment, with these widget values) and receives `ForwardMsg`s (the
elements of the run as deltas, then `script_finished`). This client does what a visitor's tab
does over that socket — opens a page, moves sliders, presses buttons, reruns a live view's
fragment on its `run_every` timer — and times each round trip from the user's action to the
run's `script_finished`, the moment the last delta of the redraw has arrived. What it does not
do is lay out and paint: on a hosted demo that work happens on each visitor's own computer, so
`benchmarks/load_test.py` uses these clients to put many visitors' load on one server without
running many browsers on the server's own cores (a real browser's whole round trip, painting
included, is what `benchmarks/browser_latency.py` measures).

The messages are Streamlit's own protobuf classes (`streamlit.proto`); the websocket is the
`websockets` package Streamlit depends on.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState

EARLY = ForwardMsg.FINISHED_EARLY_FOR_RERUN
AUTO_TIMEOUT = 10.0  # seconds a live view's timed rerun may take before its timer stops


@dataclass
class Element:
    kind: str  # the element's proto field: "slider", "button", "exception", ...
    proto: object
    fragment_id: str
    run: int  # the client's count of script runs when it last arrived


@dataclass
class Result:
    ms: float  # user action -> script_finished
    status: int
    exceptions: list[str] = field(default_factory=list)


class ProtocolSession:
    """One visitor's tab, as the server sees it.

    `open()` connects and runs the page's script; `move_slider(rng)` and `press(label)` change
    one widget and wait for the redraw. A fragment's auto-rerun timer (a live view polling a
    training run) runs in the background, as the browser's does, but never at the same time as
    a user action of the same session: every rerun waits for the one before to finish, so each
    `script_finished` belongs to one request.
    """

    def __init__(self, base_url: str, page: str, query: str = ""):
        self.ws_url = re.sub(r"^http", "ws", base_url.rstrip("/")) + "/_stcore/stream"
        self.page = page
        self.query = query
        self.elements: dict[tuple[int, ...], Element] = {}
        self.widget_states: dict[str, WidgetState] = {}
        self.runs = 0
        self.exceptions: list[str] = []
        self._ws = None
        self._reader = None
        self._finished: asyncio.Queue = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._pending = False  # a request of ours waits for its script_finished
        self._timers: dict[str, asyncio.Task] = {}
        self._timer_runs: dict[str, int] = {}  # the run that (re)started each timer
        self.auto_reruns = 0
        self.closed_reason = ""

    # -- the socket -----------------------------------------------------------------------
    async def open(self, timeout: float = 120.0) -> float:
        """Connect, run the page's script; returns the load time in ms."""
        t0 = time.perf_counter()
        self._ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"],
                                            max_size=None, open_timeout=timeout)
        self._reader = asyncio.create_task(self._read())
        await self._request(ClientStateArgs(page_name=self.page), timeout=timeout, t0=t0)
        return 1000 * (time.perf_counter() - t0)

    async def close(self) -> None:
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except websockets.ConnectionClosed as e:
            self.closed_reason = f"connection closed: {e}"
        finally:
            self._finished.put_nowait(None)

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "delta":
            path = tuple(msg.metadata.delta_path)
            delta = msg.delta
            if delta.WhichOneof("type") == "new_element":
                el = delta.new_element
                which = el.WhichOneof("type") or ""
                self.elements[path] = Element(which, getattr(el, which, None) if which else None,
                                              delta.fragment_id, self.runs)
                if which == "slider" and el.slider.set_value:  # the app set its value
                    self.widget_states.pop(el.slider.id, None)
                if which == "exception":
                    e = el.exception
                    self.exceptions.append(f"{e.type}: {e.message}"[:300])
            elif delta.WhichOneof("type") == "add_block":
                self.elements[path] = Element("block", None, delta.fragment_id, self.runs)
        elif kind == "new_session" and not self._pending:
            self.runs += 1  # a run the server started itself (st.rerun after a run ended)
        elif kind == "script_finished":
            if self._pending:
                self._finished.put_nowait(msg.script_finished)
            elif msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                self._full_run_done(self.runs)  # as the browser does after such a run
        elif kind == "auto_rerun":
            # a timer is stopped by replacing its entry, never cancelled: one cancelled while
            # its rerun is on the way would leave that rerun's finish to the next request
            fid = msg.auto_rerun.fragment_id
            task = asyncio.create_task(self._auto(msg.auto_rerun.interval, fid))
            self._timers[fid] = task
            self._timer_runs[fid] = self.runs
        elif kind == "stop_auto_rerun":
            for fid in list(msg.stop_auto_rerun.fragment_ids) or list(self._timers):
                self._stop_timer(fid)

    def _stop_timer(self, fid: str) -> None:
        self._timers.pop(fid, None)
        self._timer_runs.pop(fid, None)

    async def _auto(self, interval: float, fragment_id: str) -> None:
        me = asyncio.current_task()
        while True:
            await asyncio.sleep(interval)
            if self._timers.get(fragment_id) is not me:
                return
            try:
                # the server drops a rerun of a fragment it no longer has without an answer
                # (Streamlit issue 9080's race); the browser does not wait on these either
                await self._request(ClientStateArgs(page_name=self.page, fragment_id=fragment_id,
                                                    auto=True), timeout=AUTO_TIMEOUT)
                self.auto_reruns += 1
            except (asyncio.TimeoutError, ConnectionError):
                return

    async def _request(self, args: "ClientStateArgs", timeout: float = 60.0,
                       t0: float | None = None, triggers: list[WidgetState] = ()) -> Result:
        t0 = time.perf_counter() if t0 is None else t0
        async with self._lock:
            if self.closed_reason:
                raise ConnectionError(self.closed_reason)
            while not self._finished.empty():  # a stray finish
                self._finished.get_nowait()
            back = BackMsg()
            cs = back.rerun_script
            cs.query_string = self.query
            cs.page_name = args.page_name
            cs.fragment_id = args.fragment_id
            cs.is_auto_rerun = args.auto
            states = dict(self.widget_states)
            for t in triggers:
                states[t.id] = t
            cs.widget_states.widgets.extend(states.values())
            self.runs += 1
            run = self.runs
            n_exc = len(self.exceptions)
            self._pending = True
            try:
                await self._ws.send(back.SerializeToString())
                while True:
                    fin = await asyncio.wait_for(self._finished.get(), timeout)
                    if fin is None:
                        raise ConnectionError(self.closed_reason or "connection closed")
                    if fin != EARLY:
                        break
            finally:
                self._pending = False
            if args.fragment_id and fin != ForwardMsg.FINISHED_SUCCESSFULLY:
                self._drop_stale(run, args.fragment_id)
            else:  # a full run, asked for or started by the fragment (st.rerun)
                self._full_run_done(run)
            return Result(1000 * (time.perf_counter() - t0), fin,
                          self.exceptions[n_exc:])

    def _full_run_done(self, run: int) -> None:
        """After a full run: what it did not draw again is gone, its fragments included
        (a rerun asked of a fragment the server no longer has is dropped without an answer)."""
        self._drop_stale(run, "")
        for fid, started in list(self._timer_runs.items()):
            if started < run:
                self._stop_timer(fid)

    def _drop_stale(self, run: int, fragment_id: str) -> None:
        """Forget elements the finished run did not draw again (as the browser clears them)."""
        for path, el in list(self.elements.items()):
            if el.run < run and (not fragment_id or el.fragment_id == fragment_id):
                del self.elements[path]

    # -- what a visitor does --------------------------------------------------------------
    def sliders(self) -> list[Element]:
        return [e for e in self.elements.values() if e.kind == "slider" and not e.proto.disabled]

    def buttons(self, label: re.Pattern) -> list[Element]:
        return [e for e in self.elements.values()
                if e.kind == "button" and not e.proto.disabled and label.search(e.proto.label)]

    async def move_slider(self, el: Element, direction: int, timeout: float = 60.0) -> Result | None:
        """Move a slider one step (`direction` ±1); None when it is at the end of its range."""
        s: Slider = el.proto
        old = self.widget_states.get(s.id)
        st = WidgetState(id=s.id)
        drawn = list(s.value) if s.set_value and len(s.value) else list(s.default)
        if not drawn:
            return None
        if s.type == Slider.Type.SELECT_SLIDER:
            options = list(s.options)
            if old is not None and old.string_array_value.data \
                    and old.string_array_value.data[0] in options:
                i = options.index(old.string_array_value.data[0])
            else:  # the value the server drew it with
                i = int(drawn[0])
            j = i + direction
            if not 0 <= j < len(options):
                return None
            st.string_array_value.data.append(options[j])
        else:
            cur = old.double_array_value.data[0] if old is not None and \
                old.double_array_value.data else drawn[0]
            new = cur + direction * s.step
            if not s.min - 1e-9 <= new <= s.max + 1e-9:
                return None
            st.double_array_value.data.append(round(new, 10))
        self.widget_states[s.id] = st
        return await self._request(ClientStateArgs(page_name=self.page,
                                                   fragment_id=el.fragment_id), timeout)

    async def press(self, el: Element, timeout: float = 60.0) -> Result:
        return await self._request(ClientStateArgs(page_name=self.page,
                                                   fragment_id=el.fragment_id), timeout,
                                   triggers=[WidgetState(id=el.proto.id, trigger_value=True)])


@dataclass
class ClientStateArgs:
    page_name: str
    fragment_id: str = ""
    auto: bool = False
