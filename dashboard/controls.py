"""Controls: functions that draw a group of widgets and return plain values or a frozen
config. Every widget is a ``state.Param`` bound to the URL; the defaults come from
``models.presets`` so the pages, the prewarm command and the shipped runs agree.
"""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch

from models import datasets, latent
from models.gan import LOSSES
from models.priors import PRIORS, PriorConfig, PriorMismatch, make_prior
from models.train import OPTIMIZERS, AEConfig, GANConfig, VAEConfig

from . import charts, state
from .state import Param

LEARNING_RATES = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
BATCH_SIZES = (32, 64, 128, 256, 512)
DATASET_LABELS = {"ring8": "ring8", "grid25": "grid25", "moons": "moons", "spiral": "spiral",
                  "curve": "curve", "sprites": "sprites", "digits": "digits"}
PRIOR_LABELS = {name: info.label for name, info in PRIORS.items()}
LOSS_LABELS = {"ns": "non-saturating", "minimax": "minimax", "lsgan": "least squares",
               "wgan-gp": "WGAN-GP"}


def _lr_label(v: float) -> str:
    return f"{v:g}"


# --- parameter factories ------------------------------------------------------------------

def dataset_param(default: str, allowed: list[str] | None = None, key: str = "data") -> Param:
    allowed = allowed or list(datasets.DATASETS)
    return Param(key, "Data set", default, "choice", options=tuple(allowed),
                 labels={k: DATASET_LABELS[k] for k in allowed},
                 help="; ".join(f"{k}: {datasets.DATASETS[k].description}" for k in allowed))


def latent_param(default: int, lo: int = 1, hi: int = 64, key: str = "latent",
                 label: str = "Latent dimensions") -> Param:
    return Param(key, label, default, "int", lo=lo, hi=hi, step=1,
                 help="How many numbers the model uses to describe one input (the size of z).")


def lr_param(default: float, key: str = "lr", label: str = "Learning rate") -> Param:
    return Param(key, label, default, "steps", options=LEARNING_RATES,
                 labels={v: _lr_label(v) for v in LEARNING_RATES},
                 help="Step size of the optimiser.")


def seed_param(default: int = 0) -> Param:
    return Param("seed", "Seed", default, "int", lo=0, hi=9999, step=1,
                 help="Fixes the data order, the initial weights and the noise: the same seed "
                      "trains the same model.")


def epochs_param(default: int, hi: int = 200) -> Param:
    return Param("epochs", "Epochs", default, "int", lo=1, hi=hi, step=1,
                 help="Passes over the training set.")


def prior_params(default: PriorConfig, allowed: list[str] | None = None) -> list[Param]:
    allowed = allowed or list(PRIORS)
    return [
        Param("prior", "Prior p(z)", default.name, "choice", options=tuple(allowed),
              labels={k: PRIOR_LABELS[k] for k in allowed}),
        Param("k", "Mixture components", default.components, "int", lo=2, hi=16, step=1),
        Param("spread", "Mixture spread", default.spread, "float", lo=0.5, hi=4.0, step=0.25,
              help="Distance of the component means from the origin."),
        Param("df", "Degrees of freedom", default.df, "float", lo=1.0, hi=30.0, step=0.5,
              help="Small values give heavy tails; large values approach a Gaussian."),
    ]


# --- control groups -------------------------------------------------------------------------

def prior_control(default: PriorConfig, latent_dim: int, where=None,
                  allowed: list[str] | None = None, vae: bool = False) -> PriorConfig:
    """Prior choice with its parameters, its one-line description and a small plot of its
    density along z₁: the marginal p(z₁) of the prior at latent_dim dimensions. With vae=True
    a prior that cannot work is explained, not hidden."""
    where = where or st
    p_name, p_k, p_spread, p_df = prior_params(default, allowed)
    name = state.widget(p_name, where, radio=False)
    config = PriorConfig(name=name, components=default.components, spread=default.spread,
                         component_scale=default.component_scale, df=default.df)
    if name == "mixture":
        c1, c2 = where.columns(2)
        config = replace(config, components=state.widget(p_k, c1),
                         spread=state.widget(p_spread, c2))
    elif name == "student_t":
        config = replace(config, df=state.widget(p_df, where))
    where.caption(PRIORS[name].description)
    if vae and PRIORS[name].bounded:
        where.warning(_prior_problem(config, latent_dim))
    if where is st:  # the module is not a container: draw where the caller is
        charts.show(prior_density_chart(config, latent_dim))
    else:
        with where:
            charts.show(prior_density_chart(config, latent_dim))
    return config


