"""Every page under AppTest: defaults, each control changed once, URL state (widgets and the
frozen configs the controls build), bad links, and the home page's stories."""

import json
import math
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from apptest_util import errors, open_page, other_value, page_paths, seen_params, widget
from dashboard import controls, state
from dashboard import views_gan
from dashboard import views_lvm
from dashboard.state import Param
from models.lvm import LVMConfig
from models.presets import PAGE_DEFAULTS
from models.priors import PriorConfig

PAGES = page_paths()
# A page's tabs draw only the open one (views_gan.sections): the controls of each tab are
# tested with a link that opens it. The tab itself is a URL setting AppTest cannot click.
TABS = {"app_pages/gan.py": ("part", ["Digits GAN"]),  # parts drawn only when open
        "app_pages/latent_space.py": ("compare", ["true"])}
VIEWS = [(p, {}) for p in PAGES] + [(p, {k: t}) for p, (k, tabs) in TABS.items() for t in tabs]
VIEW_IDS = [p + "".join(f"?{k}={v}" for k, v in q.items()) for p, q in VIEWS]
NOT_WIDGETS = {*state.GLOBAL_KEYS, *(k for k, _ in TABS.values())}


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_at_its_defaults(page):
    at = open_page(page)
    assert not errors(at), errors(at)
    assert at.title, "every page has a title"
    assert not at.info or all("could not be used" not in i.value for i in at.info)
    # Images go out as the PNGs the pages encode: Streamlit's default ("auto") re-encodes an
    # image without alpha to JPEG on every run, blurring the digits and costing the server CPU.
    urls = [img.url for el in at.get("image") for img in el.proto.imgs]
    assert all(u.endswith(".png") for u in urls), urls


@pytest.mark.parametrize("page, tab", VIEWS, ids=VIEW_IDS)
def test_each_control_changed_once_runs_without_exception(page, tab):
    at = open_page(page, tab)
    params = seen_params(at)
    assert params, "a page without controls?"
    for key, p in params.items():
        if key in NOT_WIDGETS:  # the frame's own (presenter and lecture mode), a page's tabs
            continue
        at = open_page(page, tab)
        if key not in seen_params(at):
            continue  # drawn only under another setting
        w = widget(at, key)
        new = other_value(p, w.value)
        w.set_value(new).run()
        assert not errors(at), (key, new, errors(at))
        assert widget(at, key).value == new, key


@pytest.mark.parametrize("page, tab", VIEWS, ids=VIEW_IDS)
def test_url_parameters_set_the_controls(page, tab):
    params = {k: p for k, p in seen_params(open_page(page, tab)).items()
              if k not in NOT_WIDGETS}
    for key, p in params.items():
        new = other_value(p, p.default)
        query = state.query_for([p], {key: new})
        at = open_page(page, {**tab, **query})
        assert not errors(at)
        if key in seen_params(at):
            assert widget(at, key).value == new, (key, query)
            assert not any("could not be used" in i.value for i in at.info), (key, query)


@pytest.mark.parametrize("page, tab", VIEWS, ids=VIEW_IDS)
def test_url_round_trip_of_all_values(page, tab):
    """values -> URL -> widgets -> URL: the widgets show the values, and writing what they
    show back into URL form gives the link that was opened."""
    params = [p for k, p in seen_params(open_page(page, tab)).items()
              if k not in NOT_WIDGETS]
    values = {p.key: other_value(p, p.default) for p in params}
    query = state.query_for(params, values)
    assert set(query) == {p.key for p in params}  # every value differs from its default
    at = open_page(page, {**tab, **query})
    assert not errors(at)
    shown = {k: p for k, p in seen_params(at).items() if k in values}
    assert shown, "none of the page's controls was drawn"
    got = {k: widget(at, k).value for k in shown}
    assert got == {k: values[k] for k in shown}
    # (written with the Params the link was made with: a preset can change a default)
    first = {p.key: p for p in params}
    assert state.query_for([first[k] for k in shown], got) == {k: query[k] for k in shown}
    # a notice may name controls this combination hides (a mixture's weights when the prior
    # is another), never one that was drawn
    notices = " ".join(i.value for i in at.info if "could not be used" in i.value)
    assert not [p.label for p in shown.values() if f"{p.label} = “" in notices], notices


# --- config -> URL -> config: the frozen configs that the controls build ----------------------

