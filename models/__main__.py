"""Command line for Latent Lab's models: ``python -m models --help``.

    python -m models train vae --dataset digits --latent-dim 20 --epochs 30 --json
    python -m models sample gan --dataset ring8 --n 1000 --out samples.npy
    python -m models datasets | priors
    python -m models prewarm            # every page's default run, before a lecture
    python -m models prewarm --lecture assets/lecture.toml
    python -m models cache list | size | clear
    python -m models pretrained check | build   # the runs shipped in assets/pretrained

Bad arguments print one line and exit with code 2; a failed run (the loss became NaN or
infinite) prints one line and exits with code 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import fields, replace

import numpy as np
import torch

from . import datasets
from .priors import PRIORS, PriorConfig, PriorMismatch
from .train import CONFIGS, ConfigError, Diverged, GANConfig, generate, validate


MAX_THREADS = 256
MAX_SAMPLES = 1_000_000
MAX_SEED = 2**31 - 1
# Steps of `train gan` when --steps is not given, where the config's default is too short:
# the grid of 25 Gaussians needs about twice the ring's 5,000 steps to cover >= 23 of its 25
# modes with >= 70 % high-quality samples (benchmarks/gan_modes.py).
GAN_DEFAULT_STEPS = {"grid25": 10_000}
# which prior options apply to which prior
PRIOR_OPTION_USERS = {"components": "mixture", "spread": "mixture",
                      "component_scale": "mixture", "df": "student_t"}

DONE_HELP = """\
The last line (with --json, the JSON object with "event": "done") carries the wall seconds
and the final held-out metrics:
  ae   test_recon      squared reconstruction error per example (summed over dimensions)
       pca_test_recon  the same for PCA with as many components as the latent dimension
  vae  test_neg_elbo   negative ELBO in nats per example: lower is better (positive for
                       images; on 2-D points p(x) is a density and it can be negative)
       test_recon      its reconstruction term, -E_q log p(x|z), in nats
       test_kl         its KL term, KL(q(z|x) || p(z)), in nats (>= 0)
       test_iwae       importance-weighted estimate of log p(x) itself with iwae_k samples,
                       not negated: higher is better, negative for images; -test_iwae is
                       at most test_neg_elbo up to sampling noise
  gan  modes_covered, modes_total, hq_fraction   on ring8 and grid25 only: modes with at
                       least one high-quality sample, and the fraction of 2,500 samples
                       within 3 std of their nearest mode
"""


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, no usage dump
        raise UsageError(message)


def _int_in(lo: int, hi: int):
    """An argparse type: an integer in [lo, hi], else a one-line error."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo:,} and {hi:,}, not {v:,}")
        return v
    parse.__name__ = "integer"
    return parse


def _finite_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return v


_finite_float.__name__ = "number"


# (flag, config field, type, help): one table for every model option.
MODEL_OPTIONS = [
    ("--dataset", "dataset", str, "data set name (see `python -m models datasets`)"),
    ("--latent-dim", "latent_dim", int, "latent dimension (noise dimension for a GAN)"),
    ("--hidden", "hidden", int, "hidden width (autoencoder, VAE)"),
    ("--epochs", "epochs", int, "training epochs (autoencoder, VAE)"),
    ("--steps", "steps", int, "generator steps (GAN; default 5,000, on grid25 10,000)"),
    ("--lr", "lr", float, "learning rate (autoencoder, VAE)"),
    ("--g-lr", "g_lr", float, "generator learning rate (GAN)"),
    ("--d-lr", "d_lr", float, "discriminator learning rate (GAN)"),
    ("--d-steps", "d_steps", int, "discriminator steps per generator step (GAN)"),
    ("--g-hidden", "g_hidden", int, "generator width (GAN)"),
    ("--d-hidden", "d_hidden", int, "discriminator width (GAN)"),
    ("--g-depth", "g_depth", int, "generator hidden layers (GAN)"),
    ("--d-depth", "d_depth", int, "discriminator hidden layers (GAN)"),
    ("--loss", "loss", str, "GAN loss: ns, minimax, lsgan, wgan-gp"),
    ("--beta", "beta", float, "weight of the KL term (VAE)"),
    ("--batch-size", "batch_size", int, "batch size"),
    ("--optimizer", "optimizer", str, "adam or sgd (autoencoder, VAE)"),
    ("--seed", "seed", int, "random seed"),
]
PRIOR_OPTIONS = [
    ("--prior", "name", str, "prior name (see `python -m models priors`)"),
    ("--prior-components", "components", int, "mixture prior: number of components"),
    ("--prior-spread", "spread", float, "mixture prior: distance of the means from 0 (>= 0)"),
    ("--prior-scale", "component_scale", float, "mixture prior: std of each component"),
    ("--prior-df", "df", float, "Student-t prior: degrees of freedom"),
]
THREADS_HELP = f"torch threads, 1 to {MAX_THREADS} (default 2)"


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=sorted(CONFIGS), help="model kind")
    for flag, dest, typ, help_ in MODEL_OPTIONS + PRIOR_OPTIONS:
        p.add_argument(flag, dest=f"opt_{dest}" if (flag, dest, typ, help_) in MODEL_OPTIONS
                       else f"prior_{dest}", type=_finite_float if typ is float else typ,
                       default=None, help=help_)
    p.add_argument("--linear", action="store_true", default=None,
                   help="linear autoencoder (no nonlinearity; compare with PCA)")
    p.add_argument("--threads", type=_int_in(1, MAX_THREADS), default=2, help=THREADS_HELP)


