import math

import pytest
import torch
from torch import distributions as TD

from models.priors import (PRIORS, PriorConfig, PriorMismatch, has_analytic_kl, kl_to_prior,
                           make_prior, mixture_means)


@pytest.mark.parametrize("name", list(PRIORS))
@pytest.mark.parametrize("dim", [1, 2, 5])
def test_sampling_and_log_density_shapes_and_unit_scale(name, dim):
    torch.manual_seed(0)
    p = make_prior(name, dim)
    z = p.sample(4000)
    assert z.shape == (4000, dim)
    lp = p.log_prob(z)
    assert lp.shape == (4000,) and torch.isfinite(lp).all()
    if name in ("gaussian", "laplace", "uniform"):  # standardised: unit variance
        assert torch.allclose(z.var(0), torch.ones(dim), atol=0.15)


def test_log_densities_match_reference_formulas():
    z = torch.tensor([[0.3, -1.2], [2.0, 0.1]])
    g = make_prior("gaussian", 2).log_prob(z)
    torch.testing.assert_close(g, (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1))
    b = 1 / math.sqrt(2)
    lap = make_prior("laplace", 2).log_prob(z)
    torch.testing.assert_close(lap, (-z.abs() / b - math.log(2 * b)).sum(-1))
    u = make_prior("uniform", 2).log_prob(z[:1])
    torch.testing.assert_close(u, torch.tensor([-2 * math.log(2 * math.sqrt(3))]))


def test_mixture_density_is_the_weighted_sum_of_its_components():
    cfg = PriorConfig("mixture", components=3, spread=2.0, component_scale=0.5)
    p = make_prior(cfg, 2)
    z = torch.tensor([[0.5, 0.5], [2.0, 0.0], [-3.0, 1.0]])
    means = mixture_means(3, 2, 2.0)
    comps = torch.stack([TD.Independent(TD.Normal(m, 0.5 * torch.ones(2)), 1).log_prob(z)
                         for m in means])
    expected = torch.logsumexp(comps + math.log(1 / 3), 0)
    torch.testing.assert_close(p.log_prob(z), expected)
    assert torch.allclose(means.norm(dim=1), torch.full((3,), 2.0))


def test_uniform_prior_is_refused_for_a_gaussian_posterior_with_a_reason():
    with pytest.raises(PriorMismatch, match="infinite"):
        make_prior("uniform", 3).check_fits_gaussian_posterior()


def test_kl_is_analytic_for_gaussian_and_monte_carlo_unbiased_for_student_t():
    q = TD.Independent(TD.Normal(torch.tensor([[0.5, -1.0]]), torch.tensor([[0.7, 1.3]])), 1)
    g = make_prior("gaussian", 2)
    assert has_analytic_kl(g)
    closed = 0.5 * (0.7**2 + 1.3**2 + 0.5**2 + 1.0**2 - 2 - 2 * math.log(0.7) - 2 * math.log(1.3))
    torch.testing.assert_close(kl_to_prior(q, g), torch.tensor([closed]))
    t = make_prior(PriorConfig("student_t", df=4.0), 2)
    assert not has_analytic_kl(t)
    torch.manual_seed(0)
    z = q.sample((200_000,))  # (S, 1, 2)
    reference = (q.log_prob(z) - t.log_prob(z)).mean()
    estimates = torch.stack([kl_to_prior(q, t) for _ in range(2000)]).mean()
    assert abs(float(estimates - reference)) < 0.05


def test_bad_prior_settings_raise_readable_errors():
    with pytest.raises(PriorMismatch, match="Unknown prior"):
        make_prior("cauchy", 2)
    with pytest.raises(PriorMismatch, match="components"):
        make_prior(PriorConfig("mixture", components=0), 2)
    with pytest.raises(PriorMismatch, match="latent dimension"):
        make_prior("gaussian", 0)


@pytest.mark.parametrize("name", ["gaussian", "laplace"])
def test_monte_carlo_kl_agrees_with_the_exact_kl_where_both_exist(name, monkeypatch):
    """kl_to_prior's Monte-Carlo branch (log q(z) - log p(z) at z ~ q), forced by hiding
    torch's closed form, averages to the closed form for the priors that have one."""
    torch.manual_seed(0)
    prior = make_prior(name, 3)
    loc = torch.tensor([[0.5, -1.0, 0.0], [2.0, 0.3, -0.7]])
    scale = torch.tensor([[0.7, 1.3, 0.2], [0.4, 1.0, 2.5]])
    q = TD.Independent(TD.Normal(loc, scale), 1)
    exact = kl_to_prior(q, prior)  # closed form: torch has it for both
    torch.testing.assert_close(exact, TD.kl_divergence(q, prior.dist))

    def no_closed_form(p, q):
        raise NotImplementedError

    monkeypatch.setattr(TD, "kl_divergence", no_closed_form)
    assert not has_analytic_kl(prior)  # the patch took: what follows is the Monte-Carlo branch
    one = kl_to_prior(q, prior)  # a single draw per example
    assert one.shape == (2,) and not torch.allclose(one, exact)
    s = 200_000
    z = q.sample((s,))  # (S, 2, 3)
    estimates = kl_to_prior(q, prior, z)  # (S, 2)
    stderr = estimates.std(0) / math.sqrt(s)
    assert ((estimates.mean(0) - exact).abs() < 5 * stderr).all()
    assert (stderr < 0.01).all()  # and the check is tight
