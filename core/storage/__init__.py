"""Local durable storage shared by every local adapter: atomic owner-only files
(``files.py``), the owner-only permission audit of the data directory (``permissions.py``)
and per-thread SQLite connections in WAL mode (``sqlite.py``)."""
