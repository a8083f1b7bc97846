"""The database: its engine (SQLite file by default, PostgreSQL by URL) and its migrations."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, inspect, text
from sqlmodel import create_engine


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


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "projection:migrations")
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the latest revision of the schema (all of it, if empty). The
    worker, the API and the embedded run each do at start; on PostgreSQL a lock makes the
    processes that start together take turns."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(7233)"))
        tables = inspect(connection)
        if tables.has_table("calls") and not tables.has_table("alembic_version"):
            raise RuntimeError(
                "Cette base a été créée avant les migrations : repartez d'une base vide "
                "(en développement, supprimez data/)."
            )
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
