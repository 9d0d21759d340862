"""The "Latent variable models" page under AppTest: it runs for every prior, decoder and latent
dimension; the numbers it prints are those of models.lvm for the same settings (and of the
closed forms where they exist); bad settings give a message; and its glue (views_lvm) is
checked against references."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
import torch

from apptest_util import (errors, metric_list, metrics, open_page, other_value, seen_params, texts,
                          widget)
from dashboard import state
from dashboard import views_lvm as views
from dashboard.nav import DASHBOARD
from models.lvm import (DECODERS, PRIOR_NAMES, LVMConfig, QFit, closed_form_evidence,
                        compute_view, fit_q, make_lvm)

PAGE = "app_pages/lvm.py"
DEFAULT_X0, DEFAULT_Z0 = views.X0.default, views.Z0.default


def page(query: dict | None = None):
    at = open_page(PAGE, query)
    assert not errors(at), errors(at)
    return at


def number(at, label_start: str) -> float:
    (value,) = [v for k, v in metrics(at).items() if k.startswith(label_start)]
    return float(value)


def page_config(**kw) -> LVMConfig:
    """The model the page builds at its defaults, with kw changed."""
    d = views.DEFAULT
    base = dict(prior="mixture", mix_weights=d.mix_weights[:2], mix_locs=d.mix_locs[:2],
                mix_scales=d.mix_scales[:2], decoder=d.decoder, a=d.a, b=d.b, c=d.c,
                sigma=d.sigma)  # w: drawn (and passed) only for tanh and sine
    return LVMConfig(**{**base, **kw})


SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def log_of_printed(text: str) -> float:
    """The natural log of a printed density: "0.1234", "0" or "3.210 × 10⁻⁵¹²"."""
    if text == "0":
        return -math.inf
    if "×" in text:
        m, power = text.split(" × 10")
        return math.log(float(m)) + int(power.translate(SUPERSCRIPT)) * math.log(10)
    return math.log(float(text))


FACTORS = ("p(x₀|z₀), likelihood", "p(z₀), prior", "p(x₀), evidence", "p(z₀|x₀), posterior")


def printed_log(at, factor: str) -> float:
    """The log of a factor of Bayes' rule as printed: a density, or (when one underflows)
    the row of logs, labelled "log …"."""
    (label, value), = [(k, v) for k, v in metrics(at).items() if k.endswith(factor)]
    if "log " in label:
        return -math.inf if value == "−∞" else float(value.replace("−", "-").replace(",", ""))
    return log_of_printed(value)


def assert_numbers_match(at, config: LVMConfig, x0: float, z0) -> None:
    """Every number printed on the page against models.lvm (a fresh fit)."""
    view = compute_view(config, x0, z0)
    q = fit_q(config, x0)
    model = make_lvm(config)
    z = np.reshape(np.asarray(z0, dtype=float), (1, -1))
    lik = float(model.log_likelihood(x0, z)[0])
    prior = float(model.log_prior(z)[0])
    post = float(model.log_posterior(z, x0)[0])
    assert number(at, "log p(x₀)") == pytest.approx(view.log_evidence_x0, abs=6e-5)
    assert number(at, "log p(x₀)") == pytest.approx(q.log_evidence, abs=6e-5)
    assert number(at, "ELBO") == pytest.approx(q.elbo, abs=6e-5)
    assert number(at, "gap") == pytest.approx(q.gap, abs=6e-5)
    # densities are printed to 4 significant digits (logs agree to ~6e-4), logs to 2 decimals
    logs = any(k.startswith("log p(x₀|z₀)") for k in metrics(at))
    for factor, exact in zip(FACTORS, (lik, prior, view.log_evidence_x0, post)):
        shown = printed_log(at, factor)
        if exact == -math.inf:
            assert shown == -math.inf, factor
        else:
            tol = (0.5 if abs(exact) >= 1000 else 5e-3) if logs else 6e-4
            assert shown == pytest.approx(exact, abs=tol), factor
    # the printed ELBO never exceeds the printed log evidence, and the gap is their difference
    assert number(at, "ELBO") <= number(at, "log p(x₀)") + 1e-4
    assert number(at, "gap") == pytest.approx(number(at, "log p(x₀)") - number(at, "ELBO"),
                                              abs=2e-4)


def vega(at) -> list:
    """The page's charts, in page order."""
    return at.get("vega_lite_chart")


