"""The payloads the console's forms make (their fields are in the lifecycle table), and
validation errors in plain French."""

from pydantic import ValidationError
from starlette.datastructures import FormData

from domain.models import Grid, Member, MemberType
from domain.support import KPI_LABELS
from domain.table import FormField
from web.errors import french

MEMBER_TYPES_FR = {
    "entreprise": MemberType.COMPANY,
    "start-up": MemberType.STARTUP,
    "recherche": MemberType.RESEARCH,
    "formation": MemberType.TRAINING,
    "autre": MemberType.OTHER,
}
MEMBER_TYPE_LABELS = {kind: label for label, kind in MEMBER_TYPES_FR.items()}
CONTACT_PARTS = ("name", "email", "phone")  # a CONTACT input's parts: « contact.email », …
# The kinds whose value is one text, as typed or chosen (a select, radios, a hidden input)…
AS_TYPED = (
    "text",
    "textarea",
    "date",
    "file",
    "sector",
    "assigned",
    "item",
    "outcome",
    "tranche",
)
# … and those of a box each: the values ticked.
TICKED = ("evaluators", "files", "present", "reason_codes")


class FormError(ValueError):
    """A value the form cannot turn into a payload (a number that is not one, …), and the
    field it belongs to, so the form shows it beside that field."""

    def __init__(self, text: str, field: str = "") -> None:
        super().__init__(text)
        self.field = field


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _number(text: str, label: str, field: str) -> float:
    try:
        return float(text.replace("\u202f", "").replace(" ", "").replace(",", "."))
    except ValueError:
        raise FormError(f"{label} : nombre attendu (« {text} »).", field) from None


def amounts(text: str, label: str, field: str) -> list[float]:
    """Amounts typed one per line (« 1 200 000 », « 1200000,50 »)."""
    return [_number(line, label, field) for line in _lines(text)]


def unconfirmed(fields: tuple[FormField, ...], form: FormData) -> bool:
    """A destructive action whose confirmation box was left unticked."""
    return any(f.kind == "confirm" and f.name not in form for f in fields)


def _score(text: str, label: str, field: str) -> float:
    """A grid's note: chosen, never taken as zero when left out."""
    if not text.strip():
        raise FormError(f"{label} : choisissez une note.", field)
    return _number(text, label, field)


def grid_labels(grid: Grid) -> dict[str, str]:
    """A score sheet's errors told by criterion: « Innovation… › Appréciation : obligatoire »."""
    return {str(i): c.label for i, c in enumerate(grid.criteria)} | {
        "comment": "Appréciation",
        "score": "Note",
    }


def with_preset(f: FormField, raw: str, form: FormData, presets: dict[str, tuple[str, ...]]) -> str:
    """A field's text with the preset reasons chosen beside it (console.presets): a chosen
    reason comes first, what was typed follows; a value the list does not offer is ignored."""
    offered = presets.get(f.name, ())
    chosen = [str(v) for v in form.getlist(f"{f.name}.modele") if v in offered]
    return "\n".join([*chosen, raw]).strip() if chosen else raw


