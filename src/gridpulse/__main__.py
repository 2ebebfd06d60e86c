"""`python -m gridpulse` runs the CLI."""

from gridpulse.cli.main import main

main()
