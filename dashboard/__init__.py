"""Latent Lab's Streamlit dashboard (UI glue only; the models live in ``models``)."""
