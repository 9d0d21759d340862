"""The GAN page under AppTest: defaults, the two presets (by link and by switching), changed
controls, tiny runs trained through the UI with their live view and replay controls (step,
start, play), a tiny digits GAN with its samples, interpolation and inversion, and the
figures' data against the model."""

import re
import time
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from apptest_util import button as _button
from apptest_util import (errors, from_cache, metrics as _metrics, open_page, paragraphs, run_until,
                          widget)
from dashboard import views_gan
from models import datasets
from models.gan_inversion import invert
from models.presets import GAN_COLLAPSE, GAN_COVERS, GAN_DIGITS, PAGE_DEFAULTS
from models.runs import load_or_train
from models.train import GANConfig, noise_grid


def _run_until(at, done, timeout=240):
    return run_until(at, done, timeout)

PAGE = "app_pages/gan.py"
TINY = {"steps": "200", "batch": "64", "g_hidden": "32", "d_hidden": "32"}
TINY_DIGITS = GANConfig(dataset="digits", noise_dim=8, g_hidden=32, d_hidden=32, steps=100,
                        batch_size=64, loss="wgan-gp", g_lr=1e-3, d_lr=1e-3)




def _has_timeline(at):
    return any(s.key == "t" for s in at.slider)


def _captions(at) -> str:
    """Captions, and the notes the lab draws inside its html elements (panels.text_html)."""
    return " | ".join([c.value for c in at.caption] + paragraphs(at))


def _image_captions(at) -> str:
    return " | ".join(c for img in at.get("image") for c in img.captions)



def _train_lab(at):
    button = _button(at, "Play")
    if button is not None:  # another test may have trained the same settings
        button.click().run()
    assert not errors(at), errors(at)
    assert _run_until(at, _has_timeline), "the run did not finish"


# --- defaults and presets ---------------------------------------------------------------------

def test_defaults_are_the_covering_preset_and_the_page_defaults_list():
    assert PAGE_DEFAULTS["gan"][0] == GANConfig() == GAN_COVERS
    assert GAN_COLLAPSE in PAGE_DEFAULTS["gan"] and GAN_DIGITS in PAGE_DEFAULTS["gan"]
    at = open_page(PAGE)
    assert not errors(at)
    assert at.title[0].value == "Generative adversarial network"
    assert widget(at, "preset").value == "covers"
    assert "Covers all modes" in at.info[0].value and "linearly to zero" in at.info[0].value
    c = GANConfig()
    assert widget(at, "d_lr").value == c.d_lr and widget(at, "g_lr").value == c.g_lr
    assert widget(at, "d_steps").value == c.d_steps and widget(at, "steps").value == c.steps
    assert widget(at, "data").options == views_gan.LAB_DATASETS
    # both default runs ship pretrained: the lab opens on its replay, the digits GAN trained;
    # only the open tab is drawn
    assert _button(at, "Play") is None and widget(at, "t").value == widget(at, "t").max
    assert from_cache(at) == 1 and not _digits_trained(at)
    at = open_page(PAGE, {"part": "Digits GAN"})
    assert not errors(at) and _digits_trained(at) and from_cache(at) == 1
    assert not [w for w in at.radio if w.key == "preset"]  # the lab waits for its tab
    at = open_page(PAGE, {"seed": "7"})  # a lab run nobody has trained: Play starts it
    assert not errors(at)
    assert _button(at, "Play") is not None and _button(at, "Train") is None


def test_one_tab_is_drawn_and_a_link_to_digit_settings_opens_the_digits_tab():
    at = open_page(PAGE, {"digit": "12"})
    assert not errors(at) and _digits_trained(at)
    assert not [w for w in at.radio if w.key == "preset"]
    assert "Digit #12: a 0." in _captions(at)
    # the digits tab's link keeps the lab's settings (and unknown names) for the lab's tab
    at = open_page(PAGE, {"part": "Digits GAN", "preset": "Mode collapse", "bogus": "1"})
    assert not errors(at) and not at.info
    assert at.query_params["preset"] == "Mode collapse"
    at = open_page(PAGE, {"part": "nonsense"})
    assert not errors(at)
    assert ("Part = “nonsense” (expects one of: 2-D lab, Digits GAN); using 2-D lab"
            in at.info[0].value)
    assert widget(at, "preset").value == "covers"


