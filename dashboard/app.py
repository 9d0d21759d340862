"""Latent Lab: the Streamlit entry point -- page registry, navigation and the common frame.

    streamlit run dashboard/app.py
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import streamlit as st  # noqa: E402

from dashboard import panels, state, warmup  # noqa: E402
from dashboard.nav import SECTIONS, existing_pages  # noqa: E402

st.set_page_config(page_title="Latent Lab", page_icon=str(HERE.parent / "assets" / "icon.png"),
                   layout="wide",
                   initial_sidebar_state="expanded")

pages = {section: [] for section in SECTIONS}
for p in existing_pages():  # the navigation lists only pages that exist
    pages[p.section].append(st.Page(p.path, title=p.title, icon=p.icon,
                                    url_path=p.url_path or None, default=not p.url_path))
current = st.navigation({s: ps for s, ps in pages.items() if ps})

state.begin_run(current.url_path)
with st.sidebar:  # below the navigation's own rule
    state.widget(state.Param("presenter", "Presenter mode", False, "bool",
                             help="Larger type and charts for a projector; long explanations "
                                  "fold away. Also in the link."))
    panels.lecture_sidebar()
st.html(f"<style>{panels.PAGE_CSS}" + (
    "html{font-size:21px} [data-testid=stMainBlockContainer]{max-width:100%;padding-top:2.2rem}"
    if state.presenter() else "") + "</style>")

notice_slot = st.container()
current.run()
message = state.url_notice(current.url_path)
if message:
    notice_slot.info(message, icon=":material/link_off:")
state.bench_mark()  # the end of this run, for the browser benchmark
# the other pages' imports, in a thread started once the first page is drawn (started before
# it, the thread slowed that page's first run by 0.15-0.25 s)
warmup.start()
