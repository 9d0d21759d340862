"""models.latent against references: torch.distributions densities, Monte-Carlo histograms,
closed forms for ellipses and KL divergences."""

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from models import latent
from models.priors import PriorConfig, make_prior


def _mixture_reference(loc, scale):
    """The aggregate posterior as a torch distribution."""
    n = len(loc)
    return D.MixtureSameFamily(D.Categorical(torch.full((n,), 1.0 / n, dtype=torch.float64)),
                               D.Independent(D.Normal(loc.double(), scale.double()), 1))


@pytest.fixture
def codes():
    g = torch.Generator().manual_seed(3)
    loc = torch.randn(200, 3, generator=g) * 1.3
    scale = 0.05 + torch.rand(200, 3, generator=g) * 0.6
    return loc, scale


def test_log_prob_equals_torch_mixture(codes):
    loc, scale = codes
    q = latent.posterior_mixture(loc, scale)
    z = torch.randn(50, 3, dtype=torch.float64) * 2
    ref = _mixture_reference(loc, scale).log_prob(z)
    assert torch.allclose(q.log_prob(z), ref, atol=1e-10)


def test_marginal_equals_torch_mixture_of_the_chosen_dimensions(codes):
    loc, scale = codes
    q2 = latent.posterior_mixture(loc, scale).marginal((2, 0))
    z = torch.randn(40, 2, dtype=torch.float64)
    ref = _mixture_reference(loc[:, [2, 0]], scale[:, [2, 0]]).log_prob(z)
    assert torch.allclose(q2.log_prob(z), ref, atol=1e-10)


def test_aggregate_posterior_integrates_to_one_on_its_grid(codes):
    loc, scale = codes
    q2 = latent.posterior_mixture(loc, scale).marginal((0, 1))
    lo, hi = latent.bounds(loc[:, :2], scale[:, :2])
    e = latent.grid_edges(lo - 2, hi + 2, 90)
    mass = q2.cell_mass(e, e)
    assert mass.shape == (90, 90)
    assert float(mass.sum()) == pytest.approx(1.0, abs=1e-6)
    # and the mass outside a smaller box is exactly what the 1-D CDFs say is outside
    e_small = latent.grid_edges(-1.0, 1.5, 40)
    inside = torch.stack([(D.Normal(loc[:, j].double(), scale[:, j].double()).cdf(
        torch.tensor(1.5, dtype=torch.float64)) - D.Normal(loc[:, j].double(),
        scale[:, j].double()).cdf(torch.tensor(-1.0, dtype=torch.float64)))
        for j in (0, 1)]).prod(0).mean()
    assert float(q2.cell_mass(e_small, e_small).sum()) == pytest.approx(float(inside), abs=1e-12)


def test_cell_mass_over_area_approaches_the_density_on_a_fine_grid(codes):
    loc, scale = codes
    q2 = latent.posterior_mixture(loc, scale).marginal((0, 1))
    e = latent.grid_edges(-3, 3, 600)
    area = float((e[1] - e[0]) ** 2)
    density = q2.cell_mass(e, e) / area
    c = latent.centres(e)
    zz = torch.stack(torch.meshgrid(c, c, indexing="xy"), -1)  # (ny, nx, 2), x first
    exact = q2.log_prob(zz.reshape(-1, 2)).exp().reshape(600, 600)
    assert torch.allclose(density, exact, rtol=2e-3, atol=1e-4)


def test_cell_mass_equals_a_monte_carlo_histogram(codes):
    loc, scale = codes
    q2 = latent.posterior_mixture(loc, scale).marginal((0, 1))
    e = latent.grid_edges(-4, 4, 16)
    mass = q2.cell_mass(e, e).numpy()
    n = 400_000
    z = q2.sample(n, torch.Generator().manual_seed(0)).numpy()
    hist, _, _ = np.histogram2d(z[:, 1], z[:, 0], bins=[e.numpy(), e.numpy()])  # rows: y
    freq = hist / n
    sd = np.sqrt(mass * (1 - mass) / n)
    assert np.all(np.abs(freq - mass) <= 5 * sd + 1e-5)
    assert 0.5 * np.abs(freq - mass).sum() < 0.01


