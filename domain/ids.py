"""Workflow ids of the four kinds of case: the one place they are spelled."""

from enum import StrEnum


class Kind(StrEnum):
    CALL = "call"
    APPLICATION = "application"
    CLUSTER = "cluster"
    SESSION = "session"


def workflow_id(kind: Kind, case_id: str) -> str:
    return f"{kind}-{case_id}"


def call_workflow_id(call_id: str) -> str:
    return workflow_id(Kind.CALL, call_id)


def application_workflow_id(application_id: str) -> str:
    return workflow_id(Kind.APPLICATION, application_id)


def cluster_workflow_id(cluster_id: str) -> str:
    return workflow_id(Kind.CLUSTER, cluster_id)


def session_workflow_id(session_id: str) -> str:
    return workflow_id(Kind.SESSION, session_id)
