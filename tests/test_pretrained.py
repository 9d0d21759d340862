"""Shipped pretrained runs: current with the model code and within the size budget, packed
without loss, installed into the cache atomically, and exactly the model the shipped metrics
describe."""

import json

import numpy as np
import pytest
import torch

from models import datasets, pretrained
from models.presets import default_runs
from models.runs import RunCache, load_or_train, run_key
from models.train import AEConfig, GANConfig, VAEConfig

SMALL = [AEConfig(dataset="moons", latent_dim=1, hidden=32, epochs=2),
         VAEConfig(dataset="digits", latent_dim=3, hidden=64, epochs=1),
         GANConfig(dataset="ring8", steps=200, g_hidden=32, d_hidden=32)]


def test_shipped_runs_are_current_and_small():
    st = pretrained.status()
    fix = "rebuild them with `python -m models pretrained build`"
    assert not st.missing, f"{len(st.missing)} page defaults are not shipped: {fix}"
    assert not st.stale, f"{len(st.stale)} shipped runs are stale (model code changed): {fix}"
    assert not st.extra, f"shipped runs no page uses: {st.extra}: {fix}"
    assert st.bytes <= pretrained.MAX_SHIPPED_MB * 1e6, f"{st.bytes / 1e6:.1f} MB shipped"
    assert st.current


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cache = RunCache(tmp_path_factory.mktemp("cache"))
    return cache, [load_or_train(c, threads=1, cache=cache) for c in SMALL]


def _snapshots_equal(a, b):
    assert [s["step"] for s in a] == [s["step"] for s in b]
    for sa, sb in zip(a, b):
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])


@pytest.mark.parametrize("i", range(len(SMALL)), ids=["ae", "vae", "gan"])
def test_pack_then_install_gives_back_the_run_exactly(trained, tmp_path, i):
    cache, results = trained
    res = results[i]
    shipped = tmp_path / "shipped"
    pretrained.pack_entry(cache.entry(res.key), shipped / res.key)
    packed = sum(f.stat().st_size for f in (shipped / res.key).iterdir())
    original = sum(f.stat().st_size for f in cache.entry(res.key).iterdir())
    assert packed < 0.75 * original, (packed, original)
    fresh = RunCache(tmp_path / "fresh")
    installed, stale = pretrained.install(fresh, shipped)
    assert installed == [res.key] and stale == []
    back = fresh.load(res.key)
    assert back.config == res.config and back.metrics == res.metrics
    assert back.history == res.history
    sa, sb = res.model.state_dict(), back.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    _snapshots_equal(res.snapshots, back.snapshots)
    assert pretrained.install(fresh, shipped) == ([], [])  # already there: nothing to do


def test_weights_are_stored_at_half_precision_and_measured_so(trained):
    """The final metrics describe the stored (rounded) weights, not an earlier state."""
    cache, results = trained
    ae = results[0]
    for t in ae.model.state_dict().values():
        assert torch.equal(t, t.half().float())
    x_test = datasets.load(ae.config.dataset).x_test
    with torch.no_grad():
        recon = float(ae.model.recon_error(x_test).mean())
    assert recon == pytest.approx(ae.metrics["test_recon"], rel=1e-6)


def test_stale_and_damaged_shipped_runs_are_not_installed(trained, tmp_path, capsys):
    cache, results = trained
    shipped = tmp_path / "shipped"
    stale_key, bad_key = results[0].key, results[2].key
    for key in (stale_key, bad_key):
        pretrained.pack_entry(cache.entry(key), shipped / key)
    meta = json.loads((shipped / stale_key / "meta.json").read_text())
    meta["version"] = "older-code"
    (shipped / stale_key / "meta.json").write_text(json.dumps(meta))
    weights = shipped / bad_key / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated
    fresh = RunCache(tmp_path / "fresh")
    installed, stale = pretrained.install(fresh, shipped)
    assert installed == [] and stale == [stale_key]
    assert not fresh.has(stale_key) and not fresh.has(bad_key)
    err = capsys.readouterr().err
    assert "could not be installed" in err and "pretrained build" in err
    assert not list((fresh.root / "tmp").iterdir())  # nothing half-written is left


def test_status_flags_a_set_too_big_or_incomplete(tmp_path, monkeypatch):
    root = tmp_path / "shipped"
    root.mkdir()
    st = pretrained.status(root)
    assert not st.current and len(st.missing) == len({run_key(c) for c in default_runs()})
    (root / "blob").mkdir()
    (root / "blob" / "x").write_bytes(b"0" * 1000)
    monkeypatch.setattr(pretrained, "MAX_SHIPPED_MB", 0.0005)
    assert pretrained.status(root).too_big


def test_every_page_opens_ready_from_the_shipped_runs(tmp_path):
    """Installing the shipped set leaves every page default in the cache, loadable."""
    fresh = RunCache(tmp_path / "cache")
    pretrained.install(fresh)
    for config in default_runs():
        key = run_key(config)
        assert fresh.has(key), f"{config.kind} {config.dataset} is not shipped"
        fresh.verify(key)
