"""packages of the archive service."""
