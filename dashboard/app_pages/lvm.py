"""Latent variable models: the five distributions of p(x, z) = p(z) p(x|z), computed exactly,
and a Gaussian q(z|x₀) fitted by maximising the ELBO beside the exact posterior."""

import streamlit as st

from dashboard import panels, state
from dashboard import views_lvm as views
from dashboard.nav import DASHBOARD

panels.header("Latent variable models",
              "A latent variable model draws a hidden z from a prior p(z), then an observation x "
              "from the likelihood p(x|z). That defines the joint p(x, z) = p(z) p(x|z), and from "
              "it the evidence p(x) and the posterior p(z|x). Here z has one or two dimensions, "
              "so all five can be computed exactly: change the model on the left and watch them "
              "move together.")

with st.sidebar:
    st.subheader("The model")
    config, problem = views.model_controls()


READ_MAP = {  # how to read the joint map, by latent dimension
    1: "Bright means likely. A column of the map (one z) is p(x|z) p(z); integrating the map "
       "over x gives the prior p(z) on top, integrating over z gives the evidence p(x) on the "
       "right. The white dashed lines are the slices at x₀ and z₀: the row at x₀, rescaled to "
       "area 1, is the posterior p(z|x₀); the column at z₀, rescaled, is the likelihood "
       "p(x|z₀).",
    2: "Bright means likely. With two latent dimensions the joint p(x, z₁, z₂) lives in three "
       "dimensions, so the map shows p(x, z₁) = ∫ p(x, z) dz₂, with z₂ integrated out. "
       "Integrating it over x gives p(z₁) on top, over z₁ the evidence p(x) on the right. The "
       "dashed row at x₀, rescaled to area 1, is the posterior's marginal p(z₁|x₀). The dashed "
       "column at z₁ = z₀'s first coordinate, rescaled, is p(x|z₁) = ∫ p(x|z₁, z₂) p(z₂|z₁) dz₂ "
       "(drawn on the right): the likelihood averaged over z₂, not p(x|z₀) at the full point "
       "z₀ = (z₀₁, z₀₂). Section 2 shows the full point, and prints p(x₀|z₀) there."}


@st.fragment
def explore(config, slots: dict, samples_shown: tuple[bool, int, int]) -> None:
    """Everything that follows x₀ and z₀: a slider step reruns this, not the page. It writes
    into the containers the page drew between its fixed text (slots), so a step re-sends only
    what changes: the sliders, the figures and the numbers. Headings, explanations, the sample
    settings and the link were part of this fragment before, and the browser rebuilt them on
    every step (x₀ step p50 167 -> 138 ms with that and text_html, measured side by side)."""
    with slots["points"]:
        x0, z0 = views.point_controls(config.latent_dim)
    try:
        view, q = views.compute(config, x0, z0), views.fit(config, x0)
    except ValueError as e:  # models.lvm explains a setting it cannot compute
        slots["points"].warning(f"This model cannot be computed: {e}", icon=":material/error:")
        state.bench_mark()
        return
    if view.warning:
        slots["points"].warning(view.warning.replace("sigma", "σ"), icon=":material/warning:")
    show, n, seed = samples_shown
    samples = views.sample(config, n, seed) if show else None
    with slots["joint"]:
        views.show(views.joint_figure(config, view, samples), "lvm_joint")
    with slots["bayes"]:
        views.show(views.bayes_figure_1d(config, view, q) if config.latent_dim == 1
                   else views.bayes_figure_2d(config, view, samples, q), "lvm_bayes")
        note = views.bayes_note(view)
        st.html((panels.text_html(note, note=True) if note else "")
                + views.bayes_numbers(config, view))
    with slots["q"]:  # the numbers, the ELBO bars and what q is, as one element
        st.html(panels.metric_html([
            ("log p(x₀)", f"{q.log_evidence:.4f}", "The log evidence, exact."),
            ("ELBO", f"{q.elbo:.4f}", "E_q[log p(x₀, z)] − E_q[log q(z|x₀)]"),
            ("gap", f"{q.gap:.4f}", "KL(q(z|x₀) ‖ p(z|x₀)) = log p(x₀) − ELBO")])
            + views.elbo_bars_html(q) + panels.text_html(views.q_text(q)))
        state.bench_mark()  # the end of this fragment's rerun, for the browser benchmark


if problem:
    views.point_controls(st.session_state.get("dim", 1))  # kept in the link meanwhile
    st.warning(f"This model cannot be computed: {problem}", icon=":material/error:")
else:
    slots = {"points": st.container()}
    st.subheader("1 · The joint p(x, z) and its marginals")
    left, right = views.main_and_side()
    with right:
        samples_shown = views.sample_controls(st)
        panels.explain(READ_MAP[config.latent_dim], title="How to read the map")
    slots["joint"] = left.container()
    st.subheader("2 · Bayes' rule at x₀: p(z|x₀) = p(x₀|z) p(z) / p(x₀)")
    slots["bayes"] = st.container()
    st.subheader("3 · Approximate inference: q(z|x₀) and the ELBO")
    slots["q"] = st.container()
    st.markdown("**Why this is the VAE's objective.** A VAE's neural decoder makes log p(x) "
                "impossible to integrate, so it maximises this same ELBO instead, with an "
                "encoder that outputs q(z|x) for every x at once: raising the ELBO raises "
                "log p(x) or shrinks the gap.")
    if (DASHBOARD / "app_pages/vae.py").exists():
        st.page_link("app_pages/vae.py", label="The VAE page trains one",
                     icon=":material/blur_on:")
    explore(config, slots, samples_shown)
