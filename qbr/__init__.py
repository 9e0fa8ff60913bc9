"""Shared runtime of the QBR warehouse: settings, database, migrations, refresh, CLI."""
