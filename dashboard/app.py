"""Latent Lab: the Streamlit entry point."""

import streamlit as st

st.set_page_config(page_title="Latent Lab", layout="wide")
st.title("Latent Lab")
st.write("An interactive dashboard that teaches latent variable models by letting you train "
         "them and poke at them. The pages arrive with the dashboard shell.")
