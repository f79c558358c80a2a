"""`python -m functions.cli` runs the same command as the `pixelflow` entry point."""

from functions.cli.main import main

main()