def test_a_link_with_the_collapse_preset_sets_its_controls():
    at = open_page(PAGE, {"preset": "Mode collapse"})
    assert not errors(at)
    assert widget(at, "preset").value == "collapse"
    assert widget(at, "d_lr").value == 1e-2 and widget(at, "g_lr").value == 5e-4
    assert widget(at, "d_steps").value == 5 and widget(at, "steps").value == 2000
    info = at.info[0].value
    assert "Mode collapse" in info and "20 times faster" in info
    assert "changed" not in info


def test_switching_presets_sets_every_control_and_back():
    at = open_page(PAGE, {"seed": "7", "noise": "3"})
    widget(at, "preset").set_value("collapse").run()
    assert not errors(at)
    assert widget(at, "d_lr").value == 1e-2 and widget(at, "d_steps").value == 5
    assert widget(at, "seed").value == 0 and widget(at, "noise").value == 2  # the preset's
    assert "changed" not in at.info[0].value
    widget(at, "preset").set_value("covers").run()
    assert widget(at, "d_lr").value == 2e-3 and widget(at, "d_steps").value == 1
    assert widget(at, "steps").value == 5000


def test_a_changed_control_is_named_beside_the_preset():
    at = open_page(PAGE, {"preset": "Mode collapse"})
    widget(at, "d_steps").set_value(2).run()
    assert not errors(at)
    info = at.info[0].value
    assert "You have changed the preset's D steps per G step" in info


@pytest.mark.parametrize("query, trained", [
    ({"loss": "WGAN-GP"}, False), ({"data": "spiral", "noise": "1"}, False),
    ({"prior": "Uniform"}, False), ({"heat": "false", "shown": "50"}, True)])
def test_other_settings_draw_without_error(query, trained):
    at = open_page(PAGE, query)
    assert not errors(at), (query, errors(at))
    if trained:  # display settings of the shipped default run: its replay, redrawn
        assert _button(at, "Play") is None and widget(at, "t") is not None
        assert widget(at, "heat").value is False and widget(at, "shown").value == 50
    else:
        assert _button(at, "Play") is not None


# --- a tiny run through the UI ------------------------------------------------------------------

def test_a_tiny_run_trains_then_replays_with_step_start_and_play():
    at = open_page(PAGE, {**TINY, "seed": "11"})
    _train_lab(at)
    t = widget(at, "t")
    assert t.value == t.max == 24  # 24 snapshots after the untrained one
    m = _metrics(at)
    assert re.fullmatch(r"\d of 8", m["Modes covered"]) and m["Step"] == "200"
    assert "Showing the model at step 200 of 200." in _captions(at)
    _button(at, "Step back").click().run()
    assert widget(at, "t").value == 23 and not errors(at)
    _button(at, "Start").click().run()
    assert widget(at, "t").value == 0
    assert "Showing the model at step 0 of 200." in _captions(at)
    assert _metrics(at)["Step"] == "0" and "D loss" not in _metrics(at)  # no losses yet
    _button(at, "Step").click().run()
    assert widget(at, "t").value == 1
    _button(at, "Play the replay").click().run()  # play moves on at once, then on a timer
    assert not errors(at)
    assert "playing" in _captions(at) and widget(at, "t").value == 2
    assert _button(at, "Play the replay") is None and _button(at, "Pause the replay")
    _button(at, "Step").click().run()  # stepping pauses
    assert _button(at, "Play the replay") is not None and widget(at, "t").value == 3
    at.run()
    assert widget(at, "t").value == 3 and "playing" not in _captions(at)
    _button(at, "Play the replay").click().run()
    assert widget(at, "t").value == 4
    _button(at, "Pause the replay").click().run()  # and the pause button pauses
    at.run()
    assert widget(at, "t").value == 4 and "playing" not in _captions(at)
    # the timeline is in the link, so a link opens the replay at that snapshot
    at2 = open_page(PAGE, {**TINY, "seed": "11", "t": "5"})
    assert widget(at2, "t").value == 5 and not errors(at2)


