"""The server's warm-up thread (dashboard/warmup.py): what it imports, once per process, and
that a failing import is logged, not raised."""

import importlib
import logging
import sys
import threading
from pathlib import Path

from dashboard import warmup

DASHBOARD = Path(warmup.__file__).resolve().parent


def test_it_imports_every_view_module_and_torch_dynamo():
    names = warmup.modules()
    views = sorted(f"dashboard.{p.stem}" for p in DASHBOARD.glob("views_*.py"))
    assert views and names == views + ["torch._dynamo"]
    for name in names:
        importlib.import_module(name)


def test_one_thread_per_process(monkeypatch):
    monkeypatch.setattr(warmup, "_thread", None)
    monkeypatch.setattr(warmup, "modules", lambda: ["json"])
    monkeypatch.delenv("LATENT_LAB_WARMUP", raising=False)
    first = warmup.start()
    assert first is not None and warmup.start() is first
    first.join(10)
    assert not first.is_alive() and warmup.start() is first  # done: not started again


def test_it_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(warmup, "_thread", None)
    monkeypatch.setenv("LATENT_LAB_WARMUP", "0")
    assert warmup.start() is None and warmup._thread is None


def test_a_failing_import_is_logged_and_the_rest_still_imported(monkeypatch, caplog):
    monkeypatch.setattr(warmup, "_thread", None)
    monkeypatch.setattr(warmup, "modules", lambda: ["no_such_module_here", "colorsys"])
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    monkeypatch.delenv("LATENT_LAB_WARMUP", raising=False)
    with caplog.at_level(logging.ERROR, logger="dashboard.warmup"):
        warmup.start().join(10)
    assert "no_such_module_here" in caplog.text
    assert "colorsys" in sys.modules


def _warm_with(monkeypatch, server: bool) -> list:
    from streamlit import runtime

    from dashboard import panels
    made = []
    monkeypatch.setattr(warmup, "modules", lambda: ["json"])
    monkeypatch.setattr(runtime, "exists", lambda: server)
    monkeypatch.setattr(panels, "manager", lambda: made.append("manager"))
    monkeypatch.setattr(warmup, "prepare", lambda: [lambda: made.append("prepared")])
    warmup._warm()
    return made


def test_in_a_server_it_also_creates_the_run_manager_then_freezes_the_heap(monkeypatch):
    import gc
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    assert _warm_with(monkeypatch, server=True) == ["manager", "prepared"] and frozen


def test_outside_a_server_it_leaves_the_run_manager_and_the_heap_alone(monkeypatch):
    import gc
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    assert _warm_with(monkeypatch, server=False) == [] and not frozen  # AppTest, a script


def test_a_failing_run_manager_is_logged(monkeypatch, caplog):
    from streamlit import runtime

    from dashboard import panels
    monkeypatch.setattr(warmup, "modules", lambda: [])
    monkeypatch.setattr(warmup, "prepare", lambda: [])
    monkeypatch.setattr(runtime, "exists", lambda: True)

    def broken():
        raise OSError("no cache directory")
    monkeypatch.setattr(panels, "manager", broken)
    monkeypatch.setattr("gc.freeze", lambda: None)
    with caplog.at_level(logging.ERROR, logger="dashboard.warmup"):
        warmup._warm()
    assert "creating the run manager failed" in caplog.text


def test_a_failing_preparation_is_logged_and_the_next_one_still_runs(monkeypatch, caplog):
    from streamlit import runtime
    from dashboard import panels
    done = []

    def broken():
        """reading a broken file"""
        raise ValueError("bad bytes")
    monkeypatch.setattr(warmup, "modules", lambda: [])
    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(panels, "manager", lambda: None)
    monkeypatch.setattr(warmup, "prepare", lambda: [broken, lambda: done.append(1)])
    monkeypatch.setattr("gc.freeze", lambda: None)
    with caplog.at_level(logging.ERROR, logger="dashboard.warmup"):
        warmup._warm()
    assert "reading a broken file failed" in caplog.text and done == [1]


def test_the_preparations_compute_what_the_pages_then_find_cached():
    from dashboard import views_autoencoder
    from models import datasets
    from models.presets import PAGE_DEFAULTS
    steps = warmup.prepare()
    assert all(step.__doc__ for step in steps)  # each is named in the log if it fails
    datasets.load.cache_clear()
    for step in steps:
        step()
    assert datasets.load.cache_info().currsize >= 1  # the digits
    dataset = PAGE_DEFAULTS["autoencoder"][0].dataset
    before = views_autoencoder.pca_error_curve(dataset)
    fit = views_autoencoder.pca_basis
    try:  # the page's call is a cache hit: no second PCA fit
        views_autoencoder.pca_basis = None
        assert views_autoencoder.pca_error_curve(dataset) is not None
    finally:
        views_autoencoder.pca_basis = fit
    assert len(before) == views_autoencoder.PCA_MAX


def test_the_server_starts_the_warm_up_as_it_starts(monkeypatch):
    import asyncio
    started = []
    monkeypatch.setattr(warmup, "start", lambda: started.append(True))

    inside = []

    async def serve():
        async with warmup.lifespan(None):
            inside.append(list(started))  # what had run before the server took a request

    # A thread of its own: the browser tests' Playwright leaves an event loop on this one.
    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    thread.join(timeout=30)
    assert inside == [[True]]


def test_streamlit_run_serves_the_app_with_the_warm_up():
    """`streamlit run dashboard/app.py` finds the ASGI app (as its CLI does) and imports it,
    with the warm-up, the base URL hint (dashboard/base_url.py) and the burst middleware with
    TCP_NODELAY (dashboard/transport.py); imported (not run as a
    script), app.py draws nothing."""
    import subprocess
    from streamlit.web.server.app_discovery import discover_asgi_app
    found = discover_asgi_app(DASHBOARD / "app.py")
    assert found.is_asgi_app and found.import_string == "app:app"
    out = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import app; "
         "from dashboard import base_url, transport, warmup; "
         "from asyncio import base_events; "
         "print(type(app.app).__name__, app.app._user_lifespan is warmup.lifespan, "
         "[m.cls for m in app.app._user_middleware] == "
         "[base_url.BaseUrlMiddleware, transport.BurstMiddleware], "
         "base_events._set_nodelay is transport._set_nodelay)",
         str(DASHBOARD)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["App", "True", "True", "True"]
