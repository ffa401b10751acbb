"""FaceGate's router (placeholder until the app issue lands)."""

import streamlit as st

st.set_page_config(page_title="FaceGate", page_icon="🚪", layout="centered")
st.title("FaceGate")
st.write("The local face engine is ready: `python -m core faces --help`.")
