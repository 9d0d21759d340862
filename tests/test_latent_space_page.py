"""The Latent space page under AppTest: defaults, controls changed, tiny trained models (click
Train, poll), and the selection path (a click on the map sets the URL-bound "point" control;
AppTest cannot click charts, so the control is set directly)."""

import json
import time
from dataclasses import replace

import pytest

from apptest_util import errors, from_cache, metric_list, open_page, widget
from dashboard import views_latent_space as v

PAGE = "app_pages/latent_space.py"
TINY = {"epochs": "1"}  # one epoch: a real, small model in a few seconds


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [i.value for i in at.info] + [e.value for e in at.error]
    parts += [s.value for s in at.success]
    parts += [m.label for m in metric_list(at)]
    parts += [i.caption for el in at.get("image") for i in el.proto.imgs]  # image captions
    return "\n".join(parts)


def _train(at, until: str = "Input #", timeout: float = 240):
    """Click the explorer's Train button (unless another test trained this configuration
    already) and rerun until `until` shows."""
    trains = [b for b in at.button if b.key == "explore_train"]
    if trains:
        trains[0].click().run()
    end = time.time() + timeout
    while time.time() < end:
        assert not errors(at), errors(at)
        if until in _texts(at):
            return at
        time.sleep(0.3)
        at.run()
    raise AssertionError(f"{until!r} did not appear: {_texts(at)[-2000:]}")


def _charts(at):
    return at.get("vega_lite_chart")


def _selections(spec) -> list[dict]:
    """Every selection parameter (a param with "select") anywhere in a Vega-Lite spec."""
    found = []
    if isinstance(spec, dict):
        found += [p for p in spec.get("params", []) if "select" in p]
        for value in spec.values():
            if isinstance(value, (dict, list)):
                found += _selections(value)
    elif isinstance(spec, list):
        for item in spec:
            found += _selections(item)
    return found


def test_the_manifold_caption_names_the_spacing_of_each_kind_of_grid():
    prior = {"x": (-1.64, 1.64), "y": (-1.64, 1.64), "prior": True}
    codes = {"x": (-3.0, 5.0), "y": (0.5, 2.25), "prior": False}
    text = v.manifold_caption(prior)
    assert "spaced evenly in probability" in text and "N(0, 1)'s 5 % and 95 %" in text
    text = v.manifold_caption(codes)
    assert "in probability" not in text and "prior" not in text
    assert "spaced evenly in value between the 1 % and 99 % quantiles of the codes" in text
    assert "z₁ from -3.00 (left) to 5.00 (right), z₂ from 0.50 (bottom) to 2.25 (top)" in text


def test_defaults_open_trained_and_other_settings_show_train_buttons():
    at = open_page(PAGE)  # the explorer's VAE ships; the comparison is closed, so not drawn
    assert not errors(at)
    assert at.title[0].value == "Latent space"
    assert not [b for b in at.button if b.label == "Train"] and from_cache(at) == 1
    at = open_page(PAGE, {"compare": "true"})  # the AE, VAE and GAN side by side ship too
    assert not errors(at) and from_cache(at) == 4
    at = open_page(PAGE, {"beta": "2", "cmp_latent": "1"})
    assert not errors(at)
    assert len([b for b in at.button if b.label == "Train"]) == 4  # explorer + AE, VAE, GAN
    for key in ("point", "end", "click", "pos", "dim", "span"):
        widget(at, key)  # drawn before training, so a link keeps them
    assert widget(at, "pos").label == "Interpolation position"
    assert sum("Train the model above" in c.value for c in at.caption) == 3
    assert not [i for i in at.info if "could not be used" in i.value]


