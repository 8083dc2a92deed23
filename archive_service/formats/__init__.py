"""formats of the archive service."""
