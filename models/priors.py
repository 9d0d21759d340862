"""Priors p(z) over a latent space of any dimension, built on ``torch.distributions``.

A ``PriorConfig`` (frozen, hashable) names a prior and its parameters; ``make_prior(config,
dim)`` turns it into a ``Prior`` holding a torch distribution with event shape (dim,).

References: Tomczak & Welling (2018), "VAE with a VampPrior", for why the choice of prior
matters; the mixture prior follows their "mixture of Gaussians" baseline with fixed means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import distributions as D

UNIFORM_HALF_WIDTH = math.sqrt(3.0)  # U(-sqrt 3, sqrt 3) has unit variance, like N(0, 1)


class PriorMismatch(ValueError):
    """A prior that cannot be used with a model; the message is meant for the page."""


@dataclass(frozen=True)
class PriorConfig:
    name: str = "gaussian"
    components: int = 8  # mixture only
    spread: float = 2.0  # mixture only: distance of the component means from the origin
    component_scale: float = 0.5  # mixture only: std of each component
    df: float = 3.0  # student_t only: degrees of freedom


@dataclass(frozen=True)
class PriorInfo:
    name: str
    label: str
    description: str
    bounded: bool  # zero density outside a box: KL(Gaussian q || p) is infinite


PRIORS: dict[str, PriorInfo] = {
    "gaussian": PriorInfo("gaussian", "Standard Gaussian", "N(0, I): the default prior of a "
                          "VAE; smooth, round, light-tailed.", False),
    "laplace": PriorInfo("laplace", "Laplace", "Laplace(0, 1/sqrt 2) per dimension: a sharp "
                         "peak and heavier tails favour sparse codes.", False),
    "uniform": PriorInfo("uniform", "Uniform", "Uniform on [-sqrt 3, sqrt 3] per dimension: "
                         "flat inside a box, zero outside (a common GAN noise).", True),
    "mixture": PriorInfo("mixture", "Mixture of Gaussians", "K Gaussians spread around the "
                         "origin: a prior with clusters, for data with clusters.", False),
    "student_t": PriorInfo("student_t", "Student-t", "Student-t per dimension: a Gaussian "
                           "with heavy tails, so outliers cost little.", False),
}


def mixture_means(k: int, dim: int, spread: float) -> torch.Tensor:
    """Component means: evenly spaced on a line (dim 1), on a circle in the first two
    dimensions (dim >= 2). Deterministic, so a configuration always means the same prior."""
    if dim == 1:
        locs = torch.linspace(-spread, spread, k).unsqueeze(1) if k > 1 else torch.zeros(1, 1)
        return locs
    angles = 2 * math.pi * torch.arange(k) / k
    means = torch.zeros(k, dim)
    means[:, 0], means[:, 1] = spread * torch.cos(angles), spread * torch.sin(angles)
    return means


class Prior:
    """p(z): a named distribution over R^dim with sampling and log-density."""

    def __init__(self, config: PriorConfig, dim: int):
        if config.name not in PRIORS:
            raise PriorMismatch(f"Unknown prior {config.name!r}; choose one of "
                                f"{', '.join(PRIORS)}.")
        if not 1 <= dim <= 1024:
            raise PriorMismatch(f"The latent dimension must be between 1 and 1024, not {dim}.")
        self.config, self.dim, self.info = config, dim, PRIORS[config.name]
        self.dist = self._build()

    def _build(self) -> D.Distribution:
        c, d = self.config, self.dim
        zeros, ones = torch.zeros(d), torch.ones(d)
        if c.name == "gaussian":
            return D.Independent(D.Normal(zeros, ones), 1)
        if c.name == "laplace":
            return D.Independent(D.Laplace(zeros, ones / math.sqrt(2)), 1)  # unit variance
        if c.name == "uniform":
            return D.Independent(D.Uniform(-UNIFORM_HALF_WIDTH * ones,
                                           UNIFORM_HALF_WIDTH * ones), 1)
        if c.name == "student_t":
            if not c.df > 0:
                raise PriorMismatch("Student-t needs positive degrees of freedom.")
            return D.Independent(D.StudentT(c.df, zeros, ones), 1)
        # mixture
        if not 1 <= c.components <= 64:
            raise PriorMismatch("A mixture prior needs between 1 and 64 components.")
        if not c.component_scale > 0:
            raise PriorMismatch("Mixture components need a positive scale.")
        means = mixture_means(c.components, d, c.spread)  # (K, d)
        weights = D.Categorical(torch.full((c.components,), 1.0 / c.components))
        comps = D.Independent(D.Normal(means, torch.full_like(means, c.component_scale)), 1)
        return D.MixtureSameFamily(weights, comps)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def description(self) -> str:
        return self.info.description

    def sample(self, n: int) -> torch.Tensor:
        """n samples, shape (n, dim), from torch's global generator (seed it to reproduce)."""
        return self.dist.sample((n,))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z), shape z.shape[:-1]."""
        return self.dist.log_prob(z)

    def check_fits_gaussian_posterior(self) -> None:
        """Raise PriorMismatch when KL(q || p) is infinite for a Gaussian q(z|x)."""
        if self.info.bounded:
            raise PriorMismatch(
                f"The {self.info.label.lower()} prior has zero density outside a box, but a "
                "Gaussian q(z|x) puts some mass everywhere, so KL(q(z|x) || p(z)) is "
                "infinite. Use it as GAN noise, or pick another prior for the VAE.")


def make_prior(config: PriorConfig | str, dim: int) -> Prior:
    if isinstance(config, str):
        config = PriorConfig(name=config)
    return Prior(config, dim)


def kl_to_prior(q: D.Distribution, prior: Prior, z: torch.Tensor | None = None) -> torch.Tensor:
    """KL(q(z|x) || p(z)) per example: analytic where torch knows it, else the one-sample
    Monte-Carlo estimate log q(z) - log p(z) at the given z ~ q (unbiased; Kingma & Welling
    2014, eq. 6)."""
    prior.check_fits_gaussian_posterior()
    try:
        return D.kl_divergence(q, prior.dist)
    except NotImplementedError:
        if z is None:
            z = q.rsample()
        return q.log_prob(z) - prior.log_prob(z)


def has_analytic_kl(prior: Prior) -> bool:
    q = D.Independent(D.Normal(torch.zeros(prior.dim), torch.ones(prior.dim)), 1)
    try:
        D.kl_divergence(q, prior.dist)
        return True
    except NotImplementedError:
        return False
