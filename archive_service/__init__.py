"""Electronic records archive for settled TTHC dossiers (Circular 05/2025, E-ARK, OCFL)."""

__version__ = "0.1.0"
SOFTWARE_NAME = "archive-service"
