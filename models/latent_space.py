"""Latent-space geometry: where a model puts the data, paths between codes, traversals, decoded
grids, and how strongly each latent dimension relates to each true generative factor.

References
- Spherical linear interpolation (slerp): Shoemake (1985), "Animating rotation with
  quaternion curves"; for latent spaces White (2016), "Sampling Generative Networks", who
  notes that under a high-dimensional Gaussian prior the linear midpoint of two typical codes
  has an atypically small norm, while slerp keeps the norm of equal-norm endpoints.
- Decoded manifold over the prior's quantiles: Kingma & Welling (2014), "Auto-Encoding
  Variational Bayes", figure 4 (a unit square of probabilities mapped through the inverse CDF).
- Traversals (vary one latent dimension, hold the others): Higgins et al. (2017), "beta-VAE".
- Mutual information between each latent dimension and each factor, normalised by the
  factor's entropy, and the mutual information gap (MIG): Chen et al. (2018), "Isolating
  Sources of Disentanglement in VAEs". Estimated by discretising (as disentanglement_lib does,
  Locatello et al. 2019) with equal-frequency bins, so the estimate does not change under any
  monotone rescaling of a dimension; the plug-in estimate is biased upwards by about
  (bins - 1)^2 / 2N nats, which the Miller (1955) correction removes to first order.
"""

from __future__ import annotations

import math

import numpy as np
import torch

MI_BINS = 20  # equal-frequency bins per continuous variable
MAX_DISCRETE = 32  # a factor with at most this many distinct values is treated as discrete
PARALLEL_EPS = 1e-7  # sin(angle) below this: the endpoints are (anti)parallel, slerp = lerp


# --- the model's two maps -------------------------------------------------------------------

