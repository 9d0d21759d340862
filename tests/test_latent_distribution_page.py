"""The Latent distribution page under AppTest: defaults, a uniform prior, tiny runs trained
through the UI with 1-, 2- and 3-dimensional latents, its controls, and the numbers it shows
against models.latent applied to the trained model."""

import base64
import io
import json
import re

import numpy as np
import pyarrow as pa
import pytest
import torch
from PIL import Image

from apptest_util import button as _button
from apptest_util import (errors, from_cache, metrics as _metrics, open_page, paragraphs, seen_params,
                          widget)
from apptest_util import run_until as _run_until
from dashboard import charts, views_vae
from models import datasets, latent
from models.presets import PAGE_DEFAULTS
from models.priors import make_prior
from models.runs import RunCache, run_key
from models.train import VAEConfig

PAGE = "app_pages/latent_distribution.py"




def _train(at):
    """Click Train (unless another test trained the same settings) and wait for the run."""
    button = _button(at, "Train")
    if button is not None:
        button.click().run()
    assert not errors(at), errors(at)
    assert _run_until(at, lambda a: any("Trained" in s.value for s in a.success)
                      and _button(a, "Train") is None), "the run did not finish"



def _uncertainty(at) -> str:
    """The body of the one html element that is "What the uncertainty means" on image data."""
    (body,) = [h.proto.body for h in at.get("html")
               if "Where the decodings disagree" in h.proto.body]
    return body


def _pictures(body: str) -> list[tuple[str, np.ndarray]]:
    """The data URLs of an html element's images, with the grey pictures they decode to."""
    urls = re.findall(r"<img src='(data:image/png;base64,[^']+)'", body)
    return [(url, np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
                             .convert("L"))) for url in urls]


def _variant_pictures(at) -> dict[str, np.ndarray]:
    """The comparison grid's maps, title -> the picture (RGB) behind each."""
    out = {}
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        title = spec.get("title")
        title = title.get("text") if isinstance(title, dict) else title
        if not isinstance(title, str) or ", β = " not in title:
            continue
        for d in c.proto.datasets:
            frame = pa.ipc.open_stream(d.data.data).read_all().to_pandas()
            if "url" in frame:
                raw = base64.b64decode(frame["url"].iloc[0].split(",", 1)[1])
                out[title] = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
    return out


def test_the_prior_outlines_drawn_over_q_are_the_priors_own_regions():
    """The picture behind each map of the comparison grid: q(z) in colour, and the edges of
    the prior's 50 % and 90 % regions, in their colours, exactly where models.latent puts
    them."""
    g = torch.Generator().manual_seed(0)
    loc, scale = torch.randn(300, 2, generator=g) * 0.7, torch.full((300, 2), 0.3)
    e = latent.grid_edges(-4, 4, 60)
    q = (latent.posterior_mixture(loc, scale).cell_mass(e, e) / float(e[1] - e[0]) ** 2)
    p_mass = latent.prior_mixture(make_prior("mixture", 2)).cell_mass(e, e)
    raw = views_vae._field_with_prior_png(q.numpy(), float(q.max()), p_mass)
    rgb = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))[::2, ::2][::-1]  # cells
    assert rgb.shape == (60, 60, 3)
    regions = latent.mass_regions(p_mass, views_vae.PRIOR_LEVELS)
    edges = [latent.region_edges(r).numpy() for r in regions]
    white, pink = views_vae.PRIOR_LINE_COLOURS  # the 90 % outline is drawn last, on top
    assert np.array_equal((rgb == pink).all(-1), edges[1])
    assert np.array_equal((rgb == white).all(-1), edges[0] & ~edges[1])
    assert (edges[0] & ~edges[1]).sum() > 20
    rest = ~np.any(edges, axis=0)  # elsewhere: the colour of q(z)
    assert not (rgb[rest] == views_vae.PRIOR_LINE_COLOURS[0]).all(-1).any()


def test_defaults_are_two_dimensional_trained_and_untrained_shows_the_train_button():
    at = open_page(PAGE)
    assert not errors(at)
    assert at.title[0].value == "Latent distribution"
    assert widget(at, "latent").value == 2 == PAGE_DEFAULTS["latent-distribution"][0].latent_dim
    assert _button(at, "Train") is None and from_cache(at) >= 1  # shipped pretrained
    at = open_page(PAGE, {"seed": "7"})
    assert not errors(at)
    assert _button(at, "Train") is not None


