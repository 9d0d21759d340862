"""Tests for models/lvm.py: grid densities against closed forms (Bishop 2.3.3, 9.2, 10.1.2) and
torch.distributions, normalisation, the ELBO bound, ancestral sampling and bad settings."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import distributions as D

from models import lvm
from models.lvm import (DECODERS, PRIOR_NAMES, LVMConfig, closed_form_evidence,
                        closed_form_posterior, closed_form_responsibilities, compute_view, fit_q,
                        make_grid, make_lvm, x_grid, z_grid)
from models.priors import make_prior

LINEAR_GAUSSIAN = {  # N(m, s^2) prior, f(z) = a z (+ c z2) + b
    1: LVMConfig(prior_loc=0.5, prior_scale=1.3, a=1.5, b=0.2, sigma=0.4),
    2: LVMConfig(latent_dim=2, prior_loc=0.5, prior_scale=1.3, a=1.5, b=0.2, c=-0.7, sigma=0.4),
}
# the reference mixture (GUIDE section 3): pi = (0.3, 0.7), loc = (-1, 2), scale = (0.5, 1);
# as the evidence of a mixture prior with f(z) = z, component scales sqrt(scale^2 - sigma^2)
REF_SIGMA = 0.1
REFERENCE_MIXTURE = LVMConfig(prior="mixture", mix_weights=(0.3, 0.7), mix_locs=(-1.0, 2.0),
                              mix_scales=(math.sqrt(0.25 - REF_SIGMA**2),
                                          math.sqrt(1.0 - REF_SIGMA**2)),
                              a=1.0, b=0.0, sigma=REF_SIGMA)


def wide_x(config, per_sigma=5):
    """An x grid covering all of p(x): f over the prior's mass on the z grid, +- 8 sigma."""
    model = make_lvm(config)
    z = model.grid.points
    mass = np.exp(model.log_prior(z)) * model.grid.cell
    f = model.decode(z)[mass > 1e-12]
    step = config.sigma / per_sigma
    return np.arange(f.min() - 8 * config.sigma, f.max() + 8 * config.sigma, step)


def integral(log_density, step):
    return float(np.exp(log_density).sum() * step)


