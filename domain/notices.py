"""Texts of the notifications to applicants, evaluators, clusters and managers (in French)."""

import functools
from collections.abc import Callable

from domain.clock import local
from domain.models import ApplicationState, Notification
from domain.support import ClusterState

Make = Callable[..., list[Notification]]


def notice(make: Make) -> Make:
    """Every notification `make` writes is of its kind: the function's name."""

    @functools.wraps(make)
    def kinded(*args: object) -> list[Notification]:
        return [n.model_copy(update={"kind": make.__name__}) for n in make(*args)]

    return kinded


def sentence(text: str) -> str:
    """A text ending as a French sentence does, without a doubled full stop."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _to(state: ApplicationState, subject: str, body: str) -> list[Notification]:
    return [Notification(recipient=state.data.contact.email, subject=subject, body=body)]


@notice
def registered(state: ApplicationState) -> list[Notification]:
    return _to(
        state,
        f"Candidature {state.id} enregistrée",
        f"La candidature du cluster « {state.data.cluster_name} » a été enregistrée. "
        f"Elle peut être modifiée ou retirée jusqu'au {local(state.deadline):%d/%m/%Y à %H:%M} (heure de Rabat).",
    )


@notice
def complements_requested(state: ApplicationState) -> list[Notification]:
    request = state.complements
    assert request is not None
    return _to(
        state,
        f"Candidature {state.id} : compléments demandés",
        "Merci de fournir : "
        + " ; ".join(request.items)
        + ". "
        + (f"Note de l'opérateur : {sentence(request.note)} " if request.note else "")
        + f"Date limite : {local(request.due_at):%d/%m/%Y à %H:%M} (heure de Rabat). "
        "Sans réponse dans ce délai, le dossier sera déclaré irrecevable.",
    )


@notice
def eligibility_decided(state: ApplicationState) -> list[Notification]:
    if state.stage == "eligible":
        return _to(state, f"Candidature {state.id} recevable", "Votre dossier passe en évaluation.")
    return _to(
        state, f"Candidature {state.id} irrecevable", f"Motif : {sentence(state.reason or '')}"
    )


# Recipients named, not addressed: the delivery finds the address (activities.mail).
PROGRAMME = "programme"  # the programme managers' shared mailbox (MAIL_PROGRAMME)
EVALUATOR = "évaluateur:"  # followed by the staff member's name: their account's e-mail


@notice
def evaluators_assigned(state: ApplicationState, names: list[str]) -> list[Notification]:
    assert state.evaluation and state.evaluation.due_at
    due = f"{local(state.evaluation.due_at):%d/%m/%Y à %H:%M}"
    return [
        Notification(
            recipient=f"{EVALUATOR}{name}",
            subject=f"Évaluation de la candidature {state.id}",
            body=f"Vous êtes désigné(e) pour évaluer « {state.data.cluster_name} ». Déclarez d'abord "
            f"l'absence de conflit d'intérêts, puis notez la grille avant le {due} (heure de Rabat).",
        )
        for name in names
    ]


@notice
def evaluation_reminder(state: ApplicationState, names: list[str]) -> list[Notification]:
    assert state.evaluation and state.evaluation.due_at
    due = f"{local(state.evaluation.due_at):%d/%m/%Y à %H:%M}"
    return [
        Notification(
            recipient=f"{EVALUATOR}{name}",
            subject=f"Rappel : évaluation de la candidature {state.id}",
            body=f"Votre évaluation de « {state.data.cluster_name} » est attendue avant le {due}.",
        )
        for name in names
    ]


@notice
def evaluation_overdue(state: ApplicationState, names: list[str]) -> list[Notification]:
    return [
        Notification(
            recipient=PROGRAMME,
            subject=f"Évaluation en retard : candidature {state.id}",
            body="Évaluations non reçues à l'échéance : " + ", ".join(names) + ".",
        )
    ]


@notice
def result_published(state: ApplicationState) -> list[Notification]:
    assert state.decision
    texts = {
        "labelled": "Votre cluster est labellisé. La convention-programme vous sera proposée.",
        "reserve": "Votre candidature est inscrite sur la liste d'attente.",
        "rejected": "Votre candidature n'est pas retenue.",
    }
    body = f"{texts[state.decision.outcome]} Motif : {sentence(state.decision.reason)}"
    if state.redress:
        body += (
            " Vous pouvez demander un réexamen jusqu'au "
            f"{local(state.redress.due_at):%d/%m/%Y à %H:%M} (heure de Rabat)."
        )
    return _to(state, f"Résultats de l'appel : candidature {state.id}", body)


@notice
def review_answered(state: ApplicationState) -> list[Notification]:
    assert state.redress
    return _to(
        state, f"Réponse à votre recours : candidature {state.id}", state.redress.answer or ""
    )


def _cluster(state: ClusterState, subject: str, body: str) -> list[Notification]:
    recipient = state.origin.contact_email or f"cluster:{state.id}"
    return [Notification(recipient=recipient, subject=subject, body=body)]


@notice
def report_requested(state: ClusterState) -> list[Notification]:
    year = state.current
    assert year is not None
    return _cluster(
        state,
        f"Cluster {state.origin.cluster_name} : rapport annuel de l'année {year.year}",
        "Merci de transmettre le rapport d'activité, le rapport financier, les indicateurs réalisés "
        f"et le plan de l'année suivante avant le {local(year.ends_at):%d/%m/%Y à %H:%M} (heure de Rabat).",
    )


@notice
def report_reminder(state: ClusterState) -> list[Notification]:
    year = state.current
    assert year is not None
    return _cluster(
        state,
        f"Rappel : rapport annuel {year.year} du cluster {state.origin.cluster_name}",
        f"Échéance le {local(year.ends_at):%d/%m/%Y à %H:%M} (heure de Rabat).",
    )


@notice
def report_overdue(state: ClusterState) -> list[Notification]:
    year = state.current
    assert year is not None
    subject = f"Rapport annuel {year.year} en retard : cluster {state.origin.cluster_name}"
    body = "Le rapport annuel n'a pas été reçu à l'échéance ; le dossier est signalé en retard."
    return _cluster(state, subject, body) + [
        Notification(recipient=PROGRAMME, subject=subject, body=body)
    ]


@notice
def probation_review(state: ClusterState) -> list[Notification]:
    return [
        Notification(
            recipient=PROGRAMME,
            subject=f"Revue de probation : cluster {state.origin.cluster_name}",
            body="La date de revue de la probation est atteinte.",
        )
    ]


@notice
def support_decided(state: ClusterState) -> list[Notification]:
    labels = {
        "active": "Soutien renouvelé",
        "suspended": "Soutien suspendu",
        "terminated": "Soutien résilié",
        "ended": "Soutien achevé : le cluster peut candidater de nouveau comme cluster existant",
    }
    body = sentence(labels.get(state.stage, state.stage))
    if state.reason:
        body += f" Motif : {sentence(state.reason)}"
    return _cluster(state, f"Cluster {state.origin.cluster_name} : décision", body)
