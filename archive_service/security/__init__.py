"""security of the archive service."""
