"""Alembic's environment: the tables' models, and the connection that projection.database hands
over (or DATABASE_URL, for the `alembic` command line)."""

from alembic import context
from sqlmodel import SQLModel

import projection.tables  # noqa: F401  (registers every table on the metadata)
from projection.database import make_engine
from settings import Settings

config = context.config
connection = config.attributes.get("connection")


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    with make_engine(Settings().database_url).connect() as opened:
        run(opened)
        opened.commit()