def test_another_input_changes_the_ellipses_data_not_their_spec():
    """The browser updates a drawn chart in place only when its spec's text is the same; a
    new text builds a new Vega view (~100-200 ms a step). Inputs that make a different
    number of ellipses (one per class, the focus one of them or not) keep it too."""
    def ellipses(at):
        (chart,) = [c for c in at.get("vega_lite_chart") if "over q(z)" in c.proto.spec]
        return chart.proto.spec, {d.name: d.data.data for d in chart.proto.datasets}

    at = open_page(PAGE)
    spec, data = ellipses(at)
    for index in (1, 2):
        widget(at, "input").set_value(index).run()
        assert not errors(at)
        moved_spec, moved = ellipses(at)
        assert moved_spec == spec and moved != data
        data = moved


def test_the_uniform_prior_gives_its_reason_and_does_not_crash():
    at = open_page(PAGE, {"prior": "Uniform"})
    assert not errors(at)
    assert _button(at, "Train") is None
    assert any("infinite" in e.value for e in at.error)


def test_train_a_2d_points_vae_and_check_maps_ellipses_and_numbers():
    query = {"data": "moons", "epochs": "3", "lr": "0.01"}
    at = open_page(PAGE, query)
    _train(at)
    config = VAEConfig(dataset="moons", latent_dim=2, epochs=3, lr=0.01)
    result = RunCache().load(run_key(config))
    # the page's figures, recomputed here from the model with models.latent
    data = datasets.load("moons")
    with torch.no_grad():
        q = result.model.approx_posterior(data.x_train)
    qm = latent.posterior_mixture(q.mean, q.stddev)
    pm = latent.prior_mixture(make_prior(config.prior, 2))
    lo, hi = latent.bounds(q.mean, q.stddev, pm)
    e = latent.grid_edges(lo, hi, views_vae.GRID_CELLS)
    p_mass, q_mass = pm.cell_mass(e, e), qm.cell_mass(e, e)
    assert float(q_mass.sum()) == pytest.approx(1.0, abs=0.01)  # the grid holds q(z)
    shown = _metrics(at)
    assert shown["Prior mass in holes"] == f"{100 * latent.hole_mass(p_mass, q_mass):.1f} %"
    assert shown["KL(q(z) ‖ p(z)) (nats)"] == f"≥ {latent.grid_kl(q_mass, p_mass):.3f}"
    avg = latent.average_kl(q.mean, q.stddev, pm)
    assert shown["Average KL(q(z|x) ‖ p(z)) (nats)"] == f"{avg:.3f}"
    info = avg - latent.grid_kl(q_mass, p_mass)
    assert shown["Information I(x; z) (nats)"] == f"≤ {info:.3f}"
    # the average KL over the training inputs is close to the ELBO's KL term held out
    assert avg == pytest.approx(result.metrics["test_kl"], rel=0.2)
    # moons has labels: ellipses for one input per class, or for the next ten
    assert widget(at, "show").value == "class"
    charts_before = len(at.get("vega_lite_chart"))
    widget(at, "show").set_value("next").run()
    assert not errors(at)
    widget(at, "input").set_value(37).run()
    assert not errors(at)
    assert any("#37" in t for t in paragraphs(at))
    assert len(at.get("vega_lite_chart")) == charts_before
    # the comparison grid offers to train the variants it does not have; trained, each
    # shows its q(z) with its prior p(z) outlined on top
    _button(at, "Train 5 comparison runs").click().run()
    assert _run_until(at, lambda a: len(_variant_pictures(a)) == 6, timeout=600), \
        "the comparison runs did not finish"
    pictures = _variant_pictures(at)
    assert set(pictures) == {f"{prior}, β = {beta:g}" for beta in views_vae.COMPARE_BETAS
                             for prior in ("Standard Gaussian", "Mixture of Gaussians")}
    for title, rgb in pictures.items():  # every map has both outlines of its prior
        for colour in views_vae.PRIOR_LINE_COLOURS:
            assert (rgb == colour).all(-1).sum() > 20, (title, colour)
    mixture = pictures["Mixture of Gaussians, β = 1"]
    gaussian = pictures["Standard Gaussian, β = 1"]
    # the mixture's 50 % region is eight islands, the Gaussian's one disc: more outline
    white = views_vae.PRIOR_LINE_COLOURS[0]
    assert (mixture == white).all(-1).sum() > 2 * (gaussian == white).all(-1).sum()
    assert any("Lines: its prior p(z)" in c.value for c in at.caption)


