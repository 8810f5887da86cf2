"""Pytest fixtures for dbkeeper (filled in below)."""