@pytest.mark.parametrize("name", ["gaussian", "laplace", "student_t", "mixture", "uniform"])
def test_prior_marginal_density_and_mass_against_torch_and_monte_carlo(name):
    prior = make_prior(PriorConfig(name=name, components=5, spread=2.0, df=3.0), 4)
    pm = latent.prior_mixture(prior)
    # the full-dimensional density is the prior's own
    z = prior.sample(64).double() * 0.9
    assert torch.allclose(pm.log_prob(z), prior.log_prob(z.float()).double(), atol=1e-4)
    # the 2-D marginal's cell masses match a histogram of the prior's own samples
    torch.manual_seed(1)
    n = 200_000
    s = prior.sample(n)[:, [1, 0]].numpy()
    two = pm.marginal((1, 0))
    e = latent.grid_edges(-3, 3, 12)
    mass = two.cell_mass(e, e).numpy()
    hist, _, _ = np.histogram2d(s[:, 1], s[:, 0], bins=[e.numpy(), e.numpy()])
    sd = np.sqrt(mass * (1 - mass) / n)
    assert np.all(np.abs(hist / n - mass) <= 5 * sd + 1e-5), name


def test_gauss_legendre_matches_a_fine_riemann_sum_for_student_t():
    d = D.StudentT(torch.tensor([2.5]), torch.tensor([0.3]), torch.tensor([0.8]))
    e = latent.grid_edges(-3, 3, 7)
    mass = latent.interval_mass(d, e)[0]
    fine = latent.grid_edges(-3, 3, 7 * 2000)
    dens = d.log_prob(latent.centres(fine).float().unsqueeze(1)).exp().double()[:, 0]
    riemann = (dens * (fine[1] - fine[0])).reshape(7, 2000).sum(1)
    assert torch.allclose(mass, riemann, atol=1e-7)


def test_grid_kl_is_a_lower_bound_that_tightens_to_the_closed_form():
    q = D.Independent(D.Normal(torch.tensor([0.7, -0.4]), torch.tensor([0.5, 0.8])), 1)
    p = D.Independent(D.Normal(torch.zeros(2), torch.ones(2)), 1)
    exact = float(D.kl_divergence(q, p))
    qm = latent.posterior_mixture(q.base_dist.loc[None], q.base_dist.scale[None])
    pm = latent.prior_mixture(make_prior("gaussian", 2))
    kls = []
    for cells in (6, 30, 150):
        e = latent.grid_edges(-5, 5, cells)
        kls.append(latent.grid_kl(qm.cell_mass(e, e), pm.cell_mass(e, e)))
    assert kls[0] <= kls[1] <= kls[2] <= exact + 1e-9
    assert kls[2] == pytest.approx(exact, rel=2e-3)
    e = latent.grid_edges(-5, 5, 30)
    assert latent.grid_kl(pm.cell_mass(e, e), pm.cell_mass(e, e)) == pytest.approx(0, abs=1e-12)


def test_hole_mass():
    pm = latent.prior_mixture(make_prior("gaussian", 2))
    e = latent.grid_edges(-4, 4, 80)
    p = pm.cell_mass(e, e)
    assert latent.hole_mass(p, p) == 0.0
    # codes packed in a small blob at (2, 0): nearly all the prior's mass is in holes
    blob = latent.posterior_mixture(torch.tensor([[2.0, 0.0]]), torch.tensor([[0.2, 0.2]]))
    assert latent.hole_mass(p, blob.cell_mass(e, e)) > 0.9
    # q = N((m, 0), I): q/p = exp(m z1 - m^2/2) < 0.1 exactly where z1 < (m^2/2 + ln 0.1)/m,
    # so the hole mass is Phi of that threshold (up to the cells the boundary cuts)
    m = 2.0
    e = latent.grid_edges(-6, 6, 600)
    p = pm.cell_mass(e, e)
    shifted = latent.posterior_mixture(torch.tensor([[m, 0.0]]), torch.ones(1, 2))
    expected = float(D.Normal(0.0, 1.0).cdf(torch.tensor((m * m / 2 + math.log(0.1)) / m)))
    assert latent.hole_mass(p, shifted.cell_mass(e, e)) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("k", [1.0, 2.0])
