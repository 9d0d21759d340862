"""models.latent_space against closed forms: interpolation paths, traversals, grids over the
prior's quantiles, the mean norm under a Gaussian prior, and mutual information on variables
whose dependence is known exactly."""

import math

import numpy as np
import pytest
import torch

from models import latent_space as ls
from models.autoencoder import Autoencoder
from models.gan import GAN
from models.priors import make_prior
from models.vae import VAE


# --- paths ------------------------------------------------------------------------------------

def test_lerp_is_the_straight_line():
    z0, z1 = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([3.0, 2.0, -1.5])
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    out = ls.lerp(z0, z1, t)
    assert out.shape == (4, 3)
    torch.testing.assert_close(out[0], z0)
    torch.testing.assert_close(out[-1], z1)
    torch.testing.assert_close(out[2], (z0 + z1) / 2)
    torch.testing.assert_close(out[1], torch.tensor([1.5, -1.0, 0.0]))


def test_slerp_endpoints():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(8, generator=g), torch.randn(8, generator=g)
    out = ls.slerp(z0, z1, [0.0, 1.0])
    torch.testing.assert_close(out[0], z0, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out[1], z1, atol=1e-6, rtol=1e-6)


def test_slerp_keeps_the_norm_of_equal_norm_endpoints_and_moves_at_constant_angle():
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(16, generator=g), torch.randn(16, generator=g)
    z1 = z1 / z1.norm() * z0.norm()  # equal norms
    t = torch.linspace(0, 1, 21)
    out = ls.slerp(z0, z1, t)
    norms = out.norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, float(z0.norm())), atol=1e-5,
                               rtol=1e-5)
    total = ls.angle(z0, z1)
    for ti, zt in zip(t, out):  # the angle from z0 grows linearly: t * W
        assert ls.angle(z0, zt) == pytest.approx(float(ti) * total, abs=1e-5)
    # the linear path, by contrast, is shorter in the middle (by cos(W/2))
    mid = ls.lerp(z0, z1, [0.5])[0]
    assert float(mid.norm()) == pytest.approx(float(z0.norm()) * math.cos(total / 2), rel=1e-5)


def test_slerp_in_the_plane_is_the_circular_arc():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    out = ls.slerp(z0, z1, [0.5])[0]
    torch.testing.assert_close(out, torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]))
    out = ls.slerp(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.0]), [1 / 3])[0]
    torch.testing.assert_close(out, 2 * torch.tensor([math.cos(math.pi / 6),
                                                      math.sin(math.pi / 6)]))


def test_slerp_of_parallel_codes_falls_back_to_the_line():
    z0 = torch.tensor([1.0, 2.0])
    out = ls.slerp(z0, 3 * z0, [0.0, 0.5, 1.0])
    torch.testing.assert_close(out, ls.lerp(z0, 3 * z0, [0.0, 0.5, 1.0]))
    zero = ls.slerp(torch.zeros(2), z0, [0.5])  # a zero code has no direction
    torch.testing.assert_close(zero[0], z0 / 2)
    assert torch.isfinite(ls.slerp(z0, -z0, [0.5])).all()


