"""SQL text: statement splitting, portable placeholders, write targets. Imports only the base tier."""
