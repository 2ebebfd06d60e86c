"""The gridpulse command line."""
