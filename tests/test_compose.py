"""The production compose file, checked without a Docker engine: services, pinned images, settings."""

import re
from pathlib import Path

import yaml

from settings import DEV_SERVER_ARGS, UPDATES_IN_FLIGHT
from web.commands import IN_FLIGHT_PER_CASE

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# Variables only the embedded run reads (PATH: to find the bundled Temporal binaries).
EMBEDDED_ONLY = {
    "CLUSTERS_DATA_DIR",
    "API_TOKENS_FILE",
    "API_PORT",
    "TEMPORAL_UI_PORT",
    "MAIL_LOG",
    "PATH",
}


def variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for path in [ROOT / "settings.py", ROOT / "embedded.py", *ROOT.glob("api/**/*.py")]:
        names |= set(
            re.findall(r'os\.environ\.(?:get|setdefault)\(\s*"([A-Z_]+)"', path.read_text())
        )
    return names


def test_every_component_of_a_production_install_is_there() -> None:
    assert {"postgresql", "temporal", "temporal-ui", "api", "worker"} <= set(SERVICES)
    assert SERVICES["temporal"]["environment"]["DB"].startswith("postgres")
    assert "postgresql" in SERVICES["temporal"]["depends_on"]
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert SERVICES["worker"]["command"] == ["python", "worker.py"]
    assert SERVICES["api"]["command"][:2] == ["uvicorn", "web.app:app"]


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        if "image" in service:
            image, _, tag = service["image"].partition(":")
            assert tag and tag != "latest" and re.match(r"^\d", tag), f"{name}: {service['image']}"
        else:
            assert service["build"] == ".", name
    base = (ROOT / "Dockerfile").read_text().splitlines()[0]
    assert re.match(r"^FROM python:3\.11(\.\d+)?-slim", base)


def test_api_and_worker_get_every_setting_the_code_reads() -> None:
    needed = variables_read_by_the_code() - EMBEDDED_ONLY
    assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "TASK_QUEUE", "API_TOKENS"} <= needed
    for name in ("api", "worker"):
        environment = SERVICES[name]["environment"]
        assert needed <= set(environment), f"{name} lacks {needed - set(environment)}"
        assert environment["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_only_the_api_is_published_and_the_engine_is_not_a_back_door() -> None:
    """Whoever reaches Temporal's frontend can act as anyone: it stays on the internal network,
    its UI on the host's loopback."""
    published = {
        name: [str(port) for port in service.get("ports", [])]
        for name, service in SERVICES.items()
        if service.get("ports")
    }
    open_to_all = {
        n for n, ports in published.items() if any(not p.startswith("127.0.0.1:") for p in ports)
    }
    assert open_to_all == {"api"}
    assert "ports" not in SERVICES["temporal"]
    assert published["temporal-ui"] == ["127.0.0.1:8233:8080"]


def test_every_service_has_a_health_check() -> None:
    for name, service in SERVICES.items():
        assert service["healthcheck"]["test"], name


def test_temporal_takes_as_many_updates_in_flight_as_the_dev_servers() -> None:
    """Two API replicas send up to IN_FLIGHT_PER_CASE updates each to one call: the server's
    limit is raised alike in production and on this machine."""
    temporal = SERVICES["temporal"]
    mounted = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"].rsplit("/", 1)[1]
    [volume] = [v for v in temporal["volumes"] if v.endswith(f"/{mounted}:ro")]
    config = yaml.safe_load((ROOT / volume.split(":")[0]).read_text())
    assert config["history.maxInFlightUpdates"] == [{"value": UPDATES_IN_FLIGHT}]
    assert f"history.maxInFlightUpdates={UPDATES_IN_FLIGHT}" in DEV_SERVER_ARGS
    assert 2 * IN_FLIGHT_PER_CASE <= UPDATES_IN_FLIGHT


# The API believes X-Forwarded-Proto and X-Forwarded-For from the TLS proxy in front alone.
PROXY_DEFAULT = "127.0.0.1"
COMPOSE_ALLOWED = "--forwarded-allow-ips=${FORWARDED_ALLOW_IPS:-" + PROXY_DEFAULT + "}"


def api_command(forwarded_allow_ips: str | None = None) -> list[str]:
    """The compose file's API command as compose runs it: FORWARDED_ALLOW_IPS from .env, if set,
    else its default."""
    allowed = forwarded_allow_ips or PROXY_DEFAULT
    return [
        part.replace(COMPOSE_ALLOWED, f"--forwarded-allow-ips={allowed}")
        for part in SERVICES["api"]["command"]
    ]


def image_command() -> list[str]:
    """The Dockerfile's CMD (exec form)."""
    [line] = [
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")
    ]
    return yaml.safe_load(line.removeprefix("CMD "))


def test_the_api_believes_forwarded_headers_from_the_proxy_alone() -> None:
    """Behind the TLS proxy the console's session cookie must be `Secure`: uvicorn reads the
    proxy's headers, but only from FORWARDED_ALLOW_IPS (the proxy's address; 127.0.0.1 unless
    .env says otherwise, never "*"); the compose file and the image say so alike."""
    command = SERVICES["api"]["command"]
    assert "--proxy-headers" in command and COMPOSE_ALLOWED in command
    assert "*" not in api_command()[-1]
    header = (ROOT / "docker-compose.yml").read_text().split("services:")[0]
    assert "FORWARDED_ALLOW_IPS" in header and 'Never "*"' in header
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ENV FORWARDED_ALLOW_IPS={PROXY_DEFAULT}\n" in dockerfile
    shell, flag, script = image_command()
    assert (shell, flag) == ("sh", "-c") and script.startswith("exec uvicorn web.app:app ")
    assert '--proxy-headers --forwarded-allow-ips="$FORWARDED_ALLOW_IPS"' in script
