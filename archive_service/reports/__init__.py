"""reports of the archive service."""
