"""The portable engine: any Django database (SQLite for the embedded demo), through the
ORM only. See engine.OrmEngine."""
