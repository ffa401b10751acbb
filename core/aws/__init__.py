"""Talking to AWS: boto3 clients with the standard credential chain and retries, and the one
mapping from AWS errors to domain errors (``clients.py``). Every ``core.*.aws`` adapter and
``core.bootstrap.aws`` build their clients here."""