def payload(
    fields: tuple[FormField, ...],
    form: FormData,
    grid: Grid | None = None,
    presets: dict[str, tuple[str, ...]] | None = None,
) -> dict:
    """The JSON body the action's model validates; fields left empty are left out. `presets`:
    the action's preset reasons, by field (console.presets)."""
    body: dict = {}
    for f in fields:
        raw = with_preset(f, str(form.get(f.name) or "").strip(), form, presets or {})
        if f.kind in AS_TYPED and raw:
            body[f.name] = raw
        elif f.kind == "lines" and (raw or f.required):
            body[f.name] = _lines(raw)
        elif f.kind == "number" and raw:
            body[f.name] = _number(raw, f.label, f.name)
        elif f.kind == "amounts" and (raw or f.required):  # left empty: left out (kept)
            body[f.name] = amounts(raw, f.label, f.name)
        elif f.kind == "checkbox":
            body[f.name] = f.name in form
        elif f.kind == "choice" and raw in ("true", "false"):  # none: « obligatoire »
            body[f.name] = raw == "true"
        elif f.kind in TICKED:
            body[f.name] = [str(v) for v in form.getlist(f.name)]
        elif f.kind == "kpis":  # one left empty: not declared (a target's default, zero)
            typed = {code: str(form.get(f"{f.name}.{code}") or "").strip() for code in KPI_LABELS}
            body[f.name] = {
                code: int(_number(typed[code], label, f.name))
                for code, label in KPI_LABELS.items()
                if typed[code]
            }
        elif f.kind == "members" and raw:
            body[f.name] = members(raw)
        elif f.kind == "contact":
            parts = {p: str(form.get(f"{f.name}.{p}") or "").strip() for p in CONTACT_PARTS}
            if any(parts.values()):  # all empty: the contact is kept as it is
                body[f.name] = parts | {"phone": parts["phone"] or None}
        elif f.kind == "grid" and grid:
            body[f.name] = [
                {
                    "criterion": c.code,
                    "score": _score(
                        str(form.get(f"score.{c.code}") or ""), c.label, f"score.{c.code}"
                    ),
                    "comment": str(form.get(f"comment.{c.code}") or "").strip(),
                }
                for c in grid.criteria
            ]
    return body


def members(text: str) -> list[dict]:
    """Members typed as « Nom ; type » lines (the registration form and the amend form)."""
    found = []
    for line in _lines(text):
        name, _, kind = line.rpartition(";")
        member_type = MEMBER_TYPES_FR.get(kind.strip().lower())
        if not name.strip() or member_type is None:
            raise FormError(
                f"Membre « {line} » : écrivez « Nom ; type », type parmi "
                + ", ".join(MEMBER_TYPES_FR)
                + ".",
                "members",
            )
        found.append({"name": name.strip(), "type": member_type})
    return found


def members_text(items: list[Member]) -> str:
    """The members as the form shows them: one « Nom ; type » line each."""
    return "\n".join(f"{m.name} ; {MEMBER_TYPE_LABELS[m.type]}" for m in items)


def application_payload(form: FormData) -> dict:
    """The registration form: members are typed as « Nom ; type » lines."""
    body = {
        "cluster_name": str(form.get("cluster_name") or "").strip(),
        "legal_form": str(form.get("legal_form") or "association").strip(),
        "sector": str(form.get("sector") or "").strip(),
        "members": members(str(form.get("members") or "")),
        "existing_cluster": "existing_cluster" in form,
        "support_years": int(
            _number(str(form.get("support_years") or "0"), "Années de soutien", "support_years")
        ),
        "contact": {
            "name": str(form.get("contact_name") or "").strip(),
            "email": str(form.get("contact_email") or "").strip(),
            "phone": str(form.get("contact_phone") or "").strip() or None,
        },
    }
    if previous := str(form.get("previous_cluster_id") or "").strip():
        body["previous_cluster_id"] = previous
    if asked := str(form.get("requested_amounts") or "").strip():
        label = "Soutien demandé par année"
        body["requested_amounts"] = amounts(asked, label, "requested_amounts")
    return body


def french_problems(
    error: ValidationError, labels: dict[str, str], grid: Grid | None = None
) -> list[tuple[str, str]]:
    """Pydantic's errors told in French with the form's own labels, each with the form field it
    belongs to ("" for the whole form): a grid's line goes to its criterion's note or comment."""
    problems = []
    for item in error.errors():
        loc = item["loc"]
        where = " › ".join(labels.get(str(part), str(part)) for part in loc)
        text = french(item)
        field = str(loc[0]) if loc else ""
        if grid and len(loc) >= 3 and isinstance(loc[1], int) and loc[1] < len(grid.criteria):
            field = f"{loc[2]}.{grid.criteria[loc[1]].code}"
        problems.append((field, f"{where} : {text}" if where else text))
    return problems
