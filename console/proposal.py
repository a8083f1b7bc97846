"""A balanced assignment proposed for the ticked cases: each case gets the evaluators it still
lacks, the least loaded first, never one already on the case (assigned, scored, withdrawn or
in conflict: the workflow refuses them all). Pure: the admin adjusts it before it is sent."""

from dataclasses import dataclass, field

from projection.assignments import GONE  # gone from the case: no longer counts


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    required: int  # the call's evaluators per application
    held: dict[str, str] = field(default_factory=dict)  # evaluator → assignment status

    @property
    def active(self) -> list[str]:
        return sorted(who for who, status in self.held.items() if status not in GONE)

    @property
    def needed(self) -> int:
        return max(0, self.required - len(self.active))


@dataclass(frozen=True)
class Proposed:
    case: Case
    evaluators: list[str]  # proposed, in the order chosen
    choices: list[str]  # every evaluator the admin may pick for this case

    @property
    def short(self) -> int:
        """How many the case would still lack: none free enough to propose."""
        return self.case.needed - len(self.evaluators)


def propose(cases: list[Case], loads: dict[str, int]) -> list[Proposed]:
    """`loads`: each available evaluator's open assignments. Cases are served in turn, each
    taking the least loaded (then by name) of those it may have; what is proposed counts at
    once, so the load spreads across the batch."""
    load = dict(loads)
    proposed = []
    for case in cases:
        choices = sorted(name for name in load if name not in case.held)
        chosen = sorted(choices, key=lambda name: (load[name], name))[: case.needed]
        for name in chosen:
            load[name] += 1
        proposed.append(Proposed(case, chosen, choices))
    return proposed
