"""Latent representation: what one input becomes -- a few numbers you can read and edit."""

import streamlit as st

from dashboard import panels, state
from dashboard import views_representation as views
from models import datasets

panels.header("Latent representation",
              "An encoder turns a picture of 784 pixels into a handful of numbers, its code z. "
              "Pick an image or upload your own, read its code, then change one number at a "
              "time and watch what the decoder makes of it.")

with st.sidebar:
    dataset = state.widget(views.DATA, radio=False)
    k = state.widget(views.LATENT)
data = datasets.load(dataset)
ae_config, vae_config = views.model_configs(dataset, k)

panels.explain(
    "**Two encoders.** The **autoencoder** maps the image to one point z = encoder(x); it "
    "was trained only to reconstruct. The **VAE** maps it to a distribution q(z|x), a mean "
    "and a spread per dimension, and was trained to reconstruct while keeping those "
    "distributions close to a prior p(z) = N(0, I). Both decode a code back to a picture. "
    f"Here both use k = {k} numbers for {data.dim} pixels.", title="Two encoders")

ready = views.is_ready(ae_config) and views.is_ready(vae_config)
with st.expander("The two models" + (" (trained)" if ready else ": train them first"),
                 expanded=not ready):
    c1, c2 = st.columns(2)
    ae_view = panels.run_panel(ae_config, curves={"test_recon": "held-out error"}, name="ae",
                               train_label="Train the autoencoder", timeline=False,
                               chart=False, where=c1.container(border=True))
    vae_view = panels.run_panel(vae_config, curves={"test_neg_elbo": "held-out −ELBO"},
                                name="vae", train_label="Train the VAE", timeline=False,
                                chart=False, where=c2.container(border=True))
models = {kind: v.result for kind, v in (("ae", ae_view), ("vae", vae_view)) if v.done}

views.explore(data, k, models)  # picker, codes, editor, neighbours: a fragment
views.forget_hidden(views.HIDDEN_KEYS)
