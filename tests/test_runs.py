"""Cached background runs: sharing, persistence, damage, eviction, failures."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from models import runs
from models.runs import (CANCELLED, DONE, FAILED, CorruptEntry, RunCache, RunManager,
                         load_or_train, run_key, train_through_cache)
from models.train import AEConfig, ConfigError, VAEConfig

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(dataset="moons", latent_dim=1, hidden=16, batch_size=256)


def _wait(handle, timeout=60):
    end = time.time() + timeout
    while handle.active and time.time() < end:
        time.sleep(0.05)
    assert not handle.active, f"run still {handle.status} after {timeout} s"
    return handle


def _until(predicate, timeout=30.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _worker_of(manager, key):
    with manager._mutex:
        return next((w for w in manager._workers if w.run is not None and w.run.key == key),
                    None)


def _worker_freed(manager, key, timeout=30.0) -> bool:
    """The worker that trained key confirmed it stopped (it is free for the next job)."""
    return _until(lambda: _worker_of(manager, key) is None, timeout)


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    m = RunManager(RunCache(tmp_path_factory.mktemp("runs-cache")), workers=2, threads=1,
                   stall_timeout=60)
    yield m
    m.shutdown()


def test_twenty_threads_submitting_one_config_train_it_once(manager):
    config = AEConfig(epochs=3, **TINY)
    handles = []
    threads = [threading.Thread(target=lambda: handles.append(manager.submit(config)))
               for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _wait(handles[0])
    assert {h.status for h in handles} == {DONE}
    key = run_key(config)
    assert sum(t["key"] == key for t in manager.cache.trainings()) == 1
    res = handles[5].result()
    assert len(res.history) == 4 and res.snapshots[0]["step"] == 0
    assert res.metrics["test_recon"] == res.history[-1]["test_recon"]


def test_handle_reports_progress_history_and_snapshots_while_running(manager):
    h = manager.submit(VAEConfig(epochs=40, **TINY))
    seen_running = False
    while h.active:
        if h.status == "running" and h.history:
            seen_running = True
            assert 0 <= h.fraction <= 1 and h.latest_snapshot is not None
        time.sleep(0.02)
    assert seen_running and h.status == DONE and h.fraction == 1.0
    assert len(h.history) == 41 and h.history[-1]["epoch"] == 40


def test_cancel_stops_a_run_only_when_nobody_watches_it(manager):
    config = VAEConfig(epochs=400, **TINY)
    a, b = manager.submit(config), manager.submit(config)
    time.sleep(0.5)
    a.cancel()
    time.sleep(0.5)
    assert b.active  # still watched by b
    b.cancel()
    end = time.time() + 20
    while b.status != CANCELLED and time.time() < end:
        time.sleep(0.05)
    assert b.status == CANCELLED and not manager.cache.has(run_key(config))
    # release() marks the run cancelled at once: the worker must really stop and be free
    assert _worker_freed(manager, run_key(config)), "the worker kept training a cancelled run"
    again = manager.submit(config)  # a cancelled config can be submitted again
    assert again.active
    again.cancel()


def test_queue_positions_are_visible_beyond_the_worker_pool(manager):
    handles = [manager.submit(VAEConfig(epochs=300, seed=s, **TINY)) for s in range(4)]
    time.sleep(1.0)
    positions = sorted(h.queue_position or 0 for h in handles)
    assert positions == [0, 0, 1, 2]
    for h in handles:
        h.cancel()


def test_a_bad_config_raises_at_once_with_a_message(manager):
    with pytest.raises(ConfigError, match="latent dimension"):
        manager.submit(AEConfig(latent_dim=0))


def test_a_diverging_run_fails_with_its_reason_and_others_carry_on(manager):
    bad = manager.submit(AEConfig(dataset="grid25", latent_dim=2, hidden=64, epochs=3,
                                  lr=1.0, optimizer="sgd"))
    good = manager.submit(AEConfig(epochs=2, seed=7, **TINY))
    _wait(bad)
    _wait(good)
    assert bad.status == FAILED and "diverged" in bad.error
    assert good.status == DONE
    assert manager.submit(bad.config).status == FAILED  # stays failed until retried
    assert bad.retry().active


def test_a_killed_worker_fails_its_run_and_the_pool_recovers(manager):
    h = manager.submit(VAEConfig(epochs=500, seed=3, **TINY))
    end = time.time() + 30
    while h.status != "running" and time.time() < end:
        time.sleep(0.05)
    worker = next(w for w in manager._workers if w.run is not None and w.run.key == h.key)
    os.kill(worker.process.pid, signal.SIGKILL)
    _wait(h)
    assert h.status == FAILED and "stopped unexpectedly" in h.error
    after = _wait(manager.submit(AEConfig(epochs=1, seed=11, **TINY)))
    assert after.status == DONE


def test_a_hanging_run_is_stopped_at_the_time_limit(tmp_path):
    m = RunManager(RunCache(tmp_path / "c"), workers=1, threads=1, run_timeout=2.0)
    try:
        h = m.submit(VAEConfig(epochs=1000, **TINY))
        _wait(h, timeout=40)
        assert h.status == FAILED and "longer than" in h.error
        m.run_timeout = 120.0  # the pool carries on (a loaded machine needs more than 2 s)
        assert _wait(m.submit(AEConfig(epochs=1, **TINY)), timeout=120).status == DONE
    finally:
        m.shutdown()


def test_restarted_manager_serves_finished_runs_from_disk(tmp_path):
    cache = RunCache(tmp_path / "c")
    config = AEConfig(epochs=2, **TINY)
    list(train_through_cache(config, threads=1, cache=cache))
    m = RunManager(RunCache(tmp_path / "c"), workers=1, threads=1)
    try:
        t = time.perf_counter()
        h = m.submit(config)
        assert h.status == DONE and h.cached and time.perf_counter() - t < 0.5
        assert h.result().metrics["test_recon"] > 0
        assert len(m.cache.trainings()) == 1
    finally:
        m.shutdown()


@pytest.mark.parametrize("damage", ["corrupt", "truncate", "delete", "meta"])
def test_damaged_entries_are_discarded_and_retrained_never_loaded(tmp_path, damage, capsys):
    cache = RunCache(tmp_path / "c")
    config = AEConfig(epochs=1, **TINY)
    load_or_train(config, threads=1, cache=cache)
    entry = cache.entry(run_key(config))
    target = entry / ("meta.json" if damage == "meta" else "weights.safetensors")
    data = target.read_bytes()
    if damage == "corrupt":
        target.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    elif damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "delete":
        (entry / "snapshots.npz").unlink()
    else:
        target.write_text("{not json")
    with pytest.raises(CorruptEntry):
        RunCache(tmp_path / "c").load(run_key(config))
    events = list(train_through_cache(config, threads=1, cache=RunCache(tmp_path / "c")))
    assert events[-1]["cached"] is False  # retrained
    assert "damaged cache entry" in capsys.readouterr().err
    assert RunCache(tmp_path / "c").load(run_key(config)).metrics["test_recon"] > 0


def test_manager_tells_the_page_when_it_retrains_a_damaged_entry(tmp_path):
    cache = RunCache(tmp_path / "c")
    config = AEConfig(epochs=1, **TINY)
    load_or_train(config, threads=1, cache=cache)
    (cache.entry(run_key(config)) / "history.json").write_text("[]")
    m = RunManager(RunCache(tmp_path / "c"), workers=1, threads=1)
    try:
        h = m.submit(config)
        assert h.active and "damaged" in h.notice
        assert _wait(h).status == DONE
    finally:
        m.shutdown()


def test_a_changed_model_version_never_serves_stale_weights(tmp_path, monkeypatch):
    cache = RunCache(tmp_path / "c")
    config = AEConfig(epochs=1, **TINY)
    old_key = run_key(config)
    load_or_train(config, threads=1, cache=cache)
    monkeypatch.setattr(runs, "_VERSION", "another-version")
    assert run_key(config) != old_key
    with pytest.raises(CorruptEntry, match="another version"):
        cache.verify(old_key)
    assert not cache.has(run_key(config))
    cache.evict()  # stale entries go first
    assert not cache.has(old_key)


def test_the_model_version_is_computed_once_when_threads_ask_at_once(monkeypatch):
    """The server's first sessions ask for it from several threads together; the syntax
    trees are parsed once (ast.parse in concurrent threads can fail in CPython 3.11)."""
    version = runs.model_version()
    monkeypatch.setattr(runs, "_VERSION", None)
    parse, calls, inside = runs.ast.parse, [], []

    def slow_parse(source, *args, **kwargs):  # a wide window for a race
        inside.append(1)
        overlap = len(inside) > 1
        time.sleep(0.02)
        inside.pop()
        calls.append(overlap)
        return parse(source, *args, **kwargs)

    monkeypatch.setattr(runs.ast, "parse", slow_parse)
    got = []
    threads = [threading.Thread(target=lambda: got.append(runs.model_version()))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [version] * 8
    assert len(calls) == len(runs.MODEL_FILES) and not any(calls)


def test_hold_state_sees_a_step_arriving_whole():
    """The manager's thread turns an arrived step into a pause in two assignments under its
    lock; the transport's (held, stepping_to) must not see the first without the second (it
    showed a paused run's Play button disabled, in CI)."""
    from types import SimpleNamespace
    manager = SimpleNamespace(_mutex=threading.RLock())
    run = runs._Run("k", None, status=runs.RUNNING, wanted=("step", 800))
    handle = runs.RunHandle(manager, run, "token")
    assert handle.hold_state() == (False, 800)  # stepping: not held, Play enabled
    started = threading.Event()

    def step_arrives():  # as RunManager._handle does on ("paused", key, True)
        with manager._mutex:
            started.set()
            run.paused = True
            time.sleep(0.2)
            run.wanted = "pause"

    t = threading.Thread(target=step_arrives)
    t.start()
    started.wait()
    assert handle.hold_state() == (True, None)  # held, not stepping: never half of each
    t.join()


