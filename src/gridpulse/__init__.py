"""gridpulse: interval data for electric utilities, from ingest to answers."""

__version__ = "0.1.0"
__all__ = ["__version__"]
