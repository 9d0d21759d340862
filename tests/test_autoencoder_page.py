"""The Autoencoder page: its maths against direct computations, its presets, and the page
under AppTest (defaults, a tiny model trained through the UI, the sweep, the replay)."""

import math

import numpy as np
import pytest
import torch

from apptest_util import buttons, errors, from_cache, metric_list, open_page, widget
from apptest_util import run_until as _poll
from models import datasets
from models.metrics import fit_pca
from models.presets import AE_SWEEP_KS, PAGE_DEFAULTS, ae_sweep, linear_match
from models.train import AEConfig, run_to_end

PAGE = "app_pages/autoencoder.py"


# --- the maths ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, ks", [("digits", [1, 2, 5, 10, 30]), ("moons", [1, 2, 3])])
def test_pca_error_curve_equals_fitting_pca_at_each_k(name, ks):
    from dashboard.views_autoencoder import pca_errors
    d = datasets.load(name)
    curve = pca_errors(d.x_train, d.x_test, max(ks))
    for k in ks:
        direct = float(fit_pca(d.x_train, k).recon_error(d.x_test).mean())
        assert curve[k - 1] == pytest.approx(direct, rel=1e-4, abs=1e-6), k
    assert np.all(np.diff(curve) <= 1e-6)  # more components never hurt


def test_principal_angles_against_known_subspaces():
    from dashboard.views_autoencoder import principal_angles
    rng = np.random.default_rng(0)
    q = torch.as_tensor(np.linalg.qr(rng.standard_normal((10, 10)))[0])
    a = q[:, :3]
    mix = torch.as_tensor(rng.standard_normal((3, 3)))
    assert np.allclose(principal_angles(a, a @ mix), 0, atol=1e-5)  # any basis of one space
    assert np.allclose(principal_angles(a, q[:, 3:6]), 90, atol=1e-5)  # orthogonal spaces
    theta = math.radians(25)  # turn one direction by 25 degrees towards a fourth axis
    b = torch.cat([q[:, :2], (math.cos(theta) * q[:, 2] + math.sin(theta) * q[:, 3])[:, None]],
                  1)
    assert np.allclose(np.sort(principal_angles(a, b)), [0, 0, 25], atol=1e-5)


def test_random_codes_fit_the_codes_and_repeat_with_the_seed():
    from dashboard.views_autoencoder import random_codes
    gen = torch.Generator().manual_seed(1)
    codes = torch.randn(20000, 3, generator=gen) @ torch.tensor(
        [[2.0, 0, 0], [1.0, 0.5, 0], [0, 0, 3.0]]) + torch.tensor([5.0, -1.0, 0.5])
    z_std, z_fit = random_codes(codes, 20000, seed=7)
    assert z_std.shape == z_fit.shape == (20000, 3)
    assert torch.allclose(z_std.mean(0), torch.zeros(3), atol=0.05)
    assert torch.allclose(z_fit.mean(0), codes.mean(0), atol=0.08)
    assert torch.allclose(torch.cov(z_fit.T), torch.cov(codes.T), rtol=0.06, atol=0.06)
    again = random_codes(codes, 20000, seed=7)
    assert torch.equal(again[0], z_std) and torch.equal(again[1], z_fit)


def test_the_page_presets_hold_the_sweep_and_the_linear_comparisons():
    base = AEConfig()
    sweep = ae_sweep(base)
    assert [c.latent_dim for c in sweep] == list(AE_SWEEP_KS)
    assert all(c == AEConfig(latent_dim=c.latent_dim) for c in sweep)  # only k varies
    assert [c.latent_dim for c in ae_sweep(AEConfig(dataset="moons"))] == [1, 2]
    lin = linear_match(AEConfig(latent_dim=5, dataset="sprites", hidden=64, seed=3))
    assert lin.linear and lin.latent_dim == 5 and lin.dataset == "sprites"
    assert (lin.epochs, lin.lr) == (150, 2e-3)
    defaults = PAGE_DEFAULTS["autoencoder"]
    assert defaults[0] == AEConfig()
    assert all(c in defaults for c in sweep)
    assert all(linear_match(AEConfig(latent_dim=k)) in defaults for k in (2, 5, 10))


def test_the_pca_basis_reaches_one_component_beyond_the_largest_k():
    from dashboard.views_autoencoder import PCA_MAX, pca_at, pca_basis
    var = pca_basis("digits").explained_variance
    assert len(var) == PCA_MAX + 1 and bool((var[:-1] >= var[1:]).all())
    assert pca_at("digits", PCA_MAX).components.shape == (PCA_MAX, 784)
    assert len(pca_basis("moons").explained_variance) == 2  # no more than the data's dims


@pytest.mark.parametrize("k", [1, 10, 64])
def test_the_angle_note_at_every_k_including_the_largest(k):
    """The linear AE at k = 64 ended 12.5° from PCA's subspace: the note must name PCA's
    component k and the next one without running off the fitted variances."""
    from dashboard.views_autoencoder import angle_note, pca_basis
    var = pca_basis("digits").explained_variance
    note = angle_note(np.array([0.4, 3.0, 12.5]), 2.18, var, k)
    assert f"PCA's component {k} has variance {float(var[k - 1]):.2f}" in note
    assert f"the next one {float(var[k]):.2f}" in note
    assert "within 2.2 %" in note and "differ by 12.5°" in note
    short = angle_note(np.array([12.5]), None, var[:k], k)  # no variance fitted beyond k
    assert "next one" not in short and f"component {k} has variance" in short


