"""Autoencoder: x -> z = encoder(x) -> x_hat = decoder(z), trained to reconstruct x.

Its latent variable is the bottleneck z: a deterministic hidden representation, with no
distribution over it, so there is nothing principled to sample z from.

The linear option (no nonlinearity anywhere) learns the same subspace as PCA with the same
number of components: Baldi & Hornik (1989), "Neural networks and principal component
analysis: learning from examples without local minima".
"""

from __future__ import annotations

import torch
from torch import nn

from .nets import mlp


class Autoencoder(nn.Module):
    def __init__(self, data_dim: int, latent_dim: int, hidden: int = 256,
                 linear: bool = False, image: bool = False):
        super().__init__()
        if linear:
            self.encoder = nn.Linear(data_dim, latent_dim)
            self.decoder = nn.Linear(latent_dim, data_dim)
        else:
            self.encoder = mlp([data_dim, hidden, latent_dim])
            self.decoder = mlp([latent_dim, hidden, data_dim],
                               out=nn.Sigmoid() if image else None)
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, data_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def recon_error(self, x: torch.Tensor) -> torch.Tensor:
        """Squared error summed over the data dimensions, per example: (B,)."""
        return ((self(x) - x) ** 2).sum(-1)
