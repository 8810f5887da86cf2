"""Testing support for dbkeeper and its dialect plugins."""
