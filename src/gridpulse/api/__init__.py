"""The HTTP API: create_app builds it; routes live in gridpulse.api.routes."""