def bars(at) -> list[str]:
    """The ELBO bars (views_lvm.elbo_bars_html) on the page."""
    return [el.proto.body for el in at.get("html") if "class='ll-bars'" in el.proto.body]


def dataset(chart, name: str) -> pa.Table:
    (d,) = [d for d in chart.proto.datasets if d.name == name]
    return pa.ipc.open_stream(d.data.data).read_all()


# --- the page -------------------------------------------------------------------------------

def test_page_at_its_defaults_shows_the_five_distributions_and_the_elbo():
    at = page()
    assert at.title[0].value == "Latent variable models"
    subheaders = [s.value for s in at.subheader]
    assert any("joint p(x, z)" in s for s in subheaders)
    assert any("Bayes' rule" in s for s in subheaders)
    assert any("ELBO" in s for s in subheaders)
    assert len(vega(at)) == 2  # joint with marginals; Bayes' rule with q over p(z|x0)
    joint = vega(at)[0]
    names = {d.name for d in joint.proto.datasets}
    assert {"joint", "prior", "posterior", "evidence", "likelihood", "x0", "z0"} <= names
    assert "samples" not in names
    bayes = json.loads(vega(at)[1].proto.spec)
    legend = bayes["layer"][1]["encoding"]["color"]["legend"]["labelExpr"]
    assert "approximation q(z|x₀)" in legend and "posterior p(z|x₀)" in legend
    # q's curve, drawn over the posterior, is q_density on the plotted z cells
    config, curves = page_config(), dataset(vega(at)[1], "curves")
    view, q = compute_view(config, DEFAULT_X0, (DEFAULT_Z0,)), fit_q(config, DEFAULT_X0)
    axis = view.grid.axes[0]
    cells = np.searchsorted(axis, curves.column("z").to_numpy())
    np.testing.assert_allclose(axis[cells], curves.column("z").to_numpy())
    np.testing.assert_allclose(curves.column("c4").to_numpy(), views.q_density(view, q)[cells],
                               rtol=1e-9)
    assert len(bars(at)) == 1
    assert not at.warning
    assert_numbers_match(at, page_config(), DEFAULT_X0, (DEFAULT_Z0,))


def test_two_dimensional_latent():
    at = page({"dim": "2", "z0_2": "-0.5"})
    assert "z0_2" in seen_params(at) and "c" in seen_params(at)
    assert len(vega(at)) == 2
    bayes = vega(at)[1]
    # three maps, q's ellipses and mean on the posterior's
    assert {d.name for d in bayes.proto.datasets} >= {"lik", "prior", "post", "q", "q_loc"}
    config = page_config(latent_dim=2, mix_locs=((-1.5, 1.0), (1.5, -1.0)))
    assert_numbers_match(at, config, DEFAULT_X0, (DEFAULT_Z0, -0.5))


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("prior", PRIOR_NAMES)
def test_each_prior(prior, dim):
    at = page({"prior": views.PRIOR_LABELS[prior], "dim": str(dim), "x0": "1.2"})
    assert widget(at, "prior").value == prior
    if prior == "mixture":
        locs = views.DEFAULT.mix_locs[:2] if dim == 1 else ((-1.5, 1.0), (1.5, -1.0))
        config = page_config(latent_dim=dim, mix_locs=locs)
    else:
        config = page_config(latent_dim=dim, prior=prior)
    z0 = (DEFAULT_Z0,) if dim == 1 else (DEFAULT_Z0, 0.0)
    assert_numbers_match(at, config, 1.2, z0)
    truncated_note = any("truncated to the box" in t for t in texts(at))
    assert truncated_note == (prior == "uniform")


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("decoder", list(DECODERS))
def test_each_decoder(decoder, dim):
    query = {"decoder": DECODERS[decoder].label, "dim": str(dim), "prior": "Gaussian",
             "a": "1.5", "x0": "0.8"}
    if decoder in ("tanh", "sine"):
        query["freq"] = "2"
    at = page(query)
    assert widget(at, "decoder").value == decoder
    config = page_config(latent_dim=dim, prior="gaussian", decoder=decoder, a=1.5,
                         **({"w": 2.0} if decoder in ("tanh", "sine") else {}))
    assert_numbers_match(at, config, 0.8, (DEFAULT_Z0,) if dim == 1 else (DEFAULT_Z0, 0.0))
    formula = views.FORMULAS[decoder][dim - 1]
    assert any(formula in c.value for c in at.caption)