def _prior_problem(config: PriorConfig, latent_dim: int) -> str | None:
    try:
        make_prior(config, latent_dim).check_fits_gaussian_posterior()
    except PriorMismatch as e:
        return str(e)
    return None


def prior_problem_for_vae(config: PriorConfig, latent_dim: int) -> str | None:
    """Why this prior cannot be a VAE's prior, or None."""
    return _prior_problem(config, latent_dim)


Z_SPAN = 4.5  # the plot of p(z₁) spans at least [-4.5, 4.5]
CURVE_POINTS = 181


def prior_z1_density(config: PriorConfig, latent_dim: int, z: torch.Tensor) -> torch.Tensor:
    """The exact marginal density p(z₁) at z (n,) of the prior over latent_dim dimensions.

    The mixture prior places its component means on a line in one dimension but on a circle
    in (z₁, z₂) from two dimensions up (models.priors.mixture_means), so its z₁ marginal
    depends on the dimension: it is the mixture, with the same weights, of each component's
    own 1-D marginal (models.latent.prior_mixture). The factorised priors give the same
    p(z₁) at every dimension. Zero outside a bounded prior's support."""
    prior = make_prior(config, max(1, latent_dim))
    z1 = latent.prior_mixture(prior).marginal((0,))
    return z1.log_prob(z.double().reshape(-1, 1)).exp()