def test_path_names_and_bad_method():
    z0, z1 = torch.zeros(2), torch.ones(2)
    assert set(ls.PATHS) == {"linear", "spherical"}
    torch.testing.assert_close(ls.path(z0, z1, [0.5], "linear"), torch.tensor([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="Unknown interpolation"):
        ls.path(z0, z1, [0.5], "cubic")


def test_traverse_changes_one_dimension_only():
    z = torch.tensor([0.1, -0.4, 0.7])
    out = ls.traverse(z, 1, [-3.0, 0.0, 3.0])
    assert out.shape == (3, 3)
    torch.testing.assert_close(out[:, 1], torch.tensor([-3.0, 0.0, 3.0]))
    torch.testing.assert_close(out[:, [0, 2]], z[[0, 2]].repeat(3, 1))
    assert z[1] == pytest.approx(-0.4)  # the input is not modified
    with pytest.raises(ValueError, match="does not exist"):
        ls.traverse(z, 3, [0.0])


# --- grids and the prior ------------------------------------------------------------------------

def test_prior_axis_is_the_inverse_cdf_at_even_probabilities():
    axis = ls.prior_axis(make_prior("gaussian", 2), 5, 0.05)
    p = torch.linspace(0.05, 0.95, 5)
    torch.testing.assert_close(axis, torch.distributions.Normal(0.0, 1.0).icdf(p))
    assert axis[0] == pytest.approx(-1.6449, abs=1e-4) and axis[2] == pytest.approx(0.0,
                                                                                    abs=1e-6)
    uni = ls.prior_axis(make_prior("uniform", 2), 3, 0.0)
    torch.testing.assert_close(uni, torch.tensor([-math.sqrt(3), 0.0, math.sqrt(3)]))
    assert ls.prior_axis(make_prior("mixture", 2), 5) is None  # no closed-form inverse CDF
    assert ls.prior_axis(make_prior("student_t", 2), 5) is None


def test_grid_is_in_image_order_with_the_largest_z2_on_top():
    a1, a2 = torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([10.0, 20.0])
    g = ls.grid(a1, a2)
    assert g.shape == (6, 2)
    torch.testing.assert_close(g[:3], torch.tensor([[-1.0, 20.0], [0.0, 20.0], [1.0, 20.0]]))
    torch.testing.assert_close(g[3:], torch.tensor([[-1.0, 10.0], [0.0, 10.0], [1.0, 10.0]]))


def test_grid_lines_and_code_axis():
    a = torch.tensor([-1.0, 1.0])
    z, line, family = ls.grid_lines(a, a, points=3)
    assert z.shape == (12, 2) and len(set(line)) == 4
    assert (z[family == 0][:, 0].abs() == 1).all()  # z1 fixed on the first family
    assert (z[family == 1][:, 1].abs() == 1).all()
    codes = torch.arange(101, dtype=torch.float32).unsqueeze(1).repeat(1, 2)
    ax = ls.code_axis(codes, 3, q=0.1)
    torch.testing.assert_close(ax[:, 0], torch.tensor([10.0, 50.0, 90.0]))


@pytest.mark.parametrize("d", [1, 2, 5, 20])
def test_chi_mean_is_the_mean_norm_under_a_standard_gaussian(d):
    g = torch.Generator().manual_seed(d)
    z = torch.randn(200_000, d, generator=g)
    assert ls.chi_mean(d) == pytest.approx(float(z.norm(dim=1).mean()), rel=3e-3)
    assert ls.chi_mean(1) == pytest.approx(math.sqrt(2 / math.pi))


def test_log_density_along_a_path_is_the_priors():
    prior = make_prior("gaussian", 3)
    z = ls.slerp(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0]),
                 torch.linspace(0, 1, 5))
    expected = -0.5 * (z**2).sum(1) - 1.5 * math.log(2 * math.pi)  # |z| = 1 all along
    torch.testing.assert_close(prior.log_prob(z), expected)


# --- the model's maps ---------------------------------------------------------------------------

def test_encode_decode_dispatch_per_model_kind():
    torch.manual_seed(0)
    x = torch.rand(4, 2)
    ae = Autoencoder(2, 1, hidden=8)
    torch.testing.assert_close(ls.encode(ae, x), ae.encode(x))
    torch.testing.assert_close(ls.decode(ae, ls.encode(ae, x)), ae(x))
    assert ls.encode_scale(ae, x) is None
    torch.testing.assert_close(ls.sample_codes(ae, x), ae.encode(x))
    vae = VAE(2, 2, make_prior("gaussian", 2), hidden=8, image=False)
    q = vae.approx_posterior(x)
    torch.testing.assert_close(ls.encode(vae, x), q.mean)
    torch.testing.assert_close(ls.encode_scale(vae, x), q.stddev)
    torch.testing.assert_close(ls.decode(vae, q.mean), vae.decode_mean(q.mean))
    a, b = ls.sample_codes(vae, x, seed=3), ls.sample_codes(vae, x, seed=3)
    torch.testing.assert_close(a, b)  # seeded
    assert not torch.allclose(a, q.mean)
    gan = GAN(2, 2, make_prior("gaussian", 2), g_hidden=8, d_hidden=8)
    z = torch.randn(3, 2)
    torch.testing.assert_close(ls.decode(gan, z), gan.generate(z))
    with pytest.raises(ValueError, match="no encoder"):
        ls.encode(gan, x)


# --- mutual information ----------------------------------------------------------------------