def test_controls_that_depend_on_the_configuration():
    at = open_page(PAGE, {"data": "sprites", "latent": "8"})
    assert not errors(at)
    assert widget(at, "color").value == "shape"  # sprites: colour by any true factor
    assert widget(at, "axes").value == "dims"  # more than two dimensions: pick the map's axes
    assert widget(at, "zx").max == 8 and widget(at, "dim").max == 8
    assert "What the model recovered" in "\n".join(s.value for s in at.subheader)
    widget(at, "model").set_value("ae").run()
    assert not errors(at)
    assert widget(at, "beta").disabled  # β belongs to the VAE
    at = open_page(PAGE)
    assert not [w for w in at.selectbox if w.key == "color"]  # digits: coloured by digit
    assert not [w for w in at.slider if w.key == "zx"]  # a 2-D latent is the map itself


def test_a_tiny_vae_explored_end_to_end():
    at = _train(open_page(PAGE, TINY))
    assert not errors(at)
    text = _texts(at)
    assert "Input #183" in text and "Its code: z = (" in text and "q(z|x)" in text
    # the manifold says what it spans, and that it is spaced in probability
    assert "spaced evenly in probability between the prior N(0, 1)'s 5 % and 95 %" in text
    assert "Decoded at t = 0.50" in text
    assert len(at.image) >= 5  # input/decoding, manifold, strip, two decodings at t, traversal
    maps = [c for c in _charts(at) if "latent_map" in (c.proto.id or "")]
    assert len(maps) == 1, "the latent map is a selectable chart"
    pick = _selections(json.loads(maps[0].proto.spec))
    assert len(pick) == 1, pick  # one selection, named "pick", on a layer of points
    select = pick[0]["select"]
    assert select["type"] == "point" and select["fields"] == ["i"] and select["on"] == "click"

    # the selection path: the control a click sets
    widget(at, "point").set_value(42).run()
    assert not errors(at)
    assert "Input #42" in _texts(at)
    widget(at, "end").set_value(7).run()
    assert "from input #42 (left) to #7 (right)" in _texts(at)

    # the interpolation slider: the decodings at t and log p(z), |z| there
    def at_t():
        return [c.value for c in at.caption if c.value.startswith("log p(z) = ")]

    before = at_t()
    assert len(before) == 2 and all("‖z‖ = " in c for c in before)  # linear, spherical
    widget(at, "pos").set_value(0.8).run()
    assert not errors(at) and "Decoded at t = 0.80" in _texts(at)
    assert len(at_t()) == 2 and at_t() != before

    # traversal
    widget(at, "span").set_value(1.5).run()
    assert "z₁ from -1.50 to 1.50" in _texts(at)
    widget(at, "dim").set_value(2).run()
    assert "z₂ from -1.50 to 1.50" in _texts(at)
    assert not errors(at)


def test_a_click_on_the_map_sets_the_point_or_the_end():
    """The chart's on_select callback, driven with the event a click produces."""
    from streamlit.testing.v1 import AppTest

    def app():
        import streamlit as st
        from dashboard import views_latent_space as v
        st.session_state.setdefault("click", st.session_state.get("target", "point"))
        st.session_state["latent_map_3_358"] = {"selection": {"pick": [{"i": 123}]}}
        v._on_pick("latent_map_3_358")
        st.write(f"point={st.session_state.get('point')} end={st.session_state.get('end')}")

    at = AppTest.from_function(app).run()
    assert "point=123 end=None" in at.markdown[0].value
    at = AppTest.from_function(app)
    at.session_state["target"] = "end"
    at.run()
    assert "point=None end=123" in at.markdown[0].value


def test_url_sets_the_selected_point_and_position():
    at = open_page(PAGE, {**TINY, "point": "17", "pos": "0.25"})
    at = _train(at, until="Input #17")
    assert "Decoded at t = 0.25" in _texts(at)
    assert not [i for i in at.info if "could not be used" in i.value]


