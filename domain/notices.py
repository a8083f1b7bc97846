"""Texts of the notifications sent to applicants (French, the programme's language)."""

from domain.clock import local
from domain.models import ApplicationState, Notification


def _to(state: ApplicationState, subject: str, body: str) -> list[Notification]:
    return [Notification(recipient=state.data.contact.email, subject=subject, body=body)]


def registered(state: ApplicationState) -> list[Notification]:
    return _to(
        state,
        f"Candidature {state.id} enregistrée",
        f"La candidature du cluster « {state.data.cluster_name} » a été enregistrée. "
        f"Elle peut être modifiée ou retirée jusqu'au {local(state.deadline):%d/%m/%Y à %H:%M} (heure de Rabat).",
    )


def complements_requested(state: ApplicationState) -> list[Notification]:
    request = state.complements
    assert request is not None
    return _to(
        state,
        f"Candidature {state.id} : compléments demandés",
        "Merci de fournir : " + "; ".join(request.items) + ". "
        f"Date limite : {local(request.due_at):%d/%m/%Y à %H:%M} (heure de Rabat). "
        "Sans réponse dans ce délai, le dossier sera déclaré irrecevable.",
    )


def eligibility_decided(state: ApplicationState) -> list[Notification]:
    if state.stage == "eligible":
        return _to(state, f"Candidature {state.id} recevable", "Votre dossier passe en évaluation.")
    return _to(state, f"Candidature {state.id} irrecevable", f"Motif : {state.reason}.")
