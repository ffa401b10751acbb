"""Thin AWS Lambda handlers: an API Gateway proxy event in, a proxy response out.

Each route is one module (``search.py``, ``analyze.py``) whose ``handler`` passes the event
to ``core.web.routes``. Services are built once per container (``_container.services``).
"""