def test_diagonal_ellipse_axes_match_the_std(k):
    loc = torch.tensor([[0.5, -1.0], [2.0, 0.3]])
    scale = torch.tensor([[0.3, 0.1], [1.2, 0.7]])
    pts = latent.diagonal_ellipses(loc, scale, k, n=400)
    for i in range(2):
        half_width = (pts[i].max(0).values - pts[i].min(0).values) / 2
        assert torch.allclose(half_width, k * scale[i].double(), rtol=1e-4)
        maha = (((pts[i] - loc[i].double()) / scale[i].double()) ** 2).sum(-1).sqrt()
        assert torch.allclose(maha, torch.full_like(maha, k), atol=1e-9)


def test_full_covariance_ellipse_geometry_and_mass():
    cov = torch.tensor([[1.0, 0.6], [0.6, 0.5]])
    loc = torch.tensor([0.2, -0.1])
    lengths, vecs = latent.ellipse_axes(cov, 2.0)
    var = torch.linalg.eigvalsh(cov.double())
    assert torch.allclose(lengths, 2 * var.sqrt())
    pts = latent.ellipse(loc, cov, 2.0, n=200)
    d = pts - loc.double()
    maha = (d @ torch.linalg.inv(cov.double()) * d).sum(-1)
    assert torch.allclose(maha, torch.full_like(maha, 4.0), atol=1e-9)
    assert torch.allclose(pts[0], pts[-1])  # closed
    # mass inside the k-std ellipse, by Monte Carlo from torch's MultivariateNormal
    torch.manual_seed(0)
    s = D.MultivariateNormal(loc, cov).sample((200_000,)).double() - loc.double()
    m = (s @ torch.linalg.inv(cov.double()) * s).sum(-1)
    for k in (1.0, 2.0):
        assert float((m <= k * k).double().mean()) == pytest.approx(latent.mass_within(k),
                                                                   abs=4e-3)
    assert latent.mass_within(1.0) == pytest.approx(0.393469, abs=1e-6)
    assert latent.mass_within(2.0) == pytest.approx(0.864665, abs=1e-6)


def test_sample_diagonal_is_reproducible_and_has_the_right_moments():
    loc, scale = torch.tensor([1.0, -2.0, 0.0]), torch.tensor([0.5, 0.1, 2.0])
    a = latent.sample_diagonal(loc, scale, 50_000, seed=4)
    assert torch.equal(a, latent.sample_diagonal(loc, scale, 50_000, seed=4))
    assert torch.allclose(a.mean(0), loc, atol=0.03)
    assert torch.allclose(a.std(0), scale, rtol=0.02)


def test_bounds_hold_the_codes_and_the_prior():
    loc = torch.tensor([[0.0, 0.0], [5.0, -1.0]])
    scale = torch.full((2, 2), 0.2)
    lo, hi = latent.bounds(loc, scale)
    assert lo == -hi and hi >= 5.0 and hi <= 15.0
    assert latent.bounds(torch.zeros(3, 2), torch.full((3, 2), 0.1)) == (-3.0, 3.0)
    pm = latent.prior_mixture(make_prior(PriorConfig("mixture", spread=4.0), 2))
    assert latent.bounds(torch.zeros(3, 2), torch.full((3, 2), 0.1), pm)[1] >= 5.5
    with pytest.raises(ValueError):
        latent.grid_edges(1.0, 1.0, 5)
    with pytest.raises(ValueError):
        latent.posterior_mixture(loc, scale).cell_mass(latent.grid_edges(0, 1, 3))
    assert math.isfinite(latent.mass_within(3.0))


