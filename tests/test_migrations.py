"""The schema is made by its migrations, on SQLite and PostgreSQL, and equals the tables' models."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from projection.database import make_engine, migrate


def test_an_empty_database_migrated_to_head_equals_the_models(any_engine: Engine) -> None:
    """`any_engine` was migrated by its fixture; a second migration finds nothing to do."""
    migrate(any_engine)
    with any_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
        version = connection.execute(text("select version_num from alembic_version")).scalar()
    assert version == "0001"
    assert {"calls", "applications", "users", "api_tokens"} <= set(
        inspect(any_engine).get_table_names()
    )


def test_a_database_made_before_migrations_is_refused_with_a_reason(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        connection.execute(text("create table calls (id varchar primary key)"))
    try:
        migrate(engine)
    except RuntimeError as refused:
        assert "avant les migrations" in str(refused)
    else:
        raise AssertionError("an unmigrated database was taken as it is")