def config_from_args(args) -> object:
    cls = CONFIGS[args.kind]
    names = {f.name for f in fields(cls) if f.init}
    if cls is GANConfig:
        names.add("latent_dim")
    values = {}
    for flag, dest, _, _ in MODEL_OPTIONS:
        v = getattr(args, f"opt_{dest}")
        if v is None:
            continue
        if dest not in names:
            raise UsageError(f"{flag} does not apply to a {args.kind} model")
        values["noise_dim" if (cls is GANConfig and dest == "latent_dim") else dest] = v
    if args.linear:
        if args.kind != "ae":
            raise UsageError("--linear applies only to the autoencoder (ae)")
        values["linear"] = True
    prior_values = {d: getattr(args, f"prior_{d}") for _, d, _, _ in PRIOR_OPTIONS
                    if getattr(args, f"prior_{d}") is not None}
    if prior_values:
        if args.kind == "ae":
            raise UsageError("an autoencoder has no prior; --prior applies to vae and gan")
        prior = replace(PriorConfig(), **prior_values)
        for flag, dest, _, _ in PRIOR_OPTIONS:
            user = PRIOR_OPTION_USERS.get(dest)
            if dest in prior_values and user is not None and prior.name != user:
                raise UsageError(f"{flag} applies only to --prior {user}, not to the "
                                 f"{prior.name} prior")
        if prior.spread < 0:
            raise UsageError("--prior-spread must be 0 or more")
        values["prior"] = prior
    if cls is GANConfig and "steps" not in values:
        values["steps"] = GAN_DEFAULT_STEPS.get(values.get("dataset", GANConfig.dataset),
                                                GANConfig.steps)
    config = cls(**values)
    validate(config)
    return config


def _cache():
    """The run cache, or a one-line error when its directory cannot be created."""
    from .runs import RunCache, default_cache_dir
    try:
        return RunCache()
    except OSError as e:
        raise UsageError(f"cannot use the run cache at {default_cache_dir()}: "
                         f"{e.strerror or e} (set LATENT_LAB_CACHE to a writable directory)")


def _output_path(out: str) -> str:
    """The file `np.save` will write (it adds .npy), checked before any training."""
    path = out if out.endswith(".npy") else out + ".npy"
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(out) or os.path.isdir(path):
        raise UsageError(f"--out {out} is a directory; give a file name ending in .npy")
    if not os.path.exists(parent):
        raise UsageError(f"--out: the directory {parent} does not exist")
    if not os.path.isdir(parent):
        raise UsageError(f"--out: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK) or (
            os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"--out: cannot write {path} (permission denied)")
    return path


def _emit(args, record: dict) -> None:
    if args.json:
        print(json.dumps(record), flush=True)


