"""graphnet: how a network behaves, and when it changes."""

__version__ = "0.1.0"
