"""Generative adversarial network: a generator maps noise z ~ p(z) to data, a discriminator
tells real from generated.

The latent variable is the noise z; the generator's weights are parameters, not latent
variables. There is no encoder, so a GAN cannot say which z made a given x.

Losses (D outputs a logit d; sigma is the logistic function):
- "ns" non-saturating (Goodfellow et al. 2014, section 3): D maximises
  log sigma(d_real) + log(1 - sigma(d_fake)); G maximises log sigma(d_fake).
- "minimax" the original saturating game: G minimises log(1 - sigma(d_fake)).
- "lsgan" least squares (Mao et al. 2017): D: (d_real - 1)^2 + d_fake^2, G: (d_fake - 1)^2, halved.
- "wgan-gp" Wasserstein with gradient penalty (Gulrajani et al. 2017), lambda = 10.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .nets import mlp
from .priors import Prior

LOSSES = {
    "ns": "Non-saturating: the generator maximises log D(G(z)); strong gradients early on.",
    "minimax": "Minimax (saturating): the generator minimises log(1 - D(G(z))); its "
               "gradients vanish when D wins.",
    "lsgan": "Least squares: squared distance of D's output from the real/fake targets.",
    "wgan-gp": "Wasserstein with gradient penalty: D is a critic whose score gap estimates "
               "an earth-mover distance.",
}
GP_WEIGHT = 10.0


class GAN(nn.Module):
    def __init__(self, data_dim: int, noise_dim: int, prior: Prior, g_hidden: int = 128,
                 g_depth: int = 2, d_hidden: int = 128, d_depth: int = 2, loss: str = "ns",
                 image: bool = False):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"Unknown GAN loss {loss!r}; choose one of {', '.join(LOSSES)}.")
        self.prior_, self.noise_dim, self.loss_name = prior, noise_dim, loss
        self.generator = mlp([noise_dim] + [g_hidden] * g_depth + [data_dim],
                             out=nn.Sigmoid() if image else None)
        self.discriminator = mlp([data_dim] + [d_hidden] * d_depth + [1],
                                 activation=lambda: nn.LeakyReLU(0.2))

    def prior(self):
        return self.prior_.dist  # p(z)

    def sample_noise(self, n: int) -> torch.Tensor:
        return self.prior_.sample(n)  # (n, noise_dim)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)  # (n, data_dim)

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(x).squeeze(-1)  # (n,) logits (scores for wgan-gp)

    def d_loss(self, x_real: torch.Tensor, x_fake: torch.Tensor) -> torch.Tensor:
        d = self.critic(torch.cat([x_real, x_fake]))  # one pass for both: (B_real + B_fake,)
        d_real, d_fake = d[:len(x_real)], d[len(x_real):]
        if self.loss_name in ("ns", "minimax"):
            return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        if self.loss_name == "lsgan":
            return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake**2).mean()
        return d_fake.mean() - d_real.mean() + GP_WEIGHT * self._gradient_penalty(x_real, x_fake)

    def g_loss(self, x_fake: torch.Tensor) -> torch.Tensor:
        d_fake = self.critic(x_fake)
        if self.loss_name == "ns":
            return F.softplus(-d_fake).mean()
        if self.loss_name == "minimax":
            return -F.softplus(d_fake).mean()  # = mean log(1 - sigma(d_fake))
        if self.loss_name == "lsgan":
            return 0.5 * ((d_fake - 1) ** 2).mean()
        return -d_fake.mean()

    def _gradient_penalty(self, x_real: torch.Tensor, x_fake: torch.Tensor) -> torch.Tensor:
        eps = torch.rand(x_real.shape[0], 1)
        x_mix = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
        grad, = torch.autograd.grad(self.critic(x_mix).sum(), x_mix, create_graph=True)
        return ((grad.norm(dim=1) - 1) ** 2).mean()

    def d_probability(self, x: torch.Tensor) -> torch.Tensor:
        """What the discriminator believes: P(real | x) for the logistic losses, the raw
        score for the others (lsgan targets 1/0, wgan-gp is unbounded)."""
        d = self.critic(x)
        return torch.sigmoid(d) if self.loss_name in ("ns", "minimax") else d
