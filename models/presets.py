"""Named configurations: the default run of every page, and teaching presets.

The dashboard's controls start from these values, ``python -m models prewarm`` trains them
ahead of a lecture, and the shipped pretrained weights are exactly these runs.
"""

from __future__ import annotations

from .train import AEConfig, Config, GANConfig, VAEConfig

# page path -> the configurations that page shows by default
PAGE_DEFAULTS: dict[str, list[Config]] = {
    "autoencoder": [AEConfig()],
    "vae": [VAEConfig()],
    "gan": [GANConfig()],
}


def default_runs() -> list[Config]:
    """Every page's default configuration, each once, in page order."""
    seen: dict[Config, None] = {}
    for configs in PAGE_DEFAULTS.values():
        for c in configs:
            seen.setdefault(c, None)
    return list(seen)