def test_eviction_removes_the_least_recently_used_first(tmp_path):
    cache = RunCache(tmp_path / "c", max_bytes=10**9)
    keys = []
    for seed in range(3):
        c = AEConfig(epochs=1, seed=seed, **TINY)
        load_or_train(c, threads=1, cache=cache)
        keys.append(run_key(c))
        time.sleep(0.05)
    os.utime(cache.entry(keys[0]) / "config.json")  # use the oldest again
    one = max(e["bytes"] for e in cache.entries())
    cache.max_bytes = int(2.5 * one)
    assert cache.evict() == [keys[1]]
    assert cache.has(keys[0]) and cache.has(keys[2])


def test_concurrent_processes_train_one_config_once(tmp_path):
    script = textwrap.dedent("""
        import sys, threading
        sys.path.insert(0, {root!r})
        from models.runs import RunCache, RunManager
        from models.train import AEConfig
        if __name__ == "__main__":
            m = RunManager(RunCache({cache!r}), workers=1, threads=1)
            config = AEConfig(dataset="moons", latent_dim=1, hidden=16, batch_size=256, epochs=30)
            hs = []
            ts = [threading.Thread(target=lambda: hs.append(m.submit(config))) for _ in range(10)]
            [t.start() for t in ts]; [t.join() for t in ts]
            import time
            end = time.time() + 90
            while any(h.active for h in hs) and time.time() < end:
                time.sleep(0.05)
            print(sorted({{h.status for h in hs}}))
            m.shutdown()
    """).format(root=str(ROOT), cache=str(tmp_path / "c"))
    path = tmp_path / "submit.py"
    path.write_text(script)
    procs = [subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=150)[0] for p in procs]
    assert all("['done']" in o for o in outs), outs
    assert len(RunCache(tmp_path / "c").trainings()) == 1


