"""Metrics: reconstruction error against PCA, a VAE's held-out bounds, a GAN's mode coverage.

References
- PCA as the optimal linear reconstruction (Eckart & Young 1936; Baldi & Hornik 1989).
- Modes covered / high-quality samples on ring8 and grid25: VEEGAN (Srivastava et al. 2017)
  and PacGAN (Lin et al. 2018): 2,500 samples; a sample is high-quality when it lies within
  3 standard deviations of its nearest mode; a mode is covered when it is the nearest mode of
  at least one high-quality sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MODE_SAMPLES = 2500
HQ_STDS = 3.0


@dataclass(frozen=True)
class PCA:
    mean: torch.Tensor  # (D,)
    components: torch.Tensor  # (k, D), orthonormal rows, by decreasing variance
    explained_variance: torch.Tensor  # (k,)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) @ self.components.T  # (B, k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.components + self.mean  # (B, D)

    def recon_error(self, x: torch.Tensor) -> torch.Tensor:
        """Squared error summed over dimensions, per example: (B,)."""
        return ((self.decode(self.encode(x)) - x) ** 2).sum(-1)


def fit_pca(x: torch.Tensor, k: int) -> PCA:
    """PCA with k components: the top eigenvectors of the sample covariance (float64)."""
    x64 = x.double()
    mean = x64.mean(0)
    xc = x64 - mean
    var, vecs = torch.linalg.eigh(xc.T @ xc / (len(x) - 1))  # ascending eigenvalues
    k = min(k, len(var))
    order = torch.argsort(var, descending=True)[:k]
    return PCA(mean.float(), vecs[:, order].T.contiguous().float(), var[order].float())


def pca_recon_error(x_train: torch.Tensor, x_test: torch.Tensor, k: int) -> float:
    """Held-out reconstruction error of PCA with k components fitted on the training set."""
    return float(fit_pca(x_train, k).recon_error(x_test).mean())


def mode_metrics(samples: np.ndarray | torch.Tensor, centres: np.ndarray,
                 std: float) -> dict[str, float]:
    """Modes covered and the fraction of high-quality samples (VEEGAN/PacGAN definitions)."""
    x = np.asarray(samples, dtype=np.float64)
    finite = np.isfinite(x).all(1)
    d = np.linalg.norm(x[:, None, :] - np.asarray(centres)[None], axis=-1)  # (n, K)
    d[~finite] = np.inf
    nearest = d.argmin(1)
    hq = (d.min(1) <= HQ_STDS * std) & finite
    covered = np.unique(nearest[hq])
    return {"modes_covered": int(len(covered)), "modes_total": int(len(centres)),
            "hq_fraction": float(hq.mean()) if len(x) else 0.0}


@torch.no_grad()
def vae_metrics(model, x: torch.Tensor, iwae_k: int = 0, batch: int = 500) -> dict[str, float]:
    """Held-out negative ELBO (nats per example), its reconstruction and KL terms, and with
    iwae_k > 0 the importance-weighted estimate of log p(x)."""
    recon, kl, iw = [], [], []
    for i in range(0, len(x), batch):
        r, k = model.loss_terms(x[i:i + batch])
        recon.append(r)
        kl.append(k)
        if iwae_k:
            iw.append(model.iwae(x[i:i + batch], iwae_k))
    recon_m, kl_m = float(torch.cat(recon).mean()), float(torch.cat(kl).mean())
    out = {"test_neg_elbo": recon_m + kl_m, "test_recon": recon_m, "test_kl": kl_m}
    if iwae_k:
        out["test_iwae"] = float(torch.cat(iw).mean())  # log p(x) estimate (negative nats)
    return out
