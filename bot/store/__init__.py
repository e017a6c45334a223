"""Store: the SQLAlchemy models, the database connection, and the Alembic migrations."""
