"""compose/: the Compose file, its .env.example and the Vigil image, checked without an engine.

A real Compose implementation parses, interpolates and validates the file: `docker-compose
config` (Compose v1, Debian's ``docker-compose`` package; it needs no Docker engine for
``config``). The file is also validated against the Compose specification JSON schema that
ships inside that package, and then checked for what Vigil needs: start order, health checks,
loopback-only published ports, persistent data, and settings that match vigil/settings.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
DOCKERFILE = COMPOSE_DIR / "Dockerfile"

# Where Debian's python3-compose keeps the schema, if asking its interpreter fails.
DEBIAN_SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")

LONG_RUNNING = {"kafka", "redis", "triton", "gateway", "worker", "relay", "monitor", "console"}
ONE_SHOT = {"topics"}
VIGIL_SERVICES = {"triton", "topics", "gateway", "worker", "relay", "monitor", "console"}
NEEDS_TOPICS = {"gateway", "worker", "relay", "monitor"}
# Read by Compose itself, not interpolated into the file.
COMPOSE_OWN_VARS = {"COMPOSE_PROJECT_NAME"}
# VIGIL_RUN_DIR in the containers: a tmpfs, where the services write their ready markers.
RUN_DIR = "/run/vigil"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


# --- helpers ------------------------------------------------------------------------------


def _docker_compose() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose)")
    return exe


def _compose(*args: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    """Runs docker-compose on the file with exactly ``env_file`` as its .env.

    Giving --env-file always keeps a developer's compose/.env out of the test, and the
    minimal environment keeps their shell's VIGIL_* (or other) variables out of it too.
    """
    cmd = [_docker_compose(), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)


def _render(env_file: Path) -> dict[str, Any]:
    proc = _compose("config", env_file=env_file)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    return yaml.safe_load(proc.stdout)


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f".env.example: not NAME=value: {line!r}"
        assert name not in values, f".env.example sets {name} twice"
        values[name] = value
    return values


def _compose_defaults() -> dict[str, str | None]:
    """Every ${VAR} / ${VAR:-default} in the compose file, with its default (None: none)."""
    found: dict[str, str | None] = {}
    for name, default in _VAR.findall(COMPOSE_FILE.read_text()):
        if name in found:
            assert found[name] == default, f"{name} has two defaults: {found[name]!r}, {default!r}"
        found[name] = default
    return found


def _find_schema() -> Path | None:
    """compose_spec.json from the compose package that the docker-compose script runs."""
    exe = shutil.which("docker-compose")
    interpreter = "/usr/bin/python3"
    if exe is not None:
        first = Path(exe).read_bytes()[:200].split(b"\n", 1)[0].decode(errors="replace")
        if first.startswith("#!") and "python" in first:
            interpreter = first[2:].strip().split()[0]
    candidates = []
    if Path(interpreter).exists():
        proc = subprocess.run(
            [
                interpreter,
                "-c",
                "import compose.config, os; print(os.path.dirname(compose.config.__file__))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            candidates.append(Path(proc.stdout.strip()) / "compose_spec.json")
    candidates.append(DEBIAN_SCHEMA)
    return next((p for p in candidates if p.is_file()), None)


def _ports(service: dict[str, Any]) -> list[str]:
    ports = service.get("ports", [])
    for p in ports:
        # The long form has no host_ip in this Compose schema; the short form names it.
        assert isinstance(p, str), f"use the short HOST_IP:HOST:CONTAINER form, got {p!r}"
    return ports


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment should be a mapping"
    return {k: str(v) for k, v in env.items()}


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The file as written (YAML anchors and merge keys resolved, ${...} not)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def empty_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose-env") / "empty.env"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    """What Compose makes of the file with .env.example: interpolated and normalised."""
    return _render(ENV_EXAMPLE)


# --- (a) a real Compose parser -------------------------------------------------------------


def test_compose_config_accepts_the_file_with_env_example() -> None:
    proc = _compose("config", "-q", env_file=ENV_EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr


def test_compose_config_accepts_the_file_without_any_env(empty_env: Path) -> None:
    proc = _compose("config", "-q", env_file=empty_env)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr


def test_env_example_only_restates_the_defaults(rendered: dict[str, Any], empty_env: Path) -> None:
    assert _render(empty_env) == rendered


def test_env_file_values_reach_the_config(tmp_path: Path) -> None:
    env = tmp_path / "custom.env"
    env.write_text("CONSOLE_HOST_PORT=9999\nKAFKA_HOST_PORT=29092\nGSM8K_DIR=/srv/gsm8k\n")
    cfg = _render(env)["services"]
    assert _ports(cfg["console"]) == ["127.0.0.1:9999:8501/tcp"]
    assert _ports(cfg["kafka"]) == ["127.0.0.1:29092:19092/tcp"]
    # The host port is also what the broker advertises to clients on the host.
    assert "EXTERNAL://127.0.0.1:29092" in _environment(cfg["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    assert "/srv/gsm8k:/data/gsm8k:ro" in cfg["triton"]["volumes"]


# --- (b) the Compose specification schema ---------------------------------------------------


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.protocols.Validator:
    path = _find_schema()
    if path is None:
        pytest.skip("compose_spec.json not found (it ships in Debian's docker-compose package)")
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_errors(validator: jsonschema.protocols.Validator, doc: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))
    ]


def test_file_matches_the_compose_spec_schema(
    schema_validator: jsonschema.protocols.Validator, raw: dict[str, Any]
) -> None:
    assert _schema_errors(schema_validator, raw) == []


def test_rendered_config_matches_the_compose_spec_schema(
    schema_validator: jsonschema.protocols.Validator, rendered: dict[str, Any]
) -> None:
    assert _schema_errors(schema_validator, rendered) == []


def test_schema_check_is_not_vacuous(schema_validator: jsonschema.protocols.Validator) -> None:
    bad = {"services": {"x": {"image": "busybox", "healthcheck": {"start_intervall": "1s"}}}}
    assert _schema_errors(schema_validator, bad)


# --- (c) what Vigil needs ------------------------------------------------------------------


def test_all_services_exist(rendered: dict[str, Any]) -> None:
    assert set(rendered["services"]) == LONG_RUNNING | ONE_SHOT


def test_long_running_services_restart_and_have_healthchecks(rendered: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        svc = rendered["services"][name]
        assert svc.get("restart") == "unless-stopped", name
        check = svc.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_python_healthchecks_compile(rendered: dict[str, Any]) -> None:
    snippets = 0
    for name, svc in rendered["services"].items():
        test = svc.get("healthcheck", {}).get("test", [])
        if test[1:3] == ["python", "-c"]:
            compile(test[3], f"<{name} healthcheck>", "exec")
            snippets += 1
    assert snippets == 2  # triton and console


def test_topics_is_a_one_shot_init(rendered: dict[str, Any]) -> None:
    topics = rendered["services"]["topics"]
    assert topics.get("restart", "no") == "no"
    assert topics["command"] == ["topics"]
    assert topics["depends_on"] == {"kafka": {"condition": "service_healthy"}}


def test_dependencies_wait_for_health_or_completion(raw: dict[str, Any]) -> None:
    for name, svc in raw["services"].items():
        deps = svc.get("depends_on", {})
        # The list form means "started", which is not "ready".
        assert isinstance(deps, dict), f"{name}: depends_on needs conditions"
        for dep, spec in deps.items():
            want = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert spec == {"condition": want}, f"{name} -> {dep}"
            if dep in LONG_RUNNING:
                assert "healthcheck" in raw["services"][dep], f"{name} waits on {dep}'s health"


def test_start_order(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    for name in NEEDS_TOPICS:
        deps = services[name]["depends_on"]
        assert deps["topics"] == {"condition": "service_completed_successfully"}, name
        assert deps["kafka"] == {"condition": "service_healthy"}, name
    assert services["gateway"]["depends_on"]["triton"] == {"condition": "service_healthy"}
    for name in ("worker", "relay", "console"):
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}, name
    # Readiness markers are written by the services themselves (vigil.supervisor.mark_ready).
    for name in NEEDS_TOPICS:
        test = services[name]["healthcheck"]["test"]
        assert test == ["CMD", "test", "-f", f"{RUN_DIR}/ready/{name}"], name


def test_published_ports_are_loopback_only(raw: dict[str, Any], rendered: dict[str, Any]) -> None:
    # As written: the address is literal, so no variable in .env can widen it.
    for name, svc in raw["services"].items():
        for port in _ports(svc):
            assert port.startswith("127.0.0.1:"), f"{name}: {port} is not bound to loopback"
    # As Compose reads it: HOST_IP:HOST_PORT:CONTAINER_PORT, nothing else.
    published = [(name, p) for name, svc in rendered["services"].items() for p in _ports(svc)]
    assert published  # the console, at least, must be reachable
    for name, port in published:
        assert re.fullmatch(r"127\.0\.0\.1:\d+:\d+(/tcp|/udp)?", port), f"{name}: {port}"


def test_host_facing_ports(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    assert _ports(services["console"]) == ["127.0.0.1:8501:8501/tcp"]
    assert _ports(services["triton"]) == ["127.0.0.1:18000:8000/tcp", "127.0.0.1:18001:8001/tcp"]
    for name in ("topics", "gateway", "worker", "relay"):
        assert not services[name].get("ports"), f"{name} has nothing to publish"


def test_kafka_and_redis_keep_data_in_named_volumes(rendered: dict[str, Any]) -> None:
    declared = set(rendered.get("volumes") or {})
    wanted = {
        "kafka": _environment(rendered["services"]["kafka"])["KAFKA_LOG_DIRS"],
        "redis": "/data",
    }
    for name, target in wanted.items():
        mounts = rendered["services"][name].get("volumes", [])
        sources = {m.split(":")[0] for m in mounts if m.split(":")[1] == target}
        assert sources & declared, f"{name}: no named volume at {target}: {mounts}"
    redis_cmd = rendered["services"]["redis"]["command"]
    assert redis_cmd[redis_cmd.index("--appendonly") + 1] == "yes"


def test_kafka_is_single_node_kraft_like_the_embedded_broker(rendered: dict[str, Any]) -> None:
    from vigil.settings import load_settings
    from vigil.streams.kafka_broker import server_properties

    env = _environment(rendered["services"]["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    for listener in env["KAFKA_LISTENERS"].split(","):
        listener_name = listener.split("://")[0]
        assert f"{listener_name}:" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], listener
    # Every broker-wide setting of the embedded broker holds here too (the addresses,
    # the data folder and the default partition count are the only intended differences).
    local_only = {
        "listeners",
        "advertised.listeners",
        "controller.quorum.voters",
        "log.dirs",
        "num.partitions",
        "listener.security.protocol.map",
    }
    props = server_properties(load_settings(), Path("/unused"))
    for line in props.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if key in local_only:
            continue
        var = "KAFKA_" + key.upper().replace(".", "_")
        assert env.get(var) == value, f"{var} should be {value!r} as in streams/kafka_broker.py"


def test_vigil_services_share_one_image_and_reach_the_stack_by_name(
    rendered: dict[str, Any],
) -> None:
    services = rendered["services"]
    images = {services[n]["image"] for n in VIGIL_SERVICES}
    assert len(images) == 1, images
    for name in VIGIL_SERVICES:
        svc = services[name]
        assert Path(svc["build"]["context"]) == REPO, name
        assert svc["build"]["dockerfile"] == "compose/Dockerfile", name
        assert svc["command"][0] == name, name
        assert svc.get("init") is True, f"{name}: needs an init to forward SIGTERM"
        env = _environment(svc)
        assert env["VIGIL_KAFKA_BOOTSTRAP"] == "kafka:9092", name
        assert env["VIGIL_REDIS_URL"] == "redis://redis:6379/0", name
        assert env["VIGIL_TRITON_GRPC_URL"] == "triton:8001", name
        for part in ("KAFKA", "REDIS", "TRITON"):
            assert env[f"VIGIL_EMBEDDED_{part}"] == "false", name
        assert env["VIGIL_RUN_DIR"] == RUN_DIR, name
        assert RUN_DIR in svc.get("tmpfs", []), name


def test_triton_serves_the_mounted_gsm8k_file(rendered: dict[str, Any]) -> None:
    triton = rendered["services"]["triton"]
    env = _environment(triton)
    assert env["VIGIL_GSM8K_PATH"] == "/data/gsm8k/model_solutions.jsonl"
    assert (env["VIGIL_TRITON_HTTP_PORT"], env["VIGIL_TRITON_GRPC_PORT"]) == ("8000", "8001")
    assert triton["command"] == ["triton", "--bind", "0.0.0.0"]
    source = str((COMPOSE_DIR / _env_example()["GSM8K_DIR"]).resolve())
    assert f"{source}:/data/gsm8k:ro" in triton["volumes"]
    probe = " ".join(triton["healthcheck"]["test"])
    assert "127.0.0.1:8000/v2/" in probe
    assert '"health/ready"' in probe
    assert "/ready" in probe and "VIGIL_MODEL_NAME" in probe


def test_console_listens_on_the_network_but_publishes_on_loopback(
    rendered: dict[str, Any],
) -> None:
    console = rendered["services"]["console"]
    env = _environment(console)
    assert env["VIGIL_CONSOLE_ADDRESS"] == "0.0.0.0"
    assert env["VIGIL_CONSOLE_PORT"] == "8501"
    assert _ports(console) == ["127.0.0.1:8501:8501/tcp"]
    assert "8501/_stcore/health" in " ".join(console["healthcheck"]["test"])
    # A comment just above says why 0.0.0.0 is safe here.
    lines = COMPOSE_FILE.read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if "VIGIL_CONSOLE_ADDRESS: 0.0.0.0" in ln)
    comment = [ln for ln in lines[max(0, at - 6) : at] if ln.strip().startswith("#")]
    assert any("127.0.0.1" in ln for ln in comment), "explain the 0.0.0.0 next to it"


def test_no_secrets_in_the_compose_file(raw: dict[str, Any]) -> None:
    secretish = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE", re.IGNORECASE)
    for name, svc in raw["services"].items():
        for key in _environment(svc):
            assert not secretish.search(key), f"{name}: {key} belongs in a secret, not here"


# --- .env.example and the settings ---------------------------------------------------------


def test_env_example_documents_every_variable_with_its_default() -> None:
    used = _compose_defaults()
    documented = _env_example()
    assert set(used) == set(documented) - COMPOSE_OWN_VARS
    for name, default in used.items():
        assert default, f"${{{name}}} needs a default (${{{name}:-...}}) so .env is optional"
        assert documented[name] == default, f".env.example: {name}={documented[name]!r}"


def test_every_variable_in_env_example_has_a_comment() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            above = [x for x in lines[:i] if x.strip()]
            # A comment directly above, or the previous variable shares the comment block.
            assert above and (above[-1].startswith("#") or "=" in above[-1]), line


def test_vigil_variables_are_real_settings_with_the_same_defaults(raw: dict[str, Any]) -> None:
    from vigil.settings import VigilSettings

    fields = VigilSettings.flat_fields()
    names = {f"VIGIL_{n.upper()}" for n in fields}
    for svc_name, svc in raw["services"].items():
        for key in _environment(svc):
            if key.startswith("VIGIL_"):
                # Pydantic ignores unknown VIGIL_* names silently: anything else is a typo.
                assert key in names, f"{svc_name}: {key} is not a setting"
    for name, default in _compose_defaults().items():
        if name.startswith("VIGIL_") and name != "VIGIL_IMAGE":
            field = fields[name.removeprefix("VIGIL_").lower()]
            assert str(field.default) == default, f"{name}: settings.py says {field.default!r}"


# --- the image -----------------------------------------------------------------------------


def test_dockerfile_builds_the_package_with_what_triton_needs() -> None:
    text = DOCKERFILE.read_text()
    instructions = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim-bookworm"
    assert re.search(r"\bDO_NOT_TRACK=1\b", text)
    # The official image's LIBDIR; PyTriton's Python stub loads libpython from it.
    assert re.search(r"\bLD_LIBRARY_PATH=/usr/local/lib\b", text)
    assert re.search(r"\bpip install \.(\s|$)", text)
    assert re.search(r'^ENTRYPOINT \["vigil"\]', text, re.MULTILINE)
    assert re.search(r"^USER (?!root)\S+", text, re.MULTILINE), "run as a non-root user"


def test_dockerfile_copies_every_package_of_the_distribution() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    # vigil/ links to the server's folders (vigil/streams -> ../streams): each is copied too.
    assert includes == ["vigil", "vigil.*"], includes
    packages = {"vigil"} | {p.name for p in (REPO / "vigil").iterdir() if p.is_symlink()}
    copied = set(re.findall(r"^COPY (\S+) \./\1$", DOCKERFILE.read_text(), re.MULTILINE))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
    for pkg in copied:
        assert (REPO / pkg).is_dir(), pkg
