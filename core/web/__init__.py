"""Everything HTTP about the course's Web API (``POST /search``, ``POST /analyze``): the
routing both worlds share (``routes.py``, also behind the Lambda handlers), the local server
(``server.py``), API keys (``apikeys.py``), rate limits (``ratelimit.py``) and the client port
the app calls it through (``client/``)."""
