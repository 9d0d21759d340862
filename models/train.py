"""One training loop for the autoencoder, the VAE and the GAN.

A run is described by a frozen config (hashable: it keys the run cache and the URL state).
``train(config)`` is a generator of ``Event``s: "progress" (training loss) every few steps,
"eval" (held-out metrics, and at chosen steps a snapshot a page can replay later) and one
final "done" carrying the trained model, the metric history and the final metrics.

Batches are slices of a pre-shuffled in-memory tensor (no DataLoader: its per-step overhead
dominates models this small, ../shared/GUIDE.md section 2). A seed fixes the data order, the
initial weights and the noise, so a configuration trains the same way every time on the same
number of threads. A NaN or infinite loss stops the run with ``Diverged``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Iterator, Union

import numpy as np
import torch

from . import datasets
from .autoencoder import Autoencoder
from .gan import GAN, LOSSES
from .metrics import MODE_SAMPLES, fit_pca, mode_metrics, vae_metrics
from .priors import PRIORS, PriorConfig, PriorMismatch, make_prior
from .vae import VAE

SNAPSHOTS = 24  # snapshots per run, for the replay timeline
PROGRESS_EVENTS = 200  # about this many progress events per run
SNAPSHOT_POINTS = 500  # test points embedded / generated per snapshot
SNAPSHOT_IMAGES = 16  # images reconstructed / generated per snapshot
HEATMAP_SIDE = 48  # discriminator heatmap resolution
IWAE_K_EVAL, IWAE_K_FINAL = 16, 64
IWAE_EVALS = 10  # held-out IWAE estimates per run (each costs about half an epoch)
MAX_LATENT = 64
OPTIMIZERS = {"adam": "Adam (Kingma & Ba 2015): per-weight step sizes; forgiving.",
              "sgd": "Plain stochastic gradient descent with momentum 0.9: too large a "
                     "learning rate makes it diverge."}


class ConfigError(ValueError):
    """A configuration that cannot be trained; the message is meant for the user."""


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class AEConfig:
    dataset: str = "digits"
    latent_dim: int = 2
    hidden: int = 256
    linear: bool = False
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 128
    optimizer: str = "adam"
    seed: int = 0
    kind: str = field(default="ae", init=False)


@dataclass(frozen=True)
class VAEConfig:
    dataset: str = "digits"
    latent_dim: int = 20
    hidden: int = 400
    prior: PriorConfig = PriorConfig()
    beta: float = 1.0
    epochs: int = 30
    lr: float = 3e-3
    batch_size: int = 128
    optimizer: str = "adam"
    seed: int = 0
    kind: str = field(default="vae", init=False)


@dataclass(frozen=True)
class GANConfig:
    dataset: str = "ring8"
    noise_dim: int = 2
    prior: PriorConfig = PriorConfig()
    g_hidden: int = 128
    g_depth: int = 2
    d_hidden: int = 128
    d_depth: int = 2
    loss: str = "ns"
    g_lr: float = 2e-3  # both decay linearly to 0 over the run (see _train_gan)
    d_lr: float = 2e-3
    d_steps: int = 1
    batch_size: int = 256
    steps: int = 5000  # grid25 needs more: GANConfig(dataset="grid25", steps=10_000)
    seed: int = 0
    kind: str = field(default="gan", init=False)

    @property
    def latent_dim(self) -> int:
        return self.noise_dim


Config = Union[AEConfig, VAEConfig, GANConfig]
CONFIGS: dict[str, type] = {"ae": AEConfig, "vae": VAEConfig, "gan": GANConfig}


@dataclass
class Event:
    type: str  # "progress" | "eval" | "done"
    step: int
    total_steps: int
    epoch: float
    metrics: dict[str, float]
    snapshot: dict[str, np.ndarray] | None = None
    keep: bool = True  # False: a snapshot for watching live, not kept for the replay
    model: torch.nn.Module | None = None
    history: list[dict[str, float]] | None = None
    seconds: float = 0.0

    @property
    def fraction(self) -> float:
        return self.step / max(1, self.total_steps)


# --- configs ----------------------------------------------------------------------------

def config_to_dict(config: Config) -> dict[str, Any]:
    return asdict(config)


def config_from_dict(d: dict[str, Any]) -> Config:
    """Rebuild a config from its dict (as stored in the cache or sent by the CLI)."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in CONFIGS:
        raise ConfigError(f"Unknown model kind {kind!r}; choose one of {', '.join(CONFIGS)}.")
    cls = CONFIGS[kind]
    names = {f.name for f in fields(cls) if f.init}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(f"Unknown setting(s) for {kind}: {', '.join(sorted(unknown))}.")
    if isinstance(d.get("prior"), dict):
        d["prior"] = PriorConfig(**d["prior"])
    return cls(**d)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(config: Config) -> None:
    """Raise ConfigError (or PriorMismatch) with a readable message for a bad config."""
    c = config
    _check(c.dataset in datasets.DATASETS,
           f"Unknown data set {c.dataset!r}; choose one of {', '.join(datasets.DATASETS)}.")
    _check(1 <= c.latent_dim <= MAX_LATENT,
           f"The latent dimension must be between 1 and {MAX_LATENT}, not {c.latent_dim}.")
    _check(1 <= c.batch_size <= 4096, "The batch size must be between 1 and 4096.")
    _check(0 <= c.seed < 2**31, "The seed must be between 0 and 2^31 - 1.")
    lrs = (c.g_lr, c.d_lr) if isinstance(c, GANConfig) else (c.lr,)
    _check(all(0 < lr <= 1 and math.isfinite(lr) for lr in lrs),
           "Learning rates must lie in (0, 1].")
    if isinstance(c, GANConfig):
        _check(1 <= c.steps <= 200_000, "Steps must be between 1 and 200,000.")
        _check(1 <= c.g_depth <= 6 and 1 <= c.d_depth <= 6, "Depths must be between 1 and 6.")
        _check(4 <= c.g_hidden <= 1024 and 4 <= c.d_hidden <= 1024,
               "Hidden widths must be between 4 and 1024.")
        _check(1 <= c.d_steps <= 10, "Discriminator steps per generator step: 1 to 10.")
        _check(c.loss in LOSSES, f"Unknown GAN loss {c.loss!r}; choose one of "
                                 f"{', '.join(LOSSES)}.")
    else:
        _check(1 <= c.epochs <= 1000, "Epochs must be between 1 and 1000.")
        _check(c.optimizer in OPTIMIZERS, f"Unknown optimizer {c.optimizer!r}; choose one of "
                                          f"{', '.join(OPTIMIZERS)}.")
        _check(2 <= c.hidden <= 2048, "The hidden width must be between 2 and 2048.")
    prior = getattr(c, "prior", None)
    if prior is not None:
        _check(prior.name in PRIORS, f"Unknown prior {prior.name!r}; choose one of "
                                     f"{', '.join(PRIORS)}.")
        make_prior(prior, c.latent_dim)  # raises PriorMismatch for bad parameters
    if isinstance(c, VAEConfig):
        _check(0 <= c.beta <= 100 and math.isfinite(c.beta), "beta must be between 0 and 100.")
        make_prior(c.prior, c.latent_dim).check_fits_gaussian_posterior()


