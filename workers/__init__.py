"""Celery application and task definitions (thin: they call services)."""