def test_the_live_view_draws_snapshots_while_a_run_trains():
    at = open_page(PAGE, {"steps": "20000", "seed": "12", "g_hidden": "16",
                          "d_hidden": "16", "batch": "32"})
    _button(at, "Play").click().run()

    def live(at):  # still training (Reset is offered) and a snapshot is drawn
        return _button(at, "Reset") is not None and "Snapshot at step" in _captions(at)
    assert _run_until(at, live, timeout=120)
    assert "Training: step" in _progress(at)
    assert "Modes covered" in _metrics(at)
    assert len(at.get("vega_lite_chart")) >= 3  # the two panels, losses, mode coverage
    assert _button(at, "Play").disabled and not _button(at, "Pause").disabled
    _button(at, "Reset").click().run()
    at.run()
    assert _button(at, "Play") is not None and not _button(at, "Play").disabled
    assert _button(at, "Reset").disabled and not errors(at)
    assert "The last run was reset." in _captions(at)


# --- play, pause, step and reset ------------------------------------------------------------------

LONG = {"steps": "20000", "g_hidden": "16", "d_hidden": "16", "batch": "32"}


def _progress(at) -> str:
    bars = at.get("progress")
    return bars[0].proto.text if bars else ""


def _shown_step(at) -> int:
    m = re.search(r"step ([\d,]+) of", _progress(at))
    return int(m.group(1).replace(",", "")) if m else -1


def _generated_points(at) -> int:
    """Orange points in the lab: the rows of its charts' "fake" dataset."""
    n = 0
    for chart in at.get("vega_lite_chart"):
        for d in chart.proto.datasets:
            if d.name == "fake":
                n += pa.ipc.open_stream(d.data.data).read_all().num_rows
    return n


def _in_order(at) -> list[tuple[str, str | None]]:
    """The main area's elements in page order, as (type, key)."""
    def walk(node, out):
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for k in sorted(children):
                walk(children[k], out)
        else:
            out.append((node.type, getattr(node, "key", None)))
        return out
    return walk(at.main, [])


def _paused_at(at) -> int | None:
    m = re.match(r"Paused at step ([\d,]+) of", _progress(at))
    return int(m.group(1).replace(",", "")) if m else None


def test_untrained_lab_offers_play_and_step_but_not_pause_or_reset():
    at = open_page(PAGE, {**LONG, "seed": "14"})
    assert [b.label for b in at.button][:4] == ["Play", "Pause", "Step", "Reset"]
    assert not _button(at, "Play").disabled and not _button(at, "Step").disabled
    assert _button(at, "Pause").disabled and _button(at, "Reset").disabled
    assert "not been trained yet" in _captions(at)


