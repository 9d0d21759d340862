import numpy as np

from models import datasets
from models.metrics import HQ_STDS, mode_metrics


def test_perfect_samples_cover_every_mode():
    c, std = datasets.MIXTURES["ring8"]
    samples = np.repeat(c, 10, axis=0)
    m = mode_metrics(samples, c, std)
    assert m == {"modes_covered": 8, "modes_total": 8, "hq_fraction": 1.0}


def test_collapsed_samples_cover_one_mode():
    c, std = datasets.MIXTURES["ring8"]
    rng = np.random.default_rng(0)
    samples = c[3] + std * rng.standard_normal((2500, 2))
    m = mode_metrics(samples, c, std)
    assert m["modes_covered"] == 1 and m["hq_fraction"] > 0.98


def test_samples_between_modes_are_low_quality_and_cover_nothing():
    c, std = datasets.MIXTURES["grid25"]
    samples = np.array([[1.0, 1.0], [3.0, -3.0], [0.0, 0.0]])  # two midpoints, one centre
    m = mode_metrics(samples, c, std)
    assert m["modes_covered"] == 1 and abs(m["hq_fraction"] - 1 / 3) < 1e-9


def test_high_quality_threshold_is_three_stds():
    c, std = datasets.MIXTURES["ring8"]
    inside = c[0] + np.array([[HQ_STDS * std * 0.99, 0.0]])
    outside = c[0] + np.array([[HQ_STDS * std * 1.01, 0.0]])
    assert mode_metrics(inside, c, std)["hq_fraction"] == 1.0
    assert mode_metrics(outside, c, std)["hq_fraction"] == 0.0


def test_nan_samples_count_as_low_quality():
    c, std = datasets.MIXTURES["ring8"]
    m = mode_metrics(np.array([[np.nan, 0.0], list(c[0])]), c, std)
    assert m["hq_fraction"] == 0.5 and m["modes_covered"] == 1


def test_a_perfect_generator_scores_about_98_9_percent():
    # Within 3 std in 2-D holds with probability 1 - exp(-9/2) = 98.9 % (the published figure).
    c, std = datasets.MIXTURES["ring8"]
    rng = np.random.default_rng(1)
    samples = c[rng.integers(0, 8, 20000)] + std * rng.standard_normal((20000, 2))
    assert abs(mode_metrics(samples, c, std)["hq_fraction"] - (1 - np.exp(-4.5))) < 0.003
