"""SessionWorkflow `session-{id}`: a committee session, from its draft to its signed PV.

The agenda is frozen at convening (later changes are transitions of their own); the attendance
gives the quorum; before an item opens, its withdrawals are recorded; each decision is sent to
the file's own workflow, which records it through its usual transition, and only then recorded
here. The documents (the meeting pack, the PV and its signatures) are built by activities from
the recorded state; the workflow keeps their SHA-256 alone."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.sessions import (
        DOCUMENT,
        AgendaQuery,
        AgendaSignal,
        DecisionOrder,
        Sessions,
        SignOrder,
    )
    from domain.bodies import SessionDecision
    from domain.models import Actor
    from domain.session import (
        SIGNATORIES,
        AgendaItem,
        Attendance,
        Function,
        ItemChange,
        ItemDecision,
        ItemOpening,
        ItemOutcome,
        Pv,
        PvCorrection,
        PvSignature,
        ScanDeposit,
        SessionSpec,
        SessionStart,
        SessionState,
        StoredDocument,
    )
    from domain.session_notices import session_convened
    from domain.stages import Action, Role, SessionStage
    from workflows.refusals import forbidden, invalid, not_allowed
    from workflows.transitions import Case, step, transition

S = SessionStage
# Another workflow's update (a file recording its decision) answers within seconds; a refusal
# is final.
ORDER = dict(
    start_to_close_timeout=timedelta(minutes=1),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=20),
)


@workflow.defn
class SessionWorkflow(Case[SessionState]):
    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        self.state = start.state

    @workflow.run
    async def run(self, start: SessionStart) -> None:
        if not await self.created():
            return
        # A session has no clock of its own: it waits for its members, and starts anew when
        # its history grows long (an agenda of 200 files is 400 transitions and more).
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested())
        await self.settled()
        workflow.continue_as_new(SessionStart(state=self.state))

    # --- checks beyond the lifecycle table's rule (validator and handler alike) ------------
    def _check_create(self, actor: Actor, _: None) -> None:
        if self.state.seq:
            raise not_allowed("Cette séance existe déjà.", self.state.stage)

    def _check_sitting(self, actor: Actor, _: object = None) -> None:
        """A committee account acts in a session only if it is one of its members."""
        if actor.role == Role.COMMITTEE and self.state.spec.member(actor.name) is None:
            raise forbidden("Vous n'êtes pas membre de cette séance.")

    def _check_attendance(self, actor: Actor, body: Attendance) -> None:
        self._check_sitting(actor)
        self._members(body.present)

    def _check_quorum(self, actor: Actor, _: None = None) -> None:
        self._check_sitting(actor)
        present, needed = self.state.quorum()
        if present < needed:
            raise not_allowed(
                f"Quorum non atteint : {present} membre(s) votant(s) présent(s), il en faut "
                f"{needed}.",
                self.state.stage,
            )

    def _check_removal(self, actor: Actor, body: ItemChange) -> None:
        self._check_sitting(actor)
        item = self._item(body.application_id)
        if not item.pending or item.opened_at is not None:
            raise not_allowed("Ce dossier est déjà ouvert ou décidé.", self.state.stage)

    def _check_addition(self, actor: Actor, body: ItemChange) -> None:
        self._check_sitting(actor)
        if self.state.item(body.application_id) is not None:
            raise invalid("Ce dossier est déjà à l'ordre du jour.")

    def _check_opening(self, actor: Actor, body: ItemOpening) -> None:
        self._check_sitting(actor)
        item = self._item(body.application_id)
        if not item.pending:
            raise not_allowed("Ce dossier est déjà décidé ou retiré.", self.state.stage)
        if item.opened_at is not None:
            raise not_allowed("Ce dossier est déjà ouvert.", self.state.stage)
        if self.state.current is not None:
            raise not_allowed(
                f"Le dossier {self.state.current} est ouvert : décidez-le d'abord.",
                self.state.stage,
            )
        self._members(body.withdrawn)
        staying = [c.member for c in item.likely if c.member not in body.withdrawn]
        if staying and not body.flags_cleared:
            raise invalid(
                "Conflit probable signalé pour " + ", ".join(staying) + " : chacun se retire, "
                "ou déclare n'avoir aucun conflit (case à cocher)."
            )

    def _check_decision(self, actor: Actor, body: ItemDecision) -> None:
        self._check_sitting(actor)
        item = self._item(body.application_id)
        if item.removed_at is not None:
            raise not_allowed("Ce dossier a été retiré de l'ordre du jour.", self.state.stage)
        if item.opened_at is None:
            raise not_allowed(
                "Ouvrez d'abord le dossier (déclarations d'intérêts).", self.state.stage
            )
        present, needed = self.state.quorum(item.withdrawn)
        if present < needed:
            raise not_allowed(
                f"Quorum non atteint sur ce dossier : {present} membre(s) votant(s) sans "
                f"conflit présent(s), il en faut {needed}. Aucune décision ne peut être prise.",
                self.state.stage,
            )
        cast = body.votes_for + body.votes_against + body.abstentions
        if cast != present:
            raise invalid(
                f"{cast} voix exprimées (pour, contre, abstentions) pour {present} votant(s) "
                "présent(s) et sans conflit : le compte doit être égal."
            )
        if body.votes_for <= body.votes_against:
            raise invalid("La décision requiert plus de voix pour que de voix contre.")

    def _check_close(self, actor: Actor, _: None) -> None:
        self._check_sitting(actor)
        pending = [i.cluster_name for i in self.state.agenda if i.pending]
        if pending:
            raise not_allowed(
                f"{len(pending)} dossier(s) sans décision : "
                + ", ".join(pending[:5])
                + (" …" if len(pending) > 5 else "")
                + ". Décidez-les ou retirez-les.",
                self.state.stage,
            )

    def _check_signature(self, actor: Actor, _: None) -> None:
        function = self._signatory(actor)
        pv = self.state.pv
        if pv is None:
            raise not_allowed("Aucun procès-verbal à signer.", self.state.stage)
        if pv.signed_by(function):
            raise not_allowed(f"Le {function} a déjà signé ce procès-verbal.", self.state.stage)

    def _check_scan(self, actor: Actor, body: ScanDeposit) -> None:
        if self.state.pv is None:
            raise not_allowed("Aucun procès-verbal établi.", self.state.stage)

    def _members(self, names: list[str]) -> None:
        strangers = [n for n in names if self.state.spec.member(n) is None]
        if strangers:
            raise invalid("Non membre(s) de la séance : " + ", ".join(strangers) + ".")

    def _item(self, application_id: str) -> AgendaItem:
        item = self.state.item(application_id)
        if item is None:
            raise invalid(f"Le dossier {application_id} n'est pas à l'ordre du jour.")
        return item

    def _signatory(self, actor: Actor) -> Function:
        member = self.state.spec.member(actor.name)
        if member is None or member.function not in SIGNATORIES:
            raise forbidden("Seuls le président et le secrétaire de la séance signent le PV.")
        return member.function

    # --- preparing and convening ---------------------------------------------------------
    @transition(Action.CREATE_SESSION, _check_create)
    async def create_session(self, actor: Actor) -> SessionState:
        return await self.commit(
            actor, Action.CREATE_SESSION, payload=self.state.spec.model_dump(mode="json")
        )

    @transition(Action.REVISE_SESSION)
    async def revise_session(self, actor: Actor, spec: SessionSpec) -> SessionState:
        self.state.spec = spec
        return await self.commit(actor, Action.REVISE_SESSION, payload=spec.model_dump(mode="json"))

    @transition(Action.CONVENE)
    async def convene(self, actor: Actor) -> SessionState:
        """Freeze the agenda (the evaluated files of its calls, best first), tell each file,
        build the meeting pack and call the members."""
        agenda = await step(
            Sessions.agenda, AgendaQuery(session_id=self.state.id, spec=self.state.spec)
        )
        if not agenda:
            raise not_allowed(
                "Aucun dossier évalué à inscrire à l'ordre du jour de ces appels.",
                self.state.stage,
            )
        self.state.agenda = agenda
        self.state.convened_at = workflow.now()
        await self._tell([i.application_id for i in agenda], self.state.id)
        self.state.pack = await self._document("build_pack", self.state)
        return await self.commit(
            actor,
            Action.CONVENE,
            payload={"agenda": [i.application_id for i in agenda], "pack": self.state.pack.sha256},
            notify=session_convened,
        )

    # --- sitting -----------------------------------------------------------------------------
    @transition(Action.RECORD_ATTENDANCE, _check_attendance)
    async def record_attendance(self, actor: Actor, body: Attendance) -> SessionState:
        self.state.present = body.present
        present, needed = self.state.quorum()
        return await self.commit(
            actor,
            Action.RECORD_ATTENDANCE,
            payload={"present": body.present, "voting_present": present, "quorum": needed},
        )

    @transition(Action.OPEN_SESSION, _check_quorum)
    async def open_session(self, actor: Actor) -> SessionState:
        self.state.opened_at = workflow.now()
        present, needed = self.state.quorum()
        return await self.commit(
            actor, Action.OPEN_SESSION, payload={"voting_present": present, "quorum": needed}
        )

    @transition(Action.ADD_ITEM, _check_addition)
    async def add_item(self, actor: Actor, body: ItemChange) -> SessionState:
        found = await step(
            Sessions.agenda,
            AgendaQuery(
                session_id=self.state.id, spec=self.state.spec, application_id=body.application_id
            ),
        )
        if not found:
            raise invalid(
                "Ce dossier n'est pas un dossier évalué des appels de la séance, ou il est à "
                "l'ordre du jour d'une autre séance."
            )
        item = found[0].model_copy(
            update={"rank": len(self.state.agenda) + 1, "added_at": workflow.now()}
        )
        self.state.agenda.append(item)
        await self._tell([item.application_id], self.state.id)
        return await self.commit(
            actor,
            Action.ADD_ITEM,
            reason=body.reason,
            payload={"application_id": item.application_id},
        )

    @transition(Action.REMOVE_ITEM, _check_removal)
    async def remove_item(self, actor: Actor, body: ItemChange) -> SessionState:
        item = self._item(body.application_id)
        item.removed_at = workflow.now()
        item.removed_reason = body.reason
        await self._tell([item.application_id], None)
        return await self.commit(
            actor,
            Action.REMOVE_ITEM,
            reason=body.reason,
            payload={"application_id": item.application_id},
        )

    @transition(Action.OPEN_ITEM, _check_opening)
    async def open_item(self, actor: Actor, body: ItemOpening) -> SessionState:
        item = self._item(body.application_id)
        item.opened_at = workflow.now()
        item.withdrawn = body.withdrawn
        self.state.current = item.application_id
        return await self.commit(actor, Action.OPEN_ITEM, payload=body.model_dump(mode="json"))

    @transition(Action.DECIDE_ITEM, _check_decision)
    async def decide_item(self, actor: Actor, body: ItemDecision) -> SessionState:
        """The file's workflow records the decision first (it may refuse it: then nothing is
        recorded here); the texts go to this transition's audit event, not to the state."""
        item = self._item(body.application_id)
        seq = self.state.seq + 1
        motivation = body.motivation
        await self.asked(
            Sessions.decide,
            DecisionOrder(
                application_id=item.application_id,
                update_id=self.notice_key(seq),
                actor=actor,
                outcome=body.outcome,
                body=SessionDecision(
                    reason=motivation,
                    internal_note=body.internal_note,
                    session_id=self.state.id,
                    amounts=body.amounts,
                    amounts_reason=body.amounts_reason,
                ),
            ),
            **ORDER,
        )
        voting = self.state.spec.voting()
        voters = [n for n in self.state.present if n in voting and n not in item.withdrawn]
        item.decision = ItemOutcome(
            outcome=body.outcome,
            amounts=body.amounts,
            votes_for=body.votes_for,
            votes_against=body.votes_against,
            abstentions=body.abstentions,
            voters=voters,
            decided_at=workflow.now(),
            decided_by=actor.name,
            seq=seq,
        )
        if self.state.current == item.application_id:
            self.state.current = None
        return await self.commit(
            actor,
            Action.DECIDE_ITEM,
            reason=motivation,
            payload=body.model_dump(mode="json")
            | {"motivation": motivation, "withdrawn": item.withdrawn, "voters": voters},
        )

    @transition(Action.CLOSE_SESSION, _check_close)
    async def close_session(self, actor: Actor) -> SessionState:
        self.state.closed_at = workflow.now()
        pv = await self._pv(corrects=None, correction=None)
        return await self.commit(
            actor, Action.CLOSE_SESSION, payload={"pv": pv.number, "sha256": pv.sha256}
        )

    # --- the PV --------------------------------------------------------------------------------
    @transition(Action.SIGN_PV, _check_signature)
    async def sign_pv(self, actor: Actor) -> SessionState:
        """The signatory's electronic signature (PAdES) on the PV as it stands; the second one
        makes it signed."""
        function = self._signatory(actor)
        pv = self.state.pv
        assert pv is not None
        signed = await self.asked(
            "sign_pv",
            SignOrder(sha256=pv.signed_sha256 or pv.sha256, name=actor.name, function=function),
            result_type=str,
            **DOCUMENT,
        )
        pv.signed_sha256 = signed
        pv.signatures.append(PvSignature(name=actor.name, function=function, at=workflow.now()))
        source = self.state.stage
        if pv.complete:
            self.state.stage = S.SIGNED
        return await self.commit(
            actor,
            Action.SIGN_PV,
            payload={"pv": pv.number, "function": function, "sha256": signed},
            source=source,
        )

    @transition(Action.DEPOSIT_SIGNED_PV, _check_scan)
    async def deposit_signed_pv(self, actor: Actor, body: ScanDeposit) -> SessionState:
        pv = self.state.pv
        assert pv is not None
        now = workflow.now()
        pv.signed_sha256 = body.sha256
        pv.signatures = [
            PvSignature(name=self.state.spec.signatory(f), function=f, at=now, scan=True)
            for f in SIGNATORIES
        ]
        return await self.commit(
            actor, Action.DEPOSIT_SIGNED_PV, payload={"pv": pv.number, "sha256": body.sha256}
        )

    @transition(Action.CORRECT_PV)
    async def correct_pv(self, actor: Actor, body: PvCorrection) -> SessionState:
        """A signed PV is never changed: its correction is a new PV naming it, to be signed."""
        previous = self.state.pv
        assert previous is not None
        pv = await self._pv(corrects=previous.number, correction=body.reason)
        return await self.commit(
            actor,
            Action.CORRECT_PV,
            reason=body.reason,
            payload={"pv": pv.number, "corrects": previous.number, "sha256": pv.sha256},
        )

    # --- helpers -------------------------------------------------------------------------------
    async def _pv(self, corrects: int | None, correction: str | None) -> Pv:
        pv = Pv(
            number=len(self.state.pvs) + 1,
            sha256="",
            built_at=workflow.now(),
            corrects=corrects,
            correction=correction,
        )
        self.state.pvs.append(pv)
        built = await self._document("build_pv", self.state)
        pv.sha256 = built.sha256
        return pv

    async def _document(self, activity: str, state: SessionState) -> StoredDocument:
        """A document of activities.minutes (named, not imported: the API, which imports this
        workflow, need not load WeasyPrint and pyHanko), kept by its SHA-256."""
        sha256 = await workflow.execute_activity(activity, state, result_type=str, **DOCUMENT)
        return StoredDocument(sha256=sha256, built_at=workflow.now())

    async def _tell(self, application_ids: list[str], session_id: str | None) -> None:
        await step(
            Sessions.tell_agenda,
            AgendaSignal(application_ids=application_ids, session_id=session_id),
        )
