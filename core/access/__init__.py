"""Who may do what: roles, sessions and the one admin check (``sessions.py``), the admin
password's hash (``passwords.py``), and throttling (``throttle.py``: the Web API's rate limit
and the sign-in back-off)."""
