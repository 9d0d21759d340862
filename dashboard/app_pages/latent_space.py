"""Latent space: where the data lands in z, what points decode to, paths and traversals, what a
model recovered of the true factors, and how an autoencoder, a VAE and a GAN each map their
latent space to the same 2-D data."""

import streamlit as st

from dashboard import panels, state
from dashboard import views_latent_space as v

panels.header("Latent space",
              "A model gives every input a place z in its latent space. Nearby places decode "
              "to similar data, paths between places decode to gradual changes, and for data "
              "made from known factors you can check which direction of z holds which factor.")

config = v.model_controls(st.sidebar)
run = panels.run_panel(config, curves={}, chart=False, timeline=False, name="explore")
result = run.result  # None until the model is trained


# Only the position slider's part and the traversal are fragments (a step of their sliders
# redraws only them); a click on the map or another point reruns the page. Not one fragment
# around all of it: in Chromium, URL-bound sliders in a fragment nested inside another
# stopped writing their values into the link once a run had finished.
st.subheader("Where the data lands")
panels.explain(
    f"Each dot is one of {v.N_POINTS} held-out inputs, placed at its code: the "
    "autoencoder's z = encoder(x), or the mean of the VAE's q(z|x). Inputs of the same "
    "kind gather; the space between them still decodes to something, and the decoded "
    "manifold shows what. For a VAE with the standard Gaussian prior, the grid is laid "
    "out evenly in probability under the prior, so each cell covers the same prior mass "
    "(Kingma & Welling 2014, figure 4); for an autoencoder (no prior) or another prior it "
    "is laid out evenly in value across the codes' 1 % to 99 % quantiles.")
view = v.map_controls(config)
if result is not None:
    v.show_map(config, result, view)
else:
    v.untrained_note()

st.subheader("Interpolation")
panels.explain(
    "A path from the selected point's code to the end's, decoded along the way. The "
    "linear path is (1 − t) z₀ + t z₁. The spherical path (slerp) follows the arc between "
    "the two directions and keeps the norm when both ends have the same norm. Under a "
    "Gaussian prior in many dimensions almost every sample has a norm near √d, while the "
    "linear midpoint of two typical codes is shorter: it sits where the prior density "
    "log p(z) is *higher* but where the decoder has rarely been trained (White 2016).")
v.interpolation_section(config, result, view)

st.subheader("Traversal")
panels.explain("Vary one latent dimension and hold all the others at the selected point's "
               "code. A dimension that changes one thing about the image (and nothing "
               "else) is *disentangled*.")
v.traversal_section(config, result, view.point)

if config.dataset == "sprites":
    st.subheader("What the model recovered of the true factors")
    panels.explain(
        "Every sprite was drawn from five known factors. For each latent dimension z_j and "
        "each factor, the mutual information I(z_j; factor) says how much knowing z_j tells "
        "about the factor, here as a fraction of the factor's entropy (1: z_j pins it down). "
        "Estimated over all 6,000 sprites (20 equal-frequency bins per continuous variable, "
        "Miller's bias correction); a VAE's z is sampled from q(z|x), so a dimension the "
        "encoder ignores carries only noise. Rotation is hard by nature: a square looks the "
        "same every 90°, a triangle every 120°, an ellipse every 180°.")
    if result is not None:
        v.show_factors(result)
    else:
        v.untrained_note()

st.subheader("Autoencoder, VAE and GAN side by side")
panels.explain(
    "The same 2-D data and the same latent size for all three. The autoencoder and the VAE "
    "encode the data (top) and decode a grid of their latent space onto it (bottom). The GAN "
    "has no encoder: all it offers is its generator's image of a grid of noise. With a 2-D "
    "latent on 2-D data an autoencoder can simply learn the identity; a 1-D latent makes each "
    "model find a curve through the data.")
compare = v.comparison_expander()  # drawn only while open (views_latent_space)
if compare.open:
    with compare:
        v.comparison_section()
else:  # a link's comparison settings wait for it to open
    for problem in state.keep_link((v.CMP_DATA, v.CMP_LATENT)):
        st.warning(f"This link's {problem} cannot be used.", icon=":material/link_off:")
