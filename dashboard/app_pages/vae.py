"""VAE: the encoder outputs a distribution q(z|x); training maximises the ELBO."""

import streamlit as st

from dashboard import charts, controls, panels
from dashboard import views_vae as views
from models.presets import PAGE_DEFAULTS

DEFAULT = PAGE_DEFAULTS["vae"][0]

panels.header("Variational autoencoder",
              "In a VAE the latent variable is random. The encoder does not return one code "
              "but the mean and spread of a Gaussian q(z|x); the decoder turns any z into "
              "p(x|z); and a prior p(z) says where codes should live, so that decoding z ~ "
              "p(z) makes new data.")

config = controls.vae_controls(DEFAULT)
problem = views.prior_problem(config)

panels.explain(
    "**The objective.** A VAE maximises the evidence lower bound (Kingma & Welling 2014)\n\n"
    "ELBO(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ p(z)) ≤ log p(x),\n\n"
    "here with the KL term weighted by β during training (Higgins et al. 2017; β = 1 is the "
    "ELBO). The figures below are always the unweighted ELBO, whatever β trained. "
    "Its negative splits into two costs, both in nats: the **reconstruction** term, how "
    "badly the decoder recovers x from a code drawn from q(z|x), and the **KL** term, how far "
    "each input's q(z|x) strays from the prior. The KL term is what an autoencoder lacks: it "
    "packs the codes into the region the prior covers, so that random codes decode to "
    "sensible data. With β > 1 it also pushes dimensions to carry no information at all "
    "(*posterior collapse*); the KL per dimension below shows it. The importance-weighted "
    "bound (Burda et al. 2016) averages K samples of p(x, z)/q(z|x) and approaches log p(x) "
    "as K grows.\n\n"
    "For images p(x|z) is a Bernoulli per pixel on grey levels (the continuous cross-entropy of "
    "pytorch/examples' VAE, whose full-MNIST run reaches about 105.6 nats held out); for 2-D "
    "points it is a Gaussian with a learned scale, so the figures are densities and can be "
    "negative.", title="The ELBO, its two terms and β")

if problem:
    st.error(f"This prior cannot be trained as a VAE prior. {problem}",
             icon=":material/block:")
else:
    view = views.trained_view(config)  # run panel, replay timeline and what it drives
    if view.done:
        result = view.result
        st.subheader("KL per latent dimension")
        views.kl_section(config, result)

        st.subheader("The same network as a plain autoencoder")
        st.markdown("Same data, latent size, width, epochs, learning rate and seed, trained "
                    "only to reconstruct. Its codes work for reconstruction, but nothing tells "
                    "them where to be, so there is nothing principled to sample from.")
        twin = views.ae_twin(config)
        ae_view = panels.run_panel(twin, curves=views.AE_CURVES, y_title="squared error",
                                   name="ae", train_label="Train the autoencoder",
                                   timeline=False, chart=False, live_view=views.ae_live_view)
        if ae_view.done:
            charts.show_cached((ae_view.result.key, "curves"),
                               lambda: views.ae_chart(ae_view.result.history))
            views.comparison(config, result, ae_view.result)
