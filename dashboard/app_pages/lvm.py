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


@st.fragment
def explore(config, problem: str | None) -> None:
    """Everything that follows x₀ and z₀: a slider step reruns this, not the page (the model
    controls in the sidebar and the frame stay as they are)."""
    dim = config.latent_dim if config else st.session_state.get("dim", 1)
    x0, z0 = views.point_controls(dim)

    if not problem:
        try:
            view, q = views.compute(config, x0, z0), views.fit(config, x0)
        except ValueError as e:  # models.lvm explains a setting it cannot compute
            problem = str(e)
    if problem:
        st.warning(f"This model cannot be computed: {problem}", icon=":material/error:")
    else:
        if view.warning:
            st.warning(view.warning.replace("sigma", "σ"), icon=":material/warning:")

        st.subheader("1 · The joint p(x, z) and its marginals")
        left, right = views.main_and_side()
        with right:
            show, n, seed = views.sample_controls(st)
            panels.explain(
                "Bright means likely. A column of the map (one z) is p(x|z) p(z); integrating "
                "the map over x gives the prior p(z) on top, integrating over z gives the "
                "evidence p(x) on the right. The white dashed lines are the slices at x₀ and "
                "z₀: the row at x₀, rescaled to area 1, is the posterior p(z|x₀); the column "
                "at z₀, rescaled, is the likelihood p(x|z₀)." if dim == 1 else
                "Bright means likely. With two latent dimensions the joint p(x, z₁, z₂) lives "
                "in three dimensions, so the map shows p(x, z₁) = ∫ p(x, z) dz₂, with z₂ "
                "integrated out. Integrating it over x gives p(z₁) on top, over z₁ the "
                "evidence p(x) on the right. The dashed row at x₀, rescaled to area 1, is the "
                "posterior's marginal p(z₁|x₀). The dashed column at z₁ = z₀'s first "
                "coordinate, rescaled, is p(x|z₁) = ∫ p(x|z₁, z₂) p(z₂|z₁) dz₂ (drawn on the "
                "right): the likelihood averaged over z₂, not p(x|z₀) at the full point "
                "z₀ = (z₀₁, z₀₂). Section 2 shows the full point, and prints p(x₀|z₀) there.",
                title="How to read the map")
        with left:
            samples = views.sample(config, n, seed) if show else None
            views.show(views.joint_figure(config, view, samples), "lvm_joint")

        st.subheader("2 · Bayes' rule at x₀: p(z|x₀) = p(x₀|z) p(z) / p(x₀)")
        views.show(views.bayes_figure_1d(config, view) if dim == 1
                   else views.bayes_figure_2d(config, view, samples), "lvm_bayes")
        note = views.bayes_note(view)
        if note:
            st.caption(note)
        views.bayes_numbers(config, view)

        st.subheader("3 · Approximate inference: q(z|x₀) and the ELBO")
        panels.metric_row([
            ("log p(x₀)", f"{q.log_evidence:.4f}", "The log evidence, exact."),
            ("ELBO", f"{q.elbo:.4f}", "E_q[log p(x₀, z)] − E_q[log q(z|x₀)]"),
            ("gap", f"{q.gap:.4f}", "KL(q(z|x₀) ‖ p(z|x₀)) = log p(x₀) − ELBO")])
        left, right = views.side_by_side()
        with left:
            views.show(views.q_figure_1d(config, view, q) if dim == 1
                       else views.q_figure_2d(config, view, q), "lvm_q")
        with right:
            views.show(views.elbo_figure(q), "lvm_elbo")
        st.markdown(views.q_text(q))
        vae = (DASHBOARD / "app_pages/vae.py").exists()
        st.markdown("**Why this is the VAE's objective.** A VAE's neural decoder makes log p(x) "
                    "impossible to integrate, so it maximises this same ELBO instead, with an "
                    "encoder that outputs q(z|x) for every x at once: raising the ELBO raises "
                    "log p(x) or shrinks the gap.")
        if vae:
            st.page_link("app_pages/vae.py", label="The VAE page trains one",
                         icon=":material/blur_on:")
    state.bench_mark()  # the end of this fragment's rerun, for the browser benchmark


explore(config, problem)
