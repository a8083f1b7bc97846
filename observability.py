"""Logs as JSON lines carrying the case, and Temporal's metrics for Prometheus."""

import json
import logging
from datetime import UTC, datetime

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from settings import Settings

# Attributes a log call may pass in `extra=` that belong in the JSON line.
CONTEXT = (
    "case_id",
    "workflow_id",
    "update_id",
    "action",
    "seq",
    "from_stage",
    "to_stage",
    "actor",
    "method",
    "path",
    "status",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= {key: getattr(record, key) for key in CONTEXT if hasattr(record, key)}
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A runtime whose SDK metrics (workflow and activity latencies, failures) Prometheus scrapes."""
    if not settings.metrics_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=settings.metrics_address))
    )