def test_linear_gaussian_matches_the_closed_form_and_has_no_gap():
    at = page({"prior": "Gaussian", "loc": "0.5", "scale": "1.3", "a": "1.5", "b": "0.2",
               "sigma": "0.4", "x0": "2"})
    config = LVMConfig(prior_loc=0.5, prior_scale=1.3, a=1.5, b=0.2, sigma=0.4)
    exact = float(closed_form_evidence(config).log_prob(torch.tensor(2.0, dtype=torch.float64)))
    assert number(at, "log p(x₀)") == pytest.approx(exact, abs=1e-4)
    assert number(at, "gap") == pytest.approx(0.0, abs=1e-4)  # the posterior is Gaussian
    assert number(at, "ELBO") == pytest.approx(exact, abs=2e-4)


def test_a_bimodal_posterior_leaves_a_gap():
    at = page({"prior": "Gaussian", "decoder": "Fold", "a": "2", "sigma": "0.3", "x0": "2"})
    assert number(at, "gap") > 0.3  # q covers one of two equal modes: KL ~ log 2


@pytest.mark.parametrize("query, path", [
    ({}, (0.55, 0.6, 0.65, 0.7)),
    # a bimodal posterior (wide sigma between the two mixture components): coming from the
    # left, a warm-started q would stay on the left mode (ELBO -2.908) while a link's fresh
    # fit takes the better right one (-2.172)
    ({"sigma": "1.5"}, (-3.0, -1.5, 0.0, 0.3))])
def test_the_numbers_do_not_depend_on_the_slider_history(query, path):
    at = page(query)
    before = metrics(at)
    for x0 in path:
        widget(at, "x0").set_value(x0).run()
        assert not errors(at)
    after = metrics(at)
    assert after["log p(x₀)"] != before["log p(x₀)"] and after["ELBO"] != before["ELBO"]
    link = page({**query, "x0": str(path[-1])})  # what a reload of the link shows
    assert metrics(link) == after
    assert texts(link) == texts(at)
    q = fit_q(replace(page_config(), sigma=float(query.get("sigma", 0.5))), path[-1])
    assert number(link, "ELBO") == pytest.approx(q.elbo, abs=6e-5)


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("key, value", [("x0", 1.5), ("sigma", 0.8), ("decoder", "tanh"),
                                        ("prior", "laplace")])
def test_sliders_change_chart_data_not_chart_specs(dim, key, value):
    """The browser swaps data in place only while a chart's spec is unchanged: everything
    that follows x0 (or the model, within one latent dimension) must be data."""
    at = page({"dim": str(dim), "samples": "true"})
    specs = [c.proto.spec for c in vega(at)]
    data = [{d.name: d.data.data for d in c.proto.datasets} for c in vega(at)]
    widget(at, key).set_value(value).run()
    assert not errors(at)
    assert [c.proto.spec for c in vega(at)] == specs
    moved = [{d.name: d.data.data for d in c.proto.datasets} for c in vega(at)]
    assert all(a != b for a, b in zip(data, moved))  # every chart follows the change


