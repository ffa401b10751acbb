"""What the app and the CLI do, written once for both worlds against the ports on
``core.bootstrap.Services``: capture (``capture.py``), people (``people.py``), match history
(``history.py``), retention and forgetting (``retention.py``), component health
(``health.py``). They import each other one way only: people <- history <- capture, and
people, history <- retention."""
