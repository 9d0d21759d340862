"""The VAE page under AppTest: defaults, a uniform prior, tiny runs trained through the UI
(points and images, Gaussian and mixture priors), the numbers it shows against the model."""

import json
import re

import numpy as np
import pytest
import torch

from apptest_util import button as _button
from apptest_util import errors, from_cache, metrics as _metrics, open_page, paragraphs, widget
from apptest_util import run_until as _run_until
from dashboard import views_vae
from models import datasets
from models.presets import PAGE_DEFAULTS
from models.priors import PriorConfig
from models.runs import RunCache, run_key
from models.train import VAEConfig

PAGE = "app_pages/vae.py"
TINY_POINTS = {"data": "moons", "latent": "2", "epochs": "2", "lr": "0.01"}
TINY_IMAGES = {"data": "digits", "latent": "3", "epochs": "1", "beta": "4"}




def _trained(at):
    return any("Trained" in s.value for s in at.success) and _button(at, "Train") is None


def _train(at):
    """Click Train (unless another test trained the same settings) and wait for the run."""
    button = _button(at, "Train")
    if button is not None:
        button.click().run()
    assert not errors(at), errors(at)
    assert _run_until(at, _trained), "the run did not finish"



def _config(**kw) -> VAEConfig:
    return VAEConfig(**kw)


def _label_domains(chart) -> list[list[str]]:
    """The category domains (lists of labels) of a drawn chart's colour scales."""
    out = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "domain" and isinstance(v, list) and v and isinstance(v[0], str):
                    out.append(v)
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(json.loads(chart.proto.spec))
    return out


def _chart_rows(chart):
    """The rows of a drawn chart's data sets (Arrow, as Streamlit sends them)."""
    import pyarrow as pa
    frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas()
              for d in chart.proto.datasets]
    return frames


def _chart_with(at, labels: list[str]):
    found = [c for c in at.get("vega_lite_chart") if labels in _label_domains(c)]
    assert len(found) == 1, (labels, [_label_domains(c) for c in at.get("vega_lite_chart")])
    return found[0]


def test_defaults_open_trained_and_offer_the_prior_choices():
    at = open_page(PAGE)
    assert not errors(at)
    assert at.title[0].value == "Variational autoencoder"
    assert _button(at, "Train") is None and from_cache(at) >= 1  # shipped pretrained
    prior = widget(at, "prior")
    assert set(prior.options) >= {"Standard Gaussian", "Laplace", "Uniform",
                                  "Mixture of Gaussians", "Student-t"}
    assert widget(at, "latent").value == PAGE_DEFAULTS["vae"][0].latent_dim


def test_the_uniform_prior_gives_its_reason_and_no_train_button():
    at = open_page(PAGE, {"prior": "Uniform"})
    assert not errors(at)
    assert _button(at, "Train") is None
    messages = " ".join(e.value for e in at.error)
    assert "infinite" in messages and "KL" in messages
    assert any("infinite" in w.value for w in at.warning)  # also beside the control


def test_the_default_presets_pair_the_vae_with_its_autoencoder_twin():
    vae, ae = PAGE_DEFAULTS["vae"][:2]
    assert views_vae.ae_twin(vae) == ae
    assert [c.latent_dim for c in PAGE_DEFAULTS["latent-distribution"]] == [2, 2]


def test_train_a_points_vae_through_the_ui_and_check_the_numbers():
    at = open_page(PAGE, TINY_POINTS)
    _train(at)
    config = _config(dataset="moons", latent_dim=2, epochs=2, lr=0.01)
    result = RunCache().load(run_key(config))
    m = result.metrics
    shown = _metrics(at)
    assert shown["Held-out −ELBO (nats)"] == f"{m['test_neg_elbo']:.2f}"
    assert shown["KL (nats)"] == f"{m['test_kl']:.2f}"
    assert shown["Reconstruction (nats)"] == f"{m['test_recon']:.2f}"
    assert shown["−log p(x), IWAE K=64 (nats)"] == f"{-m['test_iwae']:.2f}"
    assert m["iwae_k"] == 64
    # the KL per dimension adds up to the KL term (Gaussian prior: closed form)
    caption = next(c.value for c in at.caption if "add up to the KL term" in c.value)
    total = float(re.search(r"KL term: ([-\d.]+) nats", caption).group(1))
    x = datasets.load("moons").x_test
    with torch.no_grad():
        per_dim = result.model.kl_per_dim(x)
    assert total == pytest.approx(float(per_dim.sum()), abs=0.006)
    assert total == pytest.approx(m["test_kl"], abs=0.01)
    # the charts: -ELBO with the IWAE estimates (every few epochs, and the final K = 64),
    # the split into reconstruction and KL, and the KL per dimension as bars
    elbo = _chart_with(at, ["training −ELBO", "held-out −ELBO", "IWAE −log p(x), K=16",
                            "IWAE −log p(x), K=64"])
    rows = _chart_rows(elbo)
    final = [r for r in rows if "metric" in r and (r["metric"] == "IWAE −log p(x), K=64").any()]
    assert final and float(final[0]["nats"].iloc[0]) == pytest.approx(-m["test_iwae"])
    held = next(r for r in rows if "metric" in r and len(r) > 1)
    held = held[held["metric"] == "held-out −ELBO"]
    last = [h["test_neg_elbo"] for h in result.history if h.get("test_neg_elbo") is not None]
    assert np.allclose(held.sort_values("epoch")["nats"], last, atol=1e-4)  # the run's curve
    _chart_with(at, ["reconstruction · training", "reconstruction · held-out",
                     "KL · training", "KL · held-out"])
    bars = _chart_rows(_chart_with(at, ["active", "collapsed"]))[0]
    assert list(bars["dimension"]) == ["z₁", "z₂"]
    assert np.allclose(bars["value"], per_dim.double().numpy(), atol=1e-4)
    # replay: the timeline moves the reconstructions back to the untrained model
    t = widget(at, "t")
    t.set_value(0).run()
    assert not errors(at)
    assert any("step 0 of" in t for t in paragraphs(at))
    # the autoencoder twin, trained from its own button, then both decoded at random
    _button(at, "Train the autoencoder").click().run()
    assert _run_until(at, lambda a: any("The best one can do without a prior" in c.value
                                        for c in a.caption))
    assert not errors(at)
    # moving β gives another configuration: not trained, so the Train button is back
    widget(at, "beta").set_value(3.0).run()
    assert not errors(at)
    assert _button(at, "Train") is not None