def test_samples_are_drawn_on_the_joint_on_request():
    at = page({"samples": "true", "count": "150", "seed": "3"})
    table = dataset(vega(at)[0], "samples")
    assert table.num_rows == 150
    z, x = make_lvm(page_config()).sample(150, 3)
    np.testing.assert_allclose(table.column("a").to_numpy(), z[:, 0])
    np.testing.assert_allclose(table.column("b").to_numpy(), x)


def test_a_bad_setting_shows_a_message_not_an_exception():
    at = page({"w1": "0", "w2": "0"})
    assert any("Mixture weights" in w.value for w in at.warning)
    assert not metric_list(at) and not vega(at)


def test_a_far_observation_is_flagged():
    at = page({"x0": "15"})
    assert any("edge of the z grid" in w.value for w in at.warning)


def test_presenter_mode_runs():
    at = page({"presenter": "true", "dim": "2"})
    assert len(vega(at)) == 2 and len(bars(at)) == 1


def test_vae_link_only_when_the_vae_page_exists():
    at = page()
    links = at.get("page_link")
    exists = (DASHBOARD / "app_pages" / "vae.py").exists()
    assert len(links) == int(exists)
    if exists:
        assert links[0].proto.page == "vae"  # the VAE page's URL path
    assert any("VAE's objective" in m.value for m in at.markdown)
    assert not any("See the VAE page" in m.value for m in at.markdown)  # no dead reference


def test_a_far_observation_prints_densities_from_their_logs():
    """Uniform prior, fold decoder, 2-D z, sigma 0.05, x0 = -15: p(x0|z0) and p(x0) are far
    below 1e-308. The page must not print them as 0 (and divide 0 by 0)."""
    query = {"prior": "Uniform", "decoder": "Fold", "dim": "2", "sigma": "0.05", "x0": "-15",
             "z0": "0.5", "z0_2": "0.5"}
    at = page(query)
    config = LVMConfig(latent_dim=2, prior="uniform", decoder="fold", sigma=0.05)
    assert_numbers_match(at, config, -15.0, (0.5, 0.5))
    m = metrics(at)
    assert list(m)[:4] == ["log p(x₀|z₀), likelihood", "+ log p(z₀), prior",
                           "− log p(x₀), evidence", "= log p(z₀|x₀), posterior"]
    assert m["+ log p(z₀), prior"] == "−2.48"  # log 1/12: the uniform's density, 1 / (2 √3)²
    assert m["− log p(x₀), evidence"] == "−45,352"  # no decimals from 1,000 on
    assert not any(v in ("0", "nan", "−∞") for v in list(m.values())[:4]), m
    assert any("smaller than 10⁻³⁰⁸" in t for t in texts(at))
    # the printed logs add up
    lik, prior, ev, post = (printed_log(at, f) for f in FACTORS)
    assert post == pytest.approx(lik + prior - ev, abs=1.5)
    # and the densities themselves, in the tooltips, from the logs: p(x₀) ~ 10^-19696
    (evidence,) = [x for x in metric_list(at) if x.label == "− log p(x₀), evidence"]
    assert "p(x₀) = " in evidence.help and "× 10⁻¹⁹⁶" in evidence.help


def test_small_densities_print_as_logs_with_the_density_in_the_help():
    """p(x₀|z₀) ~ 1e-12 fits a float but not a metric's column as m × 10ᵏ: the row shows
    logs, and the help of each number the density."""
    at = page({"prior": "Gaussian", "x0": "3", "z0": "-2", "sigma": "0.5"})
    m = metrics(at)
    assert "log p(x₀|z₀), likelihood" in m, m
    (lik,) = [x for x in metric_list(at) if x.label == "log p(x₀|z₀), likelihood"]
    assert "p(x₀|z₀) = " in lik.help and "× 10⁻" in lik.help
    assert any("too small to print plainly" in t for t in texts(at))
    assert_numbers_match(at, page_config(prior="gaussian"), 3.0, (-2.0,))
    plain = page({"prior": "Gaussian", "x0": "1", "z0": "0.5"})  # moderate: densities
    assert "p(x₀|z₀), likelihood" in metrics(plain)


