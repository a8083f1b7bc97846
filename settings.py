"""Configuration from the environment, shared by the worker, the API and the embedded run."""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(os.environ.get("CLUSTERS_DATA_DIR", "data"))


# Updates a Temporal server takes in flight on one workflow (its default, 10, is below what two
# API replicas send to one call at a deadline: web.commands.IN_FLIGHT_PER_CASE each). The dev
# servers take it as an argument; the compose file's Temporal, from temporal-dynamicconfig.yaml.
UPDATES_IN_FLIGHT = 50
DEV_SERVER_ARGS = ["--dynamic-config-value", f"history.maxInFlightUpdates={UPDATES_IN_FLIGHT}"]


@dataclass(frozen=True)
class Settings:
    database_url: str = field(
        default_factory=lambda: os.environ.get(
            "DATABASE_URL", f"sqlite:///{DATA_DIR / 'projection.db'}"
        )
    )
    temporal_address: str = field(
        default_factory=lambda: os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233")
    )
    temporal_namespace: str = field(
        default_factory=lambda: os.environ.get("TEMPORAL_NAMESPACE", "default")
    )
    task_queue: str = field(default_factory=lambda: os.environ.get("TASK_QUEUE", "clusters"))
    # "token=role:name,token=role:name"; when empty, tokens come from `tokens_file`.
    api_tokens: str = field(default_factory=lambda: os.environ.get("API_TOKENS", ""))
    tokens_file: Path = field(
        default_factory=lambda: Path(os.environ.get("API_TOKENS_FILE", DATA_DIR / "tokens.json"))
    )
    # Where the cases' files are stored (projection.storage): a folder, or s3://bucket/prefix on an
    # S3-compatible store reached at S3_ENDPOINT_URL with S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY
    # (left empty: the AWS defaults and the usual AWS_* variables).
    documents_url: str = field(
        default_factory=lambda: os.environ.get("DOCUMENTS_URL", str(DATA_DIR / "documents"))
    )
    s3_endpoint_url: str = field(default_factory=lambda: os.environ.get("S3_ENDPOINT_URL", ""))
    s3_access_key_id: str = field(default_factory=lambda: os.environ.get("S3_ACCESS_KEY_ID", ""))
    s3_secret_access_key: str = field(
        default_factory=lambda: os.environ.get("S3_SECRET_ACCESS_KEY", "")
    )
    s3_region: str = field(default_factory=lambda: os.environ.get("S3_REGION", ""))
    # host:port where the worker serves Temporal's metrics to Prometheus; empty: none.
    metrics_address: str = field(default_factory=lambda: os.environ.get("METRICS_ADDRESS", ""))
    log_format: str = field(default_factory=lambda: os.environ.get("LOG_FORMAT", "json"))
    # Workflows outside Temporal's sandbox: about 1 ms less per transition (see README,
    # "Performance"). The tests and the replay of histories keep the sandbox, which catches
    # non-deterministic code; WORKFLOW_SANDBOX=1 keeps it in a deployed worker too.
    workflow_sandbox: bool = field(
        default_factory=lambda: os.environ.get("WORKFLOW_SANDBOX", "0") not in ("", "0")
    )
    # E-mail (activities.mail), read when the worker starts: the relay, and who writes.
    smtp_host: str = field(default_factory=lambda: os.environ.get("SMTP_HOST", ""))
    smtp_port: int = field(default_factory=lambda: int(os.environ.get("SMTP_PORT", "25")))
    smtp_starttls: bool = field(
        default_factory=lambda: os.environ.get("SMTP_STARTTLS", "0") not in ("", "0")
    )
    smtp_username: str = field(default_factory=lambda: os.environ.get("SMTP_USERNAME", ""))
    smtp_password: str = field(default_factory=lambda: os.environ.get("SMTP_PASSWORD", ""))
    mail_from: str = field(
        default_factory=lambda: os.environ.get(
            "MAIL_FROM", "Programme d'appui aux clusters <clusters@localhost>"
        )
    )
    # The programme managers' shared mailbox: overdue evaluations and reports, probation reviews.
    mail_programme: str = field(
        default_factory=lambda: os.environ.get("MAIL_PROGRAMME", "programme@localhost")
    )
    # The PV's signatories' keys (activities.minutes.Keystore): one PKCS#12 file per account,
    # named after it (« Amina Berrada » → amina-berrada.p12), opened with SIGNING_PASSPHRASE
    # (empty: none). Without its key, a signatory deposits the PV signed on paper, scanned.
    signing_keys_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("SIGNING_KEYS_DIR", DATA_DIR / "signing"))
    )
    signing_passphrase: str = field(
        default_factory=lambda: os.environ.get("SIGNING_PASSPHRASE", "")
    )
    # The service's Ed25519 key that signs the portal's deposit receipts (portal.receipt), made
    # on first use; its public half is published at /portail/cle-publique.pem.
    receipt_key_file: Path = field(
        default_factory=lambda: Path(
            os.environ.get("RECEIPT_KEY_FILE", DATA_DIR / "receipt-key.pem")
        )
    )
    # The service's address as people reach it, for the links mail carries (a staff invitation):
    # never taken from a request's Host header, which a client chooses.
    public_url: str = field(
        default_factory=lambda: os.environ.get(
            "PUBLIC_URL", f"http://127.0.0.1:{os.environ.get('API_PORT', '8000')}"
        ).rstrip("/")
    )


def storage_options(settings: Settings) -> dict[str, Any]:
    """s3fs's options for an s3:// DOCUMENTS_URL; none for a folder."""
    if not settings.documents_url.startswith("s3://"):
        return {}
    client = {"endpoint_url": settings.s3_endpoint_url, "region_name": settings.s3_region}
    options: dict[str, Any] = {"client_kwargs": {k: v for k, v in client.items() if v}}
    if settings.s3_access_key_id:
        options |= {"key": settings.s3_access_key_id, "secret": settings.s3_secret_access_key}
    return options


async def connect_temporal(settings: Settings, lazy: bool = False, runtime=None):
    """The one Temporal client of a process; pydantic models travel as JSON."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        lazy=lazy,
        runtime=runtime,
    )


def bundled_binary(name: str) -> str:
    """A binary installed by a PyPI package (temporal, temporal-test-server) beside this Python."""
    import shutil
    import sys

    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if not found:
        raise RuntimeError(f"{name} not found: install the project first (see README)")
    return found
