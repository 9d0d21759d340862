from pathlib import Path

import pytest

from models.limits import LimitExceeded, Limits, parse
from models.train import AEConfig, GANConfig, VAEConfig

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_hosted_limits_parse():
    lim = parse((ROOT / "assets" / "limits-hosted.toml").read_text(), "hosted")
    assert lim.max_latent == 16 and lim.runs_per_session > 0


def test_defaults_allow_every_page_default():
    from models.presets import default_runs
    for c in default_runs():
        Limits().check(c)


@pytest.mark.parametrize("config, word", [
    (VAEConfig(latent_dim=32), "Latent"), (AEConfig(epochs=100), "epochs"),
    (GANConfig(steps=10_000), "steps"), (AEConfig(hidden=1024), "Hidden")])
def test_limits_say_which_and_why(config, word):
    lim = Limits(max_latent=16, max_epochs=40, max_steps=5000, max_hidden=512)
    with pytest.raises(LimitExceeded, match=word):
        lim.check(config)


@pytest.mark.parametrize("text", ["max_latnt = 3", "max_latent = -1", "max_latent = 0",
                                  "max_latent = 'big'", "max_latent = true", "[[x"])
def test_bad_limit_files_are_refused_with_a_message(text):
    with pytest.raises(ValueError, match="limits.toml"):
        parse(text, "limits.toml")


def test_manager_refuses_new_trainings_beyond_limits_but_serves_cached(tmp_path, monkeypatch):
    from models import limits
    from models.runs import RunCache, RunManager, load_or_train
    small = AEConfig(dataset="moons", latent_dim=1, hidden=16, epochs=1)
    load_or_train(small, threads=1, cache=RunCache(tmp_path / "c"))
    f = tmp_path / "limits.toml"
    f.write_text("max_epochs = 1\nworkers = 1\n")
    monkeypatch.setenv(limits.LIMITS_ENV, str(f))
    limits.current.cache_clear()
    try:
        m = RunManager(RunCache(tmp_path / "c"))
        try:
            assert m.n_workers == 1
            assert m.submit(small).status == "done"
            with pytest.raises(LimitExceeded, match="1 epochs"):
                m.submit(AEConfig(dataset="moons", latent_dim=1, hidden=16, epochs=2))
        finally:
            m.shutdown()
    finally:
        limits.current.cache_clear()