def test_outside_a_uniform_box_the_prior_and_posterior_are_exactly_zero():
    at = page({"prior": "Uniform", "z0": "2"})  # the box is [-√3, √3]
    m = metrics(at)
    assert m["× p(z₀), prior"] == "0" and m["= p(z₀|x₀), posterior"] == "0"
    assert m["p(x₀|z₀), likelihood"] != "0"
    far = page({"prior": "Uniform", "z0": "4"})  # a tiny likelihood too: the row of logs
    assert printed_log(far, "p(z₀), prior") == -math.inf
    assert metrics(far)["= log p(z₀|x₀), posterior"] == "−∞"
    assert any("outside the prior's box" in t for t in texts(at))


@pytest.mark.parametrize("log_p, text", [
    (math.log(0.5), "0.5"), (math.log(1234.5678), "1235"), (-math.inf, "0"),
    (-1000 * math.log(10) + math.log(3.2), "3.200 × 10⁻¹⁰⁰⁰"),
    (math.log(9.9996e-7), "1.000 × 10⁻⁶"), (20 * math.log(10), "1.000 × 10²⁰")])
def test_densities_print_from_their_logs(log_p, text):
    assert views.fmt_log_density(log_p) == text
    if log_p > -math.inf:
        assert log_of_printed(text) == pytest.approx(log_p, abs=1e-3)


@pytest.mark.parametrize("v, text", [(-2.4849, "−2.48"), (0.5, "0.50"), (-999.994, "−999.99"),
                                     (-45351.8, "−45,352"), (-math.inf, "−∞")])
def test_log_densities_print_short(v, text):
    assert views.fmt_log(v) == text


def test_a_far_observation_notes_the_flat_curves_in_one_dimension():
    assert not [t for t in texts(page()) if "lie on the axis" in t]
    at = page({"x0": "15", "sigma": "0.05"})
    assert any("lie on the axis" in t for t in texts(at))


@pytest.mark.parametrize("prior", ["gaussian", "mixture", "uniform"])
def test_the_right_panel_in_two_dimensions_is_the_maps_column(prior):
    """2-D z: the map is p(x, z1), so the curve beside it at z1 must be p(x|z1) (averaged over
    z2), the map's column rescaled, not p(x|z0) at the full point."""
    config = LVMConfig(latent_dim=2, prior=prior, mix_locs=((-1.0, 0.5), (1.0, -0.5)),
                       decoder="tanh", a=2.0, c=-1.5, w=1.2, sigma=0.3)
    model = make_lvm(config)
    edges = np.linspace(-5, 5, 121)
    joint = views.joint_binned(config, edges)  # (120, n1)
    pz = np.exp(model.log_prior(model.grid.points)).reshape(model.grid.shape)
    pz1 = pz.sum(1) * model.grid.steps[1]
    for i in (30, 60, 75):  # columns at cell centres
        z1 = model.grid.axes[0][i]
        got = views.conditional_binned(config, edges, z1)
        if pz1[i] == 0:
            assert not got.any()
            continue
        np.testing.assert_allclose(got, joint[:, i] / pz1[i], rtol=1e-9, atol=1e-12)
        assert got.sum() * np.diff(edges)[0] == pytest.approx(1.0, abs=1e-6)
    # and it is not the likelihood at a full point, which depends on z2
    z1 = model.grid.axes[0][60]
    full = views.likelihood_binned(config, edges, (z1, 1.0))
    assert np.abs(full - views.conditional_binned(config, edges, z1)).max() > 0.1


