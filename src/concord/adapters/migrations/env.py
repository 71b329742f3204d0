"""Alembic environment: runs on the connection Concord hands it (see concord.adapters.migrate)."""

from __future__ import annotations

from alembic import context

from concord.adapters.db import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `concord db upgrade`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
