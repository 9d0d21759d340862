"""The page registry: one row per concept page (section, file, title, URL path, and what the
latent variable is there). The navigation lists only pages whose file exists."""

import functools
from dataclasses import dataclass
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parent

SECTIONS = ("Foundations", "Models", "Latent concepts")


@dataclass(frozen=True)
class PageInfo:
    section: str
    path: str  # relative to dashboard/
    title: str
    url_path: str  # "" for the home page
    icon: str
    latent: str  # what "latent" means on this page, for the home page's cards


PAGES = [
    PageInfo("Foundations", "app_pages/home.py", "What is a latent variable?", "",
             ":material/visibility_off:",
             "An unobserved cause z behind the data x that we see."),
    PageInfo("Foundations", "app_pages/lvm.py", "Latent variable models",
             "latent-variable-models", ":material/account_tree:",
             "z is a random variable with a prior p(z); x is drawn from p(x|z). Five "
             "distributions follow: p(z), p(x|z), p(x, z), p(x) and the posterior p(z|x)."),
    PageInfo("Models", "app_pages/autoencoder.py", "Autoencoder", "autoencoder",
             ":material/compress:",
             "z is the bottleneck: a deterministic hidden code z = encoder(x). No "
             "distribution over z, so nothing principled to sample from."),
    PageInfo("Models", "app_pages/vae.py", "VAE", "vae", ":material/blur_on:",
             "z is random: the encoder outputs the mean and spread of q(z|x), and a prior p(z) "
             "lets the decoder generate new data."),
    PageInfo("Models", "app_pages/gan.py", "GAN", "gan", ":material/sports_kabaddi:",
             "z is the generator's input noise. The generator's weights are parameters, not "
             "latent variables, and no encoder maps x back to z."),
    PageInfo("Latent concepts", "app_pages/latent_distribution.py", "Latent distribution",
             "latent-distribution", ":material/bubble_chart:",
             "The distribution of z: the prior p(z), the encoder's q(z|x) for one input, and "
             "their average over the data, the aggregate posterior."),
    PageInfo("Latent concepts", "app_pages/latent_space.py", "Latent space", "latent-space",
             ":material/scatter_plot:",
             "The space z lives in: where inputs land, what each point decodes to, and the "
             "paths between them."),
    PageInfo("Latent concepts", "app_pages/latent_representation.py", "Latent representation",
             "latent-representation", ":material/tune:",
             "What one input becomes: its code, a handful of numbers you can edit one at a "
             "time and decode."),
]


def existing_pages() -> list[PageInfo]:
    """The pages whose files exist (looked up once per process: the app runs this on every
    rerun, and its page files do not come and go while it runs)."""
    return list(_existing_pages())


@functools.lru_cache(maxsize=1)
def _existing_pages() -> tuple[PageInfo, ...]:
    return tuple(p for p in PAGES if (DASHBOARD / p.path).exists())
