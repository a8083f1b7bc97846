"""The schema is made by its migrations, on SQLite and PostgreSQL, and equals the tables' models."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, inspect, text
from sqlmodel import Session, SQLModel

from domain.ids import Kind
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
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
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


def test_an_applications_files_upgrade_to_files_of_a_case(empty_engine: Engine) -> None:
    """At 0002 a file and its download named their application; after 0003 they are the files
    of a case of kind « application », listed and counted as before."""
    config = alembic_config()
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(
            text(
                "insert into documents (id, application_id, kind, filename, content_type, size,"
                " sha256, uploaded_by, uploaded_at) values ('d' || :n, 'a1', 'budget prévisionnel',"
                " 'budget.pdf', 'application/pdf', 10, :sha, 'Opérateur', '2025-03-01 10:00:00')"
            ),
            [{"n": "1" * 31, "sha": "0" * 64}],
        )
        connection.execute(
            text(
                "insert into downloads (document_id, application_id, actor, role, at)"
                " values (:d, 'a1', 'Comité', 'committee', '2025-03-02 10:00:00')"
            ),
            {"d": "d" + "1" * 31},
        )
    migrate(empty_engine)
    with Session(empty_engine) as db:
        [ref] = queries.documents(db, Kind.APPLICATION, "a1")
        [read] = queries.downloads(db, Kind.APPLICATION, "a1")
        assert queries.documents(db, Kind.CLUSTER, "a1") == []
    assert (ref.filename, ref.kind, read.actor) == ("budget.pdf", "budget prévisionnel", "Comité")
