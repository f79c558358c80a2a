"""Adapters for the database, the bucket and the queues, each taking its client as an argument.

Not the only I/O: functions/fetcher and functions/providers make their own HTTP requests.
"""