# --- pause, resume and step --------------------------------------------------------------------

GAN_TINY = dict(dataset="ring8", g_hidden=16, d_hidden=16, batch_size=32)


def _running_past(h, step, timeout=60):
    assert _until(lambda: h.status == "running" and h.step > step, timeout), \
        f"run {h.status} at step {h.step}"


def _paused(h, timeout=30):
    assert _until(lambda: h.paused, timeout), f"not paused: {h.status} at step {h.step}"


def test_pause_holds_a_run_for_everyone_and_resume_finishes_it_into_the_cache(manager):
    from models.train import GANConfig
    config = GANConfig(steps=1500, seed=41, **GAN_TINY)
    a = manager.submit(config)
    _running_past(a, 0)
    assert a.can_pause and not a.paused
    assert a.pause()
    _paused(a)
    b = manager.submit(config)  # another session watching the same settings
    assert b.paused and b.status == "running"
    held, began = a.step, time.monotonic()
    time.sleep(2.0)
    assert a.step == held and a.paused and a.active  # no progress while paused
    assert _worker_of(manager, a.key) is not None  # the worker holds the run
    assert 0 < a.pause_left < manager.pause_limit
    assert b.resume()  # anyone may resume it
    assert _until(lambda: not a.paused, 10)
    pause = time.monotonic() - began
    _wait(a, timeout=240)
    assert a.status == DONE and manager.cache.has(a.key)
    res = a.result()
    assert res.metrics["step"] == 1500 and res.history[-1]["step"] == 1500
    # the pause is not training time: the run's clock stopped while it was held
    run = a._run
    assert res.seconds <= (run.finished - run.started) - pause + 0.3, (res.seconds, pause)
    assert res.history[-1]["seconds"] == pytest.approx(res.seconds, abs=1.0)
    assert not a.pause() and not a.step_forward(10)  # a finished run takes no controls


