"""Adapters for S3, SQS and PostgreSQL: each wraps a client handed in from outside (functions/wiring.py).

They are not the only I/O: the fetcher (functions/fetcher) reaches user-given URLs and the
providers (functions/providers) call the text-to-image APIs, each through its own client.
"""
