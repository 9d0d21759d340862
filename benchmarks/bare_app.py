"""The baseline for benchmarks/browser_latency.py: the least a Streamlit page can do on a
slider step (one slider in a fragment, its value printed, the benchmark's run counter), with
the server settings of .streamlit/config.toml. Its step time is what Streamlit, the
websocket and the browser's two frames cost on this machine at this moment; a page's figure
over it is what the page itself costs.

    streamlit run benchmarks/bare_app.py    # or let browser_latency.py start it
"""

import streamlit as st


@st.fragment
def body() -> None:
    value = st.slider("Noise", 0.0, 1.0, 0.5, 0.01)
    st.write(f"value: {value:.2f}")
    n = st.session_state["_bench_runs"] = st.session_state.get("_bench_runs", 0) + 1
    st.html(f"<span class='bench-run' data-run='{n}'></span>")


st.title("Baseline")
body()
