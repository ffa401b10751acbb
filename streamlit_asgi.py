"""The app as ``python -m core app run`` serves it: ``streamlit_app.py`` in Streamlit's ASGI
form (``st.App``), so that every HTTP answer carries the security headers of
``core.app.headers`` (Streamlit has no option for them). ``streamlit run streamlit_asgi.py``
serves it the same way; ``streamlit run streamlit_app.py`` still works, without the headers."""

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from core.app.headers import SecurityHeaders

app = st.App(Path(__file__).resolve().with_name("streamlit_app.py"), middleware=[Middleware(SecurityHeaders)])
