"""`python -m graphnet.cli ...`: the same as the `graphnet` console script."""

from graphnet.cli import app

app()