def _spy(monkeypatch, module, name: str) -> list:
    """Record what module.name returns while a page runs (AppTest runs the page in this
    process, so the page calls the patched function)."""
    built, original = [], getattr(module, name)

    def wrapper(*args, **kwargs):
        out = original(*args, **kwargs)
        built.append(out)
        return out

    monkeypatch.setattr(module, name, wrapper)
    return built


def _open_with(page: str, values: dict) -> tuple:
    """Open page with a link that sets values (URL names -> values), written by the page's
    own Params (state.query_for), as its controls would write it. Controls drawn only under
    another setting (a mixture's weights, ...) appear once that setting is in the link, so
    the link is rebuilt until every named control has been drawn."""
    query: dict = {}
    for _ in range(4):
        at = open_page(page, query)
        params = seen_params(at)
        new = state.query_for([params[k] for k in values if k in params], values)
        if new == query and all(k in params for k in values):
            return at, query
        query = new
    raise AssertionError(f"controls never drawn on {page}: "
                         f"{sorted(set(values) - set(seen_params(at)))}")


def _prior_values(prior: PriorConfig) -> dict:
    """The prior's controls: a mixture's count and spread, a Student-t's ν, drawn only then."""
    if prior.name == "mixture":
        return {"prior": prior.name, "k": prior.components, "spread": prior.spread}
    if prior.name == "student_t":
        return {"prior": prior.name, "df": prior.df}
    return {"prior": prior.name}


AE = PAGE_DEFAULTS["autoencoder"][0]
VAE = PAGE_DEFAULTS["vae"][0]
GAN = views_gan.PRESETS[views_gan.PRESET.default]
AE_CASES = [replace(AE, dataset="moons", latent_dim=64, hidden=32, epochs=200, lr=1.0, seed=9999),
            replace(AE, dataset="sprites", latent_dim=1, linear=True, epochs=1, lr=1e-4, seed=7)]
VAE_CASES = [
    replace(VAE, dataset="moons", latent_dim=64, beta=10.0, epochs=200, lr=1.0, seed=9999,
            prior=replace(VAE.prior, name="mixture", components=16, spread=4.0)),
    replace(VAE, dataset="sprites", latent_dim=1, beta=0.0, epochs=1, lr=1e-4, seed=3,
            prior=replace(VAE.prior, name="student_t", df=30.0)),
]
GAN_CASES = [
    replace(GAN, dataset="grid25", noise_dim=8, g_depth=4, g_hidden=16, d_depth=1,
            d_hidden=512, loss="wgan-gp", g_lr=1e-4, d_lr=1.0, d_steps=5, steps=20000,
            batch_size=32, seed=9999,
            prior=replace(GAN.prior, name="mixture", components=16, spread=4.0)),
    replace(GAN, dataset="spiral", noise_dim=1, loss="lsgan", steps=100, batch_size=512,
            prior=replace(GAN.prior, name="student_t", df=1.0)),
]
LVM_CASES = [
    LVMConfig(latent_dim=1, prior="mixture", mix_weights=(0.1, 0.9, 0.55),
              mix_locs=(-3.0, 3.0, 0.7), mix_scales=(0.1, 2.0, 1.35), decoder="sine",
              a=-3.0, b=3.0, w=4.0, sigma=2.0),
    LVMConfig(latent_dim=2, prior="student_t", prior_loc=-2.0, prior_scale=2.0, df=30.0,
              decoder="tanh", a=3.0, b=-3.0, c=-3.0, w=0.2, sigma=0.05),
    LVMConfig(latent_dim=2, prior="mixture", mix_weights=(1.0, 0.05, 0.35),
              mix_locs=((-3.0, 3.0), (2.5, -2.5), (1.2, 3.0)), mix_scales=(2.0, 0.1, 0.75),
              decoder="fold", a=2.0, b=1.0, c=-1.0, sigma=1.5),
]


def _ae_values(c) -> dict:
    return {"data": c.dataset, "latent": c.latent_dim, "hidden": c.hidden, "linear": c.linear,
            "epochs": c.epochs, "lr": c.lr, "seed": c.seed}


def _vae_values(c) -> dict:
    return {"data": c.dataset, "latent": c.latent_dim, "beta": c.beta, "epochs": c.epochs,
            "lr": c.lr, "seed": c.seed, **_prior_values(c.prior)}


def _gan_values(c) -> dict:
    return {"data": c.dataset, "noise": c.noise_dim, "g_depth": c.g_depth,
            "g_hidden": c.g_hidden, "d_depth": c.d_depth, "d_hidden": c.d_hidden,
            "loss": c.loss, "g_lr": c.g_lr, "d_lr": c.d_lr, "d_steps": c.d_steps,
            "steps": c.steps, "batch": c.batch_size, "seed": c.seed, **_prior_values(c.prior)}


