"""The Kubernetes manifests (deploy/k8s, docs/kubernetes.md): every object is
valid for a pinned Kubernetes with unknown fields refused, the kustomization
lists every file, the probes and scrape paths are routes the app answers,
every setting is one redrain knows (and the secret ones are in the Secret),
every command is one the CLI parses, the CronJob runs as often as the systemd
timer, and the pods run locked down. In process only: no cluster, no kubectl."""

from __future__ import annotations

import copy
import os
import re
import typing
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate
from pydantic import SecretStr

from app.application import create_app
from app.cli import main
from app.config import ENV_PREFIX, Settings, load_settings
from app.domain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
# The oldest Kubernetes the manifests are written for; kubernetes-validate>=1.30
# ships its schemas.
KUBERNETES = "1.30.0"
PODS = {"Deployment", "Job", "CronJob"}
Doc = dict[str, Any]


def _no_duplicate_keys(node: yaml.Node, where: str) -> None:
    """PyYAML keeps the last of two equal keys silently (a second `env:` would
    hide the first); refuse them."""
    if isinstance(node, yaml.MappingNode):
        keys = [k.value for k, _ in node.value]
        assert len(keys) == len(set(keys)), f"{where}: a key given twice in {keys}"
        for _, value in node.value:
            _no_duplicate_keys(value, where)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _no_duplicate_keys(item, where)


def load(path: Path) -> list[Doc]:
    text = path.read_text()
    for node in yaml.compose_all(text):
        _no_duplicate_keys(node, path.name)
    docs = list(yaml.safe_load_all(text))
    assert all(isinstance(d, dict) for d in docs), f"{path.name}: an empty or non-object document"
    return docs


def manifests() -> list[tuple[str, Doc]]:
    files = sorted(p for p in K8S.glob("*.y*ml") if p.name != "kustomization.yaml")
    assert files, "deploy/k8s has no manifests"
    return [(p.name, d) for p in files for d in load(p)]


def of_kind(kind: str) -> list[Doc]:
    return [d for _, d in manifests() if d["kind"] == kind]


def one(kind: str, component: str) -> Doc:
    found = [
        d
        for d in of_kind(kind)
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    assert len(found) == 1, f"expected one {kind} {component}, found {len(found)}"
    return found[0]


def pod_spec(doc: Doc) -> Doc:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]["spec"]


def containers() -> list[tuple[Doc, Doc]]:
    return [(d, c) for _, d in manifests() if d["kind"] in PODS for c in pod_spec(d)["containers"]]