def test_a_tiny_autoencoder_has_no_prior_to_measure():
    at = _train(open_page(PAGE, {**TINY, "model": "Autoencoder"}))
    assert not [i for i in at.info if "could not be used" in i.value]
    text = _texts(at)
    assert "no prior" in text  # log p(z) along the path is undefined, and the page says so
    # an autoencoder's manifold grid is spaced by value between the codes' quantiles, and
    # the caption says so (not "in probability": it has no prior)
    manifold = [c.value for c in at.caption if c.value.startswith("Decodings of a 15 × 15")]
    assert len(manifold) == 1
    assert "spaced evenly in value between the 1 % and 99 % quantiles of the codes" in \
        manifold[0] and "in probability" not in manifold[0]
    assert "Its code: z = (" in text and "q(z|x) has standard deviations" not in text


def test_a_tiny_sprites_vae_shows_factors_and_mutual_information():
    query = {**TINY, "data": "sprites", "latent": "3", "axes": "PCA projection"}
    at = _train(open_page(PAGE, query))
    assert not errors(at)
    text = _texts(at)
    assert "square" in text or "ellipse" in text or "triangle" in text
    assert "principal components" in text
    assert "Mutual information gap (MIG)" in text
    mi = [c for c in _charts(at) if "I(z_j; factor)" in repr(json.loads(c.proto.spec))]
    assert len(mi) == 1
    widget(at, "color").set_value("rotation").run()
    widget(at, "axes").set_value("dims").run()
    widget(at, "zy").set_value(3).run()
    assert not errors(at)
    titles = [layer["encoding"]["y"].get("title") for c in _charts(at)
              for layer in json.loads(c.proto.spec).get("layer", [])
              if "y" in layer.get("encoding", {})]
    assert "z₃" in titles


@pytest.fixture
def tiny_comparison(monkeypatch):
    tiny = {"ae": replace(v.COMPARE_DEFAULTS["ae"], epochs=2),
            "vae": replace(v.COMPARE_DEFAULTS["vae"], epochs=2),
            "gan": replace(v.COMPARE_DEFAULTS["gan"], steps=100)}
    monkeypatch.setattr(v, "COMPARE_DEFAULTS", tiny)


@pytest.mark.parametrize("latent", ["2", "1"])
def test_autoencoder_vae_and_gan_side_by_side(tiny_comparison, latent):
    at = open_page(PAGE, {"cmp_latent": latent})
    for kind in ("ae", "vae", "gan"):  # each panel has its own Train button
        buttons = [b for b in at.button if b.key == f"cmp_{kind}_train"]
        if buttons:
            buttons[0].click().run()
    end = time.time() + 240
    while time.time() < end and _texts(at).count("Trained") < 3:
        time.sleep(0.3)
        at.run()
    assert not errors(at)
    text = _texts(at)
    assert "No encoder" in text  # the GAN has none, and the page says so
    assert ("noise line" if latent == "1" else "noise grid") in text
    assert text.count("Held-out points encoded") == 2  # the autoencoder and the VAE
    titles = [json.loads(c.proto.spec).get("title") for c in _charts(at)]
    assert titles.count("latent space") == 3 and titles.count("data space") == 3


def test_the_comparison_is_drawn_only_while_open_and_a_link_to_its_settings_opens_it():
    at = open_page(PAGE)
    assert not errors(at) and "cmp_latent" not in at.session_state  # closed: not drawn
    at = open_page(PAGE, {"cmp_latent": "1"})  # a link that sets it opens it
    assert not errors(at) and widget(at, "cmp_latent").value == 1
    assert not [i for i in at.info if "could not be used" in i.value]
    # opened closed (the link says so): its settings wait in the link, not reported unknown
    at = open_page(PAGE, {"compare": "false", "cmp_latent": "1"})
    assert not errors(at) and "cmp_latent" not in at.session_state
    assert at.query_params["cmp_latent"] == ["1"] or at.query_params["cmp_latent"] == "1"
    assert not [i for i in at.info if "could not be used" in i.value]
    at = open_page(PAGE, {"compare": "false", "cmp_latent": "7"})  # a bad value: said at once
    assert [w for w in at.warning if "Latent size = “7”" in w.value]
    at = open_page(PAGE, {"compare": "maybe"})
    assert not errors(at) and [i for i in at.info if "“maybe”" in i.value]
