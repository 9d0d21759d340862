"""The server's warm-up thread (dashboard/warmup.py): what it imports, once per process, and
that a failing import is logged, not raised."""

import importlib
import logging
import sys
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
    warmup._warm()
    return made


def test_in_a_server_it_also_creates_the_run_manager_then_freezes_the_heap(monkeypatch):
    import gc
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    assert _warm_with(monkeypatch, server=True) == ["manager"] and frozen


def test_outside_a_server_it_leaves_the_run_manager_and_the_heap_alone(monkeypatch):
    import gc
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    assert _warm_with(monkeypatch, server=False) == [] and not frozen  # AppTest, a script


def test_a_failing_run_manager_is_logged(monkeypatch, caplog):
    from streamlit import runtime

    from dashboard import panels
    monkeypatch.setattr(warmup, "modules", lambda: [])
    monkeypatch.setattr(runtime, "exists", lambda: True)

    def broken():
        raise OSError("no cache directory")
    monkeypatch.setattr(panels, "manager", broken)
    monkeypatch.setattr("gc.freeze", lambda: None)
    with caplog.at_level(logging.ERROR, logger="dashboard.warmup"):
        warmup._warm()
    assert "creating the run manager failed" in caplog.text