def test_step_pause_play_and_reset_a_live_run():
    interval = views_gan.snapshot_interval(GANConfig(steps=20000))
    assert interval == 400
    at = open_page(PAGE, {**LONG, "seed": "15"})
    _button(at, "Step").click().run()  # starts the run, held at the first snapshot
    assert not errors(at), errors(at)
    assert _run_until(at, lambda a: _paused_at(a) is not None, timeout=180)
    assert _paused_at(at) == interval
    info = " | ".join(i.value for i in at.info)
    assert "Paused for everyone watching these settings" in info
    assert not _button(at, "Play").disabled and _button(at, "Pause").disabled
    assert f"Snapshot at step {interval:,}." in _captions(at)  # the step's snapshot is drawn
    # the display controls are drawn once, in the live view (its fragment, so that moving
    # one redraws only the lab), and they act on the live lab at once
    order = _in_order(at)
    assert order.count(("slider", "shown")) == 1
    assert order.index(("slider", "shown")) > order.index(("progress", None))
    assert _generated_points(at) == views_gan.N_FAKE.default
    widget(at, "shown").set_value(50).run()
    assert _generated_points(at) == 50 and _paused_at(at) == interval
    # held: no progress while paused
    time.sleep(1.5)
    at.run()
    assert _paused_at(at) == interval
    # another session with the same settings watches the same run, and sees it paused
    other = open_page(PAGE, {**LONG, "seed": "15"})
    assert _paused_at(other) == interval and not errors(other)
    # Step again: to the next snapshot, then held
    _button(at, "Step").click().run()
    assert _run_until(at, lambda a: (_paused_at(a) or 0) > interval, timeout=120)
    assert _paused_at(at) == 2 * interval
    # Play resumes; Pause holds it wherever it is
    _button(at, "Play").click().run()
    assert _run_until(at, lambda a: "Training: step" in _progress(a)
                      and _shown_step(a) > 2 * interval, timeout=120)
    assert _button(at, "Play").disabled
    _button(at, "Pause").click().run()
    assert _run_until(at, lambda a: _paused_at(a) is not None, timeout=60)
    held = _paused_at(at)
    assert held > 2 * interval
    other.run()
    assert _paused_at(other) == held  # the other session sees the same pause
    # Reset here: the other session still watches, so the run carries on for it
    _button(at, "Reset").click().run()
    at.run()
    assert _button(at, "Play") is not None and _button(at, "Reset").disabled
    assert "others are watching the same settings" in _captions(at)
    other.run()
    assert _paused_at(other) == held and not errors(other)
    # when the other session resets too, nobody watches: the run stops
    _button(other, "Reset").click().run()
    other.run()
    assert _button(other, "Play") is not None and not errors(other)
    at.run()
    assert "The last run was reset." in _captions(at) and not errors(at)
    from dashboard import panels
    config = GANConfig(steps=20000, g_hidden=16, d_hidden=16, batch_size=32, seed=15)
    assert panels.manager().peek(config).status == "cancelled"


def test_one_dimensional_noise_on_moons_has_a_curve_and_no_mode_metrics():
    at = open_page(PAGE, {**TINY, "data": "moons", "noise": "1", "seed": "13"})
    _train_lab(at)
    assert "Modes covered" not in _metrics(at)
    caps = _captions(at)
    assert "the noise z runs along a line" in caps and "whose modes are known" in caps


# --- the figures' data ----------------------------------------------------------------------------

def test_grid_lines_follow_the_rows_and_columns_of_the_noise_grid():
    from models.priors import make_prior
    z = noise_grid(make_prior("gaussian", 2), 2).numpy()  # the identity "generator"
    lines = views_gan.grid_lines(z, one_d=False)
    assert len(lines["x"]) == 2 * len(z)
    for line in range(30):
        sel = lines["line"] == line
        order = np.argsort(lines["order"][sel])
        xs, ys = lines["x"][sel][order], lines["y"][sel][order]
        if line < 15:  # along z₁: z₂ constant, z₁ increasing
            assert np.ptp(ys) == 0 and np.all(np.diff(xs) > 0)
        else:
            assert np.ptp(xs) == 0 and np.all(np.diff(ys) > 0)
    line = noise_grid(make_prior("gaussian", 1), 1).numpy().repeat(2, axis=1)  # 225 points
    one = views_gan.grid_lines(line, one_d=True)
    assert set(one["line"]) == {0} and len(one["x"]) == 225
    assert np.array_equal(one["x"][np.argsort(one["order"])], line[:, 0])


def test_the_heatmap_png_puts_the_first_row_at_the_bottom_and_uses_fixed_ranges():
    from io import BytesIO

    from PIL import Image
    heat = np.zeros((48, 48))
    heat[0] = 1.0  # the first row (lowest y) says "real"
    png, lo, hi, label = views_gan.heat_png("ns", heat)
    assert (lo, hi) == (0.0, 1.0) and "probability" in label
    img = np.asarray(Image.open(BytesIO(png)).convert("RGB"))
    assert tuple(img[-1, 0]) == tuple(views_gan.HEAT[-1].astype(int))  # bottom row: blue end
    assert tuple(img[0, 0]) == tuple(views_gan.HEAT[0].astype(int))
    lo, hi, label = views_gan.heat_range("wgan-gp", np.array([-3.0, 1.0, 2.0]))
    assert lo < -3.0 + 1e-9 and hi >= 2.0 and "critic" in label


