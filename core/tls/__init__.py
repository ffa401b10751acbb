"""X.509 for the local world: one certificate builder (``certificates.py``) behind the local CA
(``core.telemetry.ca``: CA, broker and device certificates) and the app's self-signed HTTPS
certificate (``core.app.lan``)."""
