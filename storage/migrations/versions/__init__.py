"""Alembic revisions, oldest first: 0001 (the released schema), 0002, ..."""
