"""Work that runs on a schedule while serving, and on demand from the CLI and API."""
