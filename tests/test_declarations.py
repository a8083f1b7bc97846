"""The declarations check themselves: each omission a maintainer can make in the lifecycle table,
a stage's record or a text bound fails at import (here: the same checks, on a mutated copy)."""

import dataclasses
from typing import Annotated

import pytest
from pydantic import Field

from domain import stages as stage_module
from domain.declarations import TableError, check_bounds, check_table
from domain.fields import LongText, Text, text
from domain.ids import Kind
from domain.lifecycle import APPLICATION, CLUSTER, KINDS, TRANSITIONS
from domain.models import Input
from domain.stages import STAGES, Action, ApplicationStage, ClusterStage, Role
from domain.table import F, FormField, Transition
from worker import WORKFLOWS


def _with(table: dict, action: Action, **changes: object) -> dict:
    return table | {action: dataclasses.replace(table[action], **changes)}


def test_the_tables_as_declared_pass_their_checks() -> None:
    for stages, table in KINDS.values():
        check_table(stages, table)


def test_a_transition_row_is_keyword_only() -> None:
    # A forgotten timeline label would shift the body into its slot: positional rows are refused.
    with pytest.raises(TypeError):
        Transition(frozenset(), None, frozenset({Role.ADMIN}), "Faire", "Fait")  # type: ignore[misc]


@pytest.mark.parametrize("label", ["command", "event"])
def test_an_empty_label_fails(label: str) -> None:
    with pytest.raises(TableError, match="empty label"):
        check_table(ApplicationStage, _with(APPLICATION, Action.WITHDRAW, **{label: "  "}))


def test_a_role_given_as_a_string_fails() -> None:
    roles = frozenset({"admin"})
    with pytest.raises(TableError, match="Role members"):
        check_table(ApplicationStage, _with(APPLICATION, Action.WITHDRAW, roles=roles))


def test_a_removed_form_field_fails() -> None:
    # The console would show a bare button that always gets 422.
    row = APPLICATION[Action.MARK_INELIGIBLE]
    with pytest.raises(TableError, match="requires 'reason'"):
        check_table(ApplicationStage, _with(APPLICATION, Action.MARK_INELIGIBLE, fields=()))
    optional = tuple(dataclasses.replace(f, required=False) for f in row.fields)
    with pytest.raises(TableError, match="requires 'reason'"):
        check_table(ApplicationStage, _with(APPLICATION, Action.MARK_INELIGIBLE, fields=optional))


def test_a_form_field_the_body_does_not_have_fails() -> None:
    extra = (*APPLICATION[Action.WITHDRAW].fields, FormField(name="motif", label="Motif"))
    with pytest.raises(TableError, match="not a field"):
        check_table(ApplicationStage, _with(APPLICATION, Action.WITHDRAW, fields=extra))


def test_a_form_kind_given_as_a_string_fails() -> None:
    fields = (FormField(name="reason", label="Motif", kind="textarea", required=True),)  # type: ignore[arg-type]
    with pytest.raises(TableError, match="F kind"):
        check_table(ApplicationStage, _with(APPLICATION, Action.MARK_INELIGIBLE, fields=fields))


def test_a_stage_of_another_kind_fails() -> None:
    with pytest.raises(TableError, match="not a ClusterStage"):
        check_table(ClusterStage, _with(CLUSTER, Action.SUSPEND, target=ApplicationStage.WITHDRAWN))


def test_a_stage_without_its_record_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    records = dict(STAGES)
    del records[ClusterStage.SUSPENDED]
    monkeypatch.setattr(stage_module, "STAGES", records)
    with pytest.raises(TypeError, match="has no record"):
        stage_module._check_records()


def test_a_stage_record_has_no_default_to_forget() -> None:
    record = STAGES[ApplicationStage.ELIGIBLE]
    facts = dataclasses.asdict(record)
    del facts["due"]
    with pytest.raises(TypeError):
        stage_module.StageRecord(**facts)


def test_a_record_that_calls_a_stage_final_when_it_is_not_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = STAGES | {
        ApplicationStage.LABELLED: dataclasses.replace(
            STAGES[ApplicationStage.LABELLED], final=True
        )
    }
    monkeypatch.setattr("domain.declarations.STAGES", records)
    with pytest.raises(TableError, match="final"):
        check_table(ApplicationStage, APPLICATION)


def test_a_looser_bound_on_a_named_text_fails() -> None:
    # `LongText = Field(max_length=500)` silently keeps 2,000: refused.
    class Loose(Input):
        reason: LongText = Field(max_length=500)

    with pytest.raises(TableError, match="2 length bounds"):
        check_bounds(Loose)

    class Unbounded(Input):
        name: str

    with pytest.raises(TableError, match="without a bound"):
        check_bounds(Unbounded)

    class Named(Input):  # the way: a named type of its own bound
        reason: text(500, lines=True)  # type: ignore[valid-type]
        names: Annotated[list[Text], Field(max_length=3)]

    check_bounds(Named)
    assert "au plus 500 caractères" in _french_error(Named, reason="x" * 501)


def _french_error(model: type[Input], **values: object) -> str:
    from pydantic import ValidationError

    from web.errors import french

    with pytest.raises(ValidationError) as refused:
        model(**values)
    return "; ".join(french(e) for e in refused.value.errors())


def test_every_routed_row_has_its_update_on_its_workflow() -> None:
    workflows = {w.__name__: w for w in WORKFLOWS}
    owner = {
        Kind.CALL: workflows["CallWorkflow"],
        Kind.APPLICATION: workflows["ApplicationWorkflow"],
        Kind.CLUSTER: workflows["ClusterWorkflow"],
        Kind.SESSION: workflows["SessionWorkflow"],
    }
    for kind, (_, table) in KINDS.items():
        for action, row in table.items():
            if row.routed:
                update = getattr(owner[kind], action.value, None)
                assert hasattr(update, "_defn"), f"{owner[kind].__name__} lacks {action}"


def test_names_are_one_line_and_an_address_is_one_plain_address() -> None:
    from domain.models import Contact, Member

    with pytest.raises(ValueError, match="une seule ligne"):
        Member(name="Cluster\r\nBcc: x@y.ma", type="company")
    for bad in ("a@b.ma,root", "Amina <a@b.ma>", "list: a@b.ma;", "a@@b.ma", "a b@c.ma"):
        with pytest.raises(ValueError):
            Contact(name="Amina", email=bad)
    assert Contact(name="Amina", email="amina.alaoui+aap@mcinet.gov.ma").email


def test_stage_lists_derive_from_the_records() -> None:
    final = {s for s in ApplicationStage if STAGES[s].final}
    assert final == stage_module.FINAL_APPLICATION_STAGES
    assert all(isinstance(TRANSITIONS[a].fields, tuple) for a in Action)
    assert all(type(f.kind) is F for row in TRANSITIONS.values() for f in row.fields)


def test_a_form_s_bound_is_its_body_s() -> None:
    from domain.declarations import max_length

    assert max_length(TRANSITIONS[Action.WITHDRAW].body, "reason") == 2000
    assert max_length(TRANSITIONS[Action.AMEND].body, "cluster_name") == 200
    assert max_length(TRANSITIONS[Action.WITHDRAW].body, "confirme") is None
