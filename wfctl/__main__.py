"""`python -m wfctl` runs the CLI (handy where the console script is not on PATH)."""

from wfctl.cli import run

run()
