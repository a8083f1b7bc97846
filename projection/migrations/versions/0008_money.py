"""Money: a call's envelope per budget year and the append-only ledger of its movements, guarded
by the database itself (triggers on SQLite and PostgreSQL): no row changed or removed, no
reservation beyond its envelope, no movement beyond what the case's earlier ones allow.

A later migration that alters `ledger` on SQLite with batch_alter_table copies the table and
loses its triggers: it must create them again (SQLITE_TRIGGERS below).

Revision ID: 0008
Revises: 0007
Created: 2026-12-10 10:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import projection.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CENT = 0.005  # domain.money.CENT: amounts are compared to the centime
KINDS = ("reserved", "cancelled", "committed", "returned", "released", "paid")
# engaged = reserved - cancelled - returned: what counts against the envelope.
ENGAGED = (
    "SUM(CASE WHEN kind = 'reserved' THEN amount"
    " WHEN kind IN ('cancelled', 'returned') THEN -amount ELSE 0 END)"
)
# Per (case, budget year), each kind with what its amount plus those already written may not
# exceed: the kinds that add up, the kinds they must stay within, and the refusal's words.
BOUNDS = {
    "committed": (("committed", "cancelled"), ("reserved",), "engagé > réservé - annulé"),
    "cancelled": (("committed", "cancelled"), ("reserved",), "annulé > réservé - engagé"),
    "released": (("released", "returned"), ("committed",), "ordonnancé > engagé - restitué"),
    "returned": (("released", "returned"), ("committed",), "restitué > engagé - ordonnancé"),
    "paid": (("paid",), ("released",), "payé > ordonnancé"),
}
APPEND_ONLY = "grand livre en ajout seul : un mouvement n''est ni modifié ni supprimé"
NO_ENVELOPE = "fonds insuffisants : aucune enveloppe pour cette année budgétaire"
OVER_ENVELOPE = "fonds insuffisants : au-delà de l''enveloppe de l''année"


def quoted(kinds: tuple[str, ...]) -> str:
    return ", ".join(f"'{k}'" for k in kinds)


def over_bound(kind: str) -> str:
    """What the case's rows of the year already hold beyond the bound (<= 0 when within it)."""
    adds, within, _ = BOUNDS[kind]
    return (
        f"(SELECT COALESCE(SUM(CASE WHEN kind IN ({quoted(adds)}) THEN amount"
        f" WHEN kind IN ({quoted(within)}) THEN -amount ELSE 0 END), 0) FROM ledger"
        " WHERE case_id = NEW.case_id AND budget_year = NEW.budget_year)"
    )


ENVELOPE_OF_NEW = "FROM budget_envelopes WHERE call_id = NEW.call_id AND year = NEW.budget_year"
ENGAGED_OF_NEW = (
    f"(SELECT COALESCE({ENGAGED}, 0) FROM ledger"
    " WHERE call_id = NEW.call_id AND budget_year = NEW.budget_year)"
)

# SQLite serializes its writers: a trigger's sums see every committed row.
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger"
    f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    f"CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger"
    f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    "CREATE TRIGGER ledger_guard BEFORE INSERT ON ledger BEGIN"
    f" SELECT RAISE(ABORT, 'mouvement inconnu') WHERE NEW.kind NOT IN ({quoted(KINDS)});"
    " SELECT RAISE(ABORT, 'montant nul ou négatif') WHERE NOT (NEW.amount > 0);"
    f" SELECT RAISE(ABORT, '{NO_ENVELOPE}') WHERE NEW.kind = 'reserved'"
    f" AND NOT EXISTS (SELECT 1 {ENVELOPE_OF_NEW});"
    f" SELECT RAISE(ABORT, '{OVER_ENVELOPE}') WHERE NEW.kind = 'reserved'"
    f" AND {ENGAGED_OF_NEW} + NEW.amount > (SELECT amount {ENVELOPE_OF_NEW}) + {CENT};"
    + "".join(
        f" SELECT RAISE(ABORT, 'montant au-delà : {words}') WHERE NEW.kind = '{kind}'"
        f" AND {over_bound(kind)} + NEW.amount > {CENT};"
        for kind, (_, _, words) in BOUNDS.items()
    )
    + " END",
]