def test_the_linear_caption_states_the_gap_measured_at_this_k():
    from dashboard.views_autoencoder import training_note
    lin = linear_match(AEConfig(latent_dim=64))
    note = training_note(lin, 64, 2.18)
    assert "At k = 64 it ended +2.18 % from PCA's held-out error." in note
    assert f"{lin.epochs} epochs with learning rate {lin.lr:g}" in note
    assert "every k" not in note and "within 2 %" not in note  # no claim beyond the measure
    assert "it ended" not in training_note(lin, 1, None)


def test_the_random_codes_chart_fits_its_narrow_column():
    """Its legend sat on the right of a 460 px chart in a ~380 px column and was cut off: the
    legend goes below, and the square plot keeps its size ("pad")."""
    from dashboard.views_autoencoder import codes_chart
    z = np.random.default_rng(0).standard_normal((50, 3))
    spec = codes_chart(z, z[:10], z[:10]).to_dict()
    assert spec["autosize"] == {"type": "pad", "contains": "padding"}
    assert spec["width"] == spec["height"] <= 360
    legends = [layer["encoding"]["color"].get("legend") for layer in spec["layer"]]
    assert all(lg and lg["orient"] == "bottom" for lg in legends)


def test_the_linear_comparison_config_is_within_2_percent_of_pca_on_digits():
    """The page's linear autoencoder at k = 2 (the slowest k to converge of 1..64)."""
    m = run_to_end(linear_match(AEConfig(latent_dim=2)), threads=1).metrics
    assert m["test_recon"] / m["pca_test_recon"] - 1 < 0.02


# --- the page ----------------------------------------------------------------------------------


def _button(at, label):
    return buttons(at, label, prefix=True)


def _texts(at):
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def test_defaults_open_trained_and_other_settings_offer_training():
    at = open_page(PAGE)  # the page's default run ships pretrained: it opens ready
    assert not errors(at), errors(at)
    assert at.title[0].value == "Autoencoder"
    assert not _button(at, "Train") and from_cache(at) >= 1
    assert any(m.label.startswith("Autoencoder, held-out") for m in metric_list(at))
    at = open_page(PAGE, {"seed": "7"})  # not trained yet
    assert not errors(at), errors(at)
    assert _button(at, "Train") and not from_cache(at)


TINY_POINTS = {"data": "moons", "latent": "1", "epochs": "2", "hidden": "32"}


def test_train_a_tiny_model_through_the_ui_then_the_sweep():
    at = open_page(PAGE, TINY_POINTS)
    _button(at, "Train")[0].click().run()
    assert _poll(at, lambda a: any(m.label.startswith("Autoencoder, held-out") for m in
                                   metric_list(a)))
    labels = [m.label for m in metric_list(at)]
    assert "PCA with k = 1" in labels
    subheaders = [s.value for s in at.subheader]
    for section in ("Originals and reconstructions", "The data in the latent space",
                    "A linear autoencoder matches PCA",
                    "Reconstruction error against latent size", "Decode random latent points"):
        assert section in subheaders
    assert _button(at, "Train the linear autoencoder")
    # the page's own run is the sweep's k = 1; one more run (k = 2) completes it
    sweep = _button(at, "Train the sweep")
    assert sweep and "(1 run)" in sweep[0].label
    sweep[0].click().run()
    assert _poll(at, lambda a: "2 of 2 sweep runs finished" in _texts(a))
    assert not _button(at, "Train the sweep")
    # controls drawn only after training: colour and the random draw
    widget(at, "draw").set_value(5).run()
    assert not errors(at)


def test_an_image_model_shows_strips_projection_and_replay():
    at = open_page(PAGE, {"latent": "3", "epochs": "1", "hidden": "32"})
    _button(at, "Train")[0].click().run()
    assert _poll(at, lambda a: any(m.label.startswith("Autoencoder, held-out") for m in
                                   metric_list(a)))
    images_before = len(at.get("image"))
    assert images_before >= 6  # originals, autoencoder, PCA; the random decodes
    assert widget(at, "proj").value == "pca"  # k = 3: the codes need a projection
    widget(at, "proj").set_value("dims").run()
    assert not errors(at)
    widget(at, "zy").set_value(3).run()
    assert not errors(at)
    assert any("Two of the 3 code dimensions" in c.value for c in at.caption)
    widget(at, "t").set_value(0).run()  # replay: the untrained model's snapshot
    assert not errors(at)
    assert any("Replay" in c.value for c in at.caption)
    assert len(at.get("image")) > images_before


def test_sprites_can_be_coloured_by_a_true_factor():
    at = open_page(PAGE, {"data": "sprites", "latent": "2", "epochs": "1", "hidden": "32"})
    _button(at, "Train")[0].click().run()
    assert _poll(at, lambda a: any(m.label.startswith("Autoencoder, held-out") for m in
                                   metric_list(a)))
    colour = widget(at, "colour")
    assert set(colour.options) >= {"shape", "scale", "rotation", "x position", "y position"}
    colour.set_value("rotation").run()
    assert not errors(at)
    assert widget(at, "colour").value == "rotation"


def test_sweep_runs_beyond_the_server_limits_are_refused_with_a_message(monkeypatch):
    from dashboard import panels
    from models.limits import Limits
    at = open_page(PAGE, {"latent": "2", "epochs": "1", "hidden": "32"})
    _button(at, "Train")[0].click().run()
    assert _poll(at, lambda a: bool(_button(a, "Train the sweep")))
    monkeypatch.setattr(panels.manager(), "limits", Limits(max_latent=4))
    _button(at, "Train the sweep")[0].click().run()
    assert not errors(at)
    refused = [w.value for w in at.warning]
    assert [w.split(":")[0] for w in refused] == ["k = 8", "k = 16", "k = 32"]
    assert all("limited to 4" in w for w in refused)
    assert _poll(at, lambda a: "3 of 6 sweep runs finished" in _texts(a))
