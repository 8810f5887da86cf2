"""The engine: pool, connection, transactions, manager, plugin registry."""