def test_the_right_panel_matches_the_linear_gaussian_form():
    """z ~ N(m, s² I), f = a z1 + c z2 + b: p(x|z1) = N(a z1 + c m + b, c² s² + σ²)."""
    config = LVMConfig(latent_dim=2, prior_loc=0.3, prior_scale=0.9, a=1.2, b=-0.4, c=-0.7,
                       sigma=0.5)
    edges = np.linspace(-4, 4, 1601)
    x = (edges[1:] + edges[:-1]) / 2
    got = views.conditional_binned(config, edges, 0.8)
    var = 0.7 ** 2 * 0.9 ** 2 + 0.25
    exact = np.exp(-0.5 * (x - (1.2 * 0.8 - 0.7 * 0.3 - 0.4)) ** 2 / var) / math.sqrt(
        2 * math.pi * var)
    np.testing.assert_allclose(got, exact, atol=1e-5)


def test_the_page_draws_the_maps_column_in_two_dimensions():
    at = page({"dim": "2", "z0": "0.5", "z0_2": "-1"})
    table = dataset(vega(at)[0], "likelihood")
    t, drawn = table.column("t").to_numpy()[1:-1], table.column("p").to_numpy()[1:-1]
    config = page_config(latent_dim=2, mix_locs=((-1.5, 1.0), (1.5, -1.0)))
    j = views.joint_image(config)
    expected = views.conditional_binned(config, j["edges"], 0.5)
    cells = np.searchsorted(j["x_axis"], t)  # the drawn points are cells of the map's axis
    np.testing.assert_allclose(j["x_axis"][cells], t, rtol=1e-12)
    np.testing.assert_allclose(drawn, expected[cells], rtol=1e-9)
    # and the line through them stays within PX_TOL pixels of every cell's value (the panel
    # is 62 pixels wide along p)
    h = views._px(62)
    line = np.interp(j["x_axis"], t, drawn)
    assert np.abs(line - expected).max() * h / expected.max() <= views.PX_TOL + 1e-9
    assert any("not p(x|z₀) at the full point" in e.proto.body for e in at.get("expandable")
               ) or any("not p(x|z₀) at the full point" in m.value for m in at.markdown)


def test_url_round_trip_of_the_page_settings():
    params = [p for k, p in seen_params(page()).items() if k not in state.GLOBAL_KEYS
              and k not in ("lecture", "view")]
    values = {p.key: other_value(p, p.default) for p in params}
    values["w1"], values["w2"] = 0.25, 0.5  # keep a valid mixture
    at = page(state.query_for(params, values))
    got = {k: widget(at, k).value for k in values if k in seen_params(at)}
    assert got == {k: v for k, v in values.items() if k in got}


# --- the glue -------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [1, 2])
def test_binned_joint_integrates_to_the_marginals(dim):
    config = LVMConfig(latent_dim=dim, prior="laplace", decoder="tanh", a=2.0, w=1.5, b=0.3,
                       sigma=0.4)
    model = make_lvm(config)
    grid = model.grid
    edges = np.linspace(-6, 6.5, 251)  # covers f(z) +- 9 sigma
    j = views.joint_binned(config, edges)  # (250, n1)
    assert j.shape == (250, grid.shape[0])
    # over x: p(z1) (z2 integrated out in 2-D)
    pz = np.exp(model.log_prior(grid.points)).reshape(grid.shape)
    pz1 = pz.sum(1) * grid.steps[1] if dim == 2 else pz
    np.testing.assert_allclose(j.sum(0) * np.diff(edges)[0], pz1, atol=1e-9)
    # over z1: p(x) averaged over each bin (here by 40 points per bin)
    width = np.diff(edges)[0]
    sub = edges[:-1, None] + width * (np.arange(40) + 0.5) / 40  # (250, 40)
    average = np.exp(model.log_evidence(sub)).mean(1)
    np.testing.assert_allclose(j.sum(1) * grid.steps[0], average, rtol=1e-4, atol=1e-12)


