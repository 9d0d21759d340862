"""Timings of the "Latent variable models" page's computations: median over repeated runs.

    PYTHONPATH=. python benchmarks/lvm_speed.py [--repeats 15] [--threads 1] [--cpu]

--cpu times with the process's CPU clock instead of the wall clock: on a machine busy with
other work, wall times include waiting for a core, CPU times do not.

What the page runs, in the order it runs it (dashboard/app_pages/lvm.py):
- "five": the five distributions on the page's grids after a model change (a prior, decoder or
  sigma slider): the model and its grid, ``views_lvm.compute`` (p(z), p(x0|z), p(x0),
  p(z|x0) at x0), ``views_lvm.joint_image`` (the joint map p(x, z) or p(x, z1) binned over the
  plotted x range, with p(z1) and p(x) on its edges, the plotted ranges ``prior_box`` and
  ``_x_range``) and the slice beside the map (``conditional_binned``). Target (issue 5): <= 20
  ms.
- "page, model": the same plus the q(z|x0) fit and every figure (data, PNGs, specs): all the
  Python work of a rerun after a model change, except Streamlit's own sending.
- "page, x0": a rerun after an x0 step (the model's caches warm, the fit at a new x0).
- "fit_q": the deterministic multi-start fit alone (``models.lvm.fit_q``).
Caches (``make_lvm``'s and the page's st.cache_resource) are cleared before each model-change
run, as a new config misses them; 1 torch thread, as in the server's tests.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import numpy as np
import torch

from dashboard import views_lvm as views
from models import lvm
from models.lvm import LVMConfig, fit_q

CASES = {
    "1-D mixture, linear": views.DEFAULT,  # the page's default model
    "1-D gaussian, tanh": LVMConfig(decoder="tanh", a=2.0, w=1.5, sigma=0.3),
    "1-D mixture, fold": LVMConfig(prior="mixture", decoder="fold", sigma=0.3),
    "1-D student_t, cubic": LVMConfig(prior="student_t", decoder="cubic", a=0.5, sigma=0.5),
    "2-D mixture, linear": LVMConfig(latent_dim=2, prior="mixture",
                                     mix_weights=(0.4, 0.6), mix_locs=((-1.5, 1.0), (1.5, -1.0)),
                                     mix_scales=(0.5, 0.6), sigma=0.5),
    "2-D gaussian, linear": LVMConfig(latent_dim=2, a=1.5, c=-0.7, sigma=0.4),
    "2-D laplace, sine": LVMConfig(latent_dim=2, prior="laplace", decoder="sine", w=2.0,
                                   sigma=0.3),
    "2-D uniform, fold": LVMConfig(latent_dim=2, prior="uniform", decoder="fold", sigma=0.05),
}
TARGET_MS = 20.0


def clear() -> None:
    """Forget every cached model and page result, as a new config does."""
    lvm.make_lvm.cache_clear()
    for f in (views.prior_box, views.joint_image, views.fit, views.sample):
        f.clear()


def five(cfg: LVMConfig, x0: float, z0: tuple) -> dict:
    view = views.compute(cfg, x0, z0)
    j = views.joint_image(cfg)
    views.conditional_binned(cfg, j["edges"], z0[0])
    return dict(view=view)


def page(cfg: LVMConfig, x0: float, z0: tuple) -> None:
    view = five(cfg, x0, z0)["view"]
    q = views.fit(cfg, x0)
    views.joint_figure(cfg, view, None)
    if cfg.latent_dim == 1:
        views.bayes_figure_1d(cfg, view, q)
    else:
        views.bayes_figure_2d(cfg, view, None, q)
    views.elbo_bars_html(q)
    views.at_z0(cfg, view)


CLOCK = time.perf_counter


def timed(fn, repeats: int, before=None) -> tuple[float, float]:
    """Median and worst time of fn(i) in ms over repeats (before(i) runs untimed first)."""
    times = []
    for i in range(repeats):
        if before:
            before(i)
        t = CLOCK()
        fn(i)
        times.append(1e3 * (CLOCK() - t))
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cpu", action="store_true", help="CPU time instead of wall time")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.cpu else time.perf_counter
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)  # Streamlit's "no runtime" notes: caches work without one
    print(f"torch {torch.__version__}, numpy {np.__version__}, {args.threads} torch thread(s), "
          f"{'CPU' if args.cpu else 'wall'} time, median (worst) of {args.repeats} runs, ms; "
          f"target for 'five': <= {TARGET_MS:g} ms")
    cols = ("five", "page, model", "page, x0", "fit_q")
    print(f"{'case':22}" + "".join(f"{c:>17}" for c in cols))
    for name, cfg in CASES.items():
        z0 = (0.5,) * cfg.latent_dim
        x = lvm.x_grid(cfg)
        x0 = float(np.quantile(x, 0.6))
        page(cfg, x0, z0)  # warm-up: imports, first allocations
        row = [timed(lambda i: five(cfg, x0, z0), args.repeats, lambda i: clear()),
               timed(lambda i: page(cfg, x0, z0), args.repeats, lambda i: clear())]
        # an x0 slider: each step a new x0 (1 % of the x range), the model's caches warm
        steps = x0 + 0.01 * (x[-1] - x[0]) * np.arange(1, args.repeats + 1)
        clear()
        page(cfg, x0, z0)
        row.append(timed(lambda i: page(cfg, float(steps[i]), z0), args.repeats))
        row.append(timed(lambda i: fit_q(cfg, float(steps[i])), args.repeats))
        print(f"{name:22}" + "".join(f"{m:8.1f} ({w:5.1f})" for m, w in row))


if __name__ == "__main__":
    main()
