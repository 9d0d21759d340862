"""The load test's protocol client (benchmarks/st_client.py) against a real server: it must
see what a browser tab sees, or the load test measures something else. Fails when a Streamlit
upgrade changes the websocket protocol under it. Also what a fragment's rerun sends: the
browser rebuilds every element it receives."""

from __future__ import annotations

import asyncio
import re
import threading

from benchmarks.st_client import ProtocolSession
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


def _run(coro) -> None:
    """Run a coroutine on its own event loop in a thread: the browser tests' sync Playwright
    keeps an event loop running in the main thread, where asyncio.run refuses to start."""
    errors: list[BaseException] = []

    def target():
        try:
            asyncio.run(coro)
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(e)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if errors:
        raise errors[0]


def _chart_data(s: ProtocolSession) -> list[bytes]:
    chart = next(e for e in s.elements.values() if e.kind == "vega_lite_chart")
    return [bytes(d.data.data) for d in chart.proto.datasets]


def test_a_slider_move_reruns_its_fragment_and_changes_the_chart(server):
    async def go():
        s = ProtocolSession(server, "")
        await s.open()
        try:
            labels = {e.proto.label for e in s.sliders()}
            assert {"Number of points", "Noise", "Seed"} <= labels, labels
            before = _chart_data(s)
            seed = next(e for e in s.sliders() if e.proto.label == "Seed")
            assert seed.fragment_id, "the home page's controls live in a fragment"
            moved = await s.move_slider(seed, +1)
            assert moved.status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
            assert not moved.exceptions
            assert _chart_data(s) != before  # new points for the new seed
            assert await s.move_slider(seed, -1) is not None
            assert _chart_data(s) == before  # the same seed draws the same points
            seed = next(e for e in s.sliders() if e.proto.label == "Seed")
            assert await s.move_slider(seed, -1) is None  # at its minimum: no rerun
        finally:
            await s.close()

    _run(go())


def test_a_page_by_its_url_path_and_a_full_rerun_from_a_config_slider(server):
    async def go():
        s = ProtocolSession(server, "vae")
        await s.open()
        try:
            assert any(e.kind == "heading" and "Variational autoencoder" in e.proto.body
                       for e in s.elements.values())
            k = next(e for e in s.sliders() if e.proto.label == "Latent dimensions")
            assert not k.fragment_id  # a configuration control: the whole page reruns
            moved = await s.move_slider(k, +1)
            assert moved.status == ForwardMsg.FINISHED_SUCCESSFULLY and not moved.exceptions
            # another configuration, not trained here: the run panel offers to train it
            assert s.buttons(re.compile(r"Train"))
        finally:
            await s.close()

    _run(go())


def test_the_latent_distribution_input_reruns_only_its_fragment(server):
    """Another input on the Latent distribution page reruns the inputs' fragment alone: the
    maps below are not drawn again, and neither are the two sections' headings, which the
    page draws outside the fragment (the fragment writes into containers between them). The
    browser rebuilds every element a rerun sends, so what it does not send costs nothing."""
    async def go():
        s = ProtocolSession(server, "latent-distribution")
        await s.open()
        try:
            assert not s.exceptions, s.exceptions
            headings = {p: e for p, e in s.elements.items() if e.kind == "heading"}
            titles = [e.proto.body for e in headings.values()]
            assert "What the uncertainty means" in titles and any(
                "aggregate posterior" in t for t in titles), titles
            box = next(e for e in s.sliders() if e.proto.label == "Input (held-out index)")
            assert box.fragment_id
            moved = await s.move_slider(box, +1)
            assert moved.status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
            assert not moved.exceptions, moved.exceptions
            sent = {p: e for p, e in s.elements.items() if e.run == s.runs}
            assert sent and all(e.fragment_id == box.fragment_id for e in sent.values())
            assert not any(e.kind == "heading" for e in sent.values())
            assert all(s.elements.get(p) is e for p, e in headings.items())  # still drawn
            (body,) = [e.proto.body for e in sent.values() if e.kind == "html"
                       and "Where the decodings disagree" in e.proto.body]
            assert ">Input #1" in body
            assert not any(e.kind == "vega_lite_chart" and "aggregate posterior"
                           in e.proto.spec for e in sent.values())
        finally:
            await s.close()

    _run(go())
