"""integrity of the archive service."""
