"""Scenario files (YAML or JSON): the call, its applicants and how people behave, as data."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from console.forms import french_problems
from domain.fields import Moment
from domain.models import DEFAULT_SECTORS, ApplicationInput, CallRules


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Share = float  # between 0 and 1


class CallPart(Strict):
    year: int = Field(ge=2000, le=2100)
    title: str = Field(min_length=1)
    opens_at: Moment
    deadline: Moment
    rules: dict[str, Any] = Field(default_factory=dict, description="Champs de CallRules.")

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, rules: dict[str, Any]) -> dict[str, Any]:
        CallRules.model_validate(rules)  # a typo or a bad value fails here, with its name
        return rules

    @model_validator(mode="after")
    def _order(self) -> "CallPart":
        if self.deadline <= self.opens_at:
            raise ValueError("call.deadline doit suivre call.opens_at")
        return self


class Applicants(Strict):
    count: int = Field(default=0, ge=0, le=2000, description="Candidatures générées.")
    sectors: dict[str, float] = Field(
        default_factory=lambda: {s: 1.0 for s in DEFAULT_SECTORS}, description="Poids par secteur."
    )
    existing_clusters: Share = Field(default=0.2, ge=0, le=1)
    existing_years: tuple[int, int] = (8, 12)
    missing_documents: Share = Field(default=0.25, ge=0, le=1)
    companies_only: Share = Field(default=0.05, ge=0, le=1)
    listed: list[ApplicationInput] = Field(
        default_factory=list, description="Candidatures écrites."
    )

    @field_validator("sectors")
    @classmethod
    def _weights(cls, sectors: dict[str, float]) -> dict[str, float]:
        if not sectors or any(w < 0 for w in sectors.values()) or not sum(sectors.values()):
            raise ValueError("des poids positifs, au moins un secteur")
        return sectors


class Operators(Strict):
    complements_answered: Share = Field(default=0.6, ge=0, le=1)
    answer_after_days: int = Field(default=4, ge=1, le=60)


class Evaluators(Strict):
    mean: float = Field(default=3.4, ge=0, le=5)
    spread: float = Field(default=0.6, ge=0, le=3)
    late: Share = Field(default=0.1, ge=0, le=1)


class Committee(Strict):
    labelled: int = Field(default=3, ge=0)
    reserve: int = Field(default=2, ge=0)


class Support(Strict):
    years: int = Field(default=2, ge=0, le=30, description="Années de soutien répétées.")
    contract_years: int | None = Field(
        default=None, ge=1, le=30, description="Années de la convention (par défaut : years)."
    )
    amount: float = Field(default=1_500_000, ge=0, description="Soutien demandé l'année 1 (MAD).")
    decrease: float = Field(default=100_000, ge=0, description="Dégressivité annuelle (MAD).")
    late_reports: Share = Field(default=0.2, ge=0, le=1)
    first_year: int | None = Field(
        default=None, ge=2000, le=2100, description="Première année budgétaire (défaut : l'appel)."
    )
    envelope: float | list[float] | None = Field(
        default=None,
        description="Enveloppe par année budgétaire (MAD) : une liste, ou un montant par année ; "
        "par défaut, ce que demandent autant de dossiers que le comité en labellise.",
    )
    stopped: Share = Field(default=0, ge=0, le=1, description="Part arrêtée à chaque revue.")
    probation: Share = Field(default=0, ge=0, le=1, description="Part mise sous probation.")
    probation_cut: Share = Field(
        default=0.2, ge=0, le=1, description="Réduction du soutien d'une année sous probation."
    )

    @field_validator("envelope")
    @classmethod
    def _envelope(cls, envelope: float | list[float] | None) -> float | list[float] | None:
        amounts = envelope if isinstance(envelope, list) else [envelope or 0.0]
        if not amounts or len(amounts) > 30 or any(not 0 <= a <= 1e10 for a in amounts):
            raise ValueError("de 1 à 30 montants, de 0 à 10 milliards de MAD")
        return envelope

    @model_validator(mode="after")
    def _consistent(self) -> "Support":
        if self.contract_years is not None and self.contract_years < self.years:
            raise ValueError("support.contract_years ne peut être inférieur à support.years")
        if self.stopped + self.probation > 1:
            raise ValueError("support.stopped + support.probation dépassent 100 %")
        return self

    def requested(self) -> list[float]:
        """What each drawn applicant asks per contract year (dégressif), as its contract plans."""
        years = self.contract_years if self.contract_years is not None else self.years
        return [max(0.0, self.amount - self.decrease * y) for y in range(years)]

    def envelopes(self, asked: list[list[float]], labelled: int) -> list[float]:
        """The envelope per budget year: as stated (a single amount for every year asked),
        else per year the `labelled` largest requests summed, so the committee's laureates fit
        whichever they are."""
        years = max((len(a) for a in asked), default=0)
        if isinstance(self.envelope, list):
            return list(self.envelope)
        if self.envelope is not None:
            return [self.envelope] * max(years, 1)
        per_year = [sorted((a[y] for a in asked if y < len(a)), reverse=True) for y in range(years)]
        return [round(sum(amounts[:labelled]), 2) for amounts in per_year]


class Variant(Strict):
    name: str
    rules: dict[str, Any] = Field(default_factory=dict)


class Scenario(Strict):
    name: str
    seed: int = 1
    call: CallPart
    applicants: Applicants = Field(default_factory=Applicants)
    operators: Operators = Field(default_factory=Operators)
    evaluators: Evaluators = Field(default_factory=Evaluators)
    committee: Committee = Field(default_factory=Committee)
    support: Support = Field(default_factory=Support)
    variants: list[Variant] = Field(default_factory=list, description="Règles à comparer.")

    def with_rules(self, rules: dict[str, Any]) -> "Scenario":
        call = self.call.model_copy(update={"rules": self.call.rules | rules})
        CallRules.model_validate(call.rules)
        return self.model_copy(update={"call": call})

    def starts(self) -> datetime:
        return self.call.opens_at


class ScenarioError(ValueError):
    """A scenario file that cannot be run, with every reason in plain French."""


def load(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except FileNotFoundError:
        raise ScenarioError(f"{path} : fichier introuvable") from None
    except (yaml.YAMLError, ValueError) as error:
        raise ScenarioError(f"{path} : syntaxe invalide ({error})") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path} : un objet est attendu à la racine")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        lines = [f"  - {line}" for _, line in french_problems(error, {})]
        raise ScenarioError(f"{path} : scénario invalide\n" + "\n".join(lines)) from None
