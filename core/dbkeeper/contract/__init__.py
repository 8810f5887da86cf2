"""The plugin contract: Dialect, Capabilities, hook specs, reflection. Imports base and SQL text."""
