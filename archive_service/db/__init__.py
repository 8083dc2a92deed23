"""db of the archive service."""
