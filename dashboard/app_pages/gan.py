"""GAN: a generator turns noise z into data, a discriminator tells real from generated. Two
tabs, only the open one drawn: a 2-D lab (live training, replay, mode collapse) and a digits
GAN (samples, interpolation, and the missing encoder: finding z for a given image by
optimisation)."""

import streamlit as st

from dashboard import panels
from dashboard import views_gan as v
from models.gan_inversion import RESTARTS, STEPS

panels.header("Generative adversarial network",
              "A GAN's latent variable is the noise z fed to its generator G; the generator's "
              "weights are parameters. A discriminator D learns to tell real data from G(z), "
              "and G learns to fool it. A GAN can sample, but it has no encoder: it cannot "
              "tell you the z behind a given x.")


def lab() -> None:
    preset, config = v.lab_controls()
    v.preset_note(preset, config)
    panels.explain(
        "Blue dots are real data, orange dots are G(z) for a fixed set of noise vectors. "
        "Behind them, the background is the discriminator's verdict D(x) at every point of "
        "the plane: blue where it says *real*, orange where it says *generated*, white where "
        "it cannot tell. The generator moves its samples up the discriminator's slope towards "
        "blue; when it has matched the data, D is ½ everywhere. On the right, the generator's "
        "image of a grid of noise points shows how G warps the noise space onto the data.\n\n"
        "**Training runs in the background**, in a separate process, while this page shows "
        "the newest snapshot several times a second. Play starts (or resumes) it, Pause holds "
        "it, Step trains to the next snapshot and pauses, and Reset stops it and goes back to "
        "the untrained model. Everyone who picks the same settings watches one shared run, so "
        "a pause holds it for all of them; a paused run gives its worker back after "
        f"{panels.manager().pause_limit / 60:g} minutes by playing on to the end. A finished "
        "run is kept: it opens instantly next time, for anyone, and its saved snapshots can be "
        "replayed (play, pause, step) on the timeline below without training again.",
        title="How to read the lab")
    display = st.container()  # the display controls before a run; the live view and replay
    run = panels.run_panel(config, curves={}, chart=False, timeline=False,  # draw their own
                           live_view=v.live_view(config), transport=True,
                           step_size=v.snapshot_interval(config))
    if run.done:
        v.replay(config, run.result)
    elif not run.live:  # what the panel drew, not the run's state now: a run that ends in
        # between would otherwise get the controls twice (a duplicate widget key)
        with display:
            v.display_controls()


def digits() -> None:
    panels.explain(
        f"A generator with {v.DIGITS.noise_dim} noise dimensions and two hidden layers of "
        f"{v.DIGITS.g_hidden} units, trained on 4,500 MNIST digits against a critic with the "
        "Wasserstein loss and gradient penalty (Gulrajani et al. 2017), "
        f"{v.DIGITS.steps:,} steps (about a minute on one core).", title="The model")
    run = panels.run_panel(v.DIGITS, curves={}, name="digits", timeline=False, chart=False,
                           train_label="Train the digits GAN", live_view=v.digits_live)
    if not run.done:
        link_waits()  # the link's digit settings wait for the trained model
        return
    v.digits_losses(run.result.history, "gan_digits_losses")
    st.markdown("**Samples**")
    v.samples_section(run.result)

    st.markdown("**Interpolation between two noise vectors**")
    v.interpolation_section(run.result)

    st.markdown("**Find z for this image: the missing encoder**")
    panels.explain(
        "An autoencoder or a VAE answers “which z made this x?” in one pass of its encoder. A "
        "GAN has none, so the only way to ask is to search: start from random z, and follow "
        "the gradient of the squared error ‖G(z) − x‖² with respect to z (the generator stays "
        f"fixed) for {STEPS} Adam steps, keeping the best of {RESTARTS} starts (Zhu et "
        "al. 2016; Creswell & Bharath 2018). A generated digit is in the generator's range, "
        "so the search can find it almost exactly; a held-out digit usually is not, and the "
        "best the search can do shows what the generator is unable to draw. The prior "
        "penalty λ · (−log p(z)) keeps z where p(z) is dense; too strong and it drags z "
        "towards 0, far shorter than any typical noise vector.", title="How the search works")
    v.inversion_panel(run.result)


def link_waits() -> None:
    for problem in v.keep_link():
        st.warning(f"This link's {problem} cannot be used.", icon=":material/link_off:")


lab_tab, digits_tab = v.sections()  # one tab drawn at a time (views_gan.sections)
if lab_tab.open:
    v.restore_lab_link()
    with lab_tab:
        lab()
else:
    v.defer_lab_link()
if digits_tab.open:
    with digits_tab:
        digits()
else:  # the link's digit settings wait for their tab
    link_waits()