def test_average_kl_closed_form_and_monte_carlo_and_the_elbo_surgery_split(codes):
    loc, scale = codes
    gauss = latent.prior_mixture(make_prior("gaussian", 3))
    ref = D.kl_divergence(D.Independent(D.Normal(loc, scale), 1),
                          D.Independent(D.Normal(torch.zeros(3), torch.ones(3)), 1)).mean()
    assert latent.average_kl(loc, scale, gauss) == pytest.approx(float(ref), rel=1e-6)
    # the Monte-Carlo branch (any non-Gaussian prior) against torch's closed form for Laplace
    lap_mix = latent.DiagonalMixture(gauss.weights, tuple(D.Laplace(m.loc, m.scale)
                                                          for m in gauss.marginals))
    lap = D.Independent(D.Laplace(torch.zeros(3), torch.ones(3)), 1)
    lap_ref = float(D.kl_divergence(D.Independent(D.Normal(loc, scale), 1), lap).mean())
    assert latent.average_kl(loc, scale, lap_mix, samples=2000) == pytest.approx(lap_ref,
                                                                                 rel=0.01)
    # E_x KL(q(z|x) || p) = I(x; z) + KL(q(z) || p) >= KL(q(z) || p) (on the 2-D marginal,
    # where the grid KL is a lower bound on the last term)
    two = (0, 1)
    avg = latent.average_kl(loc[:, :2], scale[:, :2], gauss.marginal(two))
    e = latent.grid_edges(-6, 6, 120)
    qm = latent.posterior_mixture(loc[:, :2], scale[:, :2])
    marginal_kl = latent.grid_kl(qm.cell_mass(e, e), gauss.marginal(two).cell_mass(e, e))
    assert 0 < marginal_kl < avg
    assert avg - marginal_kl <= math.log(len(loc)) + 0.05  # I(x; z) <= log N


def test_average_kl_for_the_mixture_prior_matches_a_direct_estimate(codes):
    loc, scale = codes
    prior = make_prior(PriorConfig("mixture", components=4), 3)
    pm = latent.prior_mixture(prior)
    torch.manual_seed(5)
    q = D.Independent(D.Normal(loc, scale), 1)
    z = q.sample((4000,))
    direct = float((q.log_prob(z) - prior.log_prob(z)).mean())
    assert latent.average_kl(loc, scale, pm, samples=4000) == pytest.approx(direct, abs=0.03)


# --- per-dimension KL and sampling from local generators -----------------------------------

def _vae(prior_config: PriorConfig, d: int):
    from models.vae import VAE
    torch.manual_seed(0)
    return VAE(data_dim=6, latent_dim=d, prior=make_prior(prior_config, d), hidden=16,
               image=False)


