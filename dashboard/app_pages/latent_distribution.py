"""Latent distribution: the encoder's q(z|x) for chosen inputs, and the prior p(z) beside
the aggregate posterior q(z), the average of q(z|x) over the data."""

import streamlit as st

from dashboard import charts, controls, panels, state
from dashboard import views_vae as views
from models.presets import PAGE_DEFAULTS

DEFAULT = PAGE_DEFAULTS["latent-distribution"][0]
DIMS_DRAWN = "_latent_distribution_dims"  # the dimensions the maps were last drawn on

panels.header("Latent distribution",
              "The latent variable has a distribution, and there are three to tell apart: "
              "the prior p(z) the model generates from, the encoder's q(z|x) for one input, "
              "and their average over the whole data set, the aggregate posterior q(z). "
              "Where the prior has mass and q(z) has none there are holes: codes the decoder "
              "never saw.")

config = controls.vae_controls(DEFAULT)
problem = views.prior_problem(config)

if problem:
    st.error(f"This prior cannot be trained as a VAE prior. {problem}",
             icon=":material/block:")
else:
    view = panels.run_panel(config, curves=views.CURVES, timeline=False, chart=False,
                            live_view=views.live_view)
    if view.done:
        result = view.result
        charts.show_cached((result.key, "elbo"),
                           lambda: views.elbo_chart(result.history, result.metrics))

        # The two sections' headings are static: the page draws them, and the fragment
        # writes into the slots between them (a heading it re-sent would be rebuilt by the
        # browser on every step of the input slider).
        st.subheader("The encoder's q(z|x)")
        encoder_slot = st.container()
        st.subheader("What the uncertainty means")
        samples_slot = st.container()

        @st.fragment
        def inputs() -> tuple[int, ...]:
            """The inputs' q(z|x) and what their uncertainty means: a fragment, so another
            input redraws only these two sections. The maps below follow the dimensions
            chosen here: a change of those reruns the whole page."""
            with encoder_slot:
                focus, label, dims = views.encoder_section(config, result)
            if st.session_state.get(DIMS_DRAWN) not in (None, dims):
                st.rerun()  # the maps below were drawn on other dimensions
            with samples_slot:
                views.posterior_samples_view(config, result, focus, label)
                state.bench_mark()  # the end of this fragment's rerun, for the benchmark
            return dims

        st.session_state[DIMS_DRAWN] = None  # a whole-page run: the maps follow along
        dims = inputs()
        st.session_state[DIMS_DRAWN] = dims

        st.subheader("Prior p(z) and aggregate posterior q(z)")
        panels.explain(
            "The aggregate posterior q(z) = (1/N) Σₙ q(z|xₙ) is where the encoder puts the "
            "training inputs, each with its own Gaussian. Both maps are exact: every cell "
            "shows its probability mass divided by its area, summed over the Gaussians (no "
            "sampling). The decoder is trained only on codes drawn from q(z); sampling from "
            "p(z) asks it to decode codes from the prior. Where the two differ, generated "
            "samples go wrong: the **holes** (orange, right) are where the prior expects "
            "codes and the data sends none. The KL term of the ELBO, averaged over the data, "
            "is the information the codes carry about their input plus KL(q(z) ‖ p(z)) "
            "(Hoffman & Johnson 2016, *ELBO surgery*): the price of a mismatch is paid in "
            "the objective.", title="How to read the maps")
        views.maps_section(config, result, dims)

        st.subheader("How β and the prior change both")
        st.markdown("Small β lets each q(z|x) shrink to a point and the aggregate posterior "
                    "break into islands, with holes between them; large β spreads every "
                    "q(z|x) over the prior, so q(z) fills it but the codes say little about "
                    "their input. A mixture prior brings holes of its own between components. "
                    "Each map below is one run: its q(z) in colour, on its own axes and colour "
                    "scale, and its prior p(z) as outlines on top; move β or the prior in "
                    "the sidebar to study any of them in full.")
        views.variants_grid(config, dims)
