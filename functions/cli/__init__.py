"""`pixelflow`: the command-line client of the pixelflow API (installed with the project, never shipped to Lambda)."""
