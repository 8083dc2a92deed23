"""search of the archive service."""