def build_model(config: Config) -> torch.nn.Module:
    """An untrained model for the config (weights depend on torch's global seed)."""
    spec = datasets.DATASETS[config.dataset]
    image = spec.kind == "images"
    data_dim = 28 * 28 if image else 2
    if isinstance(config, AEConfig):
        return Autoencoder(data_dim, config.latent_dim, config.hidden, config.linear, image)
    prior = make_prior(config.prior, config.latent_dim)
    if isinstance(config, VAEConfig):
        return VAE(data_dim, config.latent_dim, prior, config.hidden, image)
    return GAN(data_dim, config.noise_dim, prior, config.g_hidden, config.g_depth,
               config.d_hidden, config.d_depth, config.loss, image)


def default_config(kind: str, **overrides) -> Config:
    return replace(CONFIGS[kind](), **overrides)


# --- the loop ---------------------------------------------------------------------------

def _finite(value: torch.Tensor, step: int) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise Diverged(f"Training diverged at step {step}: the loss became {v}. "
                       "Try a smaller learning rate.")
    return v


def _snapshot_steps(total: int, every: int) -> set[int]:
    """Steps (multiples of `every`, the eval interval) at which to keep a snapshot."""
    evals = list(range(every, total + 1, every))
    if total not in evals:
        evals.append(total)
    idx = np.unique(np.linspace(0, len(evals) - 1, min(SNAPSHOTS, len(evals))).round())
    return {0} | {evals[int(i)] for i in idx}


