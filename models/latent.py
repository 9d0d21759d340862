"""Latent distributions in pictures: the encoder's q(z|x) as ellipses, and the prior p(z)
beside the aggregate posterior q(z) as exact probability masses over a grid.

A VAE's encoder gives q(z|x_n) = N(loc_n, diag(scale_n^2)), so the aggregate posterior
    q(z) = 1/N sum_n q(z|x_n)
is an equal-weight mixture of N diagonal Gaussians (Hoffman & Johnson 2016, "ELBO surgery";
Tomczak & Welling 2018, "VAE with a VampPrior", where the best prior is exactly this q(z)).
The marginal of a diagonal Gaussian on some dimensions keeps those entries of loc and scale,
so the marginal of q(z) on two chosen dimensions is the mixture of those 2-D Gaussians, and
the mass of a grid cell [a, b] x [c, d] is
    1/N sum_n (Phi_n(b) - Phi_n(a)) (Phi_n(d) - Phi_n(c)),
a sum of products of 1-D CDF differences: exact, no sampling, one matrix product for the grid.
The factorised priors (Gaussian, Laplace, Student-t, uniform) are mixtures with one component
and the mixture prior a mixture with diagonal components, so p(z) uses the same code.
Where torch has no CDF (Student-t) a cell's mass is integrated by 8-point Gauss-Legendre.

Read off the grid: the prior's mass in the holes, the cells where q(z) < 0.1 p(z); and the KL
divergence between the two sets of cell masses, a lower bound on KL(q(z) || p(z)) (merging
cells never increases a KL). The KL term of the ELBO averaged over the inputs splits as
    E_x KL(q(z|x) || p(z)) = I(x; z) + KL(q(z) || p(z))
(Hoffman & Johnson 2016), so the information the codes carry is at most the difference.

The ellipse of a Gaussian N(loc, cov) at k standard deviations is {z : (z - loc)^T cov^-1
(z - loc) = k^2}; its semi-axes are k sqrt(eigenvalues of cov) along the eigenvectors, and in
2-D it holds the mass 1 - exp(-k^2 / 2) (the chi-square CDF with 2 degrees of freedom).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import distributions as D

from .priors import Prior

GAUSS_LEGENDRE_POINTS = 8
HOLE_RATIO = 0.1  # a cell is a hole where q(z) < HOLE_RATIO * p(z)


# --- one-dimensional pieces ----------------------------------------------------------------

def _double(dist: D.Distribution) -> D.Distribution:
    """The same elementwise distribution in float64, without support checks (cell edges may
    lie outside a bounded support)."""
    params = {k: torch.as_tensor(getattr(dist, k)).double() for k in dist.arg_constraints}
    return type(dist)(**params, validate_args=False)


def _select(dist: D.Distribution, index) -> D.Distribution:
    """Elementwise distribution restricted to some entries of its last batch dimension."""
    params = {}
    for k in dist.arg_constraints:
        v = torch.as_tensor(getattr(dist, k)).double()
        params[k] = v.expand(dist.batch_shape)[..., index]
    return type(dist)(**params, validate_args=False)


def interval_mass(dist: D.Distribution, edges: torch.Tensor) -> torch.Tensor:
    """Mass of each interval [edges[i], edges[i+1]] under each distribution of a batch.

    dist has batch shape (K,) and event shape (); returns (K, len(edges) - 1), float64.
    Uses the CDF where torch has one, else Gauss-Legendre quadrature of the density."""
    dist = _double(dist)
    e = edges.double().unsqueeze(1)  # (n+1, 1) against batch (K,)
    try:
        c = dist.cdf(e)  # (n+1, K)
        return (c[1:] - c[:-1]).T.clamp_min(0.0)
    except NotImplementedError:
        nodes, weights = np.polynomial.legendre.leggauss(GAUSS_LEGENDRE_POINTS)
        a, b = e[:-1], e[1:]  # (n, 1)
        half = (b - a) / 2
        mass = 0.0
        for t, w in zip(nodes, weights):
            z = (a + b) / 2 + half * float(t)  # (n, 1)
            mass = mass + float(w) * dist.log_prob(z).exp() * half
        return mass.T  # (K, n)


# --- mixtures of diagonal distributions ------------------------------------------------------

@dataclass(frozen=True)
class DiagonalMixture:
    """sum_k w_k prod_d p_kd(z_d): K components, each a product of 1-D distributions.

    marginals[d] is an elementwise torch distribution with batch shape (K,): dimension d of
    every component. Covers the factorised priors (K = 1), the mixture prior and the
    aggregate posterior (K = N, equal weights)."""

    weights: torch.Tensor  # (K,) float64, sums to 1
    marginals: tuple[D.Distribution, ...]

    @property
    def dim(self) -> int:
        return len(self.marginals)

    def marginal(self, dims: tuple[int, ...] | list[int]) -> "DiagonalMixture":
        """The marginal over the chosen dimensions (exact: the others integrate to 1)."""
        return DiagonalMixture(self.weights, tuple(self.marginals[d] for d in dims))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Exact log-density at z (..., dim) -> (...)."""
        z = z.double().unsqueeze(-2)  # (..., 1, dim) against components (K,)
        log_comp = sum(m.log_prob(z[..., d]) for d, m in enumerate(self.marginals))
        return torch.logsumexp(self.weights.log() + log_comp, -1)

    def cell_mass(self, *edges: torch.Tensor) -> torch.Tensor:
        """Probability mass of every cell of the grid with these edges, one edge vector per
        dimension (1 or 2 of them). Returns (nx,) or (ny, nx): row j is y-cell j."""
        if len(edges) != self.dim or self.dim not in (1, 2):
            raise ValueError("cell_mass takes one edge vector per dimension, for 1 or 2 "
                             f"dimensions (this mixture has {self.dim}).")
        mx = interval_mass(self.marginals[0], edges[0])  # (K, nx)
        if self.dim == 1:
            return self.weights @ mx
        my = interval_mass(self.marginals[1], edges[1])  # (K, ny)
        return my.T @ (self.weights.unsqueeze(1) * mx)  # (ny, nx)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws, (n, dim): a component by weight, then each coordinate from it. All the
        randomness comes from `generator` (torch's global one when None), so a page can
        draw reproducibly without reseeding the process-wide generator."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return torch.stack([_draw(_select(m, k), generator) for m in self.marginals], -1)


def _draw(dist: D.Distribution, generator: torch.Generator | None) -> torch.Tensor:
    """One draw from each entry of an elementwise distribution (batch (n,)), float64, all the
    randomness from `generator`: loc + scale * eps for a Gaussian, the inverse CDF of a
    uniform for distributions that have one (Laplace, uniform), and for Student-t
    loc + scale * Z / sqrt(V / df) with V ~ chi-square(df) (its definition) drawn by a numpy
    generator seeded from `generator`."""
    n = dist.batch_shape[0]
    if isinstance(dist, D.Normal):
        return dist.loc + dist.scale * torch.randn(n, generator=generator, dtype=torch.float64)
    if isinstance(dist, D.StudentT):
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        v = torch.as_tensor(np.random.default_rng(seed).chisquare(dist.df.numpy()))
        eps = torch.randn(n, generator=generator, dtype=torch.float64)
        return dist.loc + dist.scale * eps / torch.sqrt(v / dist.df)
    u = torch.rand(n, generator=generator, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
    try:
        return dist.icdf(u)
    except NotImplementedError:
        raise TypeError(f"no generator-driven sampler for {type(dist).__name__}") from None


def posterior_mixture(loc: torch.Tensor, scale: torch.Tensor,
                      weights: torch.Tensor | None = None) -> DiagonalMixture:
    """The aggregate posterior 1/N sum_n N(loc_n, diag(scale_n^2)) from (N, d) loc and scale."""
    loc, scale = loc.double(), scale.double()
    n, d = loc.shape
    w = torch.full((n,), 1.0 / n, dtype=torch.float64) if weights is None else weights.double()
    return DiagonalMixture(w, tuple(D.Normal(loc[:, j], scale[:, j], validate_args=False)
                                    for j in range(d)))


def prior_mixture(prior: Prior) -> DiagonalMixture:
    """A prior as a mixture of diagonal distributions (one component unless it is the
    mixture prior)."""
    dist = prior.dist
    if isinstance(dist, D.Independent):  # a product of 1-D distributions: one component
        base = dist.base_dist
        one = torch.ones(1, dtype=torch.float64)
        return DiagonalMixture(one, tuple(_select(base, [j]) for j in range(prior.dim)))
    if isinstance(dist, D.MixtureSameFamily):
        comp = dist.component_distribution
        if not isinstance(comp, D.Independent):
            raise TypeError("the mixture's components must be products of 1-D distributions")
        base = comp.base_dist  # batch (K, dim)
        w = dist.mixture_distribution.probs.double()
        return DiagonalMixture(w, tuple(_select(base, j) for j in range(prior.dim)))
    raise TypeError(f"no diagonal form for {type(dist).__name__}")


def average_kl(loc: torch.Tensor, scale: torch.Tensor, prior: DiagonalMixture,
               samples: int = 64, seed: int = 0) -> float:
    """(1/N) sum_n KL(N(loc_n, diag(scale_n^2)) || p) for (N, d) loc and scale and a prior
    over the same d dimensions: the KL term of the ELBO averaged over the inputs. With q(z)
    their aggregate posterior it splits as I(x; z) + KL(q(z) || p(z)) (Hoffman & Johnson
    2016). Closed form for a product of Gaussians (torch's kl_divergence), else a Monte-Carlo
    estimate with `samples` draws per input."""
    loc, scale = loc.double(), scale.double()
    q = D.Independent(D.Normal(loc, scale), 1)
    if len(prior.weights) == 1 and all(isinstance(m, D.Normal) for m in prior.marginals):
        p = D.Independent(D.Normal(torch.cat([m.loc for m in prior.marginals]),
                                   torch.cat([m.scale for m in prior.marginals])), 1)
        return float(D.kl_divergence(q, p).mean())
    g = torch.Generator().manual_seed(seed)
    z = loc + scale * torch.randn((samples, *loc.shape), generator=g, dtype=torch.float64)
    return float((q.log_prob(z) - prior.log_prob(z)).mean())


def kl_per_dim(loc: torch.Tensor, scale: torch.Tensor, prior: Prior, samples: int = 16,
               generator: torch.Generator | None = None) -> torch.Tensor | None:
    """KL(q(z_j|x) || p(z_j)) of each latent dimension j, averaged over the inputs, for
    q(z|x) = N(loc, diag(scale^2)) with (N, d) loc and scale: (d,) float64.

    The KL splits over dimensions when the prior is a product of 1-D distributions (Gaussian,
    Laplace, Student-t): closed form where torch has one, else the Monte-Carlo estimate
    log q(z_j) - log p(z_j) at `samples` draws z ~ q per input (Kingma & Welling 2014, eq. 6),
    the draws from `generator` (pass one: the global generator is shared by the whole
    server). A mixture prior couples its dimensions, so beyond one dimension there is no
    per-dimension KL: None. With one dimension the whole KL is that dimension's."""
    loc, scale = loc.double(), scale.double()
    dist = prior.dist
    q = D.Normal(loc, scale, validate_args=False)  # (N, d) elementwise
    if isinstance(dist, D.Independent):
        p = _double(dist.base_dist)
        try:
            return D.kl_divergence(q, p).mean(0)
        except NotImplementedError:
            pass
        eps = torch.randn((samples, *loc.shape), generator=generator, dtype=torch.float64)
        z = loc + scale * eps  # (S, N, d)
        return (q.log_prob(z) - p.log_prob(z)).mean((0, 1))
    if prior.dim != 1:
        return None
    eps = torch.randn((samples, *loc.shape), generator=generator, dtype=torch.float64)
    z = loc + scale * eps  # (S, N, 1)
    log_p = prior_mixture(prior).log_prob(z)  # (S, N)
    return (q.log_prob(z)[..., 0] - log_p).mean().reshape(1)


# --- the grid and what to read off it ----------------------------------------------------------

def grid_edges(lo: float, hi: float, cells: int) -> torch.Tensor:
    """cells + 1 equally spaced edges from lo to hi (float64)."""
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo and cells >= 1):
        raise ValueError("a grid needs finite bounds lo < hi and at least one cell")
    return torch.linspace(lo, hi, cells + 1, dtype=torch.float64)


def centres(edges: torch.Tensor) -> torch.Tensor:
    return (edges[1:] + edges[:-1]) / 2


def grid_kl(q_mass: torch.Tensor, p_mass: torch.Tensor) -> float:
    """KL between the cell masses of q and p, counting the mass outside the grid as one more
    cell. Coarse-graining never increases a KL divergence, so this is a lower bound on
    KL(q || p) that tightens as the grid refines (Cover & Thomas, data-processing inequality)."""
    q = torch.cat([q_mass.flatten(), (1 - q_mass.sum()).clamp_min(0).reshape(1)]).double()
    p = torch.cat([p_mass.flatten(), (1 - p_mass.sum()).clamp_min(0).reshape(1)]).double()
    keep = q > 0
    if bool((p[keep] <= 0).any()):
        return math.inf
    return float((q[keep] * (q[keep].log() - p[keep].log())).sum())


def mass_regions(mass: torch.Tensor, levels=(0.5, 0.9)) -> list[torch.Tensor]:
    """The highest-density regions of a grid of cell masses: for each level, the boolean
    mask of the fewest cells (the densest first) that together hold that share of the
    mass on the grid. Cells of equal size, so the densest cells are the heaviest."""
    flat = mass.flatten().double()
    order = torch.argsort(flat, descending=True)
    cum = torch.cumsum(flat[order], 0) / flat.sum().clamp_min(1e-300)
    out = []
    for level in levels:
        n = int(torch.searchsorted(cum, torch.tensor(float(level), dtype=torch.float64))) + 1
        keep = torch.zeros_like(flat, dtype=torch.bool)
        keep[order[:min(n, len(flat))]] = True
        out.append(keep.reshape(mass.shape))
    return out


def region_edges(inside: torch.Tensor) -> torch.Tensor:
    """The cells of a 2-D region that touch a cell outside it (or the grid's border): a
    one-cell outline, to draw a region over a picture."""
    padded = torch.nn.functional.pad(inside[None, None].float(), (1, 1, 1, 1))[0, 0] > 0
    interior = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return inside & ~interior


def hole_mass(p_mass: torch.Tensor, q_mass: torch.Tensor, ratio: float = HOLE_RATIO) -> float:
    """Prior mass in the holes: the cells where q(z) is below ratio x p(z), i.e. where the
    prior expects codes that no data point produces. Decoding prior samples from there is
    decoding codes the decoder was never trained on."""
    holes = q_mass < ratio * p_mass
    return float(p_mass[holes].sum())


def bounds(loc: torch.Tensor, scale: torch.Tensor, prior: DiagonalMixture | None = None,
           k: float = 2.5, floor: float = 3.0, cap: float = 15.0) -> tuple[float, float]:
    """A symmetric range [-h, h] holding the codes (loc +- k scale, robustly: the 0.5 %
    and 99.5 % quantiles of each end) and at least [-floor, floor], where a unit-variance
    prior keeps 99.7 % of its mass per dimension. Capped at cap."""
    lo = torch.quantile((loc - k * scale).double().flatten(), 0.005)
    hi = torch.quantile((loc + k * scale).double().flatten(), 0.995)
    h = max(floor, float(-lo), float(hi))
    if prior is not None:
        for m in prior.marginals:
            if isinstance(m, D.Normal):  # a mixture prior's components
                h = max(h, float((m.loc.abs() + 3 * m.scale).max()))
    return (-min(h, cap), min(h, cap))


# --- ellipses ----------------------------------------------------------------------------

def ellipse_axes(cov: torch.Tensor, k: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Semi-axis lengths (2,) and unit directions (2, 2), columns, of the k-std ellipse."""
    var, vecs = torch.linalg.eigh(cov.double())
    return k * var.clamp_min(0).sqrt(), vecs


def ellipse(loc: torch.Tensor, cov: torch.Tensor, k: float = 1.0, n: int = 48) -> torch.Tensor:
    """n + 1 points (closed) on the k-std ellipse of N(loc, cov) in 2-D: (n + 1, 2)."""
    lengths, vecs = ellipse_axes(cov, k)
    t = torch.linspace(0, 2 * math.pi, n + 1, dtype=torch.float64)
    circle = torch.stack([t.cos(), t.sin()], -1)  # (n+1, 2)
    return loc.double() + (circle * lengths) @ vecs.T


def diagonal_ellipses(loc: torch.Tensor, scale: torch.Tensor, k: float = 1.0,
                      n: int = 48) -> torch.Tensor:
    """The k-std ellipses of N(loc_i, diag(scale_i^2)) for a batch: (B, n + 1, 2). Axis-
    aligned, semi-axes k scale_i."""
    t = torch.linspace(0, 2 * math.pi, n + 1, dtype=torch.float64)
    circle = torch.stack([t.cos(), t.sin()], -1)  # (n+1, 2)
    return loc.double().unsqueeze(1) + k * scale.double().unsqueeze(1) * circle


def mass_within(k: float) -> float:
    """The probability a 2-D Gaussian puts inside its k-std ellipse: 1 - exp(-k^2 / 2)."""
    return 1.0 - math.exp(-k * k / 2)


def sample_diagonal(loc: torch.Tensor, scale: torch.Tensor, n: int, seed: int = 0
                    ) -> torch.Tensor:
    """n draws from N(loc, diag(scale^2)) for one input (loc, scale: (d,)): (n, d),
    reproducible from the seed."""
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(n, loc.shape[-1], generator=g)
    return loc + scale * eps


__all__ = ["DiagonalMixture", "posterior_mixture", "prior_mixture", "interval_mass", "average_kl",
           "kl_per_dim", "mass_regions", "region_edges",
           "grid_edges", "centres", "grid_kl", "hole_mass", "bounds", "ellipse",
           "ellipse_axes", "diagonal_ellipses", "mass_within", "sample_diagonal"]
