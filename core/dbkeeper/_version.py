"""The single source of dbkeeper's version (read by hatchling and ``--version``)."""

__version__ = "0.1.0"