def parse(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """The redrain subcommand ``argv`` runs and its options, parsed by the CLI
    itself (a bad command, option or value raises click's error); not run."""
    assert argv[0] == "redrain", argv
    cmd: click.Command = main
    names: list[str] = []
    args = argv[1:]
    while isinstance(cmd, click.Group):
        assert args, f"{argv}: no subcommand of {' '.join(names) or 'redrain'}"
        name, *args = args
        assert name in cmd.commands, f"{argv}: redrain has no command {' '.join([*names, name])!r}"
        cmd = cmd.commands[name]
        names.append(name)
    with cmd.make_context(" ".join(names), list(args)) as ctx:
        return " ".join(names), dict(ctx.params)


def exec_start(unit: str) -> list[str]:
    """The redrain arguments of a systemd unit's ExecStart (after the binary)."""
    line = re.search(r"^ExecStart=(.+)$", (DEPLOY / unit).read_text(), re.M)
    assert line, unit
    binary, *args = line.group(1).split()
    assert binary.endswith("/redrain"), binary
    return args


def unit_seconds(unit: str, key: str) -> int:
    match = re.search(rf"^{key}=(\d+)\s*(s|sec|m|min|h|hour)?$", (DEPLOY / unit).read_text(), re.M)
    assert match, f"{unit}: no {key}"
    scale = {"m": 60, "min": 60, "h": 3600, "hour": 3600}.get(match.group(2) or "s", 1)
    return int(match.group(1)) * scale


def test_every_manifest_is_valid_kubernetes_in_strict_mode() -> None:
    errors = []
    for name, doc in manifests():
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(map(str, exc.path))
            errors.append(
                f"{name}: {doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}"
            )
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{name}: {exc.message}")
    assert not errors, "\n".join(errors)
    # Strict mode is what makes a misspelt field fail: prove it still does.
    wrong = copy.deepcopy(one("Deployment", "api"))
    pod_spec(wrong)["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessprobe"):
        kubernetes_validate.validate(wrong, KUBERNETES, strict=True)


def test_the_kustomization_lists_every_file_and_names_the_image() -> None:
    kustomization = load(K8S / "kustomization.yaml")[0]
    files = {p.name for p in K8S.glob("*.y*ml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    namespaces = [d["metadata"]["name"] for d in of_kind("Namespace")]
    assert namespaces == [kustomization["namespace"]]
    # `kustomize edit set image redrain=…` must reach every container.
    images = {i["name"] for i in kustomization["images"]}
    for doc, container in containers():
        assert container["image"].partition(":")[0] in images, doc["metadata"]["name"]


async def test_probes_and_scrape_paths_are_routes_the_app_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = one("Deployment", "api")
    (container,) = pod_spec(api)["containers"]
    # Draws need only Redis: a database outage must not empty the Service.
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz?need=redis"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    _, options = parse(container["command"])
    assert ports["http"] == options["port"], "the container port is not the one serve listens on"
    paths = set()
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        if probe in container:
            get = container[probe]["httpGet"]
            assert ports.get(get["port"], get["port"]) == options["port"], probe
            paths.add(get["path"])
    notes = api["spec"]["template"]["metadata"]["annotations"]
    assert int(notes["prometheus.io/port"]) == options["port"]
    paths.add(notes["prometheus.io/path"])

    for name in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    app = create_app(load_settings(_env_file=None))  # embedded: fakeredis + SQLite
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
            for path in sorted(paths):
                assert (await client.get(path)).status_code == 200, path


def test_the_worker_serves_metrics_where_prometheus_looks() -> None:
    worker = one("Deployment", "worker")
    (container,) = pod_spec(worker)["containers"]
    _, options = parse(container["command"])
    notes = worker["spec"]["template"]["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true"
    assert int(notes["prometheus.io/port"]) == options["metrics_port"]
    assert [p["containerPort"] for p in container["ports"]] == [options["metrics_port"]]


def test_every_setting_is_one_redrain_knows_and_secrets_stay_in_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (config,) = of_kind("ConfigMap")
    (secret,) = of_kind("Secret")
    plain = dict(config["data"])
    hidden = {**secret.get("data", {}), **secret.get("stringData", {})}
    named = [*plain, *hidden]
    for _, container in containers():
        named += [e["name"] for e in container.get("env", []) if e["name"].startswith(ENV_PREFIX)]
        refs = container["envFrom"]
        assert {r["configMapRef"]["name"] for r in refs if "configMapRef" in r} == {
            config["metadata"]["name"]
        }
        assert {r["secretRef"]["name"] for r in refs if "secretRef" in r} == {
            secret["metadata"]["name"]
        }
    unknown = [
        n
        for n in named
        if n.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields
        or not n.startswith(ENV_PREFIX)
    ]
    assert not unknown, f"not settings of app/config.py: {unknown}"

    def is_secret(field: str) -> bool:
        annotation = Settings.model_fields[field].annotation
        return annotation is SecretStr or SecretStr in typing.get_args(annotation)

    secrets = {f for f in Settings.model_fields if is_secret(f)} | {"redis_url", "database_url"}
    in_config = {n.removeprefix(ENV_PREFIX).lower() for n in plain} & secrets
    assert not in_config, f"secret settings in the ConfigMap: {in_config}"
    assert {"redis_url", "database_url", "secret_key"} <= {
        n.removeprefix(ENV_PREFIX).lower() for n in hidden
    }

    # Every value parses; as shipped nothing starts (no secret key), and with
    # the placeholders filled in nothing else is missing.
    for name in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in {**plain, **hidden}.items():
        monkeypatch.setenv(name, str(value))
    settings = load_settings(_env_file=None)
    assert settings.log_format == "json" and settings.access_log is True
    assert not settings.embedded
    with pytest.raises(ConfigError, match="REDRAIN_SECRET_KEY"):
        settings.require_production()
    settings.model_copy(update={"secret_key": SecretStr("k" * 48)}).require_production()


def test_reconcile_runs_as_often_as_the_systemd_timer_with_its_command() -> None:
    cron = one("CronJob", "reconcile")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    minute, *rest = cron["spec"]["schedule"].split()
    assert rest == ["*"] * 4, "a schedule by minute only, as the timer's"
    minutes: set[int] = set()
    for part in minute.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            low, high = 0, 59
        elif "-" in span:
            low, high = map(int, span.split("-"))
        else:
            low = int(span)
            high = 59 if step else low
        minutes |= set(range(low, high + 1, int(step or 1)))
    ordered = sorted(minutes)
    gaps = {(b - a) * 60 for a, b in zip(ordered, [*ordered[1:], ordered[0] + 60], strict=True)}
    assert gaps == {unit_seconds("redrain-reconcile.timer", "OnUnitActiveSec")}
    (container,) = pod_spec(cron)["containers"]
    assert container["command"][1:] == exec_start("redrain-reconcile.service")


def test_commands_parse_and_stop_as_gracefully_as_the_systemd_units() -> None:
    commands = {parse(c["command"])[0] for _, c in containers()}
    assert commands == {"serve", "worker", "reconcile", "db upgrade"}

    worker = one("Deployment", "worker")
    (container,) = pod_spec(worker)["containers"]
    assert container["command"][1:] == exec_start("redrain-worker.service")
    grace = pod_spec(worker)["terminationGracePeriodSeconds"]
    assert grace >= unit_seconds("redrain-worker.service", "TimeoutStopSec")

    api = one("Deployment", "api")
    (container,) = pod_spec(api)["containers"]
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and int(sleep[1]) >= 5, "the Service needs time to stop routing"
    grace = pod_spec(api)["terminationGracePeriodSeconds"]
    assert grace >= int(sleep[1]) + unit_seconds("redrain-api.service", "TimeoutStopSec")


def test_pods_run_locked_down_with_a_core_per_api_worker() -> None:
    for doc, container in containers():
        name = f"{doc['metadata']['name']}/{container['name']}"
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec["automountServiceAccountToken"] is False, name
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["capabilities"]["drop"] == ["ALL"], name
        # A read-only root: whatever redrain writes must be on a mounted volume.
        mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
        for env in container.get("env", []):
            if env["name"] == "PROMETHEUS_MULTIPROC_DIR":
                assert any(env["value"].startswith(m.rstrip("/") + "/") for m in mounts), name

    api = one("Deployment", "api")
    (container,) = pod_spec(api)["containers"]
    _, options = parse(container["command"])
    env = {e["name"] for e in container.get("env", [])}
    assert options["workers"] == 1 or "PROMETHEUS_MULTIPROC_DIR" in env, (
        "--workers > 1 writes its metrics under PROMETHEUS_MULTIPROC_DIR (else a /tmp directory)"
    )
    cpu = container["resources"]["limits"]["cpu"]
    assert str(cpu) == str(options["workers"]), (
        "docs/kubernetes.md sizes one core per uvicorn worker"
    )