def test_step_trains_a_bounded_number_of_steps_then_pauses_again(manager):
    from models.train import GANConfig
    config = GANConfig(steps=1500, seed=42, **GAN_TINY)
    h = manager.submit(config)
    assert h.pause()  # asked while it may still be queued: it pauses at its first event
    _paused(h, timeout=60)
    held = h.step
    assert held < 100
    progress_every = 1500 // 200  # the GAN's progress events (models.train.PROGRESS_EVENTS)
    for _ in range(2):
        assert h.step_forward(90)
        assert h.stepping_to == held + 90
        assert _until(lambda: h.step >= held + 90 and h.paused, 60), (h.step, h.paused)
        assert held + 90 <= h.step < held + 90 + progress_every  # bounded: the next event
        now = h.step
        time.sleep(1.0)
        assert h.step == now and h.paused and h.stepping_to is None
        held = now
    assert h.latest_snapshot is not None and h.history[-1]["step"] <= held
    h.cancel()
    assert _until(lambda: h.status == CANCELLED, 10)
    assert _worker_freed(manager, h.key)  # cancelling a paused run frees its worker
    assert not manager.cache.has(h.key)


def test_paused_time_is_free_and_a_paused_run_plays_on_after_the_pause_limit(tmp_path):
    # the time limit (6 s) and the stall timeout (3 s) are both far shorter than the pause
    m = RunManager(RunCache(tmp_path / "c"), workers=1, threads=1, run_timeout=6.0,
                   stall_timeout=3.0, pause_limit=10.0)
    try:
        h = m.submit(AEConfig(epochs=3, seed=5, **TINY))
        assert h.pause()
        _paused(h, timeout=60)
        assert h.step == 0  # held at its first event
        time.sleep(8.0)  # longer than both the time limit and the stall timeout
        assert h.active and h.paused, (h.status, h.error)
        # at 10 s paused it plays on by itself, to the end and into the cache
        _wait(h, timeout=60)
        assert h.status == DONE, h.error
        assert m.cache.has(h.key) and h.result().metrics["test_recon"] > 0
        assert h.pause_spent and h.pause_left == 0.0
        again = m.submit(AEConfig(epochs=400, seed=6, **TINY))
        _running_past(again, 0)
        assert again.can_pause  # the limit is per run
        again.cancel()
    finally:
        m.shutdown()


def test_a_run_trained_by_another_process_cannot_be_paused(tmp_path):
    from filelock import FileLock
    cache = RunCache(tmp_path / "c")
    config = AEConfig(epochs=2, seed=8, **TINY)
    other = FileLock(str(cache.root / "locks" / f"{run_key(config)}.lock"))
    other.acquire()  # as another server process training it would
    m = RunManager(RunCache(tmp_path / "c"), workers=1, threads=1)
    try:
        h = m.submit(config)
        assert h.elsewhere and h.active
        assert not h.can_pause and not h.pause() and not h.step_forward(5) and not h.resume()
        h.cancel()
    finally:
        other.release()
        m.shutdown()


