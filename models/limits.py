"""Limits for a public server, set in one place.

By default nothing beyond the models' own ranges is limited (a laptop, a lecture). A hosted
demo points ``LATENT_LAB_LIMITS`` at a TOML file (assets/limits-hosted.toml is one):

    max_latent = 16          # largest latent / noise dimension
    max_epochs = 40          # autoencoder and VAE epochs
    max_steps = 5000         # GAN steps
    max_hidden = 512         # widest hidden layer
    runs_per_session = 6     # new trainings one browser session may start
    workers = 2              # concurrent training processes

Unknown keys or bad values stop the server with a message naming them (a typo must not
silently lift a limit).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

LIMITS_ENV = "LATENT_LAB_LIMITS"


class LimitExceeded(ValueError):
    """A configuration beyond this server's limits; the message says which and why."""


@dataclass(frozen=True)
class Limits:
    max_latent: int = 64
    max_epochs: int = 1000
    max_steps: int = 200_000
    max_hidden: int = 2048
    runs_per_session: int = 0  # 0: no limit
    workers: int = 0  # 0: the run manager's default
    source: str = "defaults"

    def check(self, config) -> None:
        """Raise LimitExceeded when config goes beyond a limit."""
        why = "on this server (a shared demo keeps runs small so everyone gets a turn)"
        if config.latent_dim > self.max_latent:
            raise LimitExceeded(f"Latent dimensions are limited to {self.max_latent} {why}.")
        if hasattr(config, "epochs") and config.epochs > self.max_epochs:
            raise LimitExceeded(f"Training is limited to {self.max_epochs} epochs {why}.")
        if hasattr(config, "steps") and config.steps > self.max_steps:
            raise LimitExceeded(f"GAN training is limited to {self.max_steps:,} steps {why}.")
        widths = [getattr(config, n) for n in ("hidden", "g_hidden", "d_hidden")
                  if hasattr(config, n)]
        if any(w > self.max_hidden for w in widths):
            raise LimitExceeded(f"Hidden layers are limited to {self.max_hidden} units {why}.")


def parse(text: str, source: str) -> Limits:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{source}: not valid TOML ({e})") from e
    allowed = {f.name: f.type for f in fields(Limits) if f.name != "source"}
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValueError(f"{source}: unknown limit(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(allowed)}")
    for k, v in data.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{source}: {k} must be a whole number >= 0, not {v!r}")
        if v == 0 and k not in ("runs_per_session", "workers"):
            raise ValueError(f"{source}: {k} must be at least 1")
    return Limits(**data, source=source)


@lru_cache(maxsize=1)
def current() -> Limits:
    """The limits of this process: from the file named by LATENT_LAB_LIMITS, else none."""
    path = os.environ.get(LIMITS_ENV)
    if not path:
        return Limits()
    p = Path(path).expanduser()
    try:
        text = p.read_text()
    except OSError as e:
        raise ValueError(f"{LIMITS_ENV}={path}: cannot read it ({e.strerror})") from e
    return parse(text, str(p))
