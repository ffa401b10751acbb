"""How the app reaches identification: the Web API's client port (``port.py``) and its two
transports, in process (``local.py``, the same ``core.web.routes`` code the HTTP server runs,
without a socket) and HTTP (``http.py``, the deployed API or the local server).
Each world's builder in ``core.bootstrap`` picks one."""