def test_discrete_mutual_information_is_exact():
    a = np.repeat(np.arange(4), 1000)  # uniform on 4 values
    b = a // 2  # a determines b; b holds 1 bit
    assert ls.mutual_information(a, b, correct=False) == pytest.approx(math.log(2), abs=1e-12)
    assert ls.mutual_information(a, a, correct=False) == pytest.approx(math.log(4), abs=1e-12)
    # Miller's correction here: ((4 - 1) + (2 - 1) - (4 - 1)) / 2N
    assert ls.mutual_information(a, b) == pytest.approx(math.log(2) + 1 / 8000, abs=1e-12)
    assert ls.entropy(a, correct=False) == pytest.approx(math.log(4))


def test_mutual_information_of_independent_variables_is_near_zero():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=20_000), rng.uniform(size=20_000)
    a, b = ls.discretise(x), ls.discretise(y)
    plug_in = ls.mutual_information(a, b, correct=False)
    assert plug_in == pytest.approx((20 - 1) ** 2 / (2 * 20_000), rel=0.3)  # the known bias
    assert ls.mutual_information(a, b) < 0.003  # corrected


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_mutual_information_of_a_bivariate_gaussian(rho):
    """I = -1/2 log(1 - rho^2); 50 equal-frequency bins lose a little of it."""
    rng = np.random.default_rng(1)
    n = 200_000
    x = rng.standard_normal(n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    exact = -0.5 * math.log(1 - rho**2)
    got = ls.mutual_information(ls.discretise(x, 50), ls.discretise(y, 50))
    assert got == pytest.approx(exact, abs=0.02)
    assert got <= exact + 0.005  # discretising never adds information (data processing)


def test_mutual_information_ignores_monotone_rescaling():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(5000)
    y = x + 0.5 * rng.standard_normal(5000)
    a = ls.mutual_information(ls.discretise(x), ls.discretise(y))
    b = ls.mutual_information(ls.discretise(np.exp(x)), ls.discretise(-y**3))
    assert a == pytest.approx(b, abs=1e-12)


def test_discretise_keeps_few_values_and_bins_many_equally():
    assert list(ls.discretise(np.array([3.0, 1.0, 3.0, 2.0]))) == [2, 0, 2, 1]
    codes = ls.discretise(np.random.default_rng(0).standard_normal(1000), 10)
    assert np.bincount(codes).tolist() == [100] * 10


def test_latent_factor_mi_finds_which_dimension_holds_which_factor():
    rng = np.random.default_rng(3)
    n = 6000
    shape = rng.integers(0, 3, n)  # discrete factor
    pos = rng.uniform(0, 1, n)  # continuous factor
    factors = np.stack([shape, pos], 1).astype(np.float32)
    z = np.stack([np.exp(2 * pos) + 0.01 * rng.standard_normal(n),  # a monotone map of pos
                  rng.standard_normal(n),  # noise
                  shape.astype(np.float64)], 1)  # shape itself
    out = ls.latent_factor_mi(z, factors)
    norm = out["normalised"]
    assert norm.shape == (3, 2)
    assert norm[2, 0] == pytest.approx(1.0)  # z3 determines the shape exactly
    assert norm[0, 1] > 0.9  # z1 determines the position up to a little noise
    assert norm[1].max() < 0.01 and norm[0, 0] < 0.01 and norm[2, 1] < 0.01
    assert out["entropy"][0] == pytest.approx(math.log(3), abs=1e-3)
    assert out["gap"][0] == pytest.approx(norm[2, 0] - max(norm[0, 0], norm[1, 0]))
    assert out["mig"] == pytest.approx(out["gap"].mean())
    # with noise the shape clusters are binned; one bin may straddle two shapes
    z[:, 2] = shape + 0.05 * rng.standard_normal(n)
    assert ls.latent_factor_mi(z, factors)["normalised"][2, 0] > 0.9
    with pytest.raises(ValueError):
        ls.latent_factor_mi(z[:10], factors)


def test_mutual_information_sees_what_correlation_misses():
    """z = cos(2 pi pos) is uncorrelated with pos yet tells a lot about it: all but which half
    of the interval, so at most log 2 nats short of the entropy of pos (binning loses a bit
    more where the bins of z and of pos do not line up)."""
    rng = np.random.default_rng(4)
    pos = rng.uniform(0, 1, 20_000)
    z = np.cos(2 * np.pi * pos)
    assert abs(np.corrcoef(z, pos)[0, 1]) < 0.03
    mi = ls.mutual_information(ls.discretise(z), ls.discretise(pos))
    h = ls.entropy(ls.discretise(pos))
    assert 0.9 * (h - math.log(2)) < mi <= h - math.log(2) + 0.01