def test_one_and_three_dimensional_latents_on_digits():
    at = open_page(PAGE, {"latent": "3", "epochs": "1"})
    _train(at)
    params = seen_params(at)
    assert {"dx", "dy", "input", "show"} <= set(params)
    assert widget(at, "dx").value != widget(at, "dy").value  # the two most active dimensions
    widget(at, "dy").set_value(widget(at, "dx").value).run()
    assert not errors(at)
    assert any("two different dimensions" in w.value for w in at.warning)
    assert len(_pictures(_uncertainty(at))) == 3  # the input, its decodings, their spread
    # and the chosen inputs beside the ellipses, as one strip: one per class, 10 digits
    (strip,) = [h.proto.body for h in at.get("html") if "held-out input" in h.proto.body]
    assert strip.count("<img src='data:image/png;base64,") >= 10
    assert any("marginals on" in t for t in paragraphs(at))

    at = open_page(PAGE, {"latent": "1", "epochs": "1"})
    _train(at)
    assert "dx" not in seen_params(at)
    assert not errors(at)
    shown = _metrics(at)
    config = VAEConfig(latent_dim=1, epochs=1)
    result = RunCache().load(run_key(config))
    with torch.no_grad():
        q = result.model.approx_posterior(datasets.load("digits").x_train)
    qm = latent.posterior_mixture(q.mean, q.stddev)
    pm = latent.prior_mixture(make_prior(config.prior, 1))
    lo, hi = latent.bounds(q.mean, q.stddev, pm)
    e = latent.grid_edges(lo, hi, views_vae.GRID_CELLS)
    holes = latent.hole_mass(pm.cell_mass(e), qm.cell_mass(e))
    assert shown["Prior mass in holes"] == f"{100 * holes:.1f} %"



def test_the_decoding_beside_the_input_is_the_current_models():
    """"What the uncertainty means" shows the input above E[x|z] at the mean of its q(z|x):
    another model (here 20 latent dimensions instead of 2; both ship pretrained) decodes it
    differently, so the picture must change with the model, not only with the input (it was
    cached on the data set and input alone, and showed the first model's decoding)."""
    pictures = []
    for query in ({}, {"latent": "20"}):
        at = open_page(PAGE, query)
        assert not errors(at), errors(at)
        body = _uncertainty(at)
        assert ">Input #0" in body
        pictures.append(_pictures(body)[0][0])  # the first figure's data URL: its pixels
    assert pictures[0] != pictures[1]


def test_what_the_uncertainty_means_is_one_html_element():
    """On image data the section is one st.html element (the browser rebuilds every element a
    fragment rerun sends, on every step of the input slider): three titled figures (the input
    over its decoding, 16 decodings, their per-pixel spread under its colour legend) and the
    caption, with no st.image, markdown or columns of its own. Its headings are the page's,
    drawn once outside the fragment."""
    at = open_page(PAGE)
    assert not errors(at), errors(at)
    body = _uncertainty(at)
    assert not at.get("image")
    assert [s.value for s in at.subheader][:2] == ["The encoder's q(z|x)",
                                                   "What the uncertainty means"]
    assert body.count("<figure") == 3 and "flex-wrap:wrap" in body
    for title in ("Input #0", f"{views_vae.POSTERIOR_SAMPLES_IMAGES} codes z ~ q(z|x), decoded",
                  "Where the decodings disagree"):
        assert f">{title}" in body
    assert "Top: x. Bottom: E[x|z] at the mean of q(z|x)." in body
    assert any("the encoder's uncertainty made visible" in t for t in paragraphs(at))
    assert not any("uncertainty made visible" in c.value for c in at.caption)
    # the legend under the third figure is legend_bar's, and nowhere else on its own
    legend = charts.legend_html(0.0, views_vae.SPREAD_TOP, "pixel std")
    assert body.index(legend) > body.index("Where the decodings disagree")
    assert not any(h.proto.body == legend for h in at.get("html"))
    # the pictures: x over E[x|z], a grid of 2 x 8 decodings, and the spread at 28 x 28 x 5
    (_, pair), (_, grid), (_, spread) = _pictures(body)
    assert pair.shape == (2 * 29 * 3 + 3, 29 * 3 + 3)
    assert grid.shape == (2 * 29 * 3 + 3, 8 * 29 * 3 + 3)
    assert spread.shape == (28 * 5, 28 * 5)
    widget(at, "input").set_value(4).run()
    assert not errors(at), errors(at)
    assert ">Input #4" in _uncertainty(at)
