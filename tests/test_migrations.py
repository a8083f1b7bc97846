"""The schema is made by its migrations, on SQLite and PostgreSQL, and equals the tables' models."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, text
from sqlmodel import Session, SQLModel

from domain.stages import ApplicationStage
from projection import queries
from projection.database import alembic_config, make_engine, migrate
from projection.tables import ApplicationRow
from projection.writes import application_row
from tests.test_projection import record


def test_an_empty_database_migrated_to_head_equals_the_models(any_engine: Engine) -> None:
    """`any_engine` was migrated by its fixture; a second migration finds nothing to do."""
    migrate(any_engine)
    with any_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
        version = connection.execute(text("select version_num from alembic_version")).scalar()
    assert version == "0002"
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


def test_a_database_holding_data_upgrades_from_the_previous_revision(empty_engine: Engine) -> None:
    """A database at 0001 holding a call and an application (written as the code of 0001 wrote
    them) upgrades to the latest revision; every case reads back, with no file yet."""
    with empty_engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    application = record("a1", 1, ApplicationStage.RECEIVED).state
    old_state = application.model_dump(mode="json", exclude={"files"})  # as 0001's code held it
    with empty_engine.begin() as connection:
        connection.execute(
            insert(ApplicationRow.__table__), application_row(application) | {"state": old_state}
        )
    migrate(empty_engine)
    with Session(empty_engine) as db:
        [case] = queries.list_applications(db, call_id="2025-abc").items
    assert case.id == "a1" and case.files == [] and case.data.cluster_name
    assert "documents" in inspect(empty_engine).get_table_names()
