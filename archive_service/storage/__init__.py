"""storage of the archive service."""
