"""dashboard/charts.py's PNG helpers: the colour map's lookup table against interpolating the
anchors exactly, and PNG bytes that decode to the same pixels at any compression level."""

import io

import numpy as np
import pytest
from PIL import Image

from dashboard import charts


def interpolated(values, lo, hi, cmap):
    """The colour map by direct linear interpolation between its anchors (the reference)."""
    t = np.clip((values - lo) / (hi - lo), 0, 1) * (len(cmap) - 1)
    i = np.minimum(t.astype(int), len(cmap) - 2)
    f = (t - i)[..., None]
    return cmap[i] * (1 - f) + cmap[i + 1] * f


@pytest.mark.parametrize("cmap", [charts.VIRIDIS, charts.DIVERGING])
def test_lookup_table_matches_interpolation(cmap):
    v = np.random.default_rng(0).normal(size=(60, 70))
    got = charts.colormap(v, -2.0, 2.0, cmap).astype(float)
    ref = interpolated(v, -2.0, 2.0, cmap)
    # one table step moves a channel by at most (max anchor jump) / (LUT_SIZE / (anchors - 1))
    step = np.abs(np.diff(cmap, axis=0)).max() * (len(cmap) - 1) / (charts.LUT_SIZE - 1)
    assert np.abs(got - ref).max() <= step / 2 + 1  # + 1: truncation to uint8
    assert charts.colormap(np.array([-5.0, 5.0]), -2.0, 2.0, cmap).tolist() == \
        [cmap[0].astype(np.uint8).tolist(), cmap[-1].astype(np.uint8).tolist()]


def test_non_finite_values_are_white_and_the_range_defaults_to_the_data():
    v = np.array([[0.0, np.nan], [np.inf, 4.0]])
    rgb = charts.colormap(v)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert rgb[0, 1].tolist() == [255, 255, 255] and rgb[1, 0].tolist() == [255, 255, 255]
    assert rgb[0, 0].tolist() == charts.VIRIDIS[0].tolist()
    assert rgb[1, 1].tolist() == charts.VIRIDIS[-1].tolist()


@pytest.mark.parametrize("level", [1, 6, 9])
def test_png_bytes_round_trip_at_any_compression(level):
    field = np.add.outer(np.linspace(0, 1, 50), np.linspace(0, 1, 40))
    img = charts.heatmap_png(field, upscale=1)
    back = np.asarray(Image.open(io.BytesIO(charts.png_bytes(img, level))))
    assert np.array_equal(back, np.asarray(img))
