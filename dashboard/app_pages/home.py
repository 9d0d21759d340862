"""What is a latent variable? Data made by a hidden cause z; reveal it."""

import pandas as pd
import streamlit as st

from dashboard import charts, panels, state
from dashboard.nav import existing_pages
from dashboard.state import Param
from models import datasets

STORIES = {  # name -> (maker, latent column, continuous?, the generative process)
    "curve": (datasets.make_curve, "z", True,
              "z ~ Uniform(−1, 1) is a position along a curve; "
              "x = (2z, sin πz) + noise."),
    "class": (datasets.make_ring8, "z", False,
              "z ∈ {0, 1, …, 7} is a hidden class, each equally likely; "
              "x = (2 cos 2πz/8, 2 sin 2πz/8) + noise."),
    "spiral": (datasets.make_spiral, "z", True,
               "z ~ Uniform(0, 1) is how far along a spiral arm the point lies; "
               "x = (0.5 + 2.5z)(cos 3πz, sin 3πz) + noise."),
    "moons": (datasets.make_moons, "z", False,
              "z ∈ {0, 1} says which of two moons the point belongs to (0: the upper one); "
              "x is a point on that half circle + noise."),
}
STORY_LABELS = {"curve": "Position on a curve", "class": "Hidden class", "spiral": "Spiral",
                "moons": "Two moons"}

STORY = Param("story", "Story", "curve", "choice", options=tuple(STORIES), labels=STORY_LABELS)
N = Param("n", "Number of points", 800, "int", lo=50, hi=3000, step=50)
NOISE = Param("noise", "Noise", 0.08, "float", lo=0.0, hi=0.5, step=0.01,
              help="How much x scatters around the point that z determines.")
REVEAL = Param("reveal", "Reveal z", False, "bool",
               help="Colour every point by the hidden value that made it.")
SEED = Param("seed", "Seed", 0, "int", lo=0, hi=9999, step=1)


@st.cache_data(max_entries=32, show_spinner=False)
def sample(story: str, n: int, noise: float, seed: int) -> pd.DataFrame:
    maker, _, continuous, _ = STORIES[story]
    s = maker(n, noise, seed)
    # the z the story's formula names: a class index k as in the data set (ring: angle 2πk/8)
    z = s.factors[:, 0].numpy() if continuous else s.labels.numpy()
    return pd.DataFrame({"x₁": s.x[:, 0].numpy(), "x₂": s.x[:, 1].numpy(), "z": z})


panels.header("What is a latent variable?",
              "A latent variable is a cause you never observe. Every point below was made from "
              "a hidden value z; you see only x. Switch on <b>Reveal z</b> to colour each point "
              "by the cause that made it.")

DRAWN = "_home_story_drawn"  # (story, reveal) that the text beside the scatter was drawn for


@st.fragment
def story_section() -> tuple[str, bool, pd.DataFrame]:
    """The controls and the scatter: a fragment, so a slider step redraws only these (not
    the header, the sidebar, the story beside them or the cards below). The story beside
    follows the story and reveal chosen here: a change of those reruns the page."""
    c1, c2 = st.columns(2, vertical_alignment="bottom")
    story = state.widget(STORY, c1, radio=False)
    reveal = state.widget(REVEAL, c2)
    c3, c4 = st.columns(2)
    n = state.widget(N, c3)
    noise = state.widget(NOISE, c4)
    with st.expander("Sample settings"):
        seed = state.widget(SEED)
    if st.session_state.get(DRAWN) not in (None, (story, reveal)):
        st.rerun()  # the text beside was written for another story

    df = sample(story, n, noise, seed)
    continuous = STORIES[story][2]
    if reveal:
        chart = charts.scatter(df, "x₁", "x₂", color="z", continuous=continuous,
                               title="x coloured by its hidden cause z", h=430, size=22,
                               color_title="z", square=True)
    else:
        chart = charts.scatter(df, "x₁", "x₂", title="What we observe: x only", h=430,
                               size=22, square=True)
    charts.show(chart)
    state.bench_mark()  # the end of this fragment's rerun, for the browser benchmark
    return story, reveal, df


def story_text(story: str, reveal: bool, df: pd.DataFrame) -> None:
    """The graphical model and how the data was made, beside the scatter."""
    process = STORIES[story][3]
    continuous = STORIES[story][2]
    st.markdown("**The graphical model**")
    st.graphviz_chart(
        'digraph { rankdir=LR; bgcolor="transparent"; node [fontname="Helvetica", fontsize=16];'
        'z [label="z", shape=circle, style=filled, fillcolor="white"];'
        'x [label="x", shape=circle, style=filled, fillcolor="#cfd8e3"];'
        'z -> x; label="for each of the N points"; labelloc=b; fontsize=11; size="2.6,1.2"; }',
        width="content")
    st.caption("Shaded: observed. White: latent. The arrow is the generative process p(x|z).")
    st.markdown(f"**How this data was made.** {process}")
    if reveal:
        if continuous:
            st.markdown("Nearby points on the curve share nearly the same z: one number "
                        "describes each 2-D point. A model that recovers z has found the "
                        "data's true one-dimensional structure.")
        else:
            counts = df["z"].value_counts().sort_index()
            st.markdown(f"There are {len(counts)} hidden classes. Without the colours, "
                        "the clusters hint at them; a model has to infer which one made "
                        "each point.")
    else:
        st.markdown("Could you say which z made a given point? That question, "
                    "*what is p(z | x)?*, is what latent variable models answer.")


left, right = st.columns([3, 2], gap="large")
st.session_state[DRAWN] = None  # a whole-page run: the text beside follows along
with left:
    drawn_story, drawn_reveal, drawn_df = story_section()
st.session_state[DRAWN] = (drawn_story, drawn_reveal)
with right:
    story_text(drawn_story, drawn_reveal, drawn_df)

panels.explain(
    "**Why latent variables?** Real data is often caused by a few hidden factors: the angle and "
    "size of a drawn shape, the identity of a digit, a position along a path. A latent variable "
    "model writes that down as p(x, z) = p(z) p(x|z): first draw the hidden cause z from a "
    "prior p(z), then the observation x from p(x|z). Learning such a model means finding the "
    "process that could have made the data; using it means inferring z from x (encoding) or "
    "making new x from new z (generating).", title="Why latent variables?")

concept_pages = [p for p in existing_pages() if p.url_path]
if concept_pages:
    st.subheader("Where the latent variable lives in each model")
cols = st.columns(3)
for i, p in enumerate(concept_pages):
    with cols[i % 3]:
        panels.card(p.path, p.title, p.latent)
