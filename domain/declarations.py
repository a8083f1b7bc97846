"""What import proves of the declarations (domain.lifecycle runs these on its table): typed
rows with French labels, roles that are roles, forms that match their bodies, stage records in
step with the table, and one length bound per text. Tests run them on mutated copies."""

from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from domain.models import Input
from domain.stages import STAGES, Action, Role
from domain.table import F, FormField, Transition


class TableError(TypeError):
    """A row of the lifecycle table (or a stage's record) contradicts another declaration."""


def _check_form(action: Action, row: Transition) -> None:
    """The row's form asks for exactly what its body needs: every field the body requires has a
    required input, every input (but the confirmation) is a field of the body."""
    if type(row.fields) is not tuple or any(type(f) is not FormField for f in row.fields):
        raise TableError(f"{action}: fields must be a tuple of FormField")
    for f in row.fields:
        if type(f.kind) is not F or not f.name or not f.label.strip():
            raise TableError(f"{action}: input {f.name!r} needs a name, a label and an F kind")
        if (f.kind == F.CHOICE) != (f.choices is not None) or (
            f.kind == F.CHOICE and (not f.required or not all(c.strip() for c in f.choices or ()))
        ):
            raise TableError(
                f"{action}: input {f.name!r}: a choice, required, with its two answers"
            )
    if row.body is None or not row.route:
        if any(f.kind != F.CONFIRM for f in row.fields):
            raise TableError(f"{action}: a form without a body to fill")
        return
    body = row.body.model_fields
    inputs = {f.name: f for f in row.fields if f.kind != F.CONFIRM}
    for name, info in body.items():
        asked = name in inputs and (inputs[name].required or inputs[name].kind == F.CHECKBOX)
        if info.is_required() and not asked:  # an unticked box still sends « non »
            raise TableError(f"{action}: the body requires {name!r}, the form does not ask it")
    for name in inputs:
        if name not in body:
            raise TableError(f"{action}: input {name!r} is not a field of {row.body.__name__}")


def check_table(stages: type[StrEnum], table: dict[Action, Transition]) -> None:
    """What import proves of one kind's table: typed rows, French labels, roles that are roles,
    stages of this kind, a form that matches its body, and every stage's record in step with
    the table (a final stage is one nothing leaves)."""
    kind_stages = set(stages)
    for action, row in table.items():
        if type(row) is not Transition:
            raise TableError(f"{action}: not a Transition")
        if not row.command.strip() or not row.event.strip():
            raise TableError(f"{action}: empty label")
        if not row.roles or any(type(r) is not Role for r in row.roles):
            raise TableError(f"{action}: roles must be Role members, not {set(row.roles)!r}")
        if not set(row.sources) <= kind_stages or row.target not in kind_stages | {None}:
            raise TableError(f"{action}: a stage that is not a {stages.__name__}")
        if row.body is not None and not (
            isinstance(row.body, type) and issubclass(row.body, BaseModel)
        ):
            raise TableError(f"{action}: body must be a pydantic model")
        _check_form(action, row)
    left = {s for row in table.values() for s in row.sources}
    for stage in stages:
        if STAGES[stage].final == (stage in left):
            raise TableError(f"{stage}: its record says final={STAGES[stage].final}, the table not")


def check_bounds(model: type[BaseModel]) -> None:
    """Every text field has exactly one length bound: a named type (domain.models.Text, …)
    whose bound a Field(max_length=…) would silently fail to tighten."""
    for name, info in model.model_fields.items():
        found = _field_lengths(info)
        if len(found) > 1:
            raise TableError(
                f"{model.__name__}.{name}: {len(found)} length bounds {found}; "
                "use one named type (domain.models.text) instead of a Field(max_length) on top"
            )
        if not found and _is_text(info.annotation):
            raise TableError(f"{model.__name__}.{name}: a text without a bound")


def _lengths(annotation: Any) -> list[int]:
    """The max_length bounds an annotation carries at its own level (not its items')."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        own = [m.max_length for m in meta if getattr(m, "max_length", None) is not None]
        return own + _lengths(inner)
    if origin in (Union, UnionType):
        return [n for arg in get_args(annotation) for n in _lengths(arg)]
    return []


def _is_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    if get_origin(annotation) in (Annotated, Union, UnionType):
        return any(_is_text(a) for a in get_args(annotation))
    return False


def inputs(model: type[Input]) -> list[type[Input]]:
    return [model] + [m for sub in model.__subclasses__() for m in inputs(sub)]


def max_length(body: type[BaseModel] | None, name: str) -> int | None:
    """A text field's bound as its body declares it (for the form's maxlength), if any."""
    info = body.model_fields.get(name) if body else None
    found = _field_lengths(info) if info else []
    return found[0] if found else None


def _field_lengths(info: FieldInfo) -> list[int]:
    """A field's max_length bounds: pydantic keeps a required field's in its metadata, an
    optional one's inside the annotation."""
    own = [m.max_length for m in info.metadata if getattr(m, "max_length", None) is not None]
    return _lengths(info.annotation) + own
