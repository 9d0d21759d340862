"""The sidebar's plot of p(z₁) (dashboard.controls): the exact z₁ marginal of the prior at the
latent dimension the model uses, against Monte-Carlo samples of that d-dimensional prior."""

import numpy as np
import pytest
import torch

from dashboard import controls
from models.priors import PriorConfig, make_prior

MIXTURE = PriorConfig(name="mixture", components=8, spread=2.0)


def _histogram_check(config: PriorConfig, d: int, n: int = 200_000) -> None:
    """Mass of p(z₁) over bins (the plotted density integrated by Simpson's rule) against the
    share of n samples of the d-dimensional prior in each bin, within 5 binomial std."""
    with torch.random.fork_rng():
        torch.manual_seed(11)
        z1 = make_prior(config, d).sample(n)[:, 0].double()
    edges = np.linspace(-5, 5, 41)
    counts = np.histogram(z1.numpy(), edges)[0] / n
    for a, b, share in zip(edges[:-1], edges[1:], counts):
        z = torch.linspace(a, b, 21, dtype=torch.float64)
        p = controls.prior_z1_density(config, d, z).numpy()
        h = (b - a) / 20
        mass = h / 3 * (p[0] + p[-1] + 4 * p[1:-1:2].sum() + 2 * p[2:-1:2].sum())
        sd = np.sqrt(max(mass * (1 - mass), 1e-12) / n)
        assert abs(share - mass) < 5 * sd + 1e-4, (config.name, d, a, share, mass)


@pytest.mark.parametrize("d", [1, 2, 3, 8])
def test_the_mixture_marginal_matches_samples_of_the_prior_at_its_dimension(d):
    _histogram_check(MIXTURE, d)


@pytest.mark.parametrize("name", ["gaussian", "laplace", "student_t", "uniform"])
def test_factorised_priors_have_the_same_marginal_at_every_dimension(name):
    config = PriorConfig(name=name)
    _histogram_check(config, 4)
    z = torch.linspace(-4, 4, 33, dtype=torch.float64)
    assert torch.allclose(controls.prior_z1_density(config, 1, z),
                          controls.prior_z1_density(config, 6, z))


def test_the_mixture_plot_changes_from_a_line_to_a_circle():
    """In 1-D the eight means are evenly spaced on [-2, 2]; from 2-D up they sit on a circle
    of radius 2, so z₁ sees pairs of them at 2 cos(2πk/8): a different curve, with most mass
    at ±2 and ±√2 and none of the 1-D curve's eight bumps."""
    z1d, p1d = controls._prior_curve(MIXTURE, 1)
    z2d, p2d = controls._prior_curve(MIXTURE, 2)
    assert np.allclose(z1d, z2d)
    assert np.abs(p1d - p2d).max() > 0.05
    for d in (3, 16):  # beyond two dimensions the circle stays in (z₁, z₂)
        assert np.allclose(controls._prior_curve(MIXTURE, d)[1], p2d)
    dz = z2d[1] - z2d[0]
    assert float(p2d.sum() * dz) == pytest.approx(1.0, abs=1e-3)
    peak = z2d[np.argmax(p2d)]
    assert abs(abs(peak) - 2.0) < 0.2 or abs(abs(peak) - np.sqrt(2)) < 0.2


def test_a_wide_mixture_is_plotted_to_its_outer_components():
    wide = PriorConfig(name="mixture", components=4, spread=4.0)
    z, p = controls._prior_curve(wide, 1)
    assert z[-1] >= 4.0 + 3 * wide.component_scale - 1e-9
    assert p[0] < 0.02 * p.max() and p[-1] < 0.02 * p.max()


def test_the_sidebar_plot_keeps_its_plot_area():
    """In the narrow sidebar a height that counted the axes squeezed the plot to a line and
    stacked its tick labels: the height is the plotting area's (autosize fit-x)."""
    spec = controls.prior_density_chart(MIXTURE, 2).to_dict()
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
    assert spec["height"] >= controls.PLOT_HEIGHT
    assert spec["encoding"]["y"]["scale"]["domain"][0] == 0
