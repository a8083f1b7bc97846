"""An association's dossier for a call, before it is deposited: the form as typed (saved as a
draft, complete or not), its files (uploaded one by one, each kept in storage by a reference of
its own), and the checklist of the call's required documents.

Nothing here reaches a workflow: the deposit (portal.deposit) turns a complete draft into the
registration the call's workflow admits, the files with it."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from domain.models import DEFAULT_DOCUMENTS, ApplicationInput, CallState, Deposit, MemberType
from domain.support import REPORT_FILES
from portal.i18n import N_
from projection.tables import DraftFileRow, DraftRow, PersonRow
from web.files import OTHER_KINDS

MEMBER_ROWS = 12  # rows of the members' table (more after each save, up to MAX_MEMBERS)
MAX_FILES = 40  # a dossier's files (domain.models.Registration.files)
FIELDS = ("cluster_name", "legal_form", "sector", "phone", "requested_amounts", "support_years")
MEMBER_TYPES = {
    MemberType.COMPANY: N_("Entreprise"),
    MemberType.STARTUP: N_("Start-up"),
    MemberType.RESEARCH: N_("Recherche"),
    MemberType.TRAINING: N_("Formation"),
    MemberType.OTHER: N_("Autre"),
}
LABELS = {
    "cluster_name": N_("Nom du cluster"),
    "legal_form": N_("Forme juridique"),
    "sector": N_("Secteur"),
    "members": N_("Membres"),
    "contact": N_("Contact"),
    "phone": N_("Téléphone"),
    "requested_amounts": N_("Soutien demandé par année (MAD)"),
    "support_years": N_("Années de soutien déjà reçues"),
}


# The programme's own kinds of document (the default checklist, the desk's, the yearly report's)
# read in the person's language; a call's own kinds show as its staff wrote them.
KIND_NAMES = frozenset(
    {
        N_("dossier de candidature"),
        N_("statuts de l'association"),
        N_("liste des membres et lettres d'engagement"),
        N_("plan stratégique et plan d'action"),
        N_("budget prévisionnel"),
        N_("complément"),
        N_("autre"),
        N_("rapport d'activité"),
        N_("états financiers"),
        N_("tableau des indicateurs"),
    }
)
assert KIND_NAMES == {*DEFAULT_DOCUMENTS, *OTHER_KINDS, *REPORT_FILES.values()}, (
    "every kind of document the programme names has its words in the portal"
)


def draft_for(db: Session, association_id: str, call_id: str) -> DraftRow | None:
    return db.exec(
        select(DraftRow).where(
            DraftRow.association_id == association_id, DraftRow.call_id == call_id
        )
    ).first()


def drafts_of(db: Session, association_id: str) -> list[DraftRow]:
    return list(
        db.exec(
            select(DraftRow)
            .where(DraftRow.association_id == association_id)
            .order_by(col(DraftRow.updated_at).desc())
        ).all()
    )


def save(
    db: Session, association_id: str, call_id: str, typed: dict[str, Any], by: str, at: datetime
) -> DraftRow:
    """The form as typed, kept whole (a draft need not be complete); refused once deposited."""
    draft = draft_for(db, association_id, call_id) or DraftRow(
        id=uuid.uuid4().hex, association_id=association_id, call_id=call_id, data={}
    )
    if draft.application_id:
        raise DraftClosed
    draft.data, draft.updated_by, draft.updated_at = typed, by, at
    db.add(draft)
    db.commit()
    db.refresh(draft)
    return draft


class DraftClosed(Exception):
    """The dossier is deposited: its draft no longer changes."""


def typed_form(form: Any) -> dict[str, Any]:
    """What the dossier's form sent, bounded (each text 2,000 characters at most)."""
    data: dict[str, Any] = {name: str(form.get(name) or "")[:2000] for name in FIELDS}
    data["existing_cluster"] = form.get("existing_cluster") == "oui"
    names, kinds = form.getlist("member_name"), form.getlist("member_type")
    data["members"] = [
        {"name": str(name)[:200], "type": str(kind)[:20]}
        for name, kind in zip(names[:200], kinds[:200], strict=False)
        if str(name).strip()
    ]
    return data


def files(db: Session, draft_id: str) -> list[DraftFileRow]:
    return list(
        db.exec(
            select(DraftFileRow)
            .where(DraftFileRow.draft_id == draft_id)
            .order_by(col(DraftFileRow.uploaded_at))
        ).all()
    )


@dataclass(frozen=True)
class CheckItem:
    kind: str
    files: list[DraftFileRow]

    @property
    def done(self) -> bool:
        return bool(self.files)


def checklist(call: CallState, uploaded: list[DraftFileRow]) -> list[CheckItem]:
    """Each required document of the call and the files given for it."""
    return [
        CheckItem(kind, [f for f in uploaded if f.kind == kind])
        for kind in call.spec.required_documents
    ]


def to_input(draft: DraftRow, person: PersonRow) -> tuple[ApplicationInput | None, list[str]]:
    """The registration the draft makes, or the fields that stop it (labels to translate)."""
    data = draft.data
    amounts, problems = [], []
    for line in str(data.get("requested_amounts") or "").split():
        try:
            amounts.append(float(line.replace(",", ".")))
        except ValueError:
            problems.append(LABELS["requested_amounts"])
            break
    try:
        years = int(str(data.get("support_years") or "0").strip() or "0")
    except ValueError:
        problems.append(LABELS["support_years"])
        years = 0
    body = {
        "cluster_name": str(data.get("cluster_name") or "").strip(),
        "legal_form": str(data.get("legal_form") or "").strip() or "association",
        "sector": str(data.get("sector") or "").strip(),
        "members": data.get("members") or [],
        "existing_cluster": bool(data.get("existing_cluster")),
        "support_years": years,
        "contact": {
            "name": person.name,
            "email": person.email,
            "phone": str(data.get("phone") or "").strip() or None,
            "language": person.language,  # the case's notices in the depositor's language
        },
        "requested_amounts": amounts,
    }
    try:
        made = ApplicationInput.model_validate(body)
    except ValidationError as error:
        for item in error.errors():
            label = LABELS.get(str(item["loc"][0]) if item["loc"] else "", N_("Formulaire"))
            if label not in problems:
                problems.append(label)
        return None, problems
    return (made, []) if not problems else (None, problems)


def deposits(uploaded: list[DraftFileRow]) -> list[Deposit]:
    """The files as the application's workflow records them."""
    return [
        Deposit(
            id=f.id,
            kind=f.kind,
            filename=f.filename,
            content_type=f.content_type,
            size=f.size,
            sha256=f.sha256,
        )
        for f in uploaded
    ]