@pytest.mark.parametrize("name", ["gaussian", "laplace"])
def test_kl_per_dim_in_closed_form_equals_the_models_own(name):
    model = _vae(PriorConfig(name=name), 3)
    x = torch.randn(300, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        q = model.approx_posterior(x)
        ref = model.kl_per_dim(x)
    got = latent.kl_per_dim(q.mean, q.stddev, model.prior_)
    assert got.shape == (3,)
    assert torch.allclose(got, ref.double(), rtol=1e-5, atol=1e-6)


def test_kl_per_dim_by_monte_carlo_uses_only_its_own_generator():
    """Student-t has no closed-form KL: a Monte-Carlo estimate, reproducible from the
    generator, close to a high-precision estimate, and the global generator untouched
    (seeding it would reset every other session's random numbers)."""
    prior = make_prior(PriorConfig(name="student_t", df=3.0), 2)
    g = torch.Generator().manual_seed(5)
    loc = torch.randn(400, 2, generator=g)
    scale = 0.2 + torch.rand(400, 2, generator=g)
    state = torch.get_rng_state()
    a = latent.kl_per_dim(loc, scale, prior, generator=torch.Generator().manual_seed(0))
    b = latent.kl_per_dim(loc, scale, prior, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b)
    precise = latent.kl_per_dim(loc, scale, prior, samples=4000,
                                generator=torch.Generator().manual_seed(1))
    assert torch.allclose(a, precise, rtol=0.05)
    # per dimension, the KL of one input is log q - log p under that dimension's marginals
    q1 = D.Normal(loc[:, 1].double(), scale[:, 1].double())
    z = q1.sample((4000,))
    direct = (q1.log_prob(z) - D.StudentT(3.0).log_prob(z)).mean()
    assert float(precise[1]) == pytest.approx(float(direct), rel=0.03)


def test_kl_per_dim_of_a_mixture_prior_exists_only_in_one_dimension():
    g = torch.Generator().manual_seed(2)
    loc, scale = torch.randn(300, 1, generator=g), 0.1 + torch.rand(300, 1, generator=g)
    prior = make_prior(PriorConfig(name="mixture", components=4, spread=2.0), 1)
    kl = latent.kl_per_dim(loc, scale, prior, samples=2000,
                           generator=torch.Generator().manual_seed(0))
    q = D.Independent(D.Normal(loc.double(), scale.double()), 1)
    z = q.sample((2000,))
    direct = (q.log_prob(z) - prior.log_prob(z.float()).double()).mean()
    assert kl.shape == (1,) and float(kl[0]) == pytest.approx(float(direct), rel=0.03)
    loc2, scale2 = torch.randn(10, 2), torch.ones(10, 2)
    assert latent.kl_per_dim(loc2, scale2, make_prior(PriorConfig(name="mixture"), 2)) is None


@pytest.mark.parametrize("config", [PriorConfig(name="laplace"), PriorConfig(name="uniform"),
                                    PriorConfig(name="student_t", df=4.0),
                                    PriorConfig(name="mixture", components=3, spread=2.0)])
def test_prior_samples_come_from_the_generator_and_the_prior(config):
    prior = make_prior(config, 2)
    mix = latent.prior_mixture(prior)
    state = torch.get_rng_state()
    a = mix.sample(20000, torch.Generator().manual_seed(3))
    b = mix.sample(20000, torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(a, b)
    for j in range(2):  # each coordinate against the prior's exact marginal CDF
        m = mix.marginal((j,))
        xs = np.sort(a[:, j].numpy())
        edges = torch.as_tensor(np.concatenate([[-60.0], xs]))
        cdf = np.cumsum(m.cell_mass(edges).numpy())
        ks = np.max(np.abs(cdf - np.arange(1, len(xs) + 1) / len(xs)))
        assert ks < 1.63 / math.sqrt(len(xs)), (config.name, j, ks)  # KS test at 1 %


# --- the prior's highest-density regions, drawn over q(z) ----------------------------------

def test_mass_regions_are_the_smallest_sets_holding_each_level():
    prior = latent.prior_mixture(make_prior("gaussian", 2))
    e = latent.grid_edges(-4, 4, 160)
    mass = prior.cell_mass(e, e)
    r50, r90 = latent.mass_regions(mass, (0.5, 0.9))
    total = float(mass.sum())
    for region, level in ((r50, 0.5), (r90, 0.9)):
        held = float(mass[region].sum()) / total
        lightest = float(mass[region].min())
        assert held >= level and held - lightest / total < level  # none to spare
    assert bool((r50 <= r90).all())  # nested
    # N(0, I) in 2-D: the region holding mass m is the disc of radius sqrt(-2 log(1 - m))
    c = latent.centres(e)
    radius = torch.sqrt(c[None, :] ** 2 + c[:, None] ** 2)
    cell = float(e[1] - e[0])
    for region, level in ((r50, 0.5), (r90, 0.9)):
        r = math.sqrt(-2 * math.log(1 - level))
        assert float(radius[region].max()) <= r + cell
        assert float(radius[~region].min()) >= r - cell


def test_region_edges_outline_a_region():
    inside = torch.zeros(7, 9, dtype=torch.bool)
    inside[2:5, 3:7] = True
    edge = latent.region_edges(inside)
    expected = inside.clone()
    expected[3, 4:6] = False  # the interior of a 3 x 4 block
    assert torch.equal(edge, expected)
    full = torch.ones(3, 3, dtype=torch.bool)
    assert latent.region_edges(full).sum() == 8  # the grid's border closes the region
