"""Adapters: the only modules that talk to the outside world. Each takes its client as an argument."""
