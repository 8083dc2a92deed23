"""dossiers of the archive service."""
