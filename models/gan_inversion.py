"""GAN inversion: find a noise vector z whose image G(z) comes close to a given x.

A GAN has no encoder, so nothing maps x back to z. The substitute is an optimisation (Zhu et
al. 2016, "Generative Visual Manipulation on the Natural Image Manifold", section 3.1;
Creswell & Bharath 2018, "Inverting the Generator of a Generative Adversarial Network"):

    z* = argmin_z  ||G(z) - x||^2  +  lambda * (-log p(z))

by gradient descent on z with the generator's weights fixed. The first term is the squared
error summed over the pixels; the second, optional, keeps z where the prior p(z) puts its mass
(for a standard Gaussian it is lambda ||z||^2 / 2 plus a constant). Several random starts run
side by side and the best one is kept (Lipton & Tripathi 2017, "Precise Recovery of Latent
Vectors from Generative Adversarial Networks", who also clip z to a bounded prior's box: done
here after every step for the uniform prior).

Adam on z; a few hundred steps of a small generator take a fraction of a second on one core.
``best_of_samples`` is the baseline without optimisation: the closest of n random samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .priors import Prior
from .seeding import seeded

STEPS = 300
LR = 0.05
RESTARTS = 4


@dataclass(frozen=True)
class Inversion:
    z: np.ndarray  # (d,) the best start's final noise vector
    x_hat: np.ndarray  # (D,) G(z)
    error: float  # ||G(z) - x||^2, summed over the D entries
    log_prior: float  # log p(z)
    objective: np.ndarray  # (steps + 1,) the best start's objective, before each step and after
    errors: np.ndarray  # (steps + 1,) its squared error alone, at the same points
    start_error: float  # the best start's squared error before optimising


def _clamp_to_support(z: torch.Tensor, prior: Prior) -> torch.Tensor:
    """z projected into the prior's support: the box [low, high) of a uniform prior (kept
    just inside the open end), else unchanged."""
    base = getattr(prior.dist, "base_dist", None)
    if isinstance(base, torch.distributions.Uniform):
        return torch.clamp(z, base.low, torch.nextafter(base.high, base.low))
    return z


def invert(generate: Callable[[torch.Tensor], torch.Tensor], prior: Prior, x,
           steps: int = STEPS, lr: float = LR, restarts: int = RESTARTS,
           prior_weight: float = 0.0, seed: int = 0) -> Inversion:
    """Optimise z so that generate(z) matches x (a (D,) array or tensor).

    Every start is drawn from the prior (seeded) and optimised with Adam; the start with the
    lowest final objective wins. The generator's parameters are left untouched."""
    if steps < 1 or restarts < 1:
        raise ValueError("GAN inversion needs at least one step and one start.")
    if not (prior_weight >= 0 and np.isfinite(prior_weight)):
        raise ValueError("The prior penalty's weight must be a finite number >= 0.")
    target = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(-1)  # (D,)
    with seeded(seed):  # the prior samples from torch's global generator
        z0 = prior.sample(restarts)  # (R, d)
    with torch.no_grad():
        size = generate(z0[:1]).shape[-1]
    if size != target.numel():
        raise ValueError(f"The target has {target.numel()} values but the generator makes "
                         f"{size}.")
    z = _clamp_to_support(z0.clone(), prior).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    objective = torch.empty(steps + 1, restarts)
    errors = torch.empty(steps + 1, restarts)

    def terms(z):
        x_hat = generate(z)  # (R, D)
        err = ((x_hat - target) ** 2).sum(-1)  # (R,)
        obj = err - prior_weight * prior.log_prob(z) if prior_weight else err
        return err, obj

    for i in range(steps + 1):
        err, obj = terms(z)
        objective[i], errors[i] = obj.detach(), err.detach()
        if i == steps:
            break
        # the gradient for z alone: the generator's weights get none (its .grad stays empty,
        # so a model shared by several sessions is never touched); the starts are
        # independent, so the sum gives each its own gradient
        z.grad, = torch.autograd.grad(obj.sum(), z)
        opt.step()
        with torch.no_grad():
            z.copy_(_clamp_to_support(z, prior))
    best = int(torch.argmin(objective[-1]))
    with torch.no_grad():
        z_best = z[best:best + 1].detach()
        x_hat = generate(z_best)[0]
        log_p = float(prior.log_prob(z_best)[0])
    return Inversion(z=z_best[0].numpy().astype(np.float32),
                     x_hat=x_hat.numpy().astype(np.float32),
                     error=float(errors[-1, best]), log_prior=log_p,
                     objective=objective[:, best].numpy().astype(np.float64),
                     errors=errors[:, best].numpy().astype(np.float64),
                     start_error=float(errors[0, best]))


@torch.no_grad()
def best_of_samples(samples: torch.Tensor, x) -> tuple[int, float]:
    """The closest of a batch of samples (n, D) to x (D,): (index, squared error)."""
    target = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(1, -1)
    err = ((samples - target) ** 2).sum(-1)
    i = int(torch.argmin(err))
    return i, float(err[i])
