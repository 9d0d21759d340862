"""Data sets for Latent Lab: 2-D toy sets, procedurally drawn sprites, and MNIST digits.

Every maker shares one signature, ``make_NAME(n, noise, seed) -> Sample``, and returns
tensors plus labels and, where they exist, the true generative factors (the latent variables
that made the data). ``load(name)`` adds a fixed train/test split.

References
- ring8 / grid25: the mode-collapse benchmarks of VEEGAN (Srivastava et al., 2017) and
  PacGAN (Lin et al., 2018): 8 Gaussians on a circle of radius 2 (std 0.02) and 25 Gaussians
  on {-4,-2,0,2,4}^2 (std 0.05). Angles are 2*pi*k/8 for k = 0..7.
- sprites: in the spirit of dSprites (Matthey et al., 2017): shape, scale, rotation and
  position are known for every image.
- digits: 5,000 MNIST digits (LeCun, Cortes, Burges), CC BY-SA 3.0; see assets/data/README.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DIGITS_FILE = ASSETS / "data" / "mnist_5k.npz"
IMAGE_SIDE = 28
TEST_FRACTION = 1 / 6  # 2-D sets and sprites: 5,000 train / 1,000 test at the default n
DEFAULT_N = 6000
SPRITE_SHAPES = ("square", "ellipse", "triangle")

# Mixture benchmarks: centres and component std are available to metrics and pages.
RING8_CENTRES = np.array([[2 * math.cos(2 * math.pi * k / 8), 2 * math.sin(2 * math.pi * k / 8)]
                          for k in range(8)], dtype=np.float32)
RING8_STD = 0.02
GRID25_CENTRES = np.array([[a, b] for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)],
                          dtype=np.float32)
GRID25_STD = 0.05
MIXTURES = {"ring8": (RING8_CENTRES, RING8_STD), "grid25": (GRID25_CENTRES, GRID25_STD)}


@dataclass(frozen=True)
class Sample:
    """What a maker returns: data, a label per point (or None) and true factors (or None)."""

    x: torch.Tensor  # (n, D) float32; images are flattened to D = 784 with values in [0, 1]
    labels: torch.Tensor | None  # (n,) int64: mixture component, moon, shape or digit
    factors: torch.Tensor | None  # (n, F) float32: the latent variables that generated x


@dataclass(frozen=True)
class DataSet:
    """A data set with its fixed train/test split and what is known about it."""

    name: str
    description: str
    kind: str  # "points" (2-D) or "images" (28x28)
    x_train: torch.Tensor
    x_test: torch.Tensor
    labels_train: torch.Tensor | None
    labels_test: torch.Tensor | None
    factors_train: torch.Tensor | None
    factors_test: torch.Tensor | None
    factor_names: tuple[str, ...]
    label_name: str | None

    @property
    def dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def is_image(self) -> bool:
        return self.kind == "images"


@dataclass(frozen=True)
class DataSpec:
    """How to make a data set, and what its pages may say about it."""

    maker: Callable[[int, float, int], Sample]
    description: str
    kind: str
    default_noise: float
    factor_names: tuple[str, ...] = ()
    label_name: str | None = None
    fixed_n: int | None = None  # digits come from a file of fixed size


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sample(x: np.ndarray, labels=None, factors=None) -> Sample:
    return Sample(
        torch.as_tensor(np.asarray(x, dtype=np.float32)),
        None if labels is None else torch.as_tensor(np.asarray(labels, dtype=np.int64)),
        None if factors is None else torch.as_tensor(np.asarray(factors, dtype=np.float32)),
    )


def _mixture(centres: np.ndarray, n: int, noise: float, seed: int) -> Sample:
    rng = _rng(seed)
    k = rng.integers(0, len(centres), size=n)
    x = centres[k] + noise * rng.standard_normal((n, 2))
    return _sample(x, k, centres[k])


def make_ring8(n: int, noise: float, seed: int) -> Sample:
    """8 Gaussians on a circle of radius 2; the hidden cause is which Gaussian (and its centre)."""
    return _mixture(RING8_CENTRES, n, noise, seed)


def make_grid25(n: int, noise: float, seed: int) -> Sample:
    """25 Gaussians on the grid {-4,-2,0,2,4}^2."""
    return _mixture(GRID25_CENTRES, n, noise, seed)


def make_moons(n: int, noise: float, seed: int) -> Sample:
    """Two interleaving half circles; hidden causes: which moon, and the angle along it."""
    rng = _rng(seed)
    moon = rng.integers(0, 2, size=n)
    t = rng.uniform(0, math.pi, size=n)  # position along the moon
    x = np.where(moon[:, None] == 0,
                 np.stack([np.cos(t), np.sin(t)], 1),
                 np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    x = x - np.array([0.5, 0.25]) + noise * rng.standard_normal((n, 2))
    return _sample(x, moon, np.stack([moon, t / math.pi], 1))


def make_spiral(n: int, noise: float, seed: int) -> Sample:
    """One arm of a spiral, 1.5 turns; the hidden cause t in [0, 1] is the position along it."""
    rng = _rng(seed)
    t = rng.uniform(0, 1, size=n)
    angle = 3 * math.pi * t
    radius = 0.5 + 2.5 * t
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    x = x + noise * rng.standard_normal((n, 2))
    return _sample(x, None, t[:, None])


def make_curve(n: int, noise: float, seed: int) -> Sample:
    """Points along one period of a sine wave: x = (2t, sin(pi t)), t ~ U(-1, 1) is the cause."""
    rng = _rng(seed)
    t = rng.uniform(-1, 1, size=n)
    x = np.stack([2 * t, np.sin(math.pi * t)], 1) + noise * rng.standard_normal((n, 2))
    return _sample(x, None, t[:, None])


def _sprite_sdf(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (in units of the shape's half-size) to a square, ellipse or triangle.

    u, v: (n, H, W) coordinates in the shape's own frame. Negative inside.
    """
    square = np.maximum(np.abs(u), np.abs(v)) - 1.0
    ellipse = np.sqrt(u**2 + (v / 0.6) ** 2) * 0.6 - 0.6  # semi-axes 1 and 0.6
    # Equilateral triangle with circumradius 1.2 (Inigo Quilez's 2-D distance functions).
    k = math.sqrt(3.0)
    r = 1.2 * math.sqrt(3) / 2  # half the side
    tu, tv = np.abs(u) - r, v + r / k
    flip = tu + k * tv > 0
    tu, tv = np.where(flip, (tu - k * tv) / 2, tu), np.where(flip, (-k * tu - tv) / 2, tv)
    tu = tu - np.clip(tu, -2 * r, 0)
    triangle = -np.sqrt(tu**2 + tv**2) * np.sign(tv)
    s = shape[:, None, None]
    return np.where(s == 0, square, np.where(s == 1, ellipse, triangle))


