"""Engine for the projection database: SQLite file by default, PostgreSQL by URL."""

from pathlib import Path

from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.schema import CreateIndex
from sqlmodel import SQLModel, create_engine

import projection.tables  # noqa: F401  (registers the tables on the metadata)


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(connection, _record) -> None:  # WAL: readers never block the worker's writes
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def create_schema(engine: Engine) -> None:
    """Create what is missing: tables, and the nullable columns and indexes added since."""
    SQLModel.metadata.create_all(engine)
    existing = inspect(engine)
    with engine.begin() as connection:
        for table in SQLModel.metadata.sorted_tables:
            present = {c["name"] for c in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable:
                    kind = column.type.compile(dialect=engine.dialect)
                    connection.execute(
                        text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                    )
            present |= {c.name for c in table.columns if c.nullable}
            for index in table.indexes:
                if all(c.name in present for c in index.columns):
                    connection.execute(CreateIndex(index, if_not_exists=True))
