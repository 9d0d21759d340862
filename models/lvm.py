"""A small latent variable model computed exactly on a grid, for the "Latent variable models" page.

    z ~ p(z)                  1 or 2 dimensions: Gaussian, Laplace, uniform, mixture, Student-t
    x | z ~ N(f(z), sigma^2)  x is 1-D; f is a linear or nonlinear decoder

and the five distributions of Bayes' rule p(z|x) = p(x|z) p(z) / p(x): prior, likelihood, joint,
evidence p(x) = integral of p(x, z) dz (midpoint rule on a regular z grid) and posterior. A
Gaussian q(z|x0) (diagonal in 2-D) is fitted to the posterior by maximising the ELBO, computed
with the same quadrature as log p(x0), so ELBO(q) = log p(x0) - KL(q || p(z|x0)) <= log p(x0)
holds to rounding error. A uniform prior is zero outside its box, where a Gaussian q is not:
KL(q || p) would be infinite, so there q is truncated to the box (``QFit.truncated``).

References: Bishop (2006), "Pattern Recognition and Machine Learning", sections 2.3.3 (linear-
Gaussian model: marginal and posterior), 4.4 (Laplace approximation), 9.2 (responsibilities),
10.1 (ELBO; mean-field Gaussian, 10.1.2) and 12.2 (probabilistic PCA); Kingma & Welling (2014),
"Auto-Encoding Variational Bayes", eq. 1-3; Nocedal & Wright (2006), "Numerical Optimization",
ch. 3 (Newton with Hessian shift and backtracking).

Arrays are numpy float64 in and out; z always carries a trailing latent axis, shape (..., d),
even when d = 1. The prior is a ``torch.distributions`` object (float64), used to sample and,
in the tests, as the reference for the densities, which are written out in numpy: on a busy
2-core machine, torch's and OpenBLAS's worker threads turned sub-millisecond steps into 8-80 ms
ones. For the same reason sums over the grid use np.einsum, not BLAS (``@``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import torch
from torch import distributions as D

from .priors import UNIFORM_HALF_WIDTH
from .seeding import seeded

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
N_Z = {1: 400, 2: 120}  # default z grid: cells per latent dimension
N_X = 200  # default x grid
GRID_HALF_WIDTH = {"gaussian": 6.0, "laplace": 10.0}  # in prior scales: mass outside < 1e-6
STUDENT_T_HALF_WIDTH = (6.0, 36.0)  # 6 + 36/df scales: < 1e-3 of the mass outside, df >= 3
MIXTURE_HALF_WIDTH = 6.0  # component scales around each component loc
KINK_OFFSET = 1 / math.sqrt(12)  # a kink this many cells from a cell edge: no O(h^2) error
MASS_TOL = 1e-3  # grid warnings: prior mass missing, under-resolved likelihood, posterior at edge
RESOLUTION = 1.5  # |f(z_i+1) - f(z_i)| / sigma above this: the likelihood falls between cells
MAX_STEPS = 50  # ELBO fit: Newton steps at most
STEP_TOL = 1e-10  # ELBO fit: stop when an accepted step gains less than this (nats)
HESS_FLOOR = 1e-3  # ELBO fit: smallest Hessian eigenvalue allowed (in u units)
MAX_STEP = 2.0  # ELBO fit: largest move per step, in scales (loc) and in log scale
MIN_SCALE_CELLS = 0.25  # ELBO fit: q's scale stays above a quarter of a grid cell
MAX_STARTS = 4  # ELBO fit without init: one start per posterior mode, the highest this many
MODE_HEIGHT = 1e-3  # ELBO fit: a local maximum lower than this times the highest is no start
MODE_SEPARATION = 3  # ELBO fit: starts lie more than this many cells apart (along some axis)
TIE_TOL = 1e-4  # ELBO fit: ELBOs closer than this (nats; the page prints 4 decimals) tie, and
#                 the fit whose loc is largest (z1, then z2) wins: the same choice every time
MAX_COMPONENTS = 8
BLOCK = 1 << 16  # evidence: (x, z) pairs per block, to stay in cache
EXP_FLOOR = -100.0  # exp(a) for a < -100 is taken as e^-100 ~ 4e-44, which adds < 1e-39 to any
#                     sum here; numbers near underflow make numpy's exp ~7x and BLAS ~100x slower


@dataclass(frozen=True)
class DecoderInfo:
    label: str
    formula: str  # f for 1-D z; for 2-D z, f(z) = a g(z1) + c g(z2) + b with the same g
    g: Callable[[np.ndarray, float], np.ndarray]  # g(z, w), elementwise


DECODERS: dict[str, DecoderInfo] = {
    "linear": DecoderInfo("Linear", "f(z) = a z + b", lambda z, w: z),
    "tanh": DecoderInfo("Tanh", "f(z) = a tanh(w z) + b", lambda z, w: np.tanh(w * z)),
    "sine": DecoderInfo("Sine", "f(z) = a sin(w z) + b", lambda z, w: np.sin(w * z)),
    "cubic": DecoderInfo("Cubic", "f(z) = a z^3 + b", lambda z, w: z * z * z),
    "fold": DecoderInfo("Fold", "f(z) = a |z| + b  (z and -z give the same x: a bimodal "
                        "posterior)", lambda z, w: np.abs(z)),
}
PRIOR_NAMES = ("gaussian", "laplace", "uniform", "mixture", "student_t")


@dataclass(frozen=True)
class LVMConfig:
    """The model, as plain values (hashable: it keys the page's cache and URL state).

    Location-scale priors (gaussian, laplace, uniform, student_t) use ``prior_loc`` and
    ``prior_scale`` in every latent dimension; ``prior_scale`` is the standard deviation for
    gaussian, laplace and uniform (so loc 0, scale 1 gives the standardised priors of
    ``models.priors``) and torch's scale for student_t. The mixture has isotropic components:
    weights (normalised here), locs (a float l means the point (l, ..., l), or a tuple of
    ``latent_dim`` floats) and scales. The decoder is f(z) = a g(z) + b in 1-D and
    f(z) = a g(z1) + c g(z2) + b in 2-D, with g from ``DECODERS``; w is the inner frequency
    of tanh and sine. Invalid values raise ValueError with a message a page can show.
    """

    latent_dim: int = 1
    prior: str = "gaussian"
    prior_loc: float = 0.0
    prior_scale: float = 1.0
    df: float = 3.0  # student_t only
    mix_weights: tuple[float, ...] = (0.3, 0.7)
    mix_locs: tuple = (-1.0, 2.0)
    mix_scales: tuple[float, ...] = (0.5, 1.0)
    decoder: str = "linear"
    a: float = 1.0
    b: float = 0.0
    c: float = 1.0  # 2-D only: weight of g(z2)
    w: float = 1.0  # tanh and sine only
    sigma: float = 0.5  # observation noise: x | z ~ N(f(z), sigma^2)

    def __post_init__(self):
        locs = tuple(tuple(float(v) for v in l) if np.ndim(l) else float(l)
                     for l in self.mix_locs)  # lists from widgets -> hashable tuples
        object.__setattr__(self, "mix_locs", locs)
        object.__setattr__(self, "mix_weights", tuple(float(v) for v in self.mix_weights))
        object.__setattr__(self, "mix_scales", tuple(float(v) for v in self.mix_scales))
        _validate(self)

    def component_locs(self) -> np.ndarray:
        """Mixture component locs as an array (K, latent_dim)."""
        return np.array([np.full(self.latent_dim, l) if np.ndim(l) == 0 else l
                         for l in self.mix_locs], dtype=float).reshape(-1, self.latent_dim)


def _validate(c: LVMConfig) -> None:
    if c.latent_dim not in (1, 2):
        raise ValueError(f"The latent dimension must be 1 or 2, not {c.latent_dim}.")
    if c.prior not in PRIOR_NAMES:
        raise ValueError(f"Unknown prior {c.prior!r}; choose one of {', '.join(PRIOR_NAMES)}.")
    if c.decoder not in DECODERS:
        raise ValueError(f"Unknown decoder {c.decoder!r}; choose one of {', '.join(DECODERS)}.")
    numbers = dict(prior_loc=c.prior_loc, prior_scale=c.prior_scale, df=c.df, a=c.a, b=c.b,
                   c=c.c, w=c.w, sigma=c.sigma)
    bad = [k for k, v in numbers.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"These settings are not finite numbers: {', '.join(bad)}.")
    if not c.sigma > 0:
        raise ValueError(f"The observation noise sigma must be positive, not {c.sigma}.")
    if not c.prior_scale > 0:
        raise ValueError(f"The prior scale must be positive, not {c.prior_scale}.")
    if c.prior == "student_t" and not c.df > 0:
        raise ValueError(f"Student-t needs positive degrees of freedom, not {c.df}.")
    if c.prior == "mixture":
        k = len(c.mix_weights)
        if not 1 <= k <= MAX_COMPONENTS:
            raise ValueError(f"A mixture needs 1 to {MAX_COMPONENTS} components, not {k}.")
        if len(c.mix_locs) != k or len(c.mix_scales) != k:
            raise ValueError(f"A mixture needs as many locs ({len(c.mix_locs)}) and scales "
                             f"({len(c.mix_scales)}) as weights ({k}).")
        if any(np.ndim(l) and len(l) != c.latent_dim for l in c.mix_locs):
            raise ValueError(f"Each mixture loc must be a number or {c.latent_dim} numbers.")
        values = np.array(c.mix_weights + c.mix_scales + tuple(np.ravel(
            np.concatenate([np.atleast_1d(l) for l in c.mix_locs]))))
        if not np.isfinite(values).all():
            raise ValueError("The mixture settings must be finite numbers.")
        if min(c.mix_weights) < 0 or sum(c.mix_weights) <= 0:
            raise ValueError("Mixture weights must be non-negative and not all zero.")
        if min(c.mix_scales) <= 0:
            raise ValueError("Mixture component scales must be positive.")


def prior_distribution(c: LVMConfig) -> D.Distribution:
    """p(z) as a torch distribution (float64) with event shape (latent_dim,)."""
    d = c.latent_dim
    loc = torch.full((d,), c.prior_loc, dtype=torch.float64)
    scale = torch.full((d,), c.prior_scale, dtype=torch.float64)
    if c.prior == "gaussian":
        base = D.Normal(loc, scale)
    elif c.prior == "laplace":
        base = D.Laplace(loc, scale / math.sqrt(2))  # variance 2 b^2 = scale^2
    elif c.prior == "uniform":  # outside the box log_prob is -inf (needs validate_args off)
        half = UNIFORM_HALF_WIDTH * scale  # variance half^2 / 3 = scale^2
        base = D.Uniform(loc - half, loc + half, validate_args=False)
    elif c.prior == "student_t":
        base = D.StudentT(torch.tensor(c.df, dtype=torch.float64), loc, scale)
    else:
        weights = torch.tensor(c.mix_weights, dtype=torch.float64)
        locs = torch.from_numpy(c.component_locs())  # (K, d)
        scales = torch.tensor(c.mix_scales, dtype=torch.float64)[:, None].expand(-1, d)
        return D.MixtureSameFamily(D.Categorical(probs=weights / weights.sum()),
                                   D.Independent(D.Normal(locs, scales), 1))
    return D.Independent(base, 1)


@dataclass(frozen=True, eq=False)
class Grid:
    """A regular grid over z-space: cell centres per axis; integrals are sums times ``cell``
    (the midpoint rule)."""

    axes: tuple[np.ndarray, ...]  # one (n_d,) array of cell centres per latent dimension

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    @property
    def steps(self) -> np.ndarray:
        return np.array([a[1] - a[0] for a in self.axes])  # (d,)

    @property
    def cell(self) -> float:
        return float(np.prod(self.steps))

    @cached_property
    def points(self) -> np.ndarray:
        """All cell centres, (N, d), N = prod(shape), in C order of ``shape``."""
        mesh = np.meshgrid(*self.axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)


def make_grid(limits: list[tuple[float, float]], n: int, anchor: float | None = None) -> Grid:
    """n cells per axis between the (low, high) limits of each latent dimension. With an anchor
    (where the integrand has a kink), the grid shifts by less than a cell so that the anchor
    lies KINK_OFFSET cells from a cell edge."""
    if n < 4:
        raise ValueError(f"A z grid needs at least 4 cells per axis, not {n}.")
    axes = []
    for low, high in limits:
        h = (high - low) / n
        if anchor is not None:
            low = anchor - (math.floor((anchor - low) / h) + KINK_OFFSET) * h
        axes.append(low + h * (np.arange(n) + 0.5))
    return Grid(tuple(axes))


def z_grid(c: LVMConfig, n: int | None = None) -> Grid:
    """A grid wide enough for the prior, n cells per axis (default ``N_Z``). Half-widths:
    6 scales (Gaussian), 10 scales (Laplace), 6 + 36/df scales (Student-t; misses < 1e-3 of the
    mass for df >= 3, more below: ``View.warning`` says so), 6 component scales around each
    mixture component. The uniform's box edges sit on cell edges, with the box filling the
    middle half, so its mass is exact. The midpoint rule errs by O(h^2) at a kink, unless the
    kink lies h / sqrt(12) from a cell edge (the error of a derivative jump J there is
    J h^2 (offset^2 / 2 - 1 / 24)), so the grid is shifted to put the Laplace prior's peak
    (or else z = 0, the fold decoder's kink) there: 120 cells then give the Laplace prior's
    mass to 1e-6 instead of 5e-3. Accuracy also needs cells narrower than sigma / |f'(z)|;
    ``View.warning`` says when they are not."""
    n = n or N_Z[c.latent_dim]
    if c.prior == "uniform":
        n += n % 2
        half_box = UNIFORM_HALF_WIDTH * c.prior_scale
        inside = 2 * max(1, round(n / 4))  # cells inside the box (even, so edges align)
        r = half_box * n / inside
        return make_grid([(c.prior_loc - r, c.prior_loc + r)] * c.latent_dim, n)
    anchor = c.prior_loc if c.prior == "laplace" else 0.0
    if c.prior == "mixture":
        locs, scales = c.component_locs(), np.array(c.mix_scales)[:, None]  # (K, d), (K, 1)
        low = (locs - MIXTURE_HALF_WIDTH * scales).min(0)
        high = (locs + MIXTURE_HALF_WIDTH * scales).max(0)
        return make_grid(list(zip(low, high)), n, anchor)
    if c.prior == "student_t":
        r = (STUDENT_T_HALF_WIDTH[0] + STUDENT_T_HALF_WIDTH[1] / c.df) * c.prior_scale
    else:
        r = GRID_HALF_WIDTH[c.prior] * c.prior_scale
    return make_grid([(c.prior_loc - r, c.prior_loc + r)] * c.latent_dim, n, anchor)


def _log_normal(x, loc, sigma: float) -> np.ndarray:
    """log N(x; loc, sigma^2), broadcasting x against loc."""
    u = (x - loc) / sigma
    return -0.5 * u * u - np.log(sigma) - HALF_LOG_2PI


def _exp(a: np.ndarray) -> np.ndarray:
    """exp(a) for a <= 0, in place, with a floored at EXP_FLOOR."""
    return np.exp(np.maximum(a, EXP_FLOOR, out=a), out=a)


def _logsumexp(a: np.ndarray, axis=None) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(_exp(a - m), axis=axis, keepdims=True)) + m
    return out.squeeze(axis) if axis is not None else out.reshape(())


def _log_evidence_grid(x: np.ndarray, fz: np.ndarray, log_w: np.ndarray,
                       sigma: float) -> np.ndarray:
    """log sum_i w_i N(x_j; fz_i, sigma^2) for flat x (M,), fz (N,), log_w (N,): (M,).
    In place and blocked over x, as this is the page's one big computation in 2-D."""
    keep = np.isfinite(log_w)  # cells outside a bounded prior add nothing
    fz, log_w = fz[keep], log_w[keep] - math.log(sigma) - HALF_LOG_2PI
    out = np.empty(len(x))
    rows = max(1, BLOCK // max(1, len(fz)))
    for i in range(0, len(x), rows):
        r = np.subtract.outer(x[i:i + rows], fz)  # (rows, N)
        r *= 1.0 / sigma
        np.square(r, out=r)
        r *= -0.5
        r += log_w
        m = r.max(1, keepdims=True)
        r -= m
        out[i:i + rows] = np.log(_exp(r).sum(1)) + m[:, 0]
    return out


class LVM:
    """One model p(x, z) = p(z) p(x|z), with its densities on arrays (numpy float64)."""

    def __init__(self, config: LVMConfig):
        self.config = config
        self.prior = prior_distribution(config)  # p(z)
        self.grid = z_grid(config)

    @cached_property
    def grid_log_prior(self) -> np.ndarray:
        """log p(z) on the cells of the model's grid, (N,), computed once (read-only)."""
        out = self.log_prior(self.grid.points)
        out.setflags(write=False)
        return out

    @cached_property
    def grid_decode(self) -> np.ndarray:
        """f(z) on the cells of the model's grid, (N,), computed once (read-only)."""
        out = self.decode(self.grid.points)
        out.setflags(write=False)
        return out

    def on_grid(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """(log p(z), f(z)) on the cells of grid: cached for the model's own grid."""
        if grid is self.grid:
            return self.grid_log_prior, self.grid_decode
        return self.log_prior(grid.points), self.decode(grid.points)

    def decode(self, z) -> np.ndarray:
        """f(z): (..., d) -> (...)."""
        c = self.config
        u = DECODERS[c.decoder].g(np.asarray(z, dtype=float), c.w)  # (..., d)
        f = c.a * u[..., 0] + c.b
        return f + c.c * u[..., 1] if c.latent_dim == 2 else f

    def log_prior(self, z) -> np.ndarray:
        """log p(z), the prior of ``LVMConfig``: (..., d) -> (...). Per dimension, u = (z - m) / s:
        gaussian -u^2/2 - log s - log(2 pi)/2; laplace -|z - m| / b - log 2b, b = s / sqrt 2;
        uniform -log 2h on [m - h, m + h), h = sqrt(3) s, else -inf; student_t
        log Gamma((v+1)/2) - log Gamma(v/2) - log(v pi)/2 - log s - (v+1)/2 log(1 + u^2/v);
        mixture log sum_k pi_k prod_d N(z_d; m_kd, s_k^2). Written in numpy (the tests check
        it against ``self.prior``, the torch distribution): on a busy 2-core machine, torch's
        intra-op threads made a 400-point log_prob take up to 8 ms, and the mixture's 80 ms."""
        c = self.config
        z = np.asarray(z, dtype=float)
        if z.shape[-1:] != (c.latent_dim,):
            raise ValueError(f"z needs a last axis of size {c.latent_dim}, got shape {z.shape}.")
        if c.prior == "mixture":
            weights = np.array(c.mix_weights) / sum(c.mix_weights)
            scales = np.array(c.mix_scales)
            with np.errstate(divide="ignore"):  # a zero weight is a log weight of -inf
                log_w = np.log(weights) - c.latent_dim * np.log(scales)  # (K,)
            u = (z[..., None, :] - c.component_locs()) / scales[:, None]  # (..., K, d)
            terms = log_w - 0.5 * (u * u).sum(-1) - c.latent_dim * HALF_LOG_2PI  # (..., K)
            return _logsumexp(terms, axis=-1)
        s = c.prior_scale
        u = (z - c.prior_loc) / s  # (..., d)
        if c.prior == "gaussian":
            per_dim = -0.5 * u * u - math.log(s) - HALF_LOG_2PI
        elif c.prior == "laplace":
            per_dim = -math.sqrt(2) * np.abs(u) - math.log(math.sqrt(2) * s)
        elif c.prior == "uniform":
            inside = (u >= -UNIFORM_HALF_WIDTH) & (u < UNIFORM_HALF_WIDTH)
            per_dim = np.where(inside, -math.log(2 * UNIFORM_HALF_WIDTH * s), -np.inf)
        else:
            v = c.df
            per_dim = (math.lgamma((v + 1) / 2) - math.lgamma(v / 2) - 0.5 * math.log(v * math.pi)
                       - math.log(s) - (v + 1) / 2 * np.log1p(u * u / v))
        return per_dim.sum(-1)

    def log_likelihood(self, x, z) -> np.ndarray:
        """log p(x|z) = log N(x; f(z), sigma^2) = -(x - f(z))^2 / (2 sigma^2) - log sigma
        - log(2 pi) / 2. x (...) broadcasts against z (..., d) without its last axis."""
        return _log_normal(np.asarray(x, dtype=float), self.decode(z), self.config.sigma)

    def log_joint(self, x, z) -> np.ndarray:
        """log p(x, z) = log p(x|z) + log p(z); shapes as in ``log_likelihood``."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    def log_evidence(self, x, grid: Grid | None = None) -> np.ndarray:
        """log p(x) = log integral of p(x|z) p(z) dz ~= logsumexp_i [log p(x, z_i)] + log(cell),
        the midpoint rule over the z grid (default ``z_grid(config)``). x (...) -> (...)."""
        grid = grid or self.grid
        x = np.asarray(x, dtype=float)
        log_pz, fz = self.on_grid(grid)  # (N,), (N,)
        flat = _log_evidence_grid(x.ravel(), fz, log_pz, self.config.sigma)
        return flat.reshape(x.shape) + math.log(grid.cell)

    def log_posterior(self, z, x, grid: Grid | None = None) -> np.ndarray:
        """log p(z|x) = log p(x|z) + log p(z) - log p(x) (Bayes' rule), with log p(x) from
        ``log_evidence`` on the grid. z (..., d) and x (...) broadcast."""
        return self.log_joint(x, z) - self.log_evidence(x, grid)

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Ancestral sampling: z ~ p(z), then x ~ p(x|z) = N(f(z), sigma^2); seeded, leaving
        torch's global generator untouched. Returns z (n, d), x (n,)."""
        with seeded(seed):
            z = self.prior.sample((n,))  # (n, d)
            loc = torch.from_numpy(self.decode(z.numpy()))  # (n,)
            x = D.Normal(loc, self.config.sigma).sample()  # p(x|z)
        return z.numpy(), x.numpy()


@lru_cache(maxsize=32)
def make_lvm(config: LVMConfig) -> LVM:
    return LVM(config)


def x_grid(config: LVMConfig, n: int = N_X) -> np.ndarray:
    """n evenly spaced x values covering p(x): from the 0.05 % to the 99.95 % quantile of f(z)
    under the prior (weighted on the z grid), widened by 4 sigma each side."""
    model = make_lvm(config)
    f, p = model.grid_decode, np.exp(model.grid_log_prior)  # (N,), (N,)
    order = np.argsort(f)
    cdf = np.cumsum(p[order]) / p.sum()
    low, high = f[order][np.searchsorted(cdf, [5e-4, 1 - 5e-4]).clip(0, len(f) - 1)]
    pad = 4 * config.sigma
    return np.linspace(low - pad, high + pad, n)


# --- everything the page shows, in one call -------------------------------------------------

@dataclass
class View:
    """The five distributions of one model, as log-densities (np.exp to plot).

    z maps have the grid's shape: (n,) for 1-D z, (n, n) for 2-D z (axis i is z_{i+1}).
    At x0, Bayes' rule splits the posterior into three factors:
        log p(z|x0) = log p(x0|z) + log p(z) - log p(x0)
    (``log_likelihood_x0`` + ``log_prior`` - ``log_evidence_x0``).
    """

    x: np.ndarray  # (Nx,) the x grid
    grid: Grid  # the z grid
    x0: float
    z0: np.ndarray  # (d,)
    log_prior: np.ndarray  # log p(z), z map
    log_evidence: np.ndarray  # log p(x), (Nx,)
    log_joint: np.ndarray | None  # log p(x, z), (Nx, n) for 1-D z; None for 2-D z (3-D array)
    log_likelihood_z0: np.ndarray  # log p(x|z0) over x, (Nx,)
    log_likelihood_x0: np.ndarray  # log p(x0|z) over z, z map (the likelihood function)
    log_evidence_x0: float  # log p(x0)
    log_posterior_x0: np.ndarray  # log p(z|x0), z map
    prior_mass: float  # integral of p(z) over the grid (1 up to truncation)
    warning: str | None = None  # set when the grid makes these numbers inaccurate


def compute_view(config: LVMConfig, x0: float, z0, x: np.ndarray | None = None,
                 grid: Grid | None = None) -> View:
    """Everything the page needs for one config: the joint on the (x, z) grid (1-D z), p(z),
    p(x), the slice p(x|z0), and p(x0|z), p(x0), p(z|x0). Defaults: ``x_grid(config)`` and
    ``z_grid(config)``. z0 is a number (1-D z) or d numbers."""
    model = make_lvm(config)
    x = x_grid(config) if x is None else np.asarray(x, dtype=float)
    grid = grid or model.grid
    d, sigma, log_cell = config.latent_dim, config.sigma, math.log(grid.cell)
    x0 = _check_x0(x0)
    z0 = np.asarray(z0, dtype=float).reshape(-1)
    if z0.shape != (d,) or not np.isfinite(z0).all():
        raise ValueError(f"z0 must be {d} finite number(s).")
    lp, fz = model.on_grid(grid)  # (N,), (N,)
    if d == 1:
        joint = _log_normal(x[:, None], fz, sigma) + lp  # (Nx, N)
        log_ev = _logsumexp(joint, axis=1) + log_cell  # (Nx,)
    else:
        joint, log_ev = None, _log_evidence_grid(x, fz, lp, sigma) + log_cell
    lik_x0 = _log_normal(x0, fz, sigma)  # (N,)
    top = lik_x0.max()  # shift first, as in fit_q
    log_t = (lik_x0 - top) + lp
    log_norm = float(_logsumexp(log_t) + log_cell)
    ev_x0, post = float(top + log_norm), log_t - log_norm
    mass = float(np.exp(_logsumexp(lp) + log_cell))
    return View(x=x, grid=grid, x0=x0, z0=z0, log_prior=lp.reshape(grid.shape),
                log_evidence=log_ev, log_joint=joint,
                warning=_warning(grid, lp, fz, post, mass, sigma),
                log_likelihood_z0=_log_normal(x, model.decode(z0), sigma),
                log_likelihood_x0=lik_x0.reshape(grid.shape), log_evidence_x0=ev_x0,
                log_posterior_x0=post.reshape(grid.shape), prior_mass=mass)


def _check_x0(x0) -> float:
    x0 = float(x0)
    if not math.isfinite(x0):
        raise ValueError(f"x0 must be a finite number, not {x0}.")
    return x0


def _warning(grid: Grid, log_pz: np.ndarray, fz: np.ndarray, log_post: np.ndarray, mass: float,
             sigma: float) -> str | None:
    """A message for the page when the grid quadrature is inaccurate, else None. Inputs are
    flat over the grid: log p(z), f(z), log p(z|x0)."""
    notes = []
    if abs(1 - mass) > MASS_TOL:
        notes.append(f"the z grid holds {100 * mass:.1f} % of the prior mass (heavy tails)")
    f = fz.reshape(grid.shape)
    p = np.exp(log_pz).reshape(grid.shape) * grid.cell
    for axis in range(f.ndim):  # prior mass in cells where f moves more than RESOLUTION sigma
        jump = np.abs(np.diff(f, axis=axis)) > RESOLUTION * sigma
        if p[tuple(slice(0, -1) if i == axis else slice(None) for i in range(f.ndim))][
                jump].sum() > MASS_TOL:
            notes.append("sigma is small for this decoder and grid, so p(x) and p(z|x) are "
                         "approximate (raise sigma or lower a)")
            break
    post = np.exp(log_post).reshape(grid.shape) * grid.cell
    inner = post[tuple(slice(1, -1) for _ in grid.shape)].sum()
    if 1 - inner > MASS_TOL:
        notes.append("the posterior reaches the edge of the z grid (x0 is far out)")
    return ("Approximate: " + "; ".join(notes) + ".") if notes else None


# --- closed forms: linear decoder with a Gaussian or mixture prior ---------------------------

def _linear_gaussian_parts(c: LVMConfig):
    """Weights w (d,) of f(z) = w.z + b, and the prior's components: weights (K,), locs (K, d),
    scales (K,). A Gaussian prior is one component."""
    if c.decoder != "linear" or c.prior not in ("gaussian", "mixture"):
        raise ValueError("Closed forms exist only for the linear decoder with a Gaussian or "
                         "mixture-of-Gaussians prior.")
    w = np.array([c.a, c.c][:c.latent_dim])
    if c.prior == "gaussian":
        return w, np.ones(1), np.full((1, c.latent_dim), c.prior_loc), np.array([c.prior_scale])
    weights = np.array(c.mix_weights)
    return w, weights / weights.sum(), c.component_locs(), np.array(c.mix_scales)


def closed_form_evidence(c: LVMConfig) -> D.Distribution:
    """p(x) in closed form, a torch distribution over x (float64, event shape ()).
    Gaussian prior N(m, s^2 I): p(x) = N(w.m + b, s^2 |w|^2 + sigma^2) (Bishop eq. 2.115);
    mixture: p(x) = sum_k pi_k N(x; w.m_k + b, s_k^2 |w|^2 + sigma^2), with w = a (1-D z) or
    (a, c) (2-D z)."""
    w, weights, locs, scales = _linear_gaussian_parts(c)
    loc = torch.from_numpy(locs @ w + c.b)  # (K,)
    scale = torch.from_numpy(np.sqrt(scales ** 2 * (w @ w) + c.sigma ** 2))  # (K,)
    if len(weights) == 1:
        return D.Normal(loc[0], scale[0])
    return D.MixtureSameFamily(D.Categorical(probs=torch.from_numpy(weights)),
                               D.Normal(loc, scale))


def closed_form_responsibilities(c: LVMConfig, x) -> np.ndarray:
    """p(k|x) = pi_k N(x; w.m_k + b, s_k^2 |w|^2 + sigma^2) / p(x) (Bishop eq. 9.13), the
    posterior probability of each mixture component: x (...) -> (..., K)."""
    w, weights, locs, scales = _linear_gaussian_parts(c)
    x = np.asarray(x, dtype=float)[..., None]
    log_r = np.log(weights) + _log_normal(x, locs @ w + c.b,
                                          np.sqrt(scales ** 2 * (w @ w) + c.sigma ** 2))
    return np.exp(log_r - _logsumexp(log_r, axis=-1)[..., None])


def closed_form_posterior(c: LVMConfig, x0: float) -> D.Distribution:
    """p(z|x0) in closed form, a torch distribution over z (float64, event shape (d,)).
    Per component: precision L = I / s^2 + w w^T / sigma^2, covariance L^-1, loc =
    L^-1 (m / s^2 + w (x0 - b) / sigma^2) (Bishop eq. 2.116-2.117); a mixture prior gives a
    mixture posterior weighted by ``closed_form_responsibilities``."""
    w, weights, locs, scales = _linear_gaussian_parts(c)
    x0, d = _check_x0(x0), c.latent_dim
    prec = np.eye(d) / scales[:, None, None] ** 2 + np.outer(w, w) / c.sigma ** 2  # (K, d, d)
    cov = np.linalg.inv(prec)
    loc = np.einsum("kij,kj->ki", cov, locs / scales[:, None] ** 2 + w * (x0 - c.b) / c.sigma ** 2)
    post = D.MultivariateNormal(torch.from_numpy(loc), torch.from_numpy(cov))  # batch (K,)
    if len(weights) == 1:
        return D.MultivariateNormal(post.loc[0], post.covariance_matrix[0])
    resp = torch.from_numpy(closed_form_responsibilities(c, x0))
    return D.MixtureSameFamily(D.Categorical(probs=resp), post)


# --- approximate inference: a Gaussian q(z|x0) by maximising the ELBO ------------------------

def _laplace_starts(grid: Grid, full: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Starts for the ELBO fit, one per mode of the posterior (``_modes``; full: log p(z|x0)'s
    cell masses on the grid's shape, -inf outside the prior's support): loc at the mode's cell,
    scale from the curvature of log p(z|x0) along each axis there (a Laplace approximation,
    Bishop section 4.4), capped by the posterior's standard deviation, which stands in where
    the curvature is not negative."""
    p = np.exp(full)  # (grid.shape)
    d = full.ndim
    std = []
    for k, axis in enumerate(grid.axes):
        marginal = p.sum(tuple(m for m in range(d) if m != k))  # (n_k,)
        std.append(np.sqrt((marginal * (axis - (marginal * axis).sum()) ** 2).sum()))
    starts = []
    for i in _modes(full):
        loc, scale = np.empty(d), np.empty(d)
        for k, axis in enumerate(grid.axes):
            line = full[i[:k] + (slice(None),) + i[k + 1:]]  # log p along axis k through i
            j = i[k]
            curv = (line[j + 1] - 2 * line[j] + line[j - 1]) if 0 < j < len(axis) - 1 \
                else np.nan
            loc[k] = axis[j]
            scale[k] = min(std[k], grid.steps[k] / math.sqrt(-curv)) if -np.inf < curv < 0 \
                else std[k]
        starts.append((loc, scale))
    return starts


def _modes(full: np.ndarray, n: int = MAX_STARTS) -> list[tuple[int, ...]]:
    """The cells of the highest local maxima of a log density on a grid (at most n, each at
    least MODE_HEIGHT times the highest, more than MODE_SEPARATION cells from a higher one along
    some axis), highest first; the global maximum is always the first."""
    padded = np.pad(full, 1, constant_values=-np.inf)
    is_max = np.isfinite(full)
    for shift in np.ndindex(*(3,) * full.ndim):  # every neighbour, diagonals included
        if all(k == 1 for k in shift):
            continue
        is_max &= full >= padded[tuple(slice(k, k + m) for k, m in zip(shift, full.shape))]
    top = float(np.max(full))
    cand = np.flatnonzero(is_max & (full >= top + math.log(MODE_HEIGHT)))
    cand = cand[np.lexsort((cand, -full.ravel()[cand]))]  # highest first, then grid order
    picked: list[tuple[int, ...]] = [np.unravel_index(int(np.argmax(full)), full.shape)]
    for c in cand:
        i = np.unravel_index(int(c), full.shape)
        if len(picked) >= n:
            break
        if all(max(abs(a - b) for a, b in zip(i, j)) > MODE_SEPARATION for j in picked):
            picked.append(i)
    return [tuple(int(k) for k in i) for i in picked]


@dataclass(frozen=True)
class QFit:
    """q(z|x0) = N(loc, diag(scale^2)), restricted to the grid (and, for a uniform prior, to its
    box: a Gaussian q would put mass where p(z) = 0 and make KL(q || p) infinite).
    elbo = expected_log_likelihood - kl_prior = log_evidence - gap."""

    loc: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)
    elbo: float  # E_q[log p(x0, z)] + H[q]
    log_evidence: float  # log p(x0), same quadrature
    gap: float  # KL(q || p(z|x0)) = log p(x0) - ELBO >= 0
    expected_log_likelihood: float  # E_q[log p(x0|z)]
    kl_prior: float  # KL(q || p(z))
    steps: int
    truncated: bool  # q was cut to the prior's support (uniform prior)


def fit_q(config: LVMConfig, x0: float, grid: Grid | None = None,
          init: QFit | tuple | None = None, max_steps: int = MAX_STEPS) -> QFit:
    """Fit q(z|x0) = N(loc, diag(scale^2)) by maximising
        ELBO(q) = E_q[log p(x0, z)] - E_q[log q(z)] = log p(x0) - KL(q || p(z|x0))
    (Kingma & Welling 2014, eq. 2-3; Bishop section 10.1). Expectations are sums over the z grid
    with q's density normalised on it, the same quadrature as ``log_evidence``, so the reported
    gap is a KL divergence between two distributions on the grid: never negative.

    Optimiser: Newton's method on the grid KL in (loc / scale, log scale), with exact gradient
    and Hessian from sums over the grid (for Gaussian q, d log q / d loc = u / scale and
    d log q / d log scale = u^2 - 1, u = (z - loc) / scale; the gradient is Cov_q(T, log q -
    log p), as for any exponential family). The full Hessian couples the dimensions, so a
    correlated posterior does not make the mean-field updates zig-zag (Bishop section 10.1.2);
    where the Hessian is not positive definite it is shifted (Levenberg-Marquardt). Steps are
    capped, then halved until the KL does not grow, so the ELBO never decreases. loc stays
    inside the grid and scale between a quarter cell and the grid's width.

    KL(q || p) is mode-seeking: with well separated modes q settles on one, and which one
    depends on where the optimiser starts. Without ``init`` the fit is deterministic: it starts
    from a Laplace approximation at each of the posterior's highest modes on the grid
    (``MAX_STARTS``) and keeps the highest ELBO (ties within ``TIE_TOL`` go to the largest loc),
    so the same settings always give the same q, whatever came before. With ``init`` (a QFit
    or (loc, scale)) it runs one local fit from there.
    """
    model = make_lvm(config)
    grid = grid or model.grid
    x0 = _check_x0(x0)
    log_pz, fz = model.on_grid(grid)  # (N,), (N,)
    log_lik = _log_normal(x0, fz, config.sigma)  # log p(x0|z), (N,)
    keep = np.isfinite(log_pz)  # the prior's support on the grid: a box (every prior here
    box = _support_box(grid, keep)  # is a product over dimensions or positive everywhere)
    log_lik, log_pz = log_lik[keep], log_pz[keep]  # (N',) in C order of the box
    log_cell = math.log(grid.cell)
    top = log_lik.max()  # shift first: for a far x0, log p(x0|z) ~ -1e16 would swamp log p(z)
    log_t = (log_lik - top) + log_pz + log_cell  # log p(x0, z_i) + log cell - top
    log_norm = float(_logsumexp(log_t))
    log_ev = float(top + log_norm)  # log p(x0)
    log_p = log_t - log_norm  # log of p(z|x0)'s mass in cell i, (N',)
    d = config.latent_dim
    if init is None:
        full = np.full(len(keep), -np.inf)
        full[keep] = log_p
        starts = _laplace_starts(grid, full.reshape(grid.shape))
    else:
        loc, scale = (init.loc, init.scale) if isinstance(init, QFit) else init
        loc, scale = np.asarray(loc, dtype=float).reshape(d), np.asarray(scale, float).reshape(d)
        if not (np.isfinite(loc).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("init must hold a finite loc and a positive scale.")
        starts = [(loc, scale)]
    axes = [a[b] for a, b in zip(grid.axes, box)]
    log_p_box = log_p.reshape(tuple(len(a) for a in axes))
    best = None
    for loc, scale in starts:
        fit = _newton(grid, axes, log_p_box, loc, scale, max_steps)
        if best is None or fit[2] < best[2] - TIE_TOL or (
                fit[2] <= best[2] + TIE_TOL and tuple(fit[0]) > tuple(best[0])):
            best = fit
    loc, scale, kl, log_qs, steps = best
    log_q = log_qs[0] if d == 1 else np.add.outer(log_qs[0], log_qs[1]).ravel()  # (N',)
    q = np.exp(log_q)
    return QFit(loc=loc, scale=scale, elbo=log_ev - kl, log_evidence=log_ev, gap=kl,
                expected_log_likelihood=float(np.einsum("n,n->", q, log_lik)),
                kl_prior=float(np.einsum("n,n->", q, log_q - log_pz - log_cell)), steps=steps,
                truncated=not keep.all())


def _support_box(grid: Grid, keep: np.ndarray) -> list[np.ndarray]:
    """Per axis, the cells (boolean (n_d,)) of the box that keep (flat, C order) fills."""
    k = keep.reshape(grid.shape)
    box = [k.any(tuple(m for m in range(k.ndim) if m != d)) for d in range(k.ndim)]
    filled = box[0] if k.ndim == 1 else np.logical_and.outer(box[0], box[1])
    if not np.array_equal(filled, k):
        raise ValueError("The prior's support on the z grid is not a box.")
    return box


def _newton(grid: Grid, axes: list[np.ndarray], log_p: np.ndarray, loc: np.ndarray,
            scale: np.ndarray, max_steps: int):
    """``fit_q``'s local fit from (loc, scale). axes: per dimension, the cell centres inside the
    prior's support; log_p: the posterior's log cell masses on them ((n1,) or (n1, n2)).

    q is a product over dimensions, so on a regular grid its cell masses are an outer product
    q1 (x) q2 with log q = l1 + l2, and every sum over the grid that the Newton step needs
    reduces to sums along one axis and products with the matrix log_p (the 2-D case, with
    g = l1 + l2 - log p the integrand of the KL and t the centred d log q / d theta):
        KL = sum q1 l1 + sum q2 l2 - q1' P q2,
        E_q[t_a g] = sum_i q1_i t_a(i) G1_i with G1 = l1 + sum q2 l2 - P q2 (a on axis 1),
        E_q[t_a t_b (g - KL + 1)] = sum_i q1_i t_a t_b (G1_i - KL + 1) (a, b on axis 1),
                                  = -(q1 t_a)' P (q2 t_b)                 (a on 1, b on 2),
    the terms that depend on one axis only vanishing against E_q[t] = 0. This is ~20x faster
    than sums over all n1 n2 cells and gives the same numbers (the tests compare).
    Returns loc, scale, KL(q || p(z|x0)), [l1(, l2)] and the number of steps."""
    d = len(loc)
    low = np.array([a[0] for a in grid.axes]) - grid.steps / 2  # (d,)
    high = np.array([a[-1] for a in grid.axes]) + grid.steps / 2
    min_scale, max_scale = MIN_SCALE_CELLS * grid.steps, high - low

    def factors(loc, scale):  # per axis: log q_k and q_k, each normalised on its cells
        logs = []
        for a, m, s in zip(axes, loc, scale):
            u = (a - m) / s
            lq = -0.5 * u * u
            logs.append(lq - _logsumexp(lq))
        return logs, [_exp(lq.copy()) for lq in logs]

    def kl_of(logs, qs):  # KL(q || p(z|x0)) on the grid, and the row sums G_k
        ent = [float(np.einsum("i,i->", q, lq)) for q, lq in zip(qs, logs)]
        if d == 1:
            g = logs[0] - log_p
            return float(np.einsum("i,i->", qs[0], g)), [g]
        p_q2 = np.einsum("ij,j->i", log_p, qs[1])  # P q2, (n1,)
        p_q1 = np.einsum("ij,i->j", log_p, qs[0])  # P' q1, (n2,)
        kl = ent[0] + ent[1] - float(np.einsum("i,i->", qs[0], p_q2))
        return kl, [logs[0] + ent[1] - p_q2, logs[1] + ent[0] - p_q1]

    loc, scale = np.clip(loc, low, high), np.clip(scale, min_scale, max_scale)
    logs, qs = factors(loc, scale)
    kl, rows = kl_of(logs, qs)
    steps = 0
    while steps < max_steps:
        steps += 1
        # derivatives in theta = (delta, log scale), loc = loc + scale * delta, at theta = 0;
        # parameter k moves the loc of axis k, parameter d + k its log scale
        grad, hess = np.zeros(2 * d), np.zeros((2 * d, 2 * d))
        ts = []
        for k in range(d):
            u = (axes[k] - loc[k]) / scale[k]
            t = np.stack([u, u * u])  # (2, n_k): d log q / d theta, up to a constant
            t -= (t * qs[k]).sum(1, keepdims=True)
            qt = t * qs[k]
            ts.append(qt)
            grad[k::d] = np.einsum("an,n->a", qt, rows[k])  # Cov_q(t, g); k::d = (k, d + k)
            hess[k::d, k::d] = np.einsum("an,bn->ab", t, qt * (rows[k] - kl + 1))
        if d == 2:
            cross = -np.einsum("ai,ij,bj->ab", ts[0], log_p, ts[1])  # (2, 2): (0, 2) x (1, 3)
            hess[0::2, 1::2] = cross
            hess[1::2, 0::2] = cross.T
        hess[:d, d:] -= 2 * np.diag(grad[:d])  # + E_q[(g - KL) d^2 log q / d theta^2]
        hess[d:, :d] -= 2 * np.diag(grad[:d])
        hess[d:, d:] -= 2 * np.diag(grad[d:])
        low_eig = np.linalg.eigvalsh(hess)[0]
        if low_eig < HESS_FLOOR:  # not convex here: shift towards a gradient step
            hess += (HESS_FLOOR - low_eig) * np.eye(2 * d)
        step = -np.linalg.solve(hess, grad)
        longest = np.abs(step).max()
        if longest > MAX_STEP:
            step *= MAX_STEP / longest
        rho = 1.0
        while rho > 1e-6:  # halve until the KL does not grow
            new_loc = np.clip(loc + scale * rho * step[:d], low, high)
            new_scale = np.clip(scale * np.exp(rho * step[d:]), min_scale, max_scale)
            new_logs, new_qs = factors(new_loc, new_scale)
            new_kl, new_rows = kl_of(new_logs, new_qs)
            if new_kl <= kl:
                break
            rho /= 2
        else:
            break  # no step helps: converged to rounding
        gain = kl - new_kl
        loc, scale, kl, logs, qs, rows = new_loc, new_scale, new_kl, new_logs, new_qs, new_rows
        if gain < STEP_TOL:
            break
    return loc, scale, kl, logs, steps
