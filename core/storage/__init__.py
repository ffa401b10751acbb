"""Local durable storage shared by every local adapter: atomic owner-only files
(``files.py``) and the owner-only permission audit of the data directory
(``permissions.py``)."""