def test_history_datasets_hold_losses_and_coverage_in_share_of_modes():
    history = [{"step": 0, "modes_covered": 0, "modes_total": 8, "hq_fraction": 0.0},
               {"step": 100, "d_loss": 1.3, "g_loss": 0.7, "modes_covered": 6,
                "modes_total": 8, "hq_fraction": 0.5}]
    sets = views_gan.history_datasets(history, 100)
    loss = sets["loss"].to_pydict()
    assert loss["series"] == ["D loss", "G loss"] and loss["value"] == [1.3, 0.7]
    q = sets["quality"].to_pydict()
    assert q["value"] == [0.0, 0.0, 0.75, 0.5] and sets["current"].to_pydict()["step"] == [100]
    assert views_gan._data_names(views_gan.loss_spec("ns", 100, 1.0)) == {"loss", "current"}


# --- the digits GAN -----------------------------------------------------------------------------

@pytest.fixture
def tiny_digits(monkeypatch):
    monkeypatch.setattr(views_gan, "DIGITS", TINY_DIGITS)
    return TINY_DIGITS


def _digits_trained(at):
    return _button(at, "Train the digits GAN") is None and any(
        "Found in" in c.value for c in at.caption)


def test_a_tiny_digits_gan_shows_samples_interpolation_and_inversion(tiny_digits):
    at = open_page(PAGE, {"part": "Digits GAN"})
    b = _button(at, "Train the digits GAN")
    if b is not None:
        b.click().run()
    assert _run_until(at, _digits_trained), "the digits GAN did not finish"
    m = _metrics(at)
    assert "Nearest held-out digit, samples" in m and "… real training digits" in m
    assert f"{views_gan.N_SAMPLES} samples G(z)" in _image_captions(at)
    assert "classes appear" in _captions(at)
    # interpolation: the position slider
    widget(at, "pos").set_value(0.25).run()
    assert not errors(at) and "t = 0.25" in _image_captions(at)
    widget(at, "path").set_value("spherical").run()
    assert not errors(at) and "spherical path" in _image_captions(at)
    # inversion of a held-out digit: the page's figures are the model's
    widget(at, "digit").set_value(130).run()
    assert not errors(at)
    assert "Digit #130: a " in _captions(at)
    model = load_or_train(TINY_DIGITS).model
    x = datasets.load("digits").x_test[130]
    expected = invert(model.generate, model.prior_, x)
    assert _metrics(at)["Squared error"] == f"{expected.error:.1f}"
    assert _metrics(at)["‖z*‖"] == f"{np.linalg.norm(expected.z):.2f}"
    # a generated digit: its z is known, so the page says how far the search ended from it
    widget(at, "target").set_value("generated").run()
    assert not errors(at)
    assert "The target was made by a z" in _captions(at)
    widget(at, "lam").set_value(0.1).run()
    assert not errors(at) and "Found in" in _captions(at)


def test_a_link_to_digit_settings_waits_for_the_digits_gan_to_be_trained(monkeypatch):
    config = replace(TINY_DIGITS, seed=5)  # untrained in this test's cache
    monkeypatch.setattr(views_gan, "DIGITS", config)
    at = open_page(PAGE, {"digit": "230", "lam": "0.1", "z_a": "5000"})
    assert not errors(at)
    notices = " | ".join(i.value for i in at.info)
    assert "not a setting of this page" not in notices  # kept, not dropped
    warnings = " | ".join(w.value for w in at.warning)
    assert "Start: noise seed = “5000” (expects a whole number from 0 to 999)" in warnings
    _button(at, "Train the digits GAN").click().run()
    assert _run_until(at, _digits_trained), "the digits GAN did not finish"
    assert "Digit #230: a 4." in _captions(at)  # test digits: 50 per class, in class order
    assert widget(at, "digit").value == 230 and widget(at, "lam").value == 0.1
    assert widget(at, "z_a").value == views_gan.Z_A.default
    assert not at.warning