def render_sprites(shape, scale, rotation, pos_x, pos_y) -> np.ndarray:
    """Draw 28x28 grey sprites from their factors, anti-aliased by the signed distance.

    shape in {0, 1, 2} (square, ellipse, triangle); scale in [0.5, 1]; rotation in radians;
    pos_x, pos_y in [0, 1] across the free area of the canvas. Returns (n, 28, 28) in [0, 1].
    """
    shape, scale, rotation, pos_x, pos_y = (np.asarray(a, dtype=np.float64)
                                            for a in (shape, scale, rotation, pos_x, pos_y))
    half = 4.5 * scale  # half-size in pixels: 2.25..4.5 -> shapes 4.5..9 px across
    margin = 6.0  # keep the largest rotated shape inside the canvas
    cx = margin + pos_x * (IMAGE_SIDE - 1 - 2 * margin)
    cy = margin + pos_y * (IMAGE_SIDE - 1 - 2 * margin)
    grid = np.arange(IMAGE_SIDE, dtype=np.float64)
    dx = grid[None, None, :] - cx[:, None, None]
    dy = grid[None, :, None] - cy[:, None, None]
    cos, sin = np.cos(rotation)[:, None, None], np.sin(rotation)[:, None, None]
    h = half[:, None, None]
    u = (cos * dx + sin * dy) / h
    v = (-sin * dx + cos * dy) / h
    dist_px = _sprite_sdf(shape, u, v) * h
    return np.clip(0.5 - dist_px, 0.0, 1.0).astype(np.float32)