def cmd_train(args) -> int:
    from .runs import train_through_cache
    config = config_from_args(args)
    cache = _cache()
    start = time.perf_counter()
    last_print = 0.0
    for ev in train_through_cache(config, threads=args.threads, cache=cache):
        if ev["event"] == "done":
            ev["seconds"] = round(time.perf_counter() - start, 3)
            _emit(args, ev)
            if not args.json:
                metrics = {k: v for k, v in ev.items() if k not in ("event", "run_id")}
                print("done " + " ".join(f"{k}={_fmt(v)}" for k, v in metrics.items()))
            return 0
        _emit(args, ev)
        now = time.perf_counter()
        if not args.json and (ev["event"] == "eval" or now - last_print > 1):
            last_print = now
            shown = {k: v for k, v in ev.items() if k not in ("event",)}
            print(f"{ev['event']:8s} " + " ".join(f"{k}={_fmt(v)}" for k, v in shown.items()),
                  flush=True)
    return 1


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def cmd_sample(args) -> int:
    from .runs import load_or_train
    config = config_from_args(args)
    out = _output_path(args.out)  # before training: a bad path should not cost a run
    result = load_or_train(config, threads=args.threads, cache=_cache())
    torch.manual_seed(args.sample_seed)
    x = generate(result.model, config, args.n)
    try:
        np.save(out, x)
    except OSError as e:
        raise UsageError(f"--out: cannot write {out}: {e.strerror or e}")
    print(json.dumps({"event": "done", "out": out, "shape": list(x.shape),
                      "cached": result.cached}) if args.json
          else f"wrote {x.shape} samples to {out}")
    return 0


def cmd_datasets(args) -> int:
    for name, spec in datasets.DATASETS.items():
        print(f"{name:9s} {spec.kind:7s} {spec.description}")
    return 0


def cmd_priors(args) -> int:
    for name, info in PRIORS.items():
        print(f"{name:10s} {info.description}")
    return 0