def test_model_layer_imports_no_ui_library():
    code = ("import sys, models.lvm; "
            "assert 'streamlit' not in sys.modules and 'altair' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=lvm.__file__.rsplit("/", 2)[0])


def test_config_is_hashable_and_lists_become_tuples():
    a = LVMConfig(prior="mixture", mix_weights=[0.3, 0.7], mix_locs=[-1, 2], mix_scales=[0.5, 1])
    b = LVMConfig(prior="mixture", mix_weights=(0.3, 0.7), mix_locs=(-1.0, 2.0),
                  mix_scales=(0.5, 1.0))
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert make_lvm(a) is make_lvm(b)
    c2 = LVMConfig(latent_dim=2, prior="mixture", mix_locs=(0.5, (1.0, -2.0)))
    np.testing.assert_array_equal(c2.component_locs(), [[0.5, 0.5], [1.0, -2.0]])


# --- densities against torch.distributions and closed forms ---------------------------------

def test_prior_and_likelihood_match_torch_distributions():
    rng = np.random.default_rng(0)
    cfg = LVMConfig(prior_loc=0.5, prior_scale=1.3, decoder="sine", a=1.2, b=-0.3, w=1.7,
                    sigma=0.4)
    model = make_lvm(cfg)
    z, x = rng.normal(size=(50, 1)), rng.normal(size=50)
    f = 1.2 * np.sin(1.7 * z[:, 0]) - 0.3
    expected = D.Normal(torch.from_numpy(f), 0.4).log_prob(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.log_likelihood(x, z), expected, rtol=1e-12)
    loc, scale = torch.tensor(0.5, dtype=torch.float64), torch.tensor(1.3, dtype=torch.float64)
    expected = D.Normal(loc, scale).log_prob(torch.from_numpy(z[:, 0])).numpy()
    np.testing.assert_allclose(model.log_prior(z), expected, rtol=1e-12)
    np.testing.assert_allclose(model.log_joint(x, z), model.log_likelihood(x, z)
                               + model.log_prior(z), rtol=1e-12)


@pytest.mark.parametrize("prior", PRIOR_NAMES)
@pytest.mark.parametrize("d", [1, 2])
def test_log_prior_matches_its_torch_distribution(prior, d):
    cfg = LVMConfig(latent_dim=d, prior=prior, prior_loc=0.4, prior_scale=1.7, df=2.5,
                    mix_weights=(0.2, 0.1, 0.7), mix_locs=(-1.0, 0.5, (2.0,) * d),
                    mix_scales=(0.6, 1.0, 0.9))
    model = make_lvm(cfg)
    z = np.random.default_rng(1).normal(0.4, 3.0, size=(300, d))  # some outside the box
    expected = model.prior.log_prob(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(model.log_prior(z), expected, rtol=1e-12, atol=1e-12)
    if prior == "uniform":
        assert np.isinf(expected).any() and np.isfinite(expected).any()
    if prior == "mixture":  # a zero weight drops its component (torch clamps it to 2e-16)
        zero = LVMConfig(latent_dim=d, prior="mixture", mix_weights=(0.2, 0.0, 0.7),
                         mix_locs=cfg.mix_locs, mix_scales=cfg.mix_scales)
        dropped = LVMConfig(latent_dim=d, prior="mixture", mix_weights=(0.2, 0.7),
                            mix_locs=(-1.0, (2.0,) * d), mix_scales=(0.6, 0.9))
        np.testing.assert_allclose(make_lvm(zero).log_prior(z), make_lvm(dropped).log_prior(z),
                                   rtol=1e-12)


@pytest.mark.parametrize("name", ["gaussian", "laplace", "uniform", "student_t"])
@pytest.mark.parametrize("d", [1, 2])
def test_standard_priors_equal_the_app_priors(name, d):
    """loc 0, scale 1 gives the standardised priors of models/priors.py."""
    z = torch.tensor([[0.3, -1.2], [1.5, 0.1], [-0.4, 1.6]], dtype=torch.float64)[:, :d]
    ours = make_lvm(LVMConfig(latent_dim=d, prior=name)).log_prior(z.numpy())
    np.testing.assert_allclose(ours, make_prior(name, d).log_prob(z.float()).double().numpy(),
                               rtol=1e-5)


@pytest.mark.parametrize("d", [1, 2])
def test_linear_gaussian_evidence_and_posterior_match_closed_forms(d):
    cfg = LINEAR_GAUSSIAN[d]
    model = make_lvm(cfg)
    x = np.linspace(-5.0, 6.0, 45)
    exact = closed_form_evidence(cfg).log_prob(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.log_evidence(x), exact, atol=1e-4)
    # the formula p(x) = N(w.m + b, |w|^2 s^2 + sigma^2), written out independently
    w2 = 1.5**2 + (0.7**2 if d == 2 else 0.0)
    loc = 0.5 * (1.5 + (-0.7 if d == 2 else 0.0)) + 0.2
    scale = math.sqrt(w2 * 1.3**2 + 0.4**2)
    by_hand = D.Normal(torch.tensor(loc, dtype=torch.float64), torch.tensor(
        scale, dtype=torch.float64)).log_prob(torch.from_numpy(x))
    np.testing.assert_allclose(exact, by_hand.numpy(), rtol=1e-12)
    z = model.grid.points
    for x0 in (-2.0, 0.3, 3.5):
        post = closed_form_posterior(cfg, x0)
        p_exact = post.log_prob(torch.from_numpy(z)).exp().numpy()
        p_grid = np.exp(model.log_posterior(z, x0))
        assert np.abs(p_grid - p_exact).max() < 1e-4 * max(1.0, p_exact.max())


def test_one_dimensional_posterior_is_bishops_formula():
    cfg = LINEAR_GAUSSIAN[1]  # precision 1/s^2 + a^2/sigma^2 (Bishop eq. 2.116-2.117)
    prec = 1 / 1.3**2 + 1.5**2 / 0.4**2
    for x0 in (-1.0, 2.0):
        post = closed_form_posterior(cfg, x0)
        loc = (0.5 / 1.3**2 + 1.5 * (x0 - 0.2) / 0.4**2) / prec
        assert post.loc.item() == pytest.approx(loc, rel=1e-12)
        assert post.covariance_matrix.item() == pytest.approx(1 / prec, rel=1e-12)


def test_reference_mixture_numbers():
    """GUIDE section 3: p(0.4) = 0.082394, responsibilities (0.057641, 0.942359)."""
    direct = D.MixtureSameFamily(D.Categorical(torch.tensor([0.3, 0.7], dtype=torch.float64)),
                                 D.Normal(torch.tensor([-1.0, 2.0], dtype=torch.float64),
                                          torch.tensor([0.5, 1.0], dtype=torch.float64)))
    assert direct.log_prob(torch.tensor(0.4, dtype=torch.float64)).exp().item() == \
        pytest.approx(0.082394, abs=1e-6)
    p = closed_form_evidence(REFERENCE_MIXTURE).log_prob(torch.tensor(0.4, dtype=torch.float64))
    assert p.exp().item() == pytest.approx(0.082394, abs=1e-6)
    np.testing.assert_allclose(closed_form_responsibilities(REFERENCE_MIXTURE, 0.4),
                               [0.057641, 0.942359], atol=1e-6)
    grid_p = make_lvm(REFERENCE_MIXTURE).log_evidence(0.4)
    assert float(np.exp(grid_p)) == pytest.approx(0.082394, abs=1e-6)


@pytest.mark.parametrize("d", [1, 2])
def test_mixture_evidence_and_responsibilities_on_the_grid(d):
    cfg = LVMConfig(latent_dim=d, prior="mixture", mix_weights=(0.2, 0.5, 0.3),
                    mix_locs=(-2.0, 0.5, 2.5), mix_scales=(0.6, 0.4, 0.8), a=1.3, b=-0.4,
                    c=0.8, sigma=0.5)
    model = make_lvm(cfg)
    x = np.linspace(-6.0, 7.0, 27)
    exact = closed_form_evidence(cfg).log_prob(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.log_evidence(x), exact, atol=1e-4)
    # responsibilities: pi_k p_k(x) / p(x), p_k the evidence of component k alone, on the grid
    parts = []
    for k in range(3):
        one = LVMConfig(latent_dim=d, prior="mixture", mix_weights=(1.0,),
                        mix_locs=(cfg.mix_locs[k],), mix_scales=(cfg.mix_scales[k],), a=1.3,
                        b=-0.4, c=0.8, sigma=0.5)
        parts.append(cfg.mix_weights[k] * np.exp(make_lvm(one).log_evidence(x, model.grid)))
    resp = np.stack(parts, -1) / np.exp(model.log_evidence(x))[:, None]
    np.testing.assert_allclose(resp, closed_form_responsibilities(cfg, x), atol=1e-4)
    post = closed_form_posterior(cfg, 1.0)  # mixture of Gaussian posteriors
    z = model.grid.points
    p_exact = post.log_prob(torch.from_numpy(z)).exp().numpy()
    assert np.abs(np.exp(model.log_posterior(z, 1.0)) - p_exact).max() < 1e-4


# --- normalisation ----------------------------------------------------------------------------

CASES = [(p, dec) for p in PRIOR_NAMES for dec in ("linear", "sine", "fold")]


@pytest.mark.parametrize("prior,decoder", CASES)
@pytest.mark.parametrize("d", [1, 2])
def test_every_density_integrates_to_one(prior, decoder, d):
    cfg = LVMConfig(latent_dim=d, prior=prior, decoder=decoder, a=1.2, b=0.3, c=0.8, w=1.5,
                    sigma=0.5)
    model = make_lvm(cfg)
    grid, z = model.grid, model.grid.points
    assert integral(model.log_prior(z), grid.cell) == pytest.approx(1, abs=1e-3)  # p(z)
    x = wide_x(cfg)
    dx = x[1] - x[0]
    z0 = np.full(d, 0.4)
    assert integral(model.log_likelihood(x, z0), dx) == pytest.approx(1, abs=1e-3)  # p(x|z0)
    log_px = model.log_evidence(x)
    assert integral(log_px, dx) == pytest.approx(1, abs=1e-3)  # p(x)
    xs = x[::4]  # p(x, z) over the (x, z) grid
    joint = model.log_joint(xs[:, None], z[None, :, :])  # (Nx, N)
    assert integral(joint, 4 * dx * grid.cell) == pytest.approx(1, abs=1e-3)
    # p(z|x0) at the 10, 50, 90 % points of p(x), with p(x0) from the default grid,
    # integrated on a finer, shifted grid
    cdf = np.cumsum(np.exp(log_px)) * dx
    fine = z_grid(cfg, n=2 * grid.shape[0] + 1)
    for x0 in x[np.searchsorted(cdf, [0.1, 0.5, 0.9])]:
        post = model.log_posterior(fine.points, x0)
        assert integral(post, fine.cell) == pytest.approx(1, abs=1e-3)


# --- the page's one call --------------------------------------------------------------------

@pytest.mark.parametrize("d", [1, 2])
def test_view_is_consistent_with_the_single_functions(d):
    cfg = LVMConfig(latent_dim=d, prior="laplace", decoder="tanh", a=2.0, w=1.5, sigma=0.4)
    model = make_lvm(cfg)
    x = x_grid(cfg)
    v = compute_view(cfg, x0=0.8, z0=[0.3] * d, x=x)
    shape = (400,) if d == 1 else (120, 120)
    assert v.grid.shape == shape and v.log_prior.shape == shape
    assert v.log_posterior_x0.shape == shape and v.log_likelihood_x0.shape == shape
    assert v.log_evidence.shape == x.shape == v.log_likelihood_z0.shape == (200,)
    assert (v.log_joint.shape == (200, 400)) if d == 1 else v.log_joint is None
    z = v.grid.points
    np.testing.assert_allclose(v.log_evidence, model.log_evidence(x), atol=1e-10)
    assert v.log_evidence_x0 == pytest.approx(float(model.log_evidence(0.8)), abs=1e-10)
    np.testing.assert_allclose(v.log_prior.ravel(), model.log_prior(z))
    np.testing.assert_allclose(v.log_likelihood_z0, model.log_likelihood(x, np.full(d, 0.3)))
    np.testing.assert_allclose(v.log_likelihood_x0.ravel(), model.log_likelihood(0.8, z))
    np.testing.assert_allclose(v.log_posterior_x0, v.log_likelihood_x0 + v.log_prior
                               - v.log_evidence_x0)
    np.testing.assert_allclose(v.log_posterior_x0.ravel(), model.log_posterior(z, 0.8),
                               atol=1e-10)
    if d == 1:
        np.testing.assert_allclose(v.log_joint, model.log_joint(x[:, None], z[None]))
    assert v.prior_mass == pytest.approx(1, abs=1e-3) and v.warning is None
    if d == 1:  # the 2-D grid axes: index [i, j] is (z1_i, z2_j)
        return
    i, j = 17, 90
    assert tuple(z.reshape(120, 120, 2)[i, j]) == (v.grid.axes[0][i], v.grid.axes[1][j])


def test_view_warns_when_the_grid_is_too_coarse_or_the_tails_too_heavy():
    coarse = compute_view(LVMConfig(decoder="sine", a=3.0, w=3.0, sigma=0.01), 0.5, 0.0)
    assert "sigma is small" in coarse.warning
    cauchy = compute_view(LVMConfig(prior="student_t", df=1.0), 0.5, 0.0)
    assert "prior mass" in cauchy.warning and cauchy.prior_mass < 0.999
    edge = compute_view(LVMConfig(prior="uniform", sigma=0.3), 3.0, 0.0)  # box is [-1.73, 1.73]
    assert edge.warning is None  # the posterior is cut by the box, not by the grid
    far = compute_view(LVMConfig(sigma=0.05), 9.0, 0.0)
    assert "edge of the z grid" in far.warning


def test_uniform_prior_mass_is_exact_on_its_grid():
    for n in (40, 41, 400):
        cfg = LVMConfig(prior="uniform", prior_loc=0.7, prior_scale=0.6)
        grid = z_grid(cfg, n)
        assert integral(make_lvm(cfg).log_prior(grid.points), grid.cell) == \
            pytest.approx(1, abs=1e-12)


# --- the ELBO ---------------------------------------------------------------------------------

@pytest.mark.parametrize("prior", PRIOR_NAMES)
@pytest.mark.parametrize("decoder", list(DECODERS))
@pytest.mark.parametrize("d", [1, 2])
def test_elbo_never_exceeds_the_evidence(prior, decoder, d):
    cfg = LVMConfig(latent_dim=d, prior=prior, decoder=decoder, a=1.2, b=0.1, c=0.7, w=2.0,
                    sigma=0.3)
    model = make_lvm(cfg)
    for x0 in x_grid(cfg, 7 if d == 1 else 5)[1:-1]:  # 5 values of x0 in 1-D, 3 in 2-D
        q = fit_q(cfg, x0)
        log_ev = float(model.log_evidence(x0))
        assert np.isfinite([q.elbo, q.gap, q.kl_prior, q.expected_log_likelihood]).all()
        assert q.log_evidence == pytest.approx(log_ev, abs=1e-9)
        assert q.elbo <= log_ev + 1e-6 and q.gap >= -1e-6
        assert q.elbo == pytest.approx(q.expected_log_likelihood - q.kl_prior, abs=1e-9)
        assert q.elbo == pytest.approx(q.log_evidence - q.gap, abs=1e-12)
        assert q.truncated == (prior == "uniform")
        assert q.loc.shape == q.scale.shape == (d,) and (q.scale > 0).all()


def test_elbo_equals_the_evidence_when_the_posterior_is_gaussian():
    cfg = LINEAR_GAUSSIAN[1]
    for x0 in np.linspace(-4, 5, 10):
        q = fit_q(cfg, x0)
        post = closed_form_posterior(cfg, x0)
        assert q.gap < 1e-4
        assert q.loc[0] == pytest.approx(post.loc.item(), abs=1e-3)
        assert q.scale[0] == pytest.approx(post.covariance_matrix.sqrt().item(), rel=1e-3)
    # 2-D with x independent of z2: the posterior factorises, a diagonal q is exact
    flat = LVMConfig(latent_dim=2, prior_loc=0.5, prior_scale=1.3, a=1.5, c=0.0, sigma=0.4)
    assert fit_q(flat, 1.0).gap < 1e-4


def test_mean_field_q_of_a_correlated_gaussian_posterior():
    """Bishop 10.1.2: the best diagonal q has the posterior's mean and precisions Lambda_dd;
    the gap is KL(q || p(z|x0)) between the two Gaussians."""
    cfg = LINEAR_GAUSSIAN[2]
    for x0 in (-1.5, 2.0):
        q = fit_q(cfg, x0)
        post = closed_form_posterior(cfg, x0)
        prec = torch.linalg.inv(post.covariance_matrix)
        np.testing.assert_allclose(q.loc, post.loc.numpy(), atol=2e-3)
        np.testing.assert_allclose(q.scale, 1 / prec.diagonal().sqrt().numpy(), rtol=2e-3)
        qd = D.MultivariateNormal(torch.from_numpy(q.loc), torch.diag(torch.from_numpy(q.scale)
                                                                      ** 2))
        assert q.gap == pytest.approx(D.kl_divergence(qd, post).item(), abs=2e-3)
        assert q.gap > 0.05  # correlated: a diagonal q cannot be exact


def test_grid_elbo_matches_a_monte_carlo_elbo():
    cfg = LVMConfig(decoder="tanh", a=2.0, w=1.5, sigma=0.3)
    model = make_lvm(cfg)
    q = fit_q(cfg, 1.2)
    gen = torch.Generator().manual_seed(0)
    qd = D.Normal(torch.from_numpy(q.loc), torch.from_numpy(q.scale))
    z = (qd.loc + qd.scale * torch.randn(200_000, 1, generator=gen, dtype=torch.float64))
    terms = model.log_joint(1.2, z.numpy()) - qd.log_prob(z).sum(-1).numpy()
    stderr = terms.std() / math.sqrt(len(terms))
    assert abs(terms.mean() - q.elbo) < 4 * stderr + 1e-3
    assert q.gap > 1e-3  # a nonlinear decoder: q is not exact


def test_warm_start_follows_a_slider():
    cfg = LVMConfig(decoder="cubic", a=0.5, sigma=0.3)
    prev = fit_q(cfg, 1.0)
    cold, warm = fit_q(cfg, 1.1), fit_q(cfg, 1.1, init=prev)
    assert warm.steps <= cold.steps
    np.testing.assert_allclose(warm.loc, cold.loc, atol=1e-3)
    assert warm.elbo == pytest.approx(cold.elbo, abs=1e-6)
    again = fit_q(cfg, 1.1, init=(warm.loc, warm.scale))
    assert again.steps <= 2


def test_fold_posterior_is_bimodal_and_q_picks_one_mode():
    cfg = LVMConfig(decoder="fold", a=1.0, b=0.0, sigma=0.2)
    model = make_lvm(cfg)
    z = np.array([[-2.0], [2.0], [0.0]])
    lp = model.log_posterior(z, 2.0)
    assert lp[0] == pytest.approx(lp[1], abs=1e-12) and lp[2] < lp[0] - 20
    q = fit_q(cfg, 2.0)
    assert abs(abs(q.loc[0]) - 1.92) < 0.1  # a mode (the prior pulls it a little inwards)
    assert q.gap == pytest.approx(math.log(2), abs=0.01)  # half the mass missed: KL = log 2


MULTIMODAL = [  # (config, x0): posteriors with more than one mode
    (LVMConfig(decoder="fold", sigma=0.2), 2.0),  # two mirror modes of equal mass
    (LVMConfig(prior="mixture", mix_weights=(0.3, 0.7), mix_locs=(-1.5, 1.5),
               mix_scales=(0.5, 0.5), decoder="fold", sigma=0.3), 1.4),  # unequal modes
    (LVMConfig(latent_dim=2, prior="laplace", decoder="sine", w=2.0, sigma=0.3), 0.3),
    (LVMConfig(latent_dim=2, prior="uniform", decoder="fold", sigma=0.05), 1.7),
    (LVMConfig(latent_dim=2, prior="uniform", decoder="fold", sigma=0.3), 4.0),
]


@pytest.mark.parametrize("cfg, x0", MULTIMODAL)
def test_the_fit_keeps_the_best_mode_whatever_the_start(cfg, x0):
    """Without init the fit starts at each posterior mode and keeps the highest ELBO, so the
    result depends on the settings only: a warm start from anywhere does no better, and the
    same settings give the same q (a reloaded link shows the same numbers)."""
    q = fit_q(cfg, x0)
    again = fit_q(cfg, x0)
    assert again.elbo == q.elbo and np.array_equal(again.loc, q.loc)
    grid = make_lvm(cfg).grid
    gen = np.random.default_rng(0)
    inits = [(gen.uniform(grid.axes[0][0], grid.axes[0][-1], cfg.latent_dim),
              gen.uniform(0.1, 1.5, cfg.latent_dim)) for _ in range(12)]
    inits += [(-q.loc, q.scale)]  # the mirror image of the chosen mode
    for init in inits:
        assert fit_q(cfg, x0, init=init).elbo <= q.elbo + lvm.TIE_TOL


def test_multi_start_beats_a_single_start_at_the_highest_mode():
    cfg, x0 = MULTIMODAL[3]  # a ridge |z1| + |z2| = x0 in a box: the highest cell is not
    model = make_lvm(cfg)  # where a Gaussian q finds the most mass
    grid = model.grid
    log_p = model.log_posterior(grid.points, x0) + math.log(grid.cell)
    full = np.where(np.isfinite(model.log_prior(grid.points)), log_p, -np.inf)
    starts = lvm._laplace_starts(grid, full.reshape(grid.shape))
    assert len(starts) > 1
    single = fit_q(cfg, x0, init=starts[0])
    assert fit_q(cfg, x0).elbo > single.elbo + 0.3


def test_equal_modes_tie_to_the_larger_loc():
    cfg, _ = MULTIMODAL[0]
    for x0 in (1.0, 1.5, 2.0, 3.0):
        q = fit_q(cfg, x0)
        assert q.loc[0] > 0, x0  # the mirror mode is as good; the rule picks the same side
        mirror = fit_q(cfg, x0, init=(-q.loc, q.scale))
        assert mirror.elbo == pytest.approx(q.elbo, abs=lvm.TIE_TOL)


def test_modes_are_the_highest_separated_local_maxima():
    z = np.linspace(-4, 4, 81)
    log_p = np.logaddexp(-0.5 * (z + 2) ** 2 + math.log(0.3), -0.5 * (z - 2) ** 2)
    assert lvm._modes(log_p) == [(60,), (20,)]  # z = 2 (higher), then z = -2
    flat = np.zeros(20)  # a plateau: separated starts, not one per cell
    modes = lvm._modes(flat)
    assert modes[0] == (0,) and len(modes) == lvm.MAX_STARTS
    assert all(abs(a[0] - b[0]) > lvm.MODE_SEPARATION for a in modes for b in modes if a != b)
    grid2 = np.add.outer(log_p, log_p)  # four modes in 2-D
    assert sorted(lvm._modes(grid2)) == [(20, 20), (20, 60), (60, 20), (60, 60)]


@pytest.mark.parametrize("cfg, x0", [MULTIMODAL[2], MULTIMODAL[3],
                                     (LINEAR_GAUSSIAN[2], 1.0)])
def test_separable_sums_match_sums_over_every_cell(cfg, x0):
    """fit_q sums along one axis at a time (q is a product); its ELBO parts must equal the
    plain sums over all grid cells of the q it returns."""
    model = make_lvm(cfg)
    grid = model.grid
    q = fit_q(cfg, x0)
    z = grid.points
    log_pz = model.log_prior(z)
    inside = np.isfinite(log_pz)
    log_q = -0.5 * (((z - q.loc) / q.scale) ** 2).sum(1)
    log_q[~inside] = -np.inf
    log_q -= np.log(np.exp(log_q - log_q.max()).sum()) + log_q.max()  # cell masses
    mass = np.exp(log_q)
    post = model.log_posterior(z, x0) + math.log(grid.cell)
    kl = float(np.sum(mass[inside] * (log_q[inside] - post[inside])))
    assert q.gap == pytest.approx(kl, abs=1e-9)
    ell = float(np.sum(mass[inside] * model.log_likelihood(x0, z)[inside]))
    assert q.expected_log_likelihood == pytest.approx(ell, abs=1e-9)


def test_uniform_prior_gives_a_truncated_q_with_a_finite_elbo():
    cfg = LVMConfig(prior="uniform", sigma=0.3)
    q = fit_q(cfg, 1.5)  # posterior pressed against the box's right edge
    assert q.truncated and np.isfinite(q.elbo)
    assert q.elbo <= float(make_lvm(cfg).log_evidence(1.5)) + 1e-6
    # the posterior is N(z; x0, sigma^2) cut to the box, and so is q: the bound is tight
    assert -1e-12 < q.gap < 1e-6
    assert q.loc[0] == pytest.approx(1.5, abs=1e-3) and q.scale[0] == pytest.approx(0.3, rel=1e-3)
    far = fit_q(LVMConfig(prior="uniform", decoder="tanh", a=3.0, sigma=0.3), 2.0)
    assert far.truncated and 1e-3 < far.gap < 1.0


def test_a_far_x0_does_not_swamp_the_prior():
    """With f constant, p(z|x0) = p(z) for any x0, even where log p(x0|z) ~ -4e16."""
    cfg = LVMConfig(a=0.0, b=1.0, sigma=0.5)
    q = fit_q(cfg, -1e8)
    assert -1e-12 < q.gap < 1e-6
    assert q.loc[0] == pytest.approx(0.0, abs=1e-6) and q.scale[0] == pytest.approx(1.0, 1e-3)
    v = compute_view(cfg, -1e8, 0.0)
    np.testing.assert_allclose(v.log_posterior_x0, v.log_prior, atol=1e-9)


# --- ancestral sampling ---------------------------------------------------------------------

def ks_distance(samples, grid_x, log_density):
    cdf = np.cumsum(np.exp(log_density))
    cdf /= cdf[-1]
    ecdf = np.searchsorted(np.sort(samples), grid_x, side="right") / len(samples)
    return np.abs(ecdf - cdf).max()


@pytest.mark.parametrize("prior,decoder", [("mixture", "sine"), ("laplace", "fold"),
                                           ("uniform", "tanh"), ("student_t", "linear")])
def test_ancestral_samples_follow_the_prior_and_the_evidence(prior, decoder):
    cfg = LVMConfig(prior=prior, decoder=decoder, a=1.5, w=2.0, sigma=0.3)
    model = make_lvm(cfg)
    n = 20_000
    z, x = model.sample(n, seed=1)
    assert z.shape == (n, 1) and x.shape == (n,)
    critical = 1.63 / math.sqrt(n)  # Kolmogorov-Smirnov, alpha = 0.01
    zs = model.grid.axes[0] + model.grid.steps[0] / 2  # cell right edges: cdf(z) on the grid
    assert ks_distance(z[:, 0], zs, model.log_prior(model.grid.points)) < critical
    xs = wide_x(cfg)
    assert ks_distance(x, xs + (xs[1] - xs[0]) / 2, model.log_evidence(xs)) < critical
    assert ks_distance(1.15 * x, xs, model.log_evidence(xs)) > critical  # the test has power


def test_two_dimensional_samples_chi_square():
    cfg = LVMConfig(latent_dim=2, prior="mixture", mix_locs=((-1.0, 1.0), (2.0, 0.0)),
                    decoder="tanh", sigma=0.3)
    model = make_lvm(cfg)
    n = 20_000
    z, _ = model.sample(n, seed=2)
    grid = model.grid  # 8 x 8 bins of 15 x 15 grid cells
    mass = (np.exp(model.log_prior(grid.points)) * grid.cell).reshape(8, 15, 8, 15).sum((1, 3))
    edges = [np.append(a[::15] - s / 2, a[-1] + s / 2) for a, s in zip(grid.axes, grid.steps)]
    counts, _, _ = np.histogram2d(z[:, 0], z[:, 1], bins=edges)
    expected = n * mass / mass.sum()
    use = expected >= 5
    chi2, df = float(((counts - expected)[use] ** 2 / expected[use]).sum()), use.sum() - 1
    assert chi2 < df + 4 * math.sqrt(2 * df)
    swapped = ((counts.T - expected)[use] ** 2 / expected[use]).sum()  # test has power
    assert swapped > df + 4 * math.sqrt(2 * df)


def test_sampling_is_seeded_and_leaves_torch_rng_alone():
    model = make_lvm(LVMConfig(prior="laplace", decoder="sine"))
    state = torch.get_rng_state()
    a, b, c = model.sample(100, seed=3), model.sample(100, seed=3), model.sample(100, seed=4)
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[1], c[1])


# --- bad settings -----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(sigma=0.0), "sigma must be positive"),
    (dict(sigma=-1.0), "sigma must be positive"),
    (dict(sigma=float("nan")), "not finite"),
    (dict(a=float("inf")), "not finite"),
    (dict(prior_scale=0.0), "prior scale must be positive"),
    (dict(prior="beta"), "Unknown prior"),
    (dict(decoder="relu"), "Unknown decoder"),
    (dict(latent_dim=3), "latent dimension must be 1 or 2"),
    (dict(prior="student_t", df=0.0), "degrees of freedom"),
    (dict(prior="mixture", mix_weights=(0.5, -0.1)), "non-negative"),
    (dict(prior="mixture", mix_weights=(0.0, 0.0)), "not all zero"),
    (dict(prior="mixture", mix_weights=(0.2, 0.3, 0.5)), "as many locs"),
    (dict(prior="mixture", mix_scales=(0.5, 0.0)), "scales must be positive"),
    (dict(prior="mixture", mix_locs=(0.0, float("nan"))), "finite"),
    (dict(prior="mixture", latent_dim=2, mix_locs=((0.0, 1.0, 2.0), 1.0)), "2 numbers"),
    (dict(prior="mixture", mix_weights=(0.1,) * 9, mix_locs=(0.0,) * 9, mix_scales=(1.0,) * 9),
     "1 to 8 components"),
])
def test_bad_settings_raise_a_readable_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LVMConfig(**kwargs)


