"""Timings of models/lvm.py for the "Latent variable models" page: median over repeated runs.

    PYTHONPATH=. python benchmarks/lvm_speed.py [--repeats 30] [--threads 1]

Targets (from the issue): compute_view <= 20 ms on the page's grids (200 x-values by 400 z-values
in 1-D; 120 x 120 z-cells and 200 x-values in 2-D); fit_q <= 30 ms, warm-started as a slider
moves x0. Caches are bypassed: each run builds the model afresh, as after a slider change.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from models import lvm
from models.lvm import LVMConfig, compute_view, fit_q, x_grid

CASES = {
    "1-D gaussian, tanh": LVMConfig(decoder="tanh", a=2.0, w=1.5, sigma=0.3),
    "1-D mixture, fold": LVMConfig(prior="mixture", decoder="fold", sigma=0.3),
    "1-D student_t, cubic": LVMConfig(prior="student_t", decoder="cubic", a=0.5, sigma=0.5),
    "2-D gaussian, linear": LVMConfig(latent_dim=2, a=1.5, c=-0.7, sigma=0.4),
    "2-D laplace, sine": LVMConfig(latent_dim=2, prior="laplace", decoder="sine", w=2.0,
                                   sigma=0.3),
    "2-D mixture, fold": LVMConfig(latent_dim=2, prior="mixture",
                                   mix_locs=((-1.0, 1.0), (2.0, 0.0)), decoder="fold",
                                   sigma=0.3),
}


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median and worst time of fn() in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t))
    return statistics.median(times), max(times)


def fresh(fn):
    """Run fn with lvm's model cache cleared, as the page does after a config change."""
    def run():
        lvm.make_lvm.cache_clear()
        return fn()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, numpy {np.__version__}, {args.threads} torch thread(s), "
          f"median (worst) of {args.repeats} runs, ms")
    print(f"{'case':24} {'compute_view':>16} {'fit_q cold':>16} {'fit_q warm':>16} "
          f"{'steps':>6}")
    for name, cfg in CASES.items():
        x = x_grid(cfg)
        x0, z0 = float(np.quantile(x, 0.6)), [0.5] * cfg.latent_dim
        view = timed(fresh(lambda: compute_view(cfg, x0, z0, x=x)), args.repeats)
        cold = timed(lambda: fit_q(cfg, x0), args.repeats)
        # a slider: x0 moves by 1 % of the x range per rerun, q warm-started from the last fit
        path = np.linspace(x0, x0 + 0.3 * (x[-1] - x[0]), args.repeats + 1)
        fits, times = [fit_q(cfg, path[0])], []
        for x1 in path[1:]:
            t = time.perf_counter()
            fits.append(fit_q(cfg, x1, init=fits[-1]))
            times.append(1e3 * (time.perf_counter() - t))
        warm = statistics.median(times), max(times)
        steps = statistics.median(f.steps for f in fits[1:])
        print(f"{name:24} {view[0]:7.1f} ({view[1]:5.1f}) {cold[0]:7.1f} ({cold[1]:5.1f}) "
              f"{warm[0]:7.1f} ({warm[1]:5.1f}) {steps:6.0f}")


if __name__ == "__main__":
    main()