def train(config: Config, threads: int | None = None) -> Iterator[Event]:
    """Train the model described by config, yielding events; the last is "done"."""
    validate(config)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    data = datasets.load(config.dataset)
    model = build_model(config)
    total = config.steps if isinstance(config, GANConfig) else \
        math.ceil(len(data.x_train) / config.batch_size) * config.epochs
    yield Event("progress", 0, total, 0.0, {})  # started: before the first evaluation
    if isinstance(config, GANConfig):
        yield from _train_gan(config, data, model)
    else:
        yield from _train_autoencoding(config, data, model)


def snapshot_indices(data: datasets.DataSet) -> torch.Tensor:
    """Which held-out inputs every snapshot reconstructs: 16 images spread evenly over the
    first 500 (the digits' test set is ordered by class), or the first 500 points."""
    n = min(len(data.x_test), SNAPSHOT_POINTS)  # within the inputs a snapshot encodes
    if data.is_image:
        return torch.linspace(0, n - 1, SNAPSHOT_IMAGES).round().long()
    return torch.arange(n)


def _train_autoencoding(config, data, model) -> Iterator[Event]:
    is_vae = isinstance(config, VAEConfig)
    x_train, x_test = data.x_train, data.x_test
    n, b = len(x_train), config.batch_size
    per_epoch = math.ceil(n / b)
    total = per_epoch * config.epochs
    progress_every = max(1, total // PROGRESS_EVENTS)
    snap_steps = _snapshot_steps(total, per_epoch)
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    gen = torch.Generator().manual_seed(config.seed)
    z_fixed = model.prior_.sample(SNAPSHOT_POINTS if not data.is_image else SNAPSHOT_IMAGES) \
        if is_vae else None
    history: list[dict[str, float]] = []
    start = time.perf_counter()

    iwae_every = max(1, config.epochs // IWAE_EVALS) * per_epoch

    def evaluate(step: int, train_sums: dict[str, float], count: int) -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            if is_vae:
                m = vae_metrics(model, x_test, IWAE_K_EVAL if step % iwae_every == 0 else 0)
            else:
                m = {"test_recon": float(model.recon_error(x_test).mean())}
        model.train()
        m.update({k: v / max(1, count) for k, v in train_sums.items()})
        m.update(step=step, epoch=step / per_epoch, seconds=time.perf_counter() - start)
        return m

    def snapshot() -> dict[str, np.ndarray]:
        model.eval()
        with torch.no_grad():
            s = _autoencoding_snapshot(model, data, is_vae, z_fixed)
        model.train()
        return s

    m0 = evaluate(0, {}, 0)
    history.append(m0)
    yield Event("eval", 0, total, 0.0, m0, snapshot())
    step = 0
    for epoch in range(config.epochs):
        xs = x_train[torch.randperm(n, generator=gen)]
        sums = {"train_recon": 0.0, "train_kl": 0.0} if is_vae else {"train_recon": 0.0}
        for i in range(per_epoch):
            xb = xs[i * b:(i + 1) * b]
            if is_vae:
                recon, kl = model.loss_terms(xb)
                r, k = recon.mean(), kl.mean()
                loss = r + config.beta * k
            else:
                loss = model.recon_error(xb).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            value = _finite(loss.detach(), step)
            if is_vae:
                sums["train_recon"] += float(r.detach())
                sums["train_kl"] += float(k.detach())
            else:
                sums["train_recon"] += value
            if step % progress_every == 0 and step % per_epoch:
                yield Event("progress", step, total, step / per_epoch, {"loss": value},
                            seconds=time.perf_counter() - start)
        if epoch == config.epochs - 1:  # the stored model: measured as it is stored
            round_for_storage(model)
        m = evaluate(step, sums, per_epoch)
        if is_vae:
            m["train_neg_elbo"] = m["train_recon"] + m["train_kl"]
        history.append(m)
        yield Event("eval", step, total, epoch + 1.0, m,
                    snapshot() if step in snap_steps else None,
                    seconds=time.perf_counter() - start)
    model.eval()
    final = dict(history[-1])
    if is_vae:
        final.update(vae_metrics(model, x_test, IWAE_K_FINAL))
        final["iwae_k"] = IWAE_K_FINAL
    else:  # the linear baseline with as many components as the bottleneck
        final["pca_test_recon"] = float(fit_pca(x_train, config.latent_dim)
                                        .recon_error(x_test).mean())
    yield Event("done", step, total, float(config.epochs), final, model=model,
                history=history, seconds=time.perf_counter() - start)


def round_for_storage(model: torch.nn.Module) -> None:
    """Round every float weight to float16 precision, in place. Training ends with this,
    before its last evaluation and snapshot, so the stored run (float16 weights when shipped,
    models/pretrained.py) is exactly the model whose figures were measured."""
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.dtype == torch.float32:
                t.copy_(t.half().float())


def _display_precision(snapshot: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Snapshot arrays (float32) at the precision a page shows them with: images with values
    in [0, 1] on the 1/255 grid of an 8-bit picture, everything else at float16 precision.
    Shipped snapshots are then stored in bytes and half floats without loss."""
    out = {}
    for k, v in snapshot.items():
        v = np.asarray(v, dtype=np.float64)
        if v.ndim and v.shape[-1] == 28 * 28 and v.size and v.min() >= 0 and v.max() <= 1:
            out[k] = (np.round(v * 255) / 255).astype(np.float32)
        else:
            out[k] = v.astype(np.float16).astype(np.float32)
    return out


def _autoencoding_snapshot(model, data, is_vae: bool, z_fixed) -> dict[str, np.ndarray]:
    x = data.x_test[:SNAPSHOT_POINTS]
    if is_vae:
        q = model.approx_posterior(x)
        z, z_scale = q.mean, q.stddev
        recon = model.decode_mean(z[snapshot_indices(data)])
        out = {"z": z, "z_scale": z_scale, "x_hat": recon, "samples": model.decode_mean(z_fixed)}
    else:
        z = model.encode(x)
        out = {"z": z, "x_hat": model.decode(z[snapshot_indices(data)])}
    if not data.is_image and model.latent_dim == 1:
        lo, hi = float(z.min()), float(z.max())
        pad = 0.1 * (hi - lo + 1e-6)
        grid = torch.linspace(lo - pad, hi + pad, 200).unsqueeze(1)
        out["curve"] = model.decode_mean(grid) if is_vae else model.decode(grid)
    return _display_precision({k: v.detach().numpy() for k, v in out.items()})


def _gan_bounds(data: datasets.DataSet) -> np.ndarray:
    x = data.x_train.numpy()
    lo, hi = x.min(0), x.max(0)
    pad = 0.15 * (hi - lo)
    return np.stack([lo - pad, hi + pad]).astype(np.float32)  # (2, 2): [[xmin, ymin], [xmax, ymax]]


def noise_grid(prior, noise_dim: int, side: int = 15) -> torch.Tensor:
    """A grid of noise points for drawing the generator's warping: a line for 1-D noise, a
    side x side grid in the first two dimensions (the rest held at 0) otherwise."""
    span = 2.0 if prior.name != "uniform" else 1.7
    if noise_dim == 1:
        return torch.linspace(-span, span, side * side).unsqueeze(1)
    a = torch.linspace(-span, span, side)
    gz = torch.zeros(side * side, noise_dim)
    gz[:, 0] = a.repeat(side)
    gz[:, 1] = a.repeat_interleave(side)
    return gz


def _train_gan(config: GANConfig, data, model: GAN) -> Iterator[Event]:
    x_train = data.x_train
    n, b, total = len(x_train), config.batch_size, config.steps
    # Adam with beta1 = 0.5 (Radford et al. 2016) and beta2 = 0.9 (Gulrajani et al. 2017) for
    # every loss; both learning rates fall linearly to 0 over the run, as in Gulrajani et al.'s
    # code: the late small steps let the generator settle on sharp modes instead of jittering
    # around them (figures in benchmarks/gan_modes.py).
    betas = (0.5, 0.9)
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=config.g_lr, betas=betas,
                             fused=True)
    d_opt = torch.optim.Adam(model.discriminator.parameters(), lr=config.d_lr, betas=betas,
                             fused=True)
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, lambda i: 1 - i / total)
                 for o in (g_opt, d_opt)]  # step i (from 0) runs at lr * (1 - i / total)
    gen = torch.Generator().manual_seed(config.seed)
    eval_every = max(1, total // 50)
    progress_every = max(1, total // PROGRESS_EVENTS)
    snap_steps = _snapshot_steps(total, eval_every)
    mixture = datasets.MIXTURES.get(config.dataset)
    z_fixed = model.sample_noise(SNAPSHOT_IMAGES if data.is_image else SNAPSHOT_POINTS)
    z_grid = noise_grid(model.prior_, config.noise_dim)
    bounds = None if data.is_image else _gan_bounds(data)
    heat_xy = None
    if bounds is not None:
        gx = np.linspace(bounds[0, 0], bounds[1, 0], HEATMAP_SIDE, dtype=np.float32)
        gy = np.linspace(bounds[0, 1], bounds[1, 1], HEATMAP_SIDE, dtype=np.float32)
        heat_xy = torch.as_tensor(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2))
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    sums = {"d_loss": 0.0, "g_loss": 0.0}
    count = 0

    def evaluate(step: int) -> dict[str, float]:
        m: dict[str, float] = {k: v / max(1, count) for k, v in sums.items()} if count else {}
        if mixture is not None:
            with torch.no_grad():
                fake = model.generate(model.sample_noise(MODE_SAMPLES))
            m.update(mode_metrics(fake.numpy(), *mixture))
        m.update(step=step, epoch=step * b / n, seconds=time.perf_counter() - start)
        return m

    def snapshot() -> dict[str, np.ndarray]:
        with torch.no_grad():
            s = {"fake": model.generate(z_fixed), "grid": model.generate(z_grid)}
            if heat_xy is not None:
                s["d_heatmap"] = model.d_probability(heat_xy).reshape(HEATMAP_SIDE, HEATMAP_SIDE)
        s = _display_precision({k: v.numpy() for k, v in s.items()})
        if bounds is not None:
            s["bounds"] = bounds
        return s

    m0 = evaluate(0)
    history.append(m0)
    yield Event("eval", 0, total, 0.0, m0, snapshot())
    for step in range(1, total + 1):
        for _ in range(config.d_steps):
            xb = x_train[torch.randint(0, n, (b,), generator=gen)]
            with torch.no_grad():
                fake = model.generate(model.sample_noise(b))
            d_loss = model.d_loss(xb, fake)
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
        model.discriminator.requires_grad_(False)  # G's step needs no gradients for D's weights
        g_loss = model.g_loss(model.generate(model.sample_noise(b)))
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        model.discriminator.requires_grad_(True)
        for schedule in schedules:
            schedule.step()
        dl, gl = _finite(d_loss.detach(), step), _finite(g_loss.detach(), step)
        sums["d_loss"] += dl
        sums["g_loss"] += gl
        count += 1
        if step % eval_every == 0 or step == total:
            if step == total:  # the stored model: measured as it is stored
                round_for_storage(model)
            m = evaluate(step)
            sums, count = {"d_loss": 0.0, "g_loss": 0.0}, 0
            history.append(m)
            yield Event("eval", step, total, step * b / n, m, snapshot(),  # every eval: live
                        keep=step in snap_steps, seconds=time.perf_counter() - start)
        elif step % progress_every == 0:
            yield Event("progress", step, total, step * b / n, {"d_loss": dl, "g_loss": gl},
                        seconds=time.perf_counter() - start)
    final = dict(history[-1])
    if mixture is not None:  # a fresh, larger draw for the final figure
        with torch.no_grad():
            final.update(mode_metrics(model.generate(model.sample_noise(MODE_SAMPLES)).numpy(),
                                      *mixture))
    yield Event("done", total, total, total * b / n, final, model=model, history=history,
                seconds=time.perf_counter() - start)


@torch.no_grad()
def generate(model: torch.nn.Module, config: Config, n: int) -> np.ndarray:
    """n samples from the model's generative path: the generator on noise (GAN), the decoder
    on prior samples (VAE). An autoencoder has no prior, so it decodes z drawn from a Gaussian
    fitted to its training codes -- the best one can do, and not a principled sampler.
    Images come back as (n, 28, 28), points as (n, 2). Seed torch beforehand to reproduce."""
    model.eval()
    if isinstance(config, GANConfig):
        x = model.generate(model.sample_noise(n))
    elif isinstance(config, VAEConfig):
        x = model.decode_mean(model.prior_.sample(n))
    else:
        codes = model.encode(datasets.load(config.dataset).x_train)  # (N, latent_dim)
        loc = codes.mean(0)
        cov = torch.cov(codes.T).reshape(len(loc), len(loc)) + 1e-5 * torch.eye(len(loc))
        z = torch.distributions.MultivariateNormal(loc, cov).sample((n,))
        x = model.decode(z)
    x = x.numpy().astype(np.float32)
    return x.reshape(n, 28, 28) if x.shape[1] == 28 * 28 else x


def run_to_end(config: Config, threads: int | None = None) -> Event:
    """Train without watching; returns the "done" event."""
    event = None
    for event in train(config, threads):
        pass
    return event


__all__ = ["AEConfig", "VAEConfig", "GANConfig", "Config", "ConfigError", "Diverged", "Event",
           "PriorMismatch", "train", "run_to_end", "validate", "build_model",
           "config_from_dict", "config_to_dict", "default_config", "generate"]