def test_bad_calls_raise_a_readable_error():
    cfg = LVMConfig(decoder="tanh")
    with pytest.raises(ValueError, match="linear decoder"):
        closed_form_evidence(cfg)
    with pytest.raises(ValueError, match="linear decoder"):
        closed_form_posterior(LVMConfig(prior="laplace"), 0.0)
    with pytest.raises(ValueError, match="x0 must be a finite number"):
        fit_q(cfg, float("nan"))
    with pytest.raises(ValueError, match="x0 must be a finite number"):
        compute_view(cfg, float("inf"), 0.0)
    with pytest.raises(ValueError, match="z0 must be 1 finite"):
        compute_view(cfg, 0.0, [0.0, 1.0])
    with pytest.raises(ValueError, match="last axis of size 2"):
        make_lvm(LVMConfig(latent_dim=2)).log_prior(np.zeros((5, 1)))
    with pytest.raises(ValueError, match="positive scale"):
        fit_q(cfg, 0.0, init=(0.0, -1.0))
    with pytest.raises(ValueError, match="at least 4 cells"):
        make_grid([(-1.0, 1.0)], 2)


def test_grid_values_are_computed_once_and_read_only():
    cfg = LVMConfig(latent_dim=2, prior="mixture", mix_locs=((-1.0, 0.5), (1.0, 0.0)),
                    decoder="sine", w=1.3)
    model = make_lvm(cfg)
    z = model.grid.points
    np.testing.assert_array_equal(model.grid_log_prior, model.log_prior(z))
    np.testing.assert_array_equal(model.grid_decode, model.decode(z))
    assert model.on_grid(model.grid)[0] is model.grid_log_prior  # cached, not recomputed
    with pytest.raises(ValueError):
        model.grid_log_prior[0] = 0.0  # a page cannot corrupt the cached values
    other = z_grid(cfg, 30)
    np.testing.assert_array_equal(model.on_grid(other)[0], model.log_prior(other.points))
