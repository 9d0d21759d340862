"""Named configurations: the default run of every page, and teaching presets.

The dashboard's controls start from these values, ``python -m models prewarm`` trains them
ahead of a lecture, and the shipped pretrained weights are exactly these runs.
"""

from __future__ import annotations

from dataclasses import replace

from . import datasets
from .train import AEConfig, Config, GANConfig, VAEConfig

AE_SWEEP_KS = (1, 2, 4, 8, 16, 32)  # the autoencoder page's sweep over latent sizes (images)
AE_SWEEP_KS_POINTS = (1, 2)  # ... and on 2-D data, where k = 2 already loses nothing


def ae_sweep(config: AEConfig) -> list[AEConfig]:
    """The autoencoder page's error-against-latent-size sweep: config at each swept k."""
    points = datasets.DATASETS[config.dataset].kind == "points"
    ks = AE_SWEEP_KS_POINTS if points else AE_SWEEP_KS
    return [replace(config, latent_dim=k) for k in ks]


def linear_match(config: AEConfig) -> AEConfig:
    """The linear autoencoder the autoencoder page sets beside PCA at config's k and data set.
    150 epochs at 2e-3 stay within 1.6 % of PCA's held-out error on digits at each k measured
    (1, 2, 4, 5, 8, 10, 16, 32, 64; worst at k = 2); 60 epochs at 5e-3 drift to 3.7 % at
    k = 32 and 8.8 % at k = 64 (benchmarks/ae_pca.py)."""
    return AEConfig(dataset=config.dataset, latent_dim=config.latent_dim, linear=True,
                    epochs=150, lr=2e-3)


# The GAN page's 2-D lab presets (benchmarks/gan_modes.py): the defaults cover all 8 modes of
# the ring; a discriminator that learns ~20x faster than the generator collapses it to 1-2.
GAN_COVERS = GANConfig()
GAN_COLLAPSE = GANConfig(d_steps=5, d_lr=1e-2, g_lr=5e-4, steps=2000)
# The GAN page's digits GAN: an MLP WGAN-GP that draws recognisable digits of every class in
# about a minute on one core (2,500 steps; the non-saturating and least-squares losses
# collapsed to one or two digit shapes at this size and length).
GAN_DIGITS = GANConfig(dataset="digits", noise_dim=64, g_hidden=256, d_hidden=256,
                       loss="wgan-gp", g_lr=1e-3, d_lr=1e-3, d_steps=2, batch_size=128,
                       steps=2500)

# page path -> the configurations that page shows by default
PAGE_DEFAULTS: dict[str, list[Config]] = {
    # the page's run, its sweep over k, and linear autoencoders beside PCA at k = 2, 5, 10
    "autoencoder": [AEConfig(), *ae_sweep(AEConfig()),
                    *(linear_match(AEConfig(latent_dim=k)) for k in (2, 5, 10))],
    # an autoencoder and a VAE with 8 latent numbers each, on digits
    "latent-representation": [AEConfig(latent_dim=8), VAEConfig(latent_dim=8)],
    # the VAE, then the autoencoder trained like it (dashboard.views_vae.ae_twin)
    "vae": [VAEConfig(), AEConfig(latent_dim=20, hidden=400, epochs=30, lr=3e-3)],
    # 2-D latents, so q(z|x), p(z) and q(z) are drawn in the plane: digits, then moons
    "latent-distribution": [VAEConfig(latent_dim=2), VAEConfig(dataset="moons", latent_dim=2)],
    # the 2-D lab's two presets (defaults first), then the digits GAN
    "gan": [GAN_COVERS, GAN_COLLAPSE, GAN_DIGITS],
    # the explorer's VAE (latent 2: the latent space is a plane) on digits and on sprites; then
    # autoencoder, VAE and GAN side by side on the same 2-D data with the same latent size
    "latent-space": [VAEConfig(dataset="digits", latent_dim=2),
                     VAEConfig(dataset="sprites", latent_dim=2),
                     AEConfig(dataset="moons", latent_dim=2, hidden=128),
                     VAEConfig(dataset="moons", latent_dim=2, hidden=128),
                     GANConfig(dataset="moons", noise_dim=2)],
}


def default_runs() -> list[Config]:
    """Every page's default configuration, each once, in page order."""
    seen: dict[Config, None] = {}
    for configs in PAGE_DEFAULTS.values():
        for c in configs:
            seen.setdefault(c, None)
    return list(seen)

