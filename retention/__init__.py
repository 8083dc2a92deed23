"""Retention schedule, policy engine, holds and disposal workflow."""
