import math

import numpy as np
import pytest
import torch

from models import datasets as D


@pytest.mark.parametrize("name", list(D.DATASETS))
def test_every_dataset_has_a_fixed_split_and_finite_values(name):
    d = D.load(name)
    assert len(d.x_train) + len(d.x_test) == (5000 if name == "digits" else D.DEFAULT_N)
    assert torch.isfinite(d.x_train).all() and torch.isfinite(d.x_test).all()
    assert d.x_train.dtype == torch.float32
    if d.is_image:
        assert d.dim == 784 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    else:
        assert d.dim == 2
    if d.factors_train is not None:
        assert d.factors_train.shape == (len(d.x_train), len(d.factor_names))
    again = D.DATASETS[name].maker(100, D.DATASETS[name].default_noise, 3)
    assert torch.equal(again.x, D.DATASETS[name].maker(100, D.DATASETS[name].default_noise, 3).x)


def test_ring8_has_eight_distinct_modes_on_the_circle():
    c = D.RING8_CENTRES
    angles = np.sort(np.mod(np.arctan2(c[:, 1], c[:, 0]), 2 * math.pi))
    np.testing.assert_allclose(angles, 2 * math.pi * np.arange(8) / 8, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 2.0, atol=1e-6)
    d = D.load("ring8")
    centre = torch.as_tensor(c)[d.labels_train]
    resid = d.x_train - centre
    assert abs(float(resid.std()) - D.RING8_STD) < 0.002


def test_grid25_centres_and_std():
    assert sorted(set(map(tuple, D.GRID25_CENTRES.tolist()))) == \
        [(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)]
    d = D.load("grid25")
    resid = d.x_train - torch.as_tensor(D.GRID25_CENTRES)[d.labels_train]
    assert abs(float(resid.std()) - D.GRID25_STD) < 0.004


def test_digits_split_is_stratified_and_independent_of_seed():
    d = D.load("digits")
    assert d.x_train.shape == (4500, 784) and d.x_test.shape == (500, 784)
    assert torch.bincount(d.labels_test).tolist() == [50] * 10
    assert torch.bincount(d.labels_train).tolist() == [450] * 10
    assert torch.equal(D.load("digits", seed=5).x_test, d.x_test)


def test_sprites_are_drawn_from_their_factors():
    d = D.load("sprites")
    f = d.factors_train[:20].numpy()
    redrawn = D.render_sprites(f[:, 0], f[:, 1], f[:, 2], f[:, 3], f[:, 4])
    np.testing.assert_allclose(redrawn.reshape(20, -1), d.x_train[:20].numpy(), atol=1e-5)
    # bigger sprites cover more pixels, and every sprite is visible
    area = d.x_train.sum(1).numpy()
    scale = d.factors_train[:, 1].numpy()
    shape = d.factors_train[:, 0].numpy()
    for k in range(3):  # within a shape, area grows with scale squared
        assert np.corrcoef(area[shape == k], scale[shape == k] ** 2)[0, 1] > 0.95
    assert area.min() > 5


def test_curve_position_is_the_hidden_cause():
    s = D.make_curve(500, 0.0, 0)
    t = s.factors[:, 0]
    torch.testing.assert_close(s.x[:, 0], 2 * t)
    torch.testing.assert_close(s.x[:, 1], torch.sin(math.pi * t))


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(KeyError, match="Unknown data set"):
        D.load("nope")
