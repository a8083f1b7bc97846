"""The reasons the desk and the committee give most often, offered beside the field they fill
(a list to choose from, then the typed text): per action, per field of its form. The form reads
them from here and console.forms.payload takes only what is offered here."""

from domain.stages import Action

PRESETS: dict[Action, dict[str, tuple[str, ...]]] = {
    Action.MARK_INELIGIBLE: {
        "reason": (
            "Dossier incomplet : des pièces obligatoires manquent.",
            "Le secteur du projet ne fait pas partie des secteurs de l'appel.",
            "Le porteur n'est pas une association légalement constituée.",
            "Les membres ne réunissent pas au moins une entreprise et un établissement "
            "de recherche ou de formation.",
            "Le cluster n'a pas encore achevé ses années de soutien de l'État.",
        )
    },
    Action.WITHDRAW: {
        "reason": (
            "Retrait demandé par le porteur du projet.",
            "Projet reporté à un prochain appel.",
            "Candidature enregistrée en double.",
        )
    },
    Action.REQUEST_COMPLEMENTS: {
        "items": (
            "Statuts de l'association signés et légalisés",
            "Procès-verbal de l'assemblée générale constitutive",
            "Lettres d'engagement des membres signées",
            "Budget prévisionnel détaillé par année",
            "Attestation de régularité fiscale",
        )
    },
    Action.LABEL: {
        "reason": (
            "Le dossier atteint les seuils de la grille d'évaluation ; le comité le labellise.",
            "Le comité salue la qualité du plan de R&D collaboratif et de la gouvernance.",
        )
    },
    Action.PUT_ON_RESERVE: {
        "reason": (
            "Le dossier atteint les seuils, mais l'enveloppe de l'appel ne permet pas de le "
            "soutenir à ce stade : il est inscrit en liste d'attente.",
            "Le dossier sera soutenu si des fonds se libèrent dans l'ordre du classement.",
        )
    },
    Action.REJECT: {
        "reason": (
            "La note globale n'atteint pas le seuil fixé par l'appel.",
            "Un ou plusieurs critères n'atteignent pas leur seuil.",
            "Le plan de R&D collaboratif n'est pas assez étayé.",
        )
    },
}