# PostgreSQL: a reservation locks its envelope's row before it sums, so two transactions on the
# same envelope take turns, and the second's sum (a fresh snapshot: the function is VOLATILE,
# under READ COMMITTED) sees the first's row; the other kinds take turns per case and year.
# Messages are concatenated, not formatted: no percent sign nor colon-word reaches the driver.
RAISE = "RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE ="
POSTGRES_FUNCTIONS = [
    f"""CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    {RAISE} '{APPEND_ONLY}';
END
$body$""",
    f"""CREATE FUNCTION ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    envelope_amount double precision;
    engaged_amount double precision;
    beyond double precision;
BEGIN
    IF NEW.kind NOT IN ({quoted(KINDS)}) THEN
        {RAISE} 'mouvement inconnu ' || NEW.kind;
    END IF;
    IF NOT (NEW.amount > 0) THEN
        {RAISE} 'montant nul ou négatif';
    END IF;
    IF NEW.kind = 'reserved' THEN
        SELECT amount INTO envelope_amount {ENVELOPE_OF_NEW} FOR UPDATE;
        IF NOT FOUND THEN
            {RAISE} '{NO_ENVELOPE} (' || NEW.budget_year || ')';
        END IF;
        SELECT COALESCE({ENGAGED}, 0) INTO engaged_amount FROM ledger
            WHERE call_id = NEW.call_id AND budget_year = NEW.budget_year;
        IF engaged_amount + NEW.amount > envelope_amount + {CENT} THEN
            {RAISE} '{OVER_ENVELOPE} ' || NEW.budget_year || ' (enveloppe ' || envelope_amount
                || ', engagé ' || engaged_amount || ', demandé ' || NEW.amount || ')';
        END IF;
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(
        hashtextextended('ledger/' || NEW.case_id || '/' || NEW.budget_year, 0));
"""
    + "".join(
        f"""    IF NEW.kind = '{kind}' THEN
        SELECT {over_bound(kind)} INTO beyond;
        IF beyond + NEW.amount > {CENT} THEN
            {RAISE} 'montant au-delà : {words} (' || NEW.budget_year || ')';
        END IF;
    END IF;
"""
        for kind, (_, _, words) in BOUNDS.items()
    )
    + """    RETURN NEW;
END
$body$""",
    "CREATE TRIGGER ledger_no_change BEFORE UPDATE OR DELETE ON ledger"
    " FOR EACH ROW EXECUTE FUNCTION ledger_append_only()",
    "CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger"
    " FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()",
    "CREATE TRIGGER ledger_guard BEFORE INSERT ON ledger"
    " FOR EACH ROW EXECUTE FUNCTION ledger_guard()",
]


def upgrade() -> None:
    utc = projection.tables.UTCDateTime
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "budget_envelopes",
        sa.Column("call_id", text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "year"),
    )
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", text(length=200), nullable=False),
        sa.Column("call_id", text(), nullable=False),
        sa.Column("case_id", text(), nullable=False),
        sa.Column("budget_year", sa.Integer(), nullable=False),
        sa.Column("kind", text(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("actor", text(), nullable=False),
        sa.Column("basis", text(), nullable=False),
        sa.Column("at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("ledger") as batch_op:
        batch_op.create_index("ix_ledger_call_id", ["call_id"], unique=False)
        batch_op.create_index("ix_ledger_case_id", ["case_id"], unique=False)
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_TRIGGERS if sqlite else POSTGRES_FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for trigger in ("ledger_guard", "ledger_no_truncate", "ledger_no_change"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON ledger")
        op.execute("DROP FUNCTION IF EXISTS ledger_guard()")
        op.execute("DROP FUNCTION IF EXISTS ledger_append_only()")
    else:
        for trigger in ("ledger_guard", "ledger_no_delete", "ledger_no_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    with op.batch_alter_table("ledger") as batch_op:
        batch_op.drop_index("ix_ledger_case_id")
        batch_op.drop_index("ix_ledger_call_id")
    op.drop_table("ledger")
    op.drop_table("budget_envelopes")
