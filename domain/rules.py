"""Eligibility pre-checks: the automatic checklist recorded when a call closes."""

from domain.models import ApplicationInput, CallRules, CheckItem, MemberType

COMPANIES = {MemberType.COMPANY, MemberType.STARTUP}
KNOWLEDGE = {MemberType.RESEARCH, MemberType.TRAINING}


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def missing_documents(received: list[str], rules: CallRules) -> list[str]:
    """The required documents of which no file was received (`received`: the files' kinds)."""
    provided = {_key(kind) for kind in received}
    return [d for d in rules.required_documents if _key(d) not in provided]


def precheck(
    data: ApplicationInput,
    rules: CallRules,
    received: list[str],
    years_supported: int | None = None,
) -> list[CheckItem]:
    """The checklist, from the application, the kinds of the files received, and
    `years_supported`: the programme's own record for a returning cluster."""
    missing = missing_documents(received, rules)
    existing = data.existing_cluster or data.previous_cluster_id is not None
    support = data.support_years if years_supported is None else years_supported
    source = "" if years_supported is None else " (historique du programme)"
    sector_ok = _key(data.sector) in {_key(s) for s in rules.sectors}
    types = {m.type for m in data.members}
    years = rules.max_support_years
    return [
        CheckItem(
            code="documents_complete",
            label="Dossier complet",
            passed=not missing,
            detail="Pièces manquantes : " + ", ".join(missing) if missing else "",
        ),
        CheckItem(
            code="sector_eligible",
            label="Secteur éligible à l'appel",
            passed=sector_ok,
            detail=""
            if sector_ok
            else f"« {data.sector} » ne fait pas partie des secteurs de l'appel",
        ),
        CheckItem(
            code="members_mix",
            label="Au moins une entreprise (ou start-up) et un établissement de recherche ou de formation",
            passed=bool(types & COMPANIES) and bool(types & KNOWLEDGE),
            detail=", ".join(
                text
                for lacking, text in (
                    (not types & COMPANIES, "aucune entreprise"),
                    (not types & KNOWLEDGE, "aucun établissement de recherche ou de formation"),
                )
                if lacking
            ),
        ),
        CheckItem(
            code="support_years",
            label=f"Cluster existant : au moins {years} ans de soutien de l'État",
            passed=not existing or support >= years,
            detail=(
                f"{support} an(s) de soutien sur {years} requis{source}"
                if existing and support < years
                else ""
            ),
        ),
    ]
