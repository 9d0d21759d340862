"""Linear autoencoder vs PCA on digits at k = 2, 5 and 10 (Baldi & Hornik 1989: a linear
autoencoder trained on squared error spans the same subspace as the top-k principal
components, so its reconstruction error converges to PCA's).

Target (issue 2): held-out reconstruction error within 2 % of PCA's at each k.

    python benchmarks/ae_pca.py [--epochs 40] [--lr 0.003] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.train import run_to_end  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    ap.add_argument("--lr", type=float, default=None, help="default: the preset's")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ks", type=int, nargs="*", default=[2, 5, 10])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from models.presets import linear_match
    from models.train import AEConfig
    print(f"{'k':>3s} {'linear AE':>10s} {'PCA':>10s} {'gap %':>7s} {'seconds':>8s}  config")
    worst = 0.0
    for k in args.ks:
        config = linear_match(AEConfig(latent_dim=k))
        overrides = {n: v for n, v in (("epochs", args.epochs), ("lr", args.lr)) if v}
        config = replace(config, **overrides)
        t = time.perf_counter()
        m = run_to_end(config).metrics
        gap = 100 * (m["test_recon"] / m["pca_test_recon"] - 1)
        worst = max(worst, gap)
        print(f"{k:3d} {m['test_recon']:10.3f} {m['pca_test_recon']:10.3f} {gap:7.2f} "
              f"{time.perf_counter() - t:8.1f}  epochs={config.epochs} lr={config.lr}",
              flush=True)
    print(f"worst gap {worst:.2f} % (target <= 2 %)")


if __name__ == "__main__":
    main()