def make_sprites(n: int, noise: float, seed: int) -> Sample:
    """28x28 sprites whose factors (shape, scale, rotation, x, y) are drawn uniformly."""
    rng = _rng(seed)
    shape = rng.integers(0, len(SPRITE_SHAPES), size=n)
    scale = rng.uniform(0.5, 1.0, size=n)
    rotation = rng.uniform(0, 2 * math.pi, size=n)
    pos = rng.uniform(0, 1, size=(n, 2))
    images = render_sprites(shape, scale, rotation, pos[:, 0], pos[:, 1])
    if noise > 0:
        images = np.clip(images + noise * rng.standard_normal(images.shape), 0, 1)
    factors = np.stack([shape, scale, rotation, pos[:, 0], pos[:, 1]], 1)
    return _sample(images.reshape(n, -1), shape, factors)


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DIGITS_FILE) as d:
        return d["images"], d["labels"]


def make_digits(n: int, noise: float, seed: int) -> Sample:
    """MNIST digits from the shipped file (n, noise and seed are ignored: the file is fixed)."""
    images, labels = _digits_arrays()
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return _sample(x, labels)


DATASETS: dict[str, DataSpec] = {
    "ring8": DataSpec(make_ring8, "8 Gaussians on a circle of radius 2 (std 0.02): the mode-"
                      "collapse benchmark.", "points", RING8_STD, ("centre x", "centre y"),
                      "mode"),
    "grid25": DataSpec(make_grid25, "25 Gaussians on a 5x5 grid (std 0.05): a harder "
                       "mode-collapse benchmark.", "points", GRID25_STD, ("centre x", "centre y"),
                       "mode"),
    "moons": DataSpec(make_moons, "Two interleaving half circles.", "points", 0.08,
                      ("moon", "position along the moon"), "moon"),
    "spiral": DataSpec(make_spiral, "One spiral arm; the hidden cause is the position t "
                       "along it.", "points", 0.05, ("t",)),
    "curve": DataSpec(make_curve, "Points along a sine wave: a 1-D hidden cause t "
                      "behind 2-D data.", "points", 0.05, ("t",)),
    "sprites": DataSpec(make_sprites, "28x28 shapes with known factors: shape, scale, "
                        "rotation, x and y position.", "images", 0.0,
                        ("shape", "scale", "rotation", "x position", "y position"), "shape"),
    "digits": DataSpec(make_digits, "5,000 handwritten MNIST digits (28x28), 500 per class.",
                       "images", 0.0, (), "digit", fixed_n=5000),
}


def _split_indices(spec: DataSpec, sample: Sample, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed split: stratified 450/50 per class for digits, the last sixth for the rest."""
    if spec.fixed_n is not None:
        labels = sample.labels.numpy()
        rng = _rng(0)  # fixed: the split never depends on the user's seed
        train, test = [], []
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            n_test = round(len(idx) * 0.1)
            test.append(idx[:n_test])
            train.append(idx[n_test:])
        return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    n_test = int(round(n * TEST_FRACTION))
    return np.arange(n - n_test), np.arange(n - n_test, n)


@lru_cache(maxsize=16)
def load(name: str, n: int = DEFAULT_N, noise: float | None = None, seed: int = 0) -> DataSet:
    """A data set by name with its fixed train/test split. Raises KeyError for unknown names."""
    if name not in DATASETS:
        raise KeyError(f"Unknown data set {name!r}; choose one of {', '.join(DATASETS)}.")
    spec = DATASETS[name]
    noise = spec.default_noise if noise is None else float(noise)
    n = spec.fixed_n or int(n)
    s = spec.maker(n, noise, seed)
    train, test = _split_indices(spec, s, n)

    def part(t, idx):
        return None if t is None else t[torch.as_tensor(idx)]

    return DataSet(
        name=name, description=spec.description, kind=spec.kind,
        x_train=s.x[torch.as_tensor(train)], x_test=s.x[torch.as_tensor(test)],
        labels_train=part(s.labels, train), labels_test=part(s.labels, test),
        factors_train=part(s.factors, train), factors_test=part(s.factors, test),
        factor_names=spec.factor_names, label_name=spec.label_name,
    )


def points_datasets() -> list[str]:
    return [k for k, v in DATASETS.items() if v.kind == "points"]


def image_datasets() -> list[str]:
    return [k for k, v in DATASETS.items() if v.kind == "images"]
