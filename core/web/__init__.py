"""Everything HTTP about the course's Web API (``POST /search``, ``POST /analyze``): the
routing both worlds share (``routes.py``, also behind the Lambda handlers), the local server
(``app.py``: API Gateway's part, keys and rate limits; ``server.py``: uvicorn with the limits
every endpoint needs), API keys (``apikeys.py``) and the client port
the app calls it through (``client/``)."""