@st.cache_data(max_entries=64, show_spinner=False)
def _prior_curve(config: PriorConfig, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    h = Z_SPAN
    if config.name == "mixture":  # the outermost component, to 3 of its standard deviations
        h = max(h, config.spread + 3 * config.component_scale)
    z = torch.linspace(-h, h, CURVE_POINTS, dtype=torch.float64)
    return z.numpy(), prior_z1_density(config, latent_dim, z).numpy()


PLOT_HEIGHT = 70  # the plotting area of the sidebar's p(z₁); axes and labels come on top


def prior_density_chart(config: PriorConfig, latent_dim: int = 1):
    """p(z₁) as a filled area. The height is the plotting area's (autosize fit-x): in the
    narrow sidebar Streamlit's default would squeeze the axes' labels into the plot."""
    z, p = _prior_curve(config, latent_dim)
    df = pd.DataFrame({"z₁": z, "p(z₁)": p})
    return alt.Chart(df, height=charts.height(PLOT_HEIGHT)).mark_area(
        color=charts.MODEL, opacity=0.35, line={"color": charts.MODEL}).encode(
        x=alt.X("z₁:Q", title="z₁"),
        y=alt.Y("p(z₁):Q", title="p(z₁)", axis=alt.Axis(tickCount=2, format=".1f"),
                scale=alt.Scale(domain=[0, max(0.1, float(p.max()) * 1.1)], nice=False)),
        tooltip=[alt.Tooltip("z₁:Q", format=".2f"), alt.Tooltip("p(z₁):Q", format=".3f")],
    ).properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


def ae_controls(default: AEConfig, where=None, datasets_allowed: list[str] | None = None
                ) -> AEConfig:
    where = where or st.sidebar
    data = state.widget(dataset_param(default.dataset, datasets_allowed), where, radio=False)
    latent = state.widget(latent_param(default.latent_dim), where)
    linear = state.widget(Param("linear", "Linear (no nonlinearity: compare with PCA)",
                                default.linear, "bool"), where)
    hidden = state.widget(Param("hidden", "Hidden width", default.hidden, "steps",
                                options=(32, 64, 128, 256, 512)), where, disabled=linear)
    with where.expander("Training", expanded=False):
        epochs = state.widget(epochs_param(default.epochs))
        lr = state.widget(lr_param(default.lr))
        seed = state.widget(seed_param(default.seed))
    return AEConfig(dataset=data, latent_dim=latent, hidden=hidden, linear=linear,
                    epochs=epochs, lr=lr, batch_size=default.batch_size, seed=seed)


def vae_controls(default: VAEConfig, where=None, datasets_allowed: list[str] | None = None
                 ) -> VAEConfig:
    where = where or st.sidebar
    data = state.widget(dataset_param(default.dataset, datasets_allowed), where, radio=False)
    latent = state.widget(latent_param(default.latent_dim), where)
    with where.expander("Prior", expanded=True):
        prior = prior_control(default.prior, latent, vae=True)
    beta = state.widget(Param("beta", "β (weight of the KL term)", default.beta, "float",
                              lo=0.0, hi=10.0, step=0.1,
                              help="β = 1 is the ELBO. Larger β pulls q(z|x) towards the "
                                   "prior; too large and the latent dimensions collapse."),
                        where)
    with where.expander("Training", expanded=False):
        epochs = state.widget(epochs_param(default.epochs))
        lr = state.widget(lr_param(default.lr))
        seed = state.widget(seed_param(default.seed))
    return VAEConfig(dataset=data, latent_dim=latent, hidden=default.hidden, prior=prior,
                     beta=beta, epochs=epochs, lr=lr, batch_size=default.batch_size, seed=seed)


def gan_controls(default: GANConfig, where=None, datasets_allowed: list[str] | None = None
                 ) -> GANConfig:
    where = where or st.sidebar
    data = state.widget(dataset_param(default.dataset, datasets_allowed), where, radio=False)
    noise = state.widget(latent_param(default.noise_dim, 1, 8, key="noise",
                                      label="Noise dimensions"), where)
    with where.expander("Noise prior", expanded=False):
        prior = prior_control(default.prior, noise)
    with where.expander("Networks", expanded=False):
        g_depth = state.widget(Param("g_depth", "Generator layers", default.g_depth, "int",
                                     lo=1, hi=4, step=1))
        g_hidden = state.widget(Param("g_hidden", "Generator width", default.g_hidden,
                                      "steps", options=(16, 32, 64, 128, 256, 512)))
        d_depth = state.widget(Param("d_depth", "Discriminator layers", default.d_depth,
                                     "int", lo=1, hi=4, step=1))
        d_hidden = state.widget(Param("d_hidden", "Discriminator width", default.d_hidden,
                                      "steps", options=(16, 32, 64, 128, 256, 512)))
    with where.expander("Training", expanded=False):
        loss = state.widget(Param("loss", "Loss", default.loss, "choice",
                                  options=tuple(LOSSES), labels=LOSS_LABELS,
                                  help=" · ".join(f"{LOSS_LABELS[k]}: {v}"
                                                  for k, v in LOSSES.items())), radio=False)
        g_lr = state.widget(lr_param(default.g_lr, "g_lr", "Generator learning rate"))
        d_lr = state.widget(lr_param(default.d_lr, "d_lr", "Discriminator learning rate"))
        d_steps = state.widget(Param("d_steps", "D steps per G step", default.d_steps, "int",
                                     lo=1, hi=5, step=1))
        steps = state.widget(Param("steps", "Training steps", default.steps, "int", lo=100,
                                   hi=20000, step=100))
        batch = state.widget(Param("batch", "Batch size", default.batch_size, "steps",
                                   options=BATCH_SIZES))
        seed = state.widget(seed_param(default.seed))
    return replace(default, dataset=data, noise_dim=noise, prior=prior, g_depth=g_depth,
                   g_hidden=g_hidden, d_depth=d_depth, d_hidden=d_hidden, loss=loss,
                   g_lr=g_lr, d_lr=d_lr, d_steps=d_steps, steps=steps, batch_size=batch,
                   seed=seed)


def optimizer_label(name: str) -> str:
    return OPTIMIZERS[name]
