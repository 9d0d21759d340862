"""Model maths against references, and every data set x model kind trains a few steps."""

import math
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from torch import distributions as TD

from models import datasets
from models import train as train_module
from models.metrics import fit_pca
from models.priors import PriorConfig, PriorMismatch, has_analytic_kl, make_prior
from models.train import (AEConfig, ConfigError, Diverged, GANConfig, VAEConfig, build_model,
                          config_from_dict, config_to_dict, generate, run_to_end, train,
                          validate)
from models.vae import VAE


def test_models_package_never_imports_streamlit_or_altair():
    code = ("import sys, models, models.train, models.runs, models.presets, models.__main__;"
            "import models.metrics, models.lvm;"
            "assert 'streamlit' not in sys.modules and 'altair' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(datasets.ASSETS.parent))


def _train_recording_initial_weights(config, monkeypatch):
    """Train config to the end; returns (training losses in order, the done event, the model's
    weights as they were before the first step)."""
    initial = {}
    real_build = train_module.build_model

    def build_and_record(c):
        model = real_build(c)
        initial.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        return model

    monkeypatch.setattr(train_module, "build_model", build_and_record)
    losses, done = [], None
    for ev in train(config):
        if ev.type == "progress" and "loss" in ev.metrics:
            losses.append(ev.metrics["loss"])
        if ev.type == "done":
            done = ev
    assert done is not None and initial
    return losses, done, initial


def _moved(initial, model, prefix):
    """Largest absolute change of any weight of the sub-network `prefix` (e.g. "generator.")."""
    now = model.state_dict()
    keys = [k for k in initial if k.startswith(prefix)]
    assert keys, prefix
    return max(float((now[k] - initial[k]).abs().max()) for k in keys)


@pytest.mark.parametrize("name", list(datasets.DATASETS))
@pytest.mark.parametrize("kind", ["ae", "vae", "gan"])
def test_every_dataset_and_model_kind_trains_with_a_finite_falling_loss(name, kind,
                                                                         monkeypatch):
    torch.manual_seed(0)
    if kind == "gan":
        config = GANConfig(dataset=name, steps=60, batch_size=64, g_hidden=32, d_hidden=32)
    else:
        cls = AEConfig if kind == "ae" else VAEConfig
        config = cls(dataset=name, latent_dim=2, hidden=64, epochs=2, batch_size=256)
    losses, done, initial = _train_recording_initial_weights(config, monkeypatch)
    h = done.history
    assert done.model is not None and h[-1]["step"] == done.total_steps
    if kind == "gan":
        # Adversarial losses need not fall. Both players must have learned: each network's
        # weights moved (by far more than the float16 rounding of the stored model), and the
        # losses averaged between evaluations are finite numbers in their possible range
        # (non-saturating loss: both are sums of softplus terms, so > 0).
        assert _moved(initial, done.model, "generator.") > 1e-2
        assert _moved(initial, done.model, "discriminator.") > 1e-2
        logged = [(m["d_loss"], m["g_loss"]) for m in h[1:]]
        assert len(logged) == len(h) - 1 >= 10
        assert all(math.isfinite(d) and math.isfinite(g) and d > 0 and g > 0
                   for d, g in logged)
        # the discriminator beats a coin toss (2 log 2) somewhere in the run
        assert min(d for d, _ in logged) < 2 * math.log(2)
    else:
        assert _moved(initial, done.model, "encoder.") > 1e-3
        assert _moved(initial, done.model, "decoder.") > 1e-3
        key = "test_neg_elbo" if kind == "vae" else "test_recon"
        assert h[-1][key] < h[0][key]  # held out
        # and on the training batches: the last epoch's mean below the first logged losses
        last = h[-1]["train_recon"] + (h[-1]["train_kl"] if kind == "vae" else 0.0)
        assert losses and last < sum(losses[:3]) / len(losses[:3])


def _same_run(a, b) -> bool:
    """Identical weights and identical metrics (wall seconds aside) at every evaluation."""
    sa, sb = a.model.state_dict(), b.model.state_dict()
    strip = [{k: v for k, v in m.items() if k != "seconds"} for m in (a.metrics, b.metrics)]
    hist = [[{k: v for k, v in m.items() if k != "seconds"} for m in r.history] for r in (a, b)]
    return (sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
            and strip[0] == strip[1] and hist[0] == hist[1])


@pytest.mark.parametrize("config", [
    AEConfig(dataset="moons", latent_dim=1, hidden=32, epochs=2),
    VAEConfig(dataset="moons", latent_dim=2, hidden=32, epochs=2),
    VAEConfig(dataset="digits", latent_dim=4, hidden=32, epochs=1,
              prior=PriorConfig("mixture", components=3)),  # Monte-Carlo KL: noise too
    GANConfig(dataset="ring8", steps=100, g_hidden=32, d_hidden=32),
    GANConfig(dataset="grid25", steps=60, g_hidden=32, d_hidden=32, loss="wgan-gp",
              d_steps=2),  # the gradient penalty draws its own random mixing weights
], ids=lambda c: f"{c.kind}-{c.dataset}")
def test_training_is_deterministic_for_a_seed(config):
    torch.manual_seed(123)  # whatever the global state before: the config's seed decides
    a = run_to_end(config)
    torch.manual_seed(456)
    b = run_to_end(config)
    assert _same_run(a, b)
    c = run_to_end(replace(config, seed=1))
    assert not torch.equal(next(iter(c.model.state_dict().values())),
                           next(iter(a.model.state_dict().values())))
    key = {"ae": "test_recon", "vae": "test_neg_elbo", "gan": "modes_covered"}[config.kind]
    if config.kind != "gan":  # (mode counts are small integers and may coincide)
        assert c.metrics[key] != a.metrics[key]


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


@pytest.mark.parametrize("prior,analytic", [("gaussian", True), ("laplace", True),
                                           ("mixture", False), ("student_t", False)])
def test_vae_trains_with_each_fitting_prior_exact_or_monte_carlo_kl(prior, analytic):
    # torch 2.13 has KL(Normal || Laplace) in closed form; mixtures and Student-t have none,
    # so their KL is the one-sample Monte-Carlo estimate (tests/test_priors.py checks both).
    assert has_analytic_kl(make_prior(prior, 2)) is analytic
    done = run_to_end(VAEConfig(dataset="ring8", latent_dim=2, hidden=32, epochs=2,
                                prior=PriorConfig(prior)))
    h = done.history
    assert h[-1]["test_neg_elbo"] < h[0]["test_neg_elbo"]
    assert done.metrics["test_kl"] > 0
    # the IWAE estimate of log p(x) (K = 64) sits at or above the ELBO, up to sampling noise
    assert done.metrics["test_iwae"] > -done.metrics["test_neg_elbo"] - 0.05


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


def _gan_with_linear_critic(loss, a=(0.6, -0.8), c=0.3):
    """A GAN whose discriminator is the line D(x) = a.x + c, so its outputs (and, for WGAN-GP,
    its gradient, a, of norm |a| everywhere) are known exactly."""
    from models.gan import GAN
    model = GAN(2, 2, make_prior("gaussian", 2), g_hidden=8, d_hidden=8, loss=loss)
    model.discriminator = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.discriminator.weight.copy_(torch.tensor([a]))
        model.discriminator.bias.fill_(c)
    return model


X_REAL = torch.tensor([[1.0, 0.0], [0.0, -2.0], [2.0, 1.0]])
X_FAKE = torch.tensor([[-1.0, 1.0], [0.5, 0.5], [-0.3, -2.2]])  # as many as real (WGAN-GP)


def _logits(x, a=(0.6, -0.8), c=0.3):
    return [a[0] * p + a[1] * q + c for p, q in x.tolist()]


def _mean(v):
    return sum(v) / len(v)


def _sigmoid(t):
    return 1 / (1 + math.exp(-t))


@pytest.mark.parametrize("loss", ["ns", "minimax", "lsgan", "wgan-gp"])
def test_gan_losses_match_their_formulas(loss):
    model = _gan_with_linear_critic(loss)
    real, fake = _logits(X_REAL), _logits(X_FAKE)
    d_r, d_f = [_sigmoid(t) for t in real], [_sigmoid(t) for t in fake]
    if loss in ("ns", "minimax"):  # Goodfellow et al. 2014: D maximises log D(x) + log(1 - D(G(z)))
        d = -_mean([math.log(p) for p in d_r]) - _mean([math.log(1 - p) for p in d_f])
        g = (-_mean([math.log(p) for p in d_f]) if loss == "ns"  # G maximises log D(G(z))
             else _mean([math.log(1 - p) for p in d_f]))  # G minimises log(1 - D(G(z)))
    elif loss == "lsgan":  # Mao et al. 2017, a=0, b=c=1, halved
        d = 0.5 * _mean([(t - 1) ** 2 for t in real]) + 0.5 * _mean([t**2 for t in fake])
        g = 0.5 * _mean([(t - 1) ** 2 for t in fake])
    else:  # Gulrajani et al. 2017: E D(fake) - E D(real) + 10 E (|grad D(x_mix)| - 1)^2
        d = _mean(fake) - _mean(real) + 10 * (math.hypot(0.6, -0.8) * 1.0 - 1) ** 2
        g = -_mean(fake)
    assert float(model.d_loss(X_REAL, X_FAKE).detach()) == pytest.approx(d, rel=1e-5, abs=1e-6)
    assert float(model.g_loss(X_FAKE).detach()) == pytest.approx(g, rel=1e-5, abs=1e-6)


def test_wgan_gradient_penalty_counts_the_critic_gradient_norm():
    # |a| = 2: every interpolate has gradient norm 2, so the penalty is 10 * (2 - 1)^2 = 10
    model = _gan_with_linear_critic("wgan-gp", a=(1.2, -1.6), c=0.0)
    real, fake = _logits(X_REAL, (1.2, -1.6), 0.0), _logits(X_FAKE, (1.2, -1.6), 0.0)
    expected = _mean(fake) - _mean(real) + 10.0
    assert float(model.d_loss(X_REAL, X_FAKE).detach()) == pytest.approx(expected, rel=1e-5)
    # and a nonlinear critic: the penalty equals the mean over the same random interpolates
    torch.manual_seed(0)
    from models.gan import GAN
    model = GAN(2, 2, make_prior("gaussian", 2), g_hidden=8, d_hidden=16, loss="wgan-gp")
    x_real, x_fake = torch.randn(64, 2), torch.randn(64, 2) + 1
    torch.manual_seed(1)
    got = float(model.d_loss(x_real, x_fake).detach())
    torch.manual_seed(1)
    eps = torch.rand(64, 1)
    penalty = 0.0
    for i in range(64):  # one example at a time: no batching shortcuts
        xi = (eps[i] * x_real[i] + (1 - eps[i]) * x_fake[i]).detach().requires_grad_(True)
        grad, = torch.autograd.grad(model.critic(xi.unsqueeze(0)).sum(), xi)
        penalty += (float(grad.norm()) - 1) ** 2 / 64
    with torch.no_grad():
        gap = float(model.critic(x_fake).mean() - model.critic(x_real).mean())
    assert got == pytest.approx(gap + 10 * penalty, rel=1e-4)
