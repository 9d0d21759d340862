import numpy as np
import pytest
import torch

from models import datasets
from models.metrics import HQ_STDS, mode_metrics, vae_metrics


def test_perfect_samples_cover_every_mode():
    c, std = datasets.MIXTURES["ring8"]
    samples = np.repeat(c, 10, axis=0)
    m = mode_metrics(samples, c, std)
    assert m == {"modes_covered": 8, "modes_total": 8, "hq_fraction": 1.0}


def test_collapsed_samples_cover_one_mode():
    c, std = datasets.MIXTURES["ring8"]
    rng = np.random.default_rng(0)
    samples = c[3] + std * rng.standard_normal((2500, 2))
    m = mode_metrics(samples, c, std)
    assert m["modes_covered"] == 1 and m["hq_fraction"] > 0.98


def test_samples_between_modes_are_low_quality_and_cover_nothing():
    c, std = datasets.MIXTURES["grid25"]
    samples = np.array([[1.0, 1.0], [3.0, -3.0], [0.0, 0.0]])  # two midpoints, one centre
    m = mode_metrics(samples, c, std)
    assert m["modes_covered"] == 1 and abs(m["hq_fraction"] - 1 / 3) < 1e-9


def test_high_quality_threshold_is_three_stds():
    c, std = datasets.MIXTURES["ring8"]
    inside = c[0] + np.array([[HQ_STDS * std * 0.99, 0.0]])
    outside = c[0] + np.array([[HQ_STDS * std * 1.01, 0.0]])
    assert mode_metrics(inside, c, std)["hq_fraction"] == 1.0
    assert mode_metrics(outside, c, std)["hq_fraction"] == 0.0


def test_nan_samples_count_as_low_quality():
    c, std = datasets.MIXTURES["ring8"]
    m = mode_metrics(np.array([[np.nan, 0.0], list(c[0])]), c, std)
    assert m["hq_fraction"] == 0.5 and m["modes_covered"] == 1


def test_a_perfect_generator_scores_about_98_9_percent():
    # Within 3 std in 2-D holds with probability 1 - exp(-9/2) = 98.9 % (the published figure).
    c, std = datasets.MIXTURES["ring8"]
    rng = np.random.default_rng(1)
    samples = c[rng.integers(0, 8, 20000)] + std * rng.standard_normal((20000, 2))
    assert abs(mode_metrics(samples, c, std)["hq_fraction"] - (1 - np.exp(-4.5))) < 0.003


# --- a VAE's held-out bounds on a model whose log p(x) is known in closed form --------------

W, B, SIGMA = np.array([1.5, -0.7]), np.array([0.3, -0.2]), np.array([0.5, 0.8])
POST_PRECISION = 1 + float((W**2 / SIGMA**2).sum())  # M = 1 + w' Psi^-1 w
Q_SCALE = 1.5 / np.sqrt(POST_PRECISION)  # q(z|x) is 1.5x wider than the exact posterior


def _linear_gaussian_vae():
    """A VAE with p(z) = N(0, 1), p(x|z) = N(w z + b, diag sigma^2) and a linear encoder whose
    mean is the exact posterior mean, but whose scale is 1.5x the exact posterior's. Then
    (Tipping & Bishop 1999) log p(x) = log N(x; b, w w' + diag sigma^2), the posterior is
    N(w' Psi^-1 (x - b) / M, 1/M), and ELBO(x) = log p(x) - KL(q(z|x) || p(z|x)) exactly."""
    from models.priors import make_prior
    from models.vae import MIN_SCALE, VAE
    model = VAE(2, 1, make_prior("gaussian", 1), hidden=4, image=False)
    model.decoder = torch.nn.Linear(1, 2)
    model.encoder = torch.nn.Linear(2, 2)
    a = W / SIGMA**2 / POST_PRECISION  # posterior mean = a . (x - b)
    raw = np.log(np.expm1(Q_SCALE - MIN_SCALE))  # softplus^-1
    with torch.no_grad():
        model.decoder.weight.copy_(torch.tensor(W[:, None]))
        model.decoder.bias.copy_(torch.tensor(B))
        model.log_scale_x.copy_(torch.tensor(np.log(SIGMA)))
        model.encoder.weight.copy_(torch.tensor(np.stack([a, np.zeros(2)])))
        model.encoder.bias.copy_(torch.tensor([-(a * B).sum(), raw]))
    return model.eval()