def _lvm_values(c: LVMConfig) -> dict:
    out = {"dim": c.latent_dim, "prior": c.prior, "decoder": c.decoder, "a": c.a, "b": c.b,
           "sigma": c.sigma}
    if c.prior == "mixture":
        out["comps"] = len(c.mix_weights)
        for i, (w, loc, s) in enumerate(zip(c.mix_weights, c.mix_locs, c.mix_scales)):
            out.update({f"w{i + 1}": w, f"s{i + 1}": s})
            if c.latent_dim == 1:
                out[f"m{i + 1}"] = loc
            else:
                out[f"m{i + 1}"], out[f"m{i + 1}_z2"] = loc
    else:
        out.update(loc=c.prior_loc, scale=c.prior_scale)
        if c.prior == "student_t":
            out["df"] = c.df
    if c.latent_dim == 2:
        out["c"] = c.c
    if c.decoder in ("tanh", "sine"):
        out["freq"] = c.w
    return out


ROUND_TRIPS = (
    [("app_pages/autoencoder.py", controls, "ae_controls", c, _ae_values) for c in AE_CASES]
    + [("app_pages/vae.py", controls, "vae_controls", c, _vae_values) for c in VAE_CASES]
    + [("app_pages/gan.py", controls, "gan_controls", c, _gan_values) for c in GAN_CASES]
    + [("app_pages/lvm.py", views_lvm, "model_controls", c, _lvm_values) for c in LVM_CASES])


@pytest.mark.parametrize("page, module, builder, config, to_values", ROUND_TRIPS,
                         ids=[f"{r[0].split('/')[-1][:-3]}-{i}" for i, r in
                              enumerate(ROUND_TRIPS)])
def test_config_url_config_round_trip(monkeypatch, page, module, builder, config, to_values):
    """A frozen config -> the link its controls would write -> the page -> the same config.
    Every field with a control has a non-default value in one of the cases."""
    if page.split("/")[-1] not in {p.split("/")[-1] for p in PAGES}:
        pytest.skip(f"{page} is not one of the app's pages")
    built = _spy(monkeypatch, module, builder)
    values = to_values(config)
    at, query = _open_with(page, values)
    assert not errors(at), errors(at)
    assert not any("could not be used" in i.value for i in at.info), query
    result = built[-1]
    if builder == "model_controls":
        result, problem = result
        assert problem is None, problem
    assert result == config, (query, result)


def test_round_trip_cases_change_every_controlled_field():
    """The cases above leave no control at its default (else its URL form is never tested)."""
    for defaults, cases, to_values in [(AE, AE_CASES, _ae_values), (VAE, VAE_CASES, _vae_values),
                                       (GAN, GAN_CASES, _gan_values)]:
        base = to_values(defaults)
        if hasattr(defaults, "prior"):  # the prior's conditional controls, at their defaults
            base.update(k=defaults.prior.components, spread=defaults.prior.spread,
                        df=defaults.prior.df)
        changed = {k for c in cases for k, v in to_values(c).items() if v != base.get(k)}
        assert changed == set(base), set(base) - changed
    lvm_page = {p.key: p for p in vars(views_lvm).values() if isinstance(p, Param)}
    lvm_page |= {p.key: p for group in (views_lvm.WEIGHTS, views_lvm.MEANS, views_lvm.MEANS_2,
                                        views_lvm.SCALES) for p in group}
    for key in ("x0", "z0", "z0_2", "samples", "count", "seed"):  # not the model's settings
        del lvm_page[key]
    changed = {k for c in LVM_CASES for k, v in _lvm_values(c).items()
               if v != lvm_page[k].default}
    assert set(lvm_page) <= changed, set(lvm_page) - changed


GARBAGE = [
    {"bogus": "1"},
    {"seed": "abc"},
    {"seed": "-5"},
    {"seed": "1e400"},
    {"seed": "x" * 5000},
    {"presenter": "maybe"},
    {"n": "NaN", "noise": "inf", "story": "Dragons", "reveal": "2"},
]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("query", GARBAGE)
def test_garbage_url_parameters_give_a_notice_not_an_exception(page, query):
    at = open_page(page, query)
    assert not errors(at), errors(at)
    if set(query) - {"presenter"}:
        notices = [i.value for i in at.info if "could not be used" in i.value]
        assert notices, (page, query)
        assert len(notices[0]) < 2000  # long values are shortened
    # and the controls that the link tried to set show their defaults
    params = seen_params(at)
    for key in set(query) & set(params):
        assert widget(at, key).value == params[key].default, (page, key, query[key])


