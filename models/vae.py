"""Variational autoencoder: a latent variable model p(x, z) = p(z) p(x|z) fitted with an
encoder q(z|x) that outputs the parameters of a Gaussian over z.

Objective (Kingma & Welling 2014, "Auto-Encoding Variational Bayes"; beta weight from
Higgins et al. 2017, "beta-VAE"):
    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x).
The importance-weighted bound (Burda et al. 2016, "Importance Weighted Autoencoders")
    log p(x) >= E[log 1/K sum_k p(x, z_k) / q(z_k|x)],  z_k ~ q(z|x),
tightens with K and estimates log p(x).

Images use a Bernoulli likelihood on grey levels in [0, 1] (the continuous cross-entropy of
pytorch/examples' VAE); 2-D points use a Gaussian likelihood with a learned scale per dimension.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn

from .nets import mlp
from .priors import Prior, kl_to_prior

MIN_SCALE = 1e-4


class VAE(nn.Module):
    def __init__(self, data_dim: int, latent_dim: int, prior: Prior, hidden: int = 400,
                 image: bool = True):
        super().__init__()
        prior.check_fits_gaussian_posterior()
        self.prior_ = prior
        self.latent_dim, self.image = latent_dim, image
        self.encoder = mlp([data_dim, hidden, 2 * latent_dim])  # -> (loc, raw scale)
        self.decoder = mlp([latent_dim, hidden, data_dim])  # -> logits or loc
        if not image:
            self.log_scale_x = nn.Parameter(torch.full((data_dim,), math.log(0.1)))

    def prior(self) -> D.Distribution:
        return self.prior_.dist  # p(z)

    def approx_posterior(self, x: torch.Tensor) -> D.Distribution:
        loc, raw = self.encoder(x).chunk(2, dim=-1)  # (B, latent_dim) each
        return D.Independent(D.Normal(loc, F.softplus(raw) + MIN_SCALE), 1)  # q(z|x)

    def likelihood(self, z: torch.Tensor) -> D.Distribution:
        out = self.decoder(z)  # (..., data_dim)
        if self.image:  # p(x|z); validate_args off: grey levels are not exactly 0 or 1
            return D.Independent(D.Bernoulli(logits=out, validate_args=False), 1)
        return D.Independent(D.Normal(out, self.log_scale_x.exp()), 1)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x|z]: pixel probabilities for images, the Gaussian's mean for points."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.image else out

    def loss_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample estimates of -E_q log p(x|z) and KL(q || p), per example: (B,), (B,)."""
        q = self.approx_posterior(x)
        z = q.rsample()  # (B, latent_dim), reparameterised
        if self.image:  # same value as -Bernoulli.log_prob, computed in one fused op
            recon = F.binary_cross_entropy_with_logits(self.decoder(z), x,
                                                       reduction="none").sum(-1)
        else:
            recon = -self.likelihood(z).log_prob(x)
        return recon, kl_to_prior(q, self.prior_, z)

    def loss(self, x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        recon, kl = self.loss_terms(x)
        return (recon + beta * kl).mean()

    def kl_per_dim(self, x: torch.Tensor, samples: int = 16) -> torch.Tensor | None:
        """Average KL(q(z_j|x) || p(z_j)) of each latent dimension j over x: (latent_dim,).

        The KL splits over dimensions only for a factorised prior (Gaussian, Laplace,
        Student-t; Monte Carlo where torch has no closed form). A mixture prior couples the
        dimensions, so this returns None and a page shows ``active_units`` instead."""
        base = self.prior_.dist
        if not isinstance(base, D.Independent):
            return None
        qd, pd = self.approx_posterior(x).base_dist, base.base_dist
        try:
            return D.kl_divergence(qd, pd).mean(0)
        except NotImplementedError:
            z = qd.rsample((samples,))  # (S, B, latent_dim)
            return (qd.log_prob(z) - pd.log_prob(z)).mean((0, 1))

    @torch.no_grad()
    def iwae(self, x: torch.Tensor, k: int = 64) -> torch.Tensor:
        """Importance-weighted estimate of log p(x) with K samples per example: (B,)."""
        q = self.approx_posterior(x)
        z = q.sample((k,))  # (K, B, latent_dim)
        log_w = self.likelihood(z).log_prob(x) + self.prior_.log_prob(z) - q.log_prob(z)
        return torch.logsumexp(log_w, 0) - math.log(k)


def active_units(model: VAE, x: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Variance over x of each dimension of E_q[z|x]; a unit is active above the threshold
    (Burda et al. 2016, section 5.2). Returns (latent_dim,) variances."""
    with torch.no_grad():
        return model.approx_posterior(x).mean.var(0)
