"""What the Streamlit app needs that is not a page: Japanese and English text
(``i18n.py``) and reaching the app from a phone on the LAN (``lan.py``: URL, QR code,
TLS certificate)."""