# --- cache repair, failures inside the worker, LRU --------------------------------------------

def test_an_entry_without_meta_json_is_replaced_when_retrained(tmp_path):
    cache = RunCache(tmp_path / "c")
    config = AEConfig(epochs=1, seed=9, **TINY)
    key = run_key(config)
    list(train_through_cache(config, threads=1, cache=cache))
    (cache.entry(key) / "meta.json").unlink()  # e.g. a copy that stopped half-way
    assert not cache.has(key)
    events = list(train_through_cache(config, threads=1, cache=cache))
    assert events[-1]["cached"] is False
    assert cache.has(key) and cache.load(key).metrics["test_recon"] > 0  # repaired
    assert list(train_through_cache(config, threads=1, cache=cache))[-1]["cached"] is True
    assert len(cache.trainings()) == 2  # once, and once more to repair: not for ever
    assert not list((cache.root / "tmp").iterdir())


def test_a_sound_entry_is_kept_when_another_writer_finishes_second(tmp_path):
    cache = RunCache(tmp_path / "c")
    config = AEConfig(epochs=1, seed=10, **TINY)
    key = run_key(config)
    first = load_or_train(config, threads=1, cache=cache)
    created = cache.meta(key)["created"]
    cache.write(key, config, first.model, first.history, first.snapshots, first.metrics, 1.0)
    assert cache.meta(key)["created"] == created  # the first complete entry stays
    assert not list((cache.root / "tmp").iterdir())


FAULT = '''
import os
import models.train as _t
_train = _t.train


def train(config, threads=None):  # injected by tests/test_runs.py: raise after a few events
    for i, ev in enumerate(_train(config, threads)):
        if getattr(config, "seed", None) == 4242 and i == 3:
            raise RuntimeError("injected fault in the worker")
        yield ev


_t.train = train
'''


def test_a_run_that_raises_inside_the_worker_fails_with_its_message(tmp_path, monkeypatch):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FAULT)  # imported by the worker processes only
    monkeypatch.setenv("PYTHONPATH", str(hook))
    m = RunManager(RunCache(tmp_path / "c"), workers=1, threads=1)
    try:
        bad = m.submit(AEConfig(epochs=5, seed=4242, **TINY))
        _wait(bad, timeout=120)
        assert bad.status == FAILED
        assert bad.error == "Training failed: RuntimeError: injected fault in the worker"
        assert not m.cache.has(bad.key)
        assert _worker_freed(m, bad.key)
        good = _wait(m.submit(AEConfig(epochs=1, seed=4243, **TINY)), timeout=120)
        assert good.status == DONE  # the same worker carries on
        assert m.submit(bad.config).status == FAILED  # stays failed until retried
    finally:
        m.shutdown()


def test_cache_hits_count_as_use_for_eviction(tmp_path):
    cache = RunCache(tmp_path / "c", max_bytes=10**9)
    configs = [AEConfig(epochs=1, seed=s, **TINY) for s in (20, 21, 22)]
    for c in configs:
        list(train_through_cache(c, threads=1, cache=cache))
    keys = [run_key(c) for c in configs]
    for i, k in enumerate(keys):  # used long ago, oldest first
        os.utime(cache.entry(k) / "config.json", (1000.0 + i, 1000.0 + i))
    m = RunManager(RunCache(tmp_path / "c"), workers=1, threads=1)
    try:
        h = m.submit(configs[0])  # a hit through the manager's cache lookup
        assert h.status == DONE and h.cached
        assert (cache.entry(keys[0]) / "config.json").stat().st_mtime > 2000
        h.result()  # loaded once; now in memory
        os.utime(cache.entry(keys[1]) / "config.json", (3000.0, 3000.0))
        os.utime(cache.entry(keys[0]) / "config.json", (1000.0, 1000.0))
        m.submit(configs[0]).result()  # an in-memory hit is a use too
        assert (cache.entry(keys[0]) / "config.json").stat().st_mtime > 3000
        one = max(e["bytes"] for e in cache.entries())
        cache.max_bytes = int(2.5 * one)
        assert cache.evict() == [keys[2]]  # the one never used again goes
    finally:
        m.shutdown()
