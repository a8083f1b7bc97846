"""Record workflow histories for the replay tests (tests/histories/*.json).

Run after a workflow change that is meant to be compatible, then commit the new files next to
the old ones: `.venv/bin/python scripts/record_histories.py`. Old histories stay, so CI proves
that the new code still replays the cases already running. See README, "Replay tests".
"""

import asyncio
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from activities.database import create_schema, make_engine  # noqa: E402
from domain.models import (  # noqa: E402
    Actor,
    Amendment,
    ApplicationInput,
    CallSpec,
    CallStart,
    CallState,
    ComplementsAsk,
    ComplementsReply,
    DeadlineExtension,
    EligibleDecision,
    Registration,
    Withdrawal,
)
from domain.stages import CallStage, Role  # noqa: E402
from settings import bundled_binary  # noqa: E402
from worker import build_worker  # noqa: E402
from workflows.application import ApplicationWorkflow  # noqa: E402
from workflows.call import CallWorkflow  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "histories"
ADMIN = Actor(name="Amina", role=Role.ADMIN)
OPERATOR = Actor(name="Omar", role=Role.OPERATOR)
DOCUMENTS = CallSpec.model_fields["required_documents"].default_factory()
APPLICATION = ApplicationInput(
    cluster_name="Cluster enregistré",
    sector="TIC",
    members=[{"name": "Entreprise", "type": "company"}, {"name": "École", "type": "training"}],
    contact={"name": "Contact", "email": "contact@cluster.ma"},
    documents=DOCUMENTS[:2],
)


async def main(tag: str) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=bundled_binary("temporal-test-server"),
    )
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/projection.db")
    create_schema(engine)
    queue = f"record-{uuid.uuid4().hex}"
    client = env.client
    async with env, build_worker(client, engine, queue):
        now = await env.get_current_time()
        spec = CallSpec(
            year=now.year,
            title="Historique",
            opens_at=now + timedelta(days=1),
            deadline=now + timedelta(days=20),
        )
        state = CallState(id="history", stage=CallStage.DRAFT, spec=spec, updated_at=now)
        call = await client.start_workflow(
            CallWorkflow.run,
            CallStart(state=state),
            id=f"call-{uuid.uuid4().hex}",
            task_queue=queue,
        )
        await call.execute_update(CallWorkflow.create, ADMIN)
        await call.execute_update(CallWorkflow.publish, ADMIN)
        await env.sleep(timedelta(days=2))
        ids = [uuid.uuid4().hex[:12] for _ in range(3)]
        for application_id in ids:
            registration = Registration(application_id=application_id, data=APPLICATION)
            await call.execute_update(
                CallWorkflow.register_application, args=[OPERATOR, registration]
            )
        apps = [
            client.get_workflow_handle_for(ApplicationWorkflow.run, f"application-{i}") for i in ids
        ]
        await call.execute_update(
            CallWorkflow.extend_deadline,
            args=[ADMIN, DeadlineExtension(deadline=now + timedelta(days=25))],
        )
        await apps[0].execute_update(
            ApplicationWorkflow.amend, args=[OPERATOR, Amendment(legal_form="GIE")]
        )
        await apps[2].execute_update(ApplicationWorkflow.withdraw, args=[OPERATOR, Withdrawal()])
        await env.sleep(timedelta(days=24))
        await asyncio.sleep(1)  # let the closure fan-out and pre-checks land
        ask = ComplementsAsk(items=["budget"])
        for app in apps[:2]:
            await app.execute_update(ApplicationWorkflow.request_complements, args=[OPERATOR, ask])
        await apps[1].execute_update(
            ApplicationWorkflow.submit_complements,
            args=[OPERATOR, ComplementsReply(documents=DOCUMENTS)],
        )
        await apps[1].execute_update(
            ApplicationWorkflow.mark_eligible, args=[OPERATOR, EligibleDecision()]
        )
        await env.sleep(timedelta(days=15))  # the first one's complements expire
        await apps[0].result()
        for name, handle in [
            ("call", call),
            ("expired", apps[0]),
            ("eligible", apps[1]),
            ("withdrawn", apps[2]),
        ]:
            history = await handle.fetch_history()
            (OUT / f"{tag}-{name}.json").write_text(history.to_json())
            print("recorded", name, len(history.events), "events")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "v1"))
