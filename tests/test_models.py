"""Model maths against references, and every data set x model kind trains a few steps."""

import math
import subprocess
import sys

import pytest
import torch
from torch import distributions as TD

from models import datasets
from models.metrics import fit_pca
from models.priors import PriorConfig, PriorMismatch, make_prior
from models.train import (AEConfig, ConfigError, Diverged, GANConfig, VAEConfig, build_model,
                          config_from_dict, config_to_dict, generate, run_to_end, train,
                          validate)
from models.vae import VAE


def test_models_package_never_imports_streamlit_or_altair():
    code = ("import sys, models, models.train, models.runs, models.presets, models.__main__;"
            "import models.metrics, models.lvm;"
            "assert 'streamlit' not in sys.modules and 'altair' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(datasets.ASSETS.parent))


def _losses(config, steps):
    """Training losses of the first `steps` progress/eval events."""
    out = []
    for ev in train(config):
        if (ev.type == "progress" and ev.metrics) or (ev.type == "eval" and ev.step > 0):
            out.append(ev.metrics.get("loss", ev.metrics.get("train_recon",
                                                              ev.metrics.get("d_loss"))))
        if ev.type == "done":
            return out, ev
    raise AssertionError("no done event")


@pytest.mark.parametrize("name", list(datasets.DATASETS))
@pytest.mark.parametrize("kind", ["ae", "vae", "gan"])
def test_every_dataset_and_model_kind_trains_with_a_finite_falling_loss(name, kind):
    torch.manual_seed(0)
    if kind == "gan":
        config = GANConfig(dataset=name, steps=60, batch_size=64, g_hidden=32, d_hidden=32)
    else:
        cls = AEConfig if kind == "ae" else VAEConfig
        config = cls(dataset=name, latent_dim=2, hidden=64, epochs=2, batch_size=256)
    losses, done = _losses(config, 10)
    assert all(math.isfinite(v) for v in losses)
    assert done.history and done.model is not None
    if kind == "gan":  # adversarial losses need not fall; the generator must have moved
        first = done.history[0]
        assert "d_loss" in done.history[-1] and done.history[-1]["step"] == 60
    else:
        h = done.history
        key = "test_neg_elbo" if kind == "vae" else "test_recon"
        assert h[-1][key] < h[0][key]


def test_training_is_deterministic_for_a_seed():
    c = AEConfig(dataset="moons", latent_dim=1, hidden=32, epochs=2)
    a, b = run_to_end(c), run_to_end(c)
    assert a.metrics["test_recon"] == b.metrics["test_recon"]
    c2 = AEConfig(dataset="moons", latent_dim=1, hidden=32, epochs=2, seed=1)
    assert run_to_end(c2).metrics["test_recon"] != a.metrics["test_recon"]


def test_vae_terms_match_torch_distributions():
    torch.manual_seed(0)
    prior = make_prior("gaussian", 3)
    model = VAE(784, 3, prior, hidden=32, image=True)
    x = torch.rand(5, 784)
    q = model.approx_posterior(x)
    assert isinstance(q, TD.Independent) and q.event_shape == (3,)
    torch.manual_seed(1)
    recon, kl = model.loss_terms(x)
    torch.manual_seed(1)
    z = q.rsample()
    expected_recon = -TD.Independent(TD.Bernoulli(logits=model.decoder(z),
                                                  validate_args=False), 1).log_prob(x)
    torch.testing.assert_close(recon, expected_recon)
    loc, scale = q.mean, q.stddev
    closed = 0.5 * (scale**2 + loc**2 - 1 - 2 * scale.log()).sum(-1)
    torch.testing.assert_close(kl, closed)
    per_dim = model.kl_per_dim(x)
    torch.testing.assert_close(per_dim.sum(), closed.mean())


@torch.no_grad()
def test_iwae_bound_is_tighter_than_the_elbo_on_average():
    torch.manual_seed(0)
    model = VAE(2, 1, make_prior("gaussian", 1), hidden=16, image=False)
    x = 0.3 * torch.randn(200, 2)
    elbo = -torch.stack([sum(model.loss_terms(x)) for _ in range(200)]).mean()
    iw1 = torch.stack([model.iwae(x, 1) for _ in range(200)]).mean()
    iw64 = model.iwae(x, 64).mean()
    assert iw64 > elbo + 0.01
    assert abs(float(iw1 - elbo)) < 0.02 * abs(float(elbo))  # K = 1 is the ELBO itself


def test_vae_with_uniform_prior_is_refused_not_nan():
    with pytest.raises(PriorMismatch):
        validate(VAEConfig(prior=PriorConfig("uniform")))
    with pytest.raises(PriorMismatch):
        build_model(VAEConfig(prior=PriorConfig("uniform")))


def test_vae_with_monte_carlo_kl_priors_trains():
    for prior in ("laplace", "mixture", "student_t"):
        done = run_to_end(VAEConfig(dataset="ring8", latent_dim=2, hidden=32, epochs=1,
                                    prior=PriorConfig(prior)))
        assert math.isfinite(done.metrics["test_neg_elbo"])
        assert done.metrics["test_iwae"] > -done.metrics["test_neg_elbo"] - 1.0


def test_linear_autoencoder_matches_pca_on_correlated_gaussians():
    torch.manual_seed(0)
    x = torch.randn(2000, 6) @ torch.randn(6, 6)
    pca = fit_pca(x, 2)
    from models.autoencoder import Autoencoder
    ae = Autoencoder(6, 2, linear=True)
    opt = torch.optim.Adam(ae.parameters(), lr=1e-2)
    for _ in range(1500):
        loss = ae.recon_error(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        ae_error, pca_error = float(ae.recon_error(x).mean()), float(pca.recon_error(x).mean())
    assert ae_error == pytest.approx(pca_error, rel=0.01)


def test_pca_error_is_the_sum_of_discarded_variances():
    torch.manual_seed(0)
    x = torch.randn(500, 5) * torch.tensor([3.0, 2.0, 1.0, 0.5, 0.1])
    p = fit_pca(x, 2)
    full = fit_pca(x, 5)
    expected = float(full.explained_variance[2:].sum()) * (len(x) - 1) / len(x)
    assert float(p.recon_error(x).mean()) == pytest.approx(expected, rel=1e-4)


def test_divergence_stops_with_a_clear_error():
    with pytest.raises(Diverged, match="diverged"):
        run_to_end(AEConfig(dataset="grid25", latent_dim=2, hidden=64, epochs=3, lr=1.0,
                            optimizer="sgd"))


@pytest.mark.parametrize("bad", [
    dict(latent_dim=0), dict(latent_dim=65), dict(epochs=0), dict(lr=0.0), dict(lr=float("nan")),
    dict(dataset="mnist"), dict(batch_size=0), dict(hidden=1), dict(optimizer="rmsprop")])
def test_bad_configs_raise_config_error(bad):
    with pytest.raises(ConfigError):
        validate(AEConfig(**bad))


def test_config_dict_round_trip():
    for c in (AEConfig(linear=True), VAEConfig(prior=PriorConfig("mixture", components=4)),
              GANConfig(loss="lsgan")):
        assert config_from_dict(config_to_dict(c)) == c
    with pytest.raises(ConfigError):
        config_from_dict({"kind": "ae", "bogus": 1})
    with pytest.raises(ConfigError):
        config_from_dict({"kind": "pca"})


def test_generate_shapes():
    for c in (AEConfig(dataset="digits", epochs=1, hidden=32),
              VAEConfig(dataset="ring8", latent_dim=2, epochs=1, hidden=32),
              GANConfig(dataset="moons", steps=5)):
        done = run_to_end(c)
        x = generate(done.model, c, 7)
        assert x.shape == ((7, 28, 28) if c.dataset == "digits" else (7, 2))