def test_binned_joint_matches_the_linear_gaussian_form():
    config = LVMConfig(latent_dim=2, prior_loc=0.3, prior_scale=0.9, a=1.2, b=-0.4, c=-0.7,
                       sigma=0.5)
    z1 = make_lvm(config).grid.axes[0]
    edges = np.linspace(-3, 3, 1201)  # narrow bins: bin averages ~ point values
    x = (edges[1:] + edges[:-1]) / 2
    j = views.joint_binned(config, edges)
    # z1 ~ N(m, s^2), x | z1 ~ N(a z1 + c m + b, c^2 s^2 + sigma^2)
    m, s = 0.3, 0.9
    var = config.c ** 2 * s ** 2 + config.sigma ** 2
    exact = np.exp(-0.5 * ((z1 - m) / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))
                   - 0.5 * (x[:, None] - config.a * z1 - config.c * m - config.b) ** 2 / var
                   - 0.5 * math.log(2 * math.pi * var))
    np.testing.assert_allclose(j, exact, atol=2e-5)


def test_a_ridge_narrower_than_a_pixel_keeps_its_mass():
    """sigma = 0.05 with the cubic decoder: a point-sampled map would show dots; each column of
    the binned map still holds p(z) of mass."""
    config = LVMConfig(decoder="cubic", a=2.0, sigma=0.05)
    j = views.joint_image(config)
    model = make_lvm(config)
    width = np.diff(j["edges"])[0]
    assert width > 5 * config.sigma  # the ridge is far narrower than a pixel row
    cols = views._cells(model.grid.axes[0], *views.prior_box(config)[0])
    mass = views.joint_binned(config, j["edges"])[:, cols].sum(0) * width
    pz = np.exp(model.log_prior(model.grid.axes[0][cols][:, None]))
    inside = (model.decode(model.grid.axes[0][cols][:, None]) > j["x"][0] + 0.2) & \
        (model.decode(model.grid.axes[0][cols][:, None]) < j["x"][1] - 0.2)
    np.testing.assert_allclose(mass[inside], pz[inside], rtol=1e-6)


def test_the_likelihood_slice_is_a_normalised_bin_average():
    config = LVMConfig(decoder="sine", a=1.5, w=2.0, sigma=0.3)
    edges = np.linspace(-4, 4, 161)
    p = views.likelihood_binned(config, edges, (0.7,))
    assert p.sum() * 0.05 == pytest.approx(1.0, abs=1e-9)
    centre = (edges[1:] + edges[:-1]) / 2
    f0 = 1.5 * math.sin(1.4)
    np.testing.assert_allclose(p, np.exp(-0.5 * ((centre - f0) / 0.3) ** 2)
                               / (0.3 * math.sqrt(2 * math.pi)), atol=2e-3)


@pytest.mark.parametrize("prior", ["gaussian", "uniform"])
def test_q_density_is_normalised_on_the_grid_and_truncated_to_the_support(prior):
    config = LVMConfig(prior=prior, decoder="fold", sigma=0.3)
    view = compute_view(config, 1.0, [0.0])
    q = fit_q(config, 1.0)
    p = views.q_density(view, q)
    assert p.sum() * view.grid.cell == pytest.approx(1.0, abs=1e-12)
    outside = ~np.isfinite(view.log_prior)
    assert outside.any() == (prior == "uniform")
    assert np.all(p[outside] == 0)
    # the ELBO fit's own KL from the density drawn on the page
    post = np.exp(view.log_posterior_x0)
    inside = p > 0
    kl = float(np.sum(p[inside] * np.log(p[inside] / post[inside])) * view.grid.cell)
    assert kl == pytest.approx(q.gap, abs=1e-8)


def test_plotted_ranges_hold_the_prior_and_the_posterior():
    config = replace(page_config(), prior="student_t", df=1.0, prior_scale=1.0)
    (lo, hi), = views.prior_box(config)
    assert -8.0 <= lo < -3 and 3 < hi <= 8.0  # heavy tails: capped at 8 scales
    view = compute_view(page_config(prior="gaussian"), 6.0, [0.0])
    (lo, hi), = views.posterior_box(page_config(prior="gaussian"), view)
    mode = view.grid.axes[0][np.argmax(view.log_posterior_x0)]
    assert lo < mode < hi and hi > views.prior_box(page_config(prior="gaussian"))[0][1] - 1