@torch.no_grad()
def encode(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The code of each x: the autoencoder's z = encoder(x), the VAE's mean of q(z|x).
    A GAN has no encoder: ValueError. Returns (B, latent_dim)."""
    if hasattr(model, "approx_posterior"):
        return model.approx_posterior(x).mean  # E[z|x] under q(z|x)
    if hasattr(model, "encode"):
        return model.encode(x)
    raise ValueError("A GAN has no encoder: it cannot map data back to its latent space.")


@torch.no_grad()
def encode_scale(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """The VAE's standard deviations of q(z|x), (B, latent_dim); None for other models."""
    if hasattr(model, "approx_posterior"):
        return model.approx_posterior(x).stddev
    return None


@torch.no_grad()
def sample_codes(model: torch.nn.Module, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One z per x drawn from the joint p_data(x) q(z|x): a sample of q(z|x) for a VAE (so a
    dimension the encoder ignores is pure noise), the code itself for an autoencoder."""
    if hasattr(model, "approx_posterior"):
        q = model.approx_posterior(x)
        gen = torch.Generator().manual_seed(seed)
        eps = torch.randn(q.mean.shape, generator=gen)
        return q.mean + q.stddev * eps  # z ~ q(z|x), reparameterised
    return encode(model, x)


@torch.no_grad()
def decode(model: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """What z becomes in data space: E[x|z] for a VAE, the decoder for an autoencoder, the
    generator for a GAN. Returns (B, data_dim)."""
    if hasattr(model, "decode_mean"):
        return model.decode_mean(z)
    if hasattr(model, "decode"):
        return model.decode(z)
    return model.generate(z)


# --- paths ------------------------------------------------------------------------------------

def _as_t(t) -> torch.Tensor:
    return torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1)  # (T, 1)


def lerp(z0: torch.Tensor, z1: torch.Tensor, t) -> torch.Tensor:
    """Linear interpolation (1 - t) z0 + t z1 for each t: (T, d)."""
    a, b, t = z0.double(), z1.double(), _as_t(t)
    return ((1 - t) * a + t * b).to(z0.dtype)


def angle(z0: torch.Tensor, z1: torch.Tensor) -> float:
    """The angle between two codes, in radians (0 if either is zero)."""
    a, b = z0.double(), z1.double()
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return 0.0
    return float(torch.arccos(torch.clamp(a @ b / (na * nb), -1.0, 1.0)))


def slerp(z0: torch.Tensor, z1: torch.Tensor, t) -> torch.Tensor:
    """Spherical linear interpolation (Shoemake 1985, as used by White 2016):

        slerp(t) = sin((1 - t) W) / sin W * z0 + sin(t W) / sin W * z1,  W = angle(z0, z1).

    It follows the arc between the directions of z0 and z1 at constant angular speed; for
    endpoints of equal norm the norm stays constant. For (anti)parallel endpoints the arc is
    undefined and it falls back to the straight line. Returns (T, d)."""
    a, b, t = z0.double(), z1.double(), _as_t(t)
    w = angle(z0, z1)
    s = math.sin(w)
    if s < PARALLEL_EPS:
        return lerp(z0, z1, t.squeeze(1))
    return (torch.sin((1 - t) * w) / s * a + torch.sin(t * w) / s * b).to(z0.dtype)


PATHS = {"linear": lerp, "spherical": slerp}


def path(z0: torch.Tensor, z1: torch.Tensor, t, method: str) -> torch.Tensor:
    if method not in PATHS:
        raise ValueError(f"Unknown interpolation {method!r}; choose one of {', '.join(PATHS)}.")
    return PATHS[method](z0, z1, t)


def traverse(z: torch.Tensor, dim: int, values) -> torch.Tensor:
    """Copies of the code z (d,) with dimension `dim` (0-based) set to each value: (V, d)."""
    if not 0 <= dim < z.shape[-1]:
        raise ValueError(f"Dimension {dim + 1} does not exist in a {z.shape[-1]}-D latent.")
    values = torch.as_tensor(values, dtype=z.dtype)
    out = z.reshape(1, -1).repeat(len(values), 1)
    out[:, dim] = values
    return out


def chi_mean(d: int) -> float:
    """E||z|| for z ~ N(0, I_d), the mean of a chi distribution with d degrees of freedom:
    sqrt(2) Gamma((d + 1) / 2) / Gamma(d / 2), close to sqrt(d - 1/2) for large d."""
    return math.sqrt(2.0) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))


# --- grids --------------------------------------------------------------------------------------

def prior_axis(prior, n: int, tail: float = 0.05) -> torch.Tensor | None:
    """n values spanning the prior's marginal along one dimension at evenly spaced
    probabilities tail .. 1 - tail, through its inverse CDF (Kingma & Welling 2014, fig. 4).
    None when the marginal has no closed-form inverse CDF (mixture, Student-t)."""
    dist = getattr(prior, "dist", prior)
    base = getattr(dist, "base_dist", None)
    if base is None:
        return None
    p = torch.linspace(tail, 1 - tail, n)
    try:
        return base.icdf(p.unsqueeze(1).expand(n, base.batch_shape[-1]))[:, 0]
    except NotImplementedError:
        return None


def code_axis(z: torch.Tensor, n: int, q: float = 0.01) -> torch.Tensor:
    """n values per dimension spanning the codes' q .. 1 - q quantiles: (n, d)."""
    lo = torch.quantile(z.double(), q, dim=0)
    hi = torch.quantile(z.double(), 1 - q, dim=0)
    s = torch.linspace(0, 1, n, dtype=torch.float64).unsqueeze(1)
    return (lo + s * (hi - lo)).to(z.dtype)


def grid(axis1: torch.Tensor, axis2: torch.Tensor) -> torch.Tensor:
    """The plane axis1 x axis2 as codes in image order: row r, column c is
    (axis1[c], axis2[-1 - r]), so the top row has the largest z2 (as in a plot). (n2*n1, 2)."""
    z1 = axis1.repeat(len(axis2))
    z2 = axis2.flip(0).repeat_interleave(len(axis1))
    return torch.stack([z1, z2], 1)


def grid_lines(axis1: torch.Tensor, axis2: torch.Tensor, points: int = 25
               ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Lines of a 2-D grid: one per value of axis1 (z1 fixed, z2 varying) and one per value of
    axis2. Returns codes (L * points, 2), the line index of each code and its family
    (0: z1 fixed, 1: z2 fixed)."""
    s1 = torch.linspace(float(axis1[0]), float(axis1[-1]), points)
    s2 = torch.linspace(float(axis2[0]), float(axis2[-1]), points)
    codes, line, family = [], [], []
    for k, a in enumerate(axis1):
        codes.append(torch.stack([torch.full((points,), float(a)), s2], 1))
        line += [k] * points
        family += [0] * points
    for k, b in enumerate(axis2):
        codes.append(torch.stack([s1, torch.full((points,), float(b))], 1))
        line += [len(axis1) + k] * points
        family += [1] * points
    return torch.cat(codes), np.array(line), np.array(family)


# --- mutual information with the true factors -------------------------------------------------

def discretise(v: np.ndarray, bins: int = MI_BINS) -> np.ndarray:
    """Integer codes for one variable: its distinct values when there are at most
    MAX_DISCRETE of them, else equal-frequency bins by rank (ties broken by order)."""
    v = np.asarray(v)
    values, inverse = np.unique(v, return_inverse=True)
    if len(values) <= MAX_DISCRETE:
        return inverse.reshape(-1)
    ranks = np.empty(len(v), dtype=np.int64)
    ranks[np.argsort(v, kind="stable")] = np.arange(len(v))
    return ranks * bins // len(v)


def entropy(a: np.ndarray, correct: bool = True) -> float:
    """Entropy in nats of integer codes; Miller's correction adds (m - 1) / 2N, m the number
    of occupied cells."""
    _, counts = np.unique(a, return_counts=True)
    p = counts / counts.sum()
    h = float(-(p * np.log(p)).sum())
    return h + (len(counts) - 1) / (2 * counts.sum()) if correct else h


def mutual_information(a: np.ndarray, b: np.ndarray, correct: bool = True) -> float:
    """I(a; b) = H(a) + H(b) - H(a, b) in nats for two integer-coded variables, from their
    contingency table; with Miller's correction to each entropy (clipped at 0)."""
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError("Mutual information needs two variables with the same, nonzero "
                         "number of samples.")
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    joint = ai.reshape(-1) * (bi.max() + 1) + bi.reshape(-1)
    mi = entropy(ai, correct) + entropy(bi, correct) - entropy(joint, correct)
    return max(mi, 0.0) if correct else mi


def latent_factor_mi(z: np.ndarray, factors: np.ndarray, bins: int = MI_BINS
                     ) -> dict[str, np.ndarray | float]:
    """How much each latent dimension tells about each factor.

    z: (N, d) codes (for a VAE, samples of q(z|x)); factors: (N, F) true factors.
    Returns "mi" (d, F) in nats, "entropy" (F,) of each discretised factor, "normalised"
    (d, F) = mi / entropy clipped to [0, 1] (1: the dimension determines the factor at
    this resolution), "gap" (F,) the normalised gap between the best and second-best
    dimension per factor, and "mig", its mean (Chen et al. 2018)."""
    z, factors = np.asarray(z), np.asarray(factors)
    if z.ndim != 2 or factors.ndim != 2 or len(z) != len(factors):
        raise ValueError("z and factors must be (N, d) and (N, F) with the same N.")
    zc = [discretise(z[:, j], bins) for j in range(z.shape[1])]
    fc = [discretise(factors[:, k], bins) for k in range(factors.shape[1])]
    mi = np.array([[mutual_information(a, f) for f in fc] for a in zc])  # (d, F)
    h = np.array([entropy(f) for f in fc])  # (F,)
    norm = np.clip(mi / np.maximum(h, 1e-12), 0.0, 1.0)
    top = -np.sort(-norm, axis=0)
    gap = top[0] - (top[1] if len(top) > 1 else 0.0)
    return {"mi": mi, "entropy": h, "normalised": norm, "gap": gap, "mig": float(gap.mean())}


__all__ = ["encode", "encode_scale", "sample_codes", "decode", "lerp", "slerp", "angle",
           "path", "PATHS", "traverse", "chi_mean", "prior_axis", "code_axis", "grid",
           "grid_lines", "discretise", "entropy", "mutual_information", "latent_factor_mi"]
