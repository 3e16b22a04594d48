"""Schema migrations of the audit database (Alembic), run by ``Database.start()``.

``env.py`` and ``versions/`` are Alembic's; :mod:`.runner` drives them in code, on the
connection Database hands over, so no ``alembic.ini`` is needed.
"""

from .runner import SchemaState, SchemaUpgrade, current_revision, head_revision, upgrade

__all__ = ["SchemaState", "SchemaUpgrade", "current_revision", "head_revision", "upgrade"]