def _progress_bar(done: float, total: int, width: int = 30) -> str:
    filled = int(width * done / max(1, total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _lecture_configs(path: str) -> list:
    """The runs a lecture's views need. The dashboard finds them (it renders each view under
    Streamlit's AppTest, in a subprocess: this package never imports Streamlit)."""
    import subprocess
    from pathlib import Path
    from .train import config_from_dict
    root = Path(__file__).resolve().parent.parent
    print("finding the runs the lecture's views need ...", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, "-m", "dashboard.lecture", path], cwd=root,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("error:")]
        raise UsageError(lines[-1][len("error: "):] if lines else
                         f"could not read the lecture {path}")
    configs = []
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        config = config_from_dict(record["config"])
        if config not in configs:
            configs.append(config)
    print(f"{len(configs)} runs for the lecture's views", file=sys.stderr)
    return configs


LECTURE_ROUNDS = 3  # a page may look up more runs once its first is trained (a sweep, a twin)


def cmd_prewarm(args) -> int:
    """Train every page's default configuration (or a lecture's runs) into the cache, with a
    progress bar and an estimate of the time left. A lecture's views are opened again after
    training, since a page may look up further runs once its first is done."""
    from .pretrained import install
    from .presets import default_runs
    cache = _cache()
    install(cache)  # shipped runs first: they need no training
    start = time.perf_counter()
    ready: list = []
    failed = 0
    for _ in range(LECTURE_ROUNDS if args.lecture else 1):
        found = _lecture_configs(args.lecture) if args.lecture else default_runs()
        configs = [c for c in found if c not in ready]
        if not configs:
            break
        failed += _train_all(configs, cache, args.threads)
        ready += configs
    print(f"{len(ready) - failed}/{len(ready)} configurations ready in "
          f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 1 if failed else 0


def _train_all(configs: list, cache, threads: int) -> int:
    """Train configs through the cache with a progress bar; returns how many failed."""
    from .runs import train_through_cache
    failed = 0
    t0 = time.perf_counter()
    for i, config in enumerate(configs):
        label = f"{config.kind} {config.dataset}"
        try:
            for ev in train_through_cache(config, threads=threads, cache=cache):
                frac = 1.0 if ev["event"] == "done" else ev["step"] / max(1, ev["total_steps"])
                overall = (i + frac) / len(configs)
                elapsed = time.perf_counter() - t0
                eta = elapsed / overall * (1 - overall) if overall > 0.02 else None
                line = (f"\r{_progress_bar(i + frac, len(configs))} {i + 1}/{len(configs)} "
                        f"{label:18s} {100 * overall:5.1f}%"
                        + (f"  about {eta:.0f} s left" if eta is not None else ""))
                print(line.ljust(90), end="", file=sys.stderr, flush=True)
                if ev["event"] == "done":
                    state = "cached" if ev["cached"] else "trained"
                    print(f"\r{label:18s} {state}".ljust(90), file=sys.stderr)
        except Diverged as e:
            failed += 1
            print(f"\r{label:18s} failed: {e}".ljust(90), file=sys.stderr)
    return failed


def cmd_pretrained(args) -> int:
    from . import pretrained
    if args.action == "check":
        st = pretrained.status()
        print(f"{len(st.present)} shipped runs, {st.bytes / 1e6:.1f} MB "
              f"(limit {pretrained.MAX_SHIPPED_MB:.0f} MB) in {pretrained.PRETRAINED_DIR}")
        if st.too_big:
            print(f"  too big: {st.bytes / 1e6:.1f} MB")
        for label, keys in (("missing", st.missing), ("stale", st.stale), ("unused", st.extra)):
            for k in keys:
                c = st.expected.get(k)
                print(f"  {label}: {k}" + (f" ({c.kind} {c.dataset})" if c else ""))
        print("current" if st.current else
              "not current: run `python -m models pretrained build`")
        return 0 if st.current else 1

    def progress(i, n, config):
        print(f"\r{_progress_bar(i, n)} {i + 1}/{n} {config.kind} {config.dataset}".ljust(80),
              end="", file=sys.stderr, flush=True)

    st = pretrained.build(threads=args.threads, progress=progress)
    print(f"\rshipped {len(st.present)} runs, {st.bytes / 1e6:.1f} MB".ljust(80),
          file=sys.stderr)
    return 0 if st.current else 1


def cmd_cache(args) -> int:
    cache = _cache()
    if args.action == "list":
        entries = cache.entries()
        for e in entries:
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["last_used"]))
            stale = "" if e["current"] else "  (stale: older model code)"
            print(f"{e['key']}  {e['kind']:4s} {e['dataset']:8s} {e['bytes'] / 1e6:7.2f} MB  "
                  f"last used {used}{stale}")
        print(f"{len(entries)} entries in {cache.root}")
    elif args.action == "size":
        print(f"{cache.size() / 1e6:.2f} MB in {len(cache.entries())} entries "
              f"(cap {cache.max_bytes / 1e6:.0f} MB) at {cache.root}")
    else:
        print(f"removed {cache.clear()} entries from {cache.root}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m models", description="Latent Lab models: train, sample, "
                     "list data sets and priors, manage the run cache.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("train", help="train a model (through the run cache)", epilog=DONE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_model_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("sample", help="write samples from a model's generative path")
    _add_model_args(p)
    p.add_argument("--n", type=_int_in(1, MAX_SAMPLES), required=True,
                   help=f"number of samples, 1 to {MAX_SAMPLES:,}")
    p.add_argument("--out", required=True, help="output .npy file")
    p.add_argument("--sample-seed", type=_int_in(0, MAX_SEED), default=0,
                   help="seed for the samples")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("prewarm", help="train every page's default configuration (or the "
                       "runs a lecture needs)")
    p.add_argument("--threads", type=_int_in(1, MAX_THREADS), default=2, help=THREADS_HELP)
    p.add_argument("--lecture", help="a lecture file: train the runs its views need")
    p.set_defaults(func=cmd_prewarm)
    p = sub.add_parser("pretrained", help="check or rebuild the shipped pretrained runs")
    p.add_argument("action", choices=["check", "build"])
    p.add_argument("--threads", type=_int_in(1, MAX_THREADS), default=2, help=THREADS_HELP)
    p.set_defaults(func=cmd_pretrained)
    p = sub.add_parser("cache", help="inspect or clear the run cache")
    p.add_argument("action", choices=["list", "size", "clear"])
    p.set_defaults(func=cmd_cache)
    sub.add_parser("datasets", help="list the data sets").set_defaults(func=cmd_datasets)
    sub.add_parser("priors", help="list the priors").set_defaults(func=cmd_priors)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except (UsageError, ConfigError, PriorMismatch) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Diverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # the disk, not the arguments: e.g. full while writing the cache
        print(f"error: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
