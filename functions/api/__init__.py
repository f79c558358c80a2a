"""HTTP entrypoints: Chalice blueprints. Thin: read the request, call one domain function, shape the reply."""
