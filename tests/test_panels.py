"""The shared run panel under AppTest: train, watch, finish, replay; fail; cancel."""

import time

from streamlit.testing.v1 import AppTest

from apptest_util import paragraphs


def panel_app():
    import streamlit as st

    from dashboard import panels, state
    from models.train import AEConfig

    state.begin_run("panel")
    epochs = st.session_state.get("epochs_for_test", 3)
    lr = st.session_state.get("lr_for_test", 1e-3)
    optimizer = st.session_state.get("opt_for_test", "adam")
    cfg = AEConfig(dataset="moons", latent_dim=1, hidden=16, epochs=epochs, batch_size=256,
                   lr=lr, optimizer=optimizer, seed=123)
    view = panels.run_panel(cfg, curves={"test_recon": "held-out error"})
    if view.done:
        st.write(f"DONE {view.result.metrics['test_recon']:.3f} "
                 f"snapshot {view.snapshot['step']}")


def _run_until(at, text, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        at.run()
        if any(text in m.value for m in at.markdown):
            return True
        time.sleep(0.2)
    return False


def test_train_watch_and_replay():
    at = AppTest.from_function(panel_app, default_timeout=30)
    at.run()
    train = [b for b in at.button if b.label == "Train"]
    assert train, "a Train button for an untrained configuration"
    train[0].click().run()
    assert not at.exception
    assert _run_until(at, "DONE")
    slider = [s for s in at.slider if s.key == "t"]
    assert slider and slider[0].value == slider[0].max  # the timeline starts at the end
    slider[0].set_value(0).run()
    assert any("snapshot 0" in m.value for m in at.markdown)
    assert any("Showing the model at step 0" in t for t in paragraphs(at))


def test_a_diverging_run_shows_its_reason_and_can_be_retried():
    at = AppTest.from_function(panel_app, default_timeout=30)
    at.session_state["lr_for_test"] = 1.0
    at.session_state["opt_for_test"] = "sgd"
    at.session_state["epochs_for_test"] = 20
    at.run()
    [b for b in at.button if b.label == "Train"][0].click().run()
    end = time.time() + 60
    while time.time() < end and not at.error:
        time.sleep(0.2)
        at.run()
    assert at.error and "diverged" in at.error[0].value
    assert [b for b in at.button if b.label == "Retry"]


def test_cancel_returns_to_the_train_button():
    at = AppTest.from_function(panel_app, default_timeout=30)
    at.session_state["epochs_for_test"] = 900
    at.run()
    [b for b in at.button if b.label == "Train"][0].click().run()
    assert any(p for p in at.get("progress")), "a progress bar while the run trains"
    [b for b in at.button if b.label == "Cancel"][0].click().run()
    at.run()
    assert [b for b in at.button if b.label == "Train"]
    assert not at.exception


def test_runs_per_session_limit_is_explained(monkeypatch, tmp_path):
    from dashboard import panels
    from models.limits import Limits
    m = panels.manager()
    monkeypatch.setattr(m, "limits", Limits(runs_per_session=1))
    at = AppTest.from_function(panel_app, default_timeout=30)
    at.session_state["_runs_started"] = 1
    at.session_state["epochs_for_test"] = 7
    at.run()
    [b for b in at.button if b.label == "Train"][0].click().run()
    assert not at.exception
    assert any("most this server allows" in e.value for e in at.error)


def lab_app():
    import streamlit as st

    from dashboard import panels, state
    from models.train import AEConfig

    state.begin_run("lab")
    cfg = AEConfig(dataset="moons", latent_dim=1, hidden=16, epochs=900, batch_size=256,
                   seed=st.session_state.get("seed_for_test", 321))
    panels.run_panel(cfg, curves={"test_recon": "held-out error"}, transport=True,
                     step_size=10)


def _labels(at):
    return [b.label for b in at.button]


def test_a_run_another_server_process_trains_has_no_pause_controls():
    from filelock import FileLock

    from dashboard import panels
    from models.runs import run_key
    from models.train import AEConfig
    cfg = AEConfig(dataset="moons", latent_dim=1, hidden=16, epochs=900, batch_size=256,
                   seed=322)
    cache = panels.manager().cache
    other = FileLock(str(cache.root / "locks" / f"{run_key(cfg)}.lock"))
    other.acquire()  # as another server process training the same settings would
    try:
        at = AppTest.from_function(lab_app, default_timeout=30)
        at.session_state["seed_for_test"] = 322
        at.run()
        assert _labels(at) == ["Play", "Pause", "Step", "Reset"]
        [b for b in at.button if b.label == "Play"][0].click().run()
        assert not at.exception
        assert _labels(at) == ["Reset"]  # no Play, Pause or Step for a run trained elsewhere
        assert any("another server process" in c.value for c in at.caption)
        assert "waiting for another run" in at.get("progress")[0].proto.text
        [b for b in at.button if b.label == "Reset"][0].click().run()
        at.run()
        assert _labels(at)[:4] == ["Play", "Pause", "Step", "Reset"] and not at.exception
    finally:
        other.release()
