"""Who may do what: roles, sessions and the one admin check (``sessions.py``), and the admin
password's hash (``passwords.py``)."""
