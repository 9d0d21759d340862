"""Autoencoder: the latent variable is the bottleneck, a deterministic code z = encoder(x)."""

import streamlit as st

from dashboard import controls, panels
from dashboard import views_autoencoder as views
from dashboard.views_representation import forget_hidden
from models.presets import PAGE_DEFAULTS

DEFAULT = PAGE_DEFAULTS["autoencoder"][0]

panels.header("Autoencoder",
              "An autoencoder squeezes each input x through a narrow layer and rebuilds it: "
              "z = encoder(x), x̂ = decoder(z). The few numbers in that bottleneck are its "
              "latent variable: a code for x, learned only by asking that x̂ be close to x.")

config = controls.ae_controls(DEFAULT)

panels.explain(
    f"**What it learns.** Training minimises the squared error ‖x − x̂‖², summed over the "
    f"input's numbers. With k = {config.latent_dim} latent dimensions the network must decide "
    "what to keep. Its linear rival is **PCA** with k components: project onto the k "
    "directions of largest variance and back, the best any linear map can do (Eckart & Young "
    "1936). A *linear* autoencoder cannot beat it and, trained well, finds the same subspace "
    "(Baldi & Hornik 1989); a nonlinear one can bend its code around the data and do better. "
    "The code z is a plain point, with no distribution attached: nothing says where codes "
    "ought to lie.", title="What an autoencoder learns")

view = views.trained_view(config)  # run panel, replay timeline and what it drives
if view.done:
    result = view.result
    st.subheader("A linear autoencoder matches PCA")
    st.markdown(f"Take away every nonlinearity: encoder and decoder become matrices, and the "
                f"best the network can do with k = {config.latent_dim} is PCA's projection. "
                "Train one and compare.")
    views.linear_vs_pca(config)

    st.subheader("Reconstruction error against latent size")
    st.markdown("More latent numbers, less error. PCA's curve is computed exactly; the "
                "autoencoder's points are separate runs with this page's settings.")
    views.sweep(config, result.metrics["test_recon"])

    st.subheader("Decode random latent points")
    st.markdown(views.no_prior_text(config))
    views.random_decodes(config, result)
    views.vae_link()
forget_hidden(views.HIDDEN_KEYS)