def _closed_forms(x: np.ndarray):
    """log p(x) and ELBO(x), per example, in float64."""
    cov = np.outer(W, W) + np.diag(SIGMA**2)
    d = x - B
    log_px = -0.5 * (np.einsum("nd,de,ne->n", d, np.linalg.inv(cov), d)
                     + np.log(np.linalg.det(cov)) + 2 * np.log(2 * np.pi))
    post_sd = 1 / np.sqrt(POST_PRECISION)
    gap = np.log(post_sd / Q_SCALE) + Q_SCALE**2 / (2 * post_sd**2) - 0.5  # same means
    # the ELBO again, term by term: E_q log p(x|z) - KL(q || N(0, 1))
    m = d @ (W / SIGMA**2) / POST_PRECISION
    expected_ll = (-0.5 * np.log(2 * np.pi * SIGMA**2)
                   - ((d - np.outer(m, W)) ** 2 + W**2 * Q_SCALE**2) / (2 * SIGMA**2)).sum(1)
    kl_prior = 0.5 * (Q_SCALE**2 + m**2 - 1 - 2 * np.log(Q_SCALE))
    return log_px, log_px - gap, expected_ll, kl_prior


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    return np.outer(z, W) + B + SIGMA * rng.standard_normal((n, 2))


def test_closed_forms_agree_with_each_other():
    x = _data(50)
    log_px, elbo, expected_ll, kl_prior = _closed_forms(x)
    np.testing.assert_allclose(elbo, expected_ll - kl_prior, rtol=1e-10, atol=1e-10)
    assert (elbo < log_px).all()


@torch.no_grad()
def test_vae_metrics_neg_elbo_and_kl_match_the_closed_form():
    torch.manual_seed(0)
    model = _linear_gaussian_vae()
    x = _data(40_000)
    log_px, elbo, expected_ll, kl_prior = _closed_forms(x)
    xt = torch.tensor(x, dtype=torch.float32)
    m = vae_metrics(model, xt)
    assert "test_iwae" not in m
    # the KL term is analytic here: exact up to float32
    assert m["test_kl"] == pytest.approx(kl_prior.mean(), rel=1e-4)
    # the reconstruction term is a one-sample estimate per example: compare within its noise
    recon, _ = model.loss_terms(xt)
    stderr = float(recon.std()) / np.sqrt(len(x))
    assert abs(m["test_recon"] - (-expected_ll.mean())) < 5 * stderr
    assert abs(m["test_neg_elbo"] - (-elbo.mean())) < 5 * stderr
    assert stderr < 0.01  # a tight check: the gap log p(x) - ELBO is ~0.15 nats
    assert -elbo.mean() - (-log_px.mean()) > 10 * stderr


@torch.no_grad()
def test_iwae_with_one_sample_is_the_elbo_and_with_many_reaches_log_px():
    torch.manual_seed(0)
    model = _linear_gaussian_vae()
    x = _data(20_000, seed=1)
    log_px, elbo, _, _ = _closed_forms(x)
    xt = torch.tensor(x, dtype=torch.float32)
    k1 = model.iwae(xt, 1)
    stderr = float(k1.std()) / np.sqrt(len(x))
    assert abs(float(k1.mean()) - elbo.mean()) < 5 * stderr  # K = 1: the ELBO, in expectation
    means = [float(model.iwae(xt, k).mean()) for k in (1, 4, 32)]
    assert means[0] < means[1] < means[2] < log_px.mean() + 0.01  # tightens towards log p(x)
    few = xt[:200]
    big = model.iwae(few, 4096).double().numpy()  # per example, near log p(x)
    np.testing.assert_allclose(big, log_px[:200], atol=0.06)
    assert abs((big - log_px[:200]).mean()) < 0.005  # no bias left at this K
    m = vae_metrics(model, xt[:2000], iwae_k=256)
    assert m["test_iwae"] == pytest.approx(log_px[:2000].mean(), abs=0.01)
    # the sign convention of the done event: test_iwae estimates log p(x) itself, while
    # test_neg_elbo is the negated bound, so -test_iwae <= test_neg_elbo up to noise
    assert -m["test_iwae"] < m["test_neg_elbo"]
