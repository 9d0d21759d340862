"""Latent Lab: the Streamlit entry point -- page registry, navigation and the common frame.

    streamlit run dashboard/app.py

`streamlit run` finds the ASGI app `app` below and serves it (Streamlit's st.App): the server
then starts the warm-up (dashboard/warmup.py) as it starts, not when the first visitor's
script run ends, the pages it serves say where the server is (dashboard/base_url.py), and each
script run's messages reach the browser together as soon as the run ends
(dashboard/transport.py).
Each visitor's script run executes this file as __main__, which draws the page.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import streamlit as st  # noqa: E402

from dashboard import panels, state, warmup  # noqa: E402
from dashboard.nav import SECTIONS, existing_pages  # noqa: E402


def main() -> None:
    """One script run: the frame around the page the URL names, then the page."""
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
    # a server started without the ASGI app (AppTest, or a server that runs this file as a
    # plain script) warms up once the first page is drawn (started before it, the thread slowed
    # that page's first run by 0.15-0.25 s); in `streamlit run`, it was started with the server
    warmup.start()


if __name__ == "__main__":  # a script run (Streamlit runs the script as __main__)
    main()
else:  # imported by `streamlit run` (or uvicorn), which serves this app, its warm-up and the
    # pages' hint of where the server is (dashboard/base_url.py), and sends each script run's
    # messages in one burst as the run ends (dashboard/transport.py)
    from starlette.middleware import Middleware

    from dashboard import base_url, transport
    transport.enable_nodelay()
    app = st.App(__file__, lifespan=warmup.lifespan,
                 middleware=[Middleware(base_url.BaseUrlMiddleware),
                             Middleware(transport.BurstMiddleware)])