@pytest.mark.parametrize("sigma", [1.0, 0.05])
def test_simplified_curves_stay_within_a_fraction_of_a_pixel(sigma):
    """The curves drawn keep only the points a chart needs: linear interpolation through
    them is within PX_TOL pixels of every dropped point; ends and peaks are kept."""
    t = np.linspace(-5, 5, 401)
    ys = [np.exp(-0.5 * (t / sigma) ** 2), 0.3 * np.exp(-0.5 * ((t - 1) / 0.4) ** 2)]
    w, h = 400, 200
    idx = views._simplify(t, ys, w, h)
    assert idx[0] == 0 and idx[-1] == 400 and len(idx) < 150
    top = max(y.max() for y in ys)
    for y in ys:
        assert y.argmax() in idx
        err = np.abs(np.interp(t, t[idx], y[idx]) - y) * h / top
        assert err.max() <= views.PX_TOL + 1e-9
    assert list(views._simplify(t[:2], [ys[0][:2]], w, h)) == [0, 1]
    assert list(views._simplify(t, [np.zeros_like(t)], w, h)) == [0, 400]


BAR = re.compile(r"<div class='ll-bar' title='([^']*)' style='left:([\d.]+)%;width:([\d.]+)%")
TICK = re.compile(r"<span class='ll-tick' style='left:([\d.]+)%'>([^<]+)</span>")


@pytest.mark.parametrize("elbo, evidence", [(-1.9923, -1.9721), (-2.5, -2.5), (-812.3, -802.1),
                                            (3.2, 4.0)])
def test_elbo_bars_add_up_to_the_evidence(elbo, evidence):
    """The ELBO's bar plus the gap's ends exactly where log p(x0)'s does, on an axis whose
    ticks sit where their values say."""
    q = QFit(loc=np.zeros(1), scale=np.ones(1), elbo=elbo, log_evidence=evidence,
             gap=evidence - elbo, expected_log_likelihood=elbo, kl_prior=0.0, steps=0,
             truncated=False)
    body = views.elbo_bars_html(q)
    (ev_tip, ev_left, ev_w), (el_tip, el_left, el_w), (gap_tip, gap_left, gap_w) = [
        (tip, float(left), float(w)) for tip, left, w in BAR.findall(body)]
    assert ev_left == 0 and ev_w == pytest.approx(100)
    assert el_left == 0 and gap_left == pytest.approx(el_w, abs=2e-3)
    assert el_w + gap_w == pytest.approx(100, abs=2e-3)
    lo = math.floor(elbo - max(1.0, 1.5 * (evidence - elbo)))
    assert el_w == pytest.approx(100 * (elbo - lo) / (evidence - lo), abs=1e-3)
    assert f"{elbo:.4f}".replace("-", "−") in el_tip and f"{evidence - elbo:.4f}" in gap_tip
    assert f"{evidence:.4f}".replace("-", "−") in ev_tip
    ticks = [(float(left), float(text.replace("−", "-"))) for left, text in TICK.findall(body)]
    assert len(ticks) >= 3
    for left, value in ticks:
        assert 0 <= left <= 100
        assert left == pytest.approx(100 * (value - lo) / (evidence - lo), abs=1e-3)


@pytest.mark.parametrize("lo, hi", [(-3, -1.97), (-812, -802.1), (0, 1), (-1e-3, 2e-3)])
def test_nice_ticks_are_round_and_cover_the_range(lo, hi):
    ticks = views.nice_ticks(lo, hi)
    assert 3 <= len(ticks) <= 11
    assert ticks[0] >= lo - 1e-12 and ticks[-1] <= hi + 1e-12
    step = ticks[1] - ticks[0]
    np.testing.assert_allclose(np.diff(ticks), step)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-9
    assert ticks[0] - step < lo  # no round value below the first tick is left out
