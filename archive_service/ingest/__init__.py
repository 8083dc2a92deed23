"""ingest of the archive service."""