# --- the home page's stories ------------------------------------------------------------------

def _scatter(at) -> dict:
    chart = at.get("vega_lite_chart")[0]
    spec = json.loads(chart.proto.spec)
    name = (spec["layer"][0] if "layer" in spec else spec)["data"]["name"]  # the points' layer
    (d,) = [d for d in chart.proto.datasets if d.name == name]
    return pa.ipc.open_stream(d.data.data).read_all().to_pydict()


def test_a_noise_step_changes_the_scatters_data_not_its_spec():
    """The browser updates a drawn chart in place only when the spec's text is the same (a
    new text builds a new Vega view, ~100-200 ms): so a slider step must change data only."""
    at = open_page("app_pages/home.py", {"reveal": "true"})
    chart = at.get("vega_lite_chart")[0]
    spec, data = chart.proto.spec, _scatter(at)
    # 800 points: drawn on a canvas, not as 800 SVG elements
    assert json.loads(spec)["usermeta"]["embedOptions"]["renderer"] == "canvas"
    widget(at, "noise").set_value(0.3).run()
    chart = at.get("vega_lite_chart")[0]
    assert chart.proto.spec == spec
    moved = _scatter(at)
    assert moved["x₁"] != data["x₁"]
    # both axes still span the same length (the square is kept by the corner points)
    corners = [pa.ipc.open_stream(d.data.data).read_all().to_pydict()
               for d in chart.proto.datasets][1]
    (x0, x1), (y0, y1) = corners["x₁"], corners["x₂"]
    assert x1 - x0 == pytest.approx(y1 - y0)
    assert x0 <= min(moved["x₁"]) and max(moved["x₁"]) <= x1
    assert y0 <= min(moved["x₂"]) and max(moved["x₂"]) <= y1


def test_the_hidden_class_story_matches_its_data():
    """The text names z ∈ {0, …, 7} and x = (2 cos 2πz/8, 2 sin 2πz/8): with no noise every
    point must sit exactly there, and every class must occur."""
    at = open_page("app_pages/home.py", {"story": "Hidden class", "noise": "0",
                                         "reveal": "true"})
    assert not errors(at)
    process = [m.value for m in at.markdown if "How this data was made" in m.value]
    assert process and "z ∈ {0, 1, …, 7}" in process[0] and "2πz/8" in process[0]
    data = _scatter(at)
    z = np.array(data["z"])
    assert set(z.tolist()) == set(range(8))
    np.testing.assert_allclose(data["x₁"], 2 * np.cos(2 * math.pi * z / 8), atol=1e-6)
    np.testing.assert_allclose(data["x₂"], 2 * np.sin(2 * math.pi * z / 8), atol=1e-6)


def test_the_moons_story_matches_its_data():
    at = open_page("app_pages/home.py", {"story": "Two moons", "noise": "0", "reveal": "true"})
    process = [m.value for m in at.markdown if "How this data was made" in m.value]
    assert process and "z ∈ {0, 1}" in process[0] and "0: the upper one" in process[0]
    data = _scatter(at)
    z, x2 = np.array(data["z"]), np.array(data["x₂"])
    assert set(z.tolist()) == {0, 1}
    assert x2[z == 0].mean() > x2[z == 1].mean()  # moon 0 is the upper one


def test_presenter_mode_is_a_url_setting_kept_across_pages():
    at = open_page("app_pages/home.py", {"presenter": "true"})
    assert widget(at, "presenter").value is True
    assert not errors(at)


def test_param_parsing():
    p = Param("n", "N", 5, "int", lo=1, hi=10)
    assert p.parse("7") == (True, 7) and p.parse("7.0") == (True, 7)
    assert not p.parse("7.5")[0] and not p.parse("11")[0] and not p.parse("x")[0]
    f = Param("f", "F", 0.5, "float", lo=0.0, hi=1.0)
    assert f.parse("0.25") == (True, 0.25) and not f.parse("nan")[0]
    c = Param("c", "C", "a", "choice", options=("a", "b"), labels={"a": "Alpha", "b": "Beta"})
    assert c.parse("Beta") == (True, "b") and not c.parse("Gamma")[0]
    b = Param("b", "B", False, "bool")
    assert b.parse("true") == (True, True) and not b.parse("maybe")[0]
    s = Param("s", "S", 3, "steps", options=(1, 2))
    assert s.options == (1, 2, 3)  # the default is always offered