def test_train_an_image_vae_with_the_mixture_prior_shows_active_units_instead():
    at = open_page(PAGE, {**TINY_IMAGES, "prior": "Mixture of Gaussians"})
    assert not errors(at)
    _train(at)
    assert len(at.get("image")) >= 3  # inputs, reconstructions, samples
    text = " ".join(c.value for c in at.caption)
    assert "does not split into one term per dimension" in text
    config = _config(dataset="digits", latent_dim=3, epochs=1, beta=4.0,
                     prior=PriorConfig(name="mixture"))
    result = RunCache().load(run_key(config))
    with torch.no_grad():
        var = result.model.approx_posterior(datasets.load("digits").x_test).mean.var(0)
    n_active = int((var > views_vae.ACTIVE_THRESHOLD).sum())
    assert f"{n_active} of 3 dimensions are active" in text


def test_a_one_dimensional_mixture_prior_has_its_kl_bar_and_no_circle():
    """In one dimension the mixture's means lie on a line, and the whole KL is z₁'s: the page
    shows that one bar and says nothing of a circle in (z₁, z₂)."""
    query = {**TINY_POINTS, "latent": "1", "prior": "Mixture of Gaussians"}
    at = open_page(PAGE, query)
    _train(at)
    text = " ".join(c.value for c in at.caption)
    assert "circle" not in text and "z₂" not in text
    caption = next(c.value for c in at.caption if "add up to the KL term" in c.value)
    total = float(re.search(r"KL term: ([-\d.]+) nats", caption).group(1))
    config = _config(dataset="moons", latent_dim=1, epochs=2, lr=0.01,
                     prior=PriorConfig(name="mixture"))
    m = RunCache().load(run_key(config)).metrics
    assert total == pytest.approx(m["test_kl"], abs=0.05)  # Monte Carlo on both sides
    bars = _chart_rows(_chart_with(at, ["active", "collapsed"]))[0]
    assert list(bars["dimension"]) == ["z₁"]


@pytest.mark.parametrize("d", [2, 5])
def test_the_mixture_note_places_the_circle_where_the_prior_does(d):
    note = views_vae.mixture_kl_note(d, 1)
    assert "(z₁, z₂) plane" in note and f"1 of {d} dimensions are active" in note
    assert (f"of the {d} dimensions" in note) == (d > 2)


def _small_vae(prior: PriorConfig, d: int, image: bool = False):
    from models.priors import make_prior
    from models.vae import VAE
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return VAE(data_dim=2, latent_dim=d, prior=make_prior(prior, d), hidden=16,
                   image=image)


def test_the_kl_report_leaves_the_servers_random_numbers_alone():
    """The Student-t KL is a Monte-Carlo estimate: drawn from a generator of its own, so the
    report repeats and torch's global generator (every session's) is not reseeded."""
    model = _small_vae(PriorConfig(name="student_t"), 3)
    torch.manual_seed(1234)
    expected_next = torch.rand(5)
    torch.manual_seed(1234)
    rep = views_vae.kl_report.__wrapped__("k-t", "moons", model)
    assert torch.equal(torch.rand(5), expected_next)  # the global stream went on untouched
    again = views_vae.kl_report.__wrapped__("k-t", "moons", model)
    assert np.array_equal(rep["kl"], again["kl"]) and rep["kl"].shape == (3,)
    with torch.no_grad():
        ref = model.kl_per_dim(datasets.load("moons").x_test, samples=2000).double().numpy()
    assert np.allclose(rep["kl"], ref, rtol=0.1, atol=0.01)


def test_random_decodings_leave_the_servers_random_numbers_alone():
    from models.autoencoder import Autoencoder
    vae = _small_vae(PriorConfig(name="laplace"), 2)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        ae = Autoencoder(data_dim=2, latent_dim=2, hidden=16)
    ae_config = views_vae.ae_twin(_config(dataset="moons", latent_dim=2))
    torch.manual_seed(99)
    expected_next = torch.rand(5)
    torch.manual_seed(99)
    a = views_vae.random_decodings.__wrapped__("v", "a", 50, vae, ae, ae_config)
    assert torch.equal(torch.rand(5), expected_next)
    b = views_vae.random_decodings.__wrapped__("v", "a", 50, vae, ae, ae_config)
    assert all(np.array_equal(a[k], b[k]) and a[k].shape == (50, 2) for k in a)
