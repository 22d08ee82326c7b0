"""A fresh set of broken stack files, as a new user writes them: each is refused by the operator CLI with exit 2
and one line on stderr naming the key (`error: dr:...: ...`), or with exit 1 and the policy that blocks it, and
never with a traceback. The files are the shipped stacks with one mistake each; the CLI runs in this process
(`drctl.__main__.main`), and a few of them also through `python -m drctl`, as a user runs it."""

from __future__ import annotations

import base64
import copy
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from drctl.__main__ import main
from tests.conftest import restore_mocks

ROOT = Path(__file__).resolve().parent.parent
SECURE = {"secure": "v1:ZXhhbXBsZS1vbmx5:ZHVtbXktc2VjcmV0LWZvci10ZXN0cw=="}  # decrypts nowhere
# Obvious dummies in the shapes detectors know: AWS's documented example key, a URL with a password.
EXAMPLE_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
NOT_A_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nTUlJQ2R1bW15LWNlcnRpZmljYXRl\n-----END CERTIFICATE-----\n"


def _rsa_line(host: str, key_type: str = "ssh-rsa") -> str:
    blob = struct.pack(">I", 7) + b"ssh-rsa" + struct.pack(">I", 3) + b"\x01\x00\x01" + struct.pack(">I", 8) + b"k" * 8
    return f"{host} {key_type} {base64.b64encode(blob).decode()}"


def _doc(stack: str) -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()))


def _site(c: dict, i: int = 0) -> dict:
    return c["dr:sites"][i]


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """A mutation that sets `dr:key.a.b` (list indexes as numbers) in the config mapping."""

    def mutate(c: dict) -> None:
        key, *rest = path.split(".")
        node: Any = c
        parts: list[Any] = [key, *[int(p) if p.isdigit() else p for p in rest]]
        for part in parts[:-1]:
            node = node[part] if isinstance(part, int) else node.setdefault(part, {})
        node[parts[-1]] = value

    return mutate


def _all(*mutations: Callable[[dict], None]) -> Callable[[dict], None]:
    def mutate(c: dict) -> None:
        for m in mutations:
            m(c)

    return mutate


def _pop(path: str) -> Callable[[dict], None]:
    def mutate(c: dict) -> None:
        key, *rest = path.split(".")
        if not rest:
            c.pop(key)
            return
        node: Any = c[key]
        for part in rest[:-1]:
            node = node[int(part) if part.isdigit() else part]
        node.pop(rest[-1])

    return mutate


def _service_name(i: int, name: str) -> Callable[[dict], None]:
    return _all(_pop(f"dr:sites.{i}.haproxy.publicIp"), _set(f"dr:sites.{i}.haproxy.serviceName", name))


def _second_site_shares(field: str) -> Callable[[dict], None]:
    def mutate(c: dict) -> None:
        _site(c, 1)["haproxy"][field] = _site(c, 0)["haproxy"][field]
        if field == "privateAddress":
            _site(c, 1)["stats"]["bindAddress"] = _site(c, 0)["haproxy"]["privateAddress"]

    return mutate


def _tier(c: dict) -> None:
    c.update({"dr:tier": "us-east-2", "dr:baseStack": "prod", "dr:organization": "acme"})


# (id, base stack, mutation, expected exit code, text the one error line (or the policy output) must contain)
CASES: list[tuple[str, str, Callable[[dict], None], int, str]] = [
    # secrets in plain text, at any depth, and provider credentials
    (
        "site-secret-one-value",
        "ovh",
        _set("dr:siteSecrets.gra.sshPrivateKey", "-----BEGIN dummy"),
        2,
        "dr:siteSecrets.gra.sshPrivateKey: is plain text in",
    ),
    (
        "site-secret-whole-site",
        "ovh",
        _set(
            "dr:siteSecrets.rbx",
            {"statsPassword": "dummy-password-0123456789", "sshPrivateKey": "dummy", "tlsKey": "dummy"},
        ),
        2,
        "dr:siteSecrets.rbx.statsPassword: is plain text in",
    ),
    ("site-secret-site-as-text", "ovh", _set("dr:siteSecrets.rbx", "dummy"), 2, "dr:siteSecrets.rbx: is plain text"),
    (
        "app-secret-beside-secure",
        "prod",
        _set("dr:appSecrets", {"A": SECURE, "B": "dummy"}),
        2,
        "dr:appSecrets.B: is plain text",
    ),
    (
        "digitalocean-token-plain",
        "do",
        _set("digitalocean:token", "dop_v1_dummy"),
        2,
        "digitalocean:token: is a credential in plain text",
    ),
    (
        "ovh-application-secret-plain",
        "ovh",
        _set("ovh:applicationSecret", "dummy"),
        2,
        "ovh:applicationSecret: is a credential in plain text",
    ),
    (
        "cloud-key-under-innocent-name",
        "do",
        _set("dr:app.environment.UPSTREAM_ID", EXAMPLE_ACCESS_KEY),
        1,
        "kubernetes-no-plaintext-secrets",
    ),
    (
        "url-with-password-under-innocent-name",
        "do",
        _set("dr:app.environment.UPSTREAM", "https://reader:hunter2hunter2@db.example.com/orders"),
        1,
        "kubernetes-no-plaintext-secrets",
    ),
    # OVHcloud sites
    (
        "server-name-in-two-sites",
        "ovh",
        _set("dr:sites.1.servers.0.name", "gra-app-1"),
        2,
        "dr:sites[1].servers[0].name: 'gra-app-1' is already dr:sites[0].servers[0]",
    ),
    (
        "sites-share-a-private-address",
        "ovh",
        _second_site_shares("privateAddress"),
        2,
        "dr:sites[1].haproxy.privateAddress: 10.10.0.2 is already dr:sites[0]'s",
    ),
    (
        "private-address-loopback",
        "ovh",
        _all(_set("dr:sites.0.haproxy.privateAddress", "127.0.0.1"), _set("dr:sites.0.stats.bindAddress", "127.0.0.1")),
        2,
        "dr:sites[0].haproxy.privateAddress: 127.0.0.1 is a loopback address",
    ),
    (
        "server-on-own-peer-port",
        "ovh",
        _all(_set("dr:sites.0.servers.0.address", "10.10.0.2"), _set("dr:sites.0.servers.0.port", 8081)),
        2,
        "dr:sites[0].servers[0].port: 10.10.0.2:8081 is this HAProxy's own haproxy.peerPort",
    ),
    (
        "server-on-own-frontend-loopback",
        "ovh",
        _all(_set("dr:sites.0.servers.1.address", "127.0.0.1"), _set("dr:sites.0.servers.1.port", 443)),
        2,
        "dr:sites[0].servers[1].port: 127.0.0.1:443 is this HAProxy's own haproxy.httpsPort",
    ),
    (
        "stats-on-sshd-port",
        "ovh",
        _set("dr:sites.0.stats.port", 22),
        2,
        "dr:sites[0].stats.port: port 22 is already sshd's port",
    ),
    (
        "stats-on-custom-sshd-port",
        "ovh",
        _all(_set("dr:sites.1.haproxy.sshPort", 2222), _set("dr:sites.1.stats.port", 2222)),
        2,
        "dr:sites[1].stats.port: port 2222 is already sshd's port",
    ),
    (
        "http-on-sshd-port",
        "ovh",
        _set("dr:sites.0.haproxy.httpPort", 22),
        2,
        "dr:sites[0].haproxy.httpPort: port 22 is already sshd's port",
    ),
    (
        "stats-on-an-address-the-host-lacks",
        "ovh",
        _set("dr:sites.0.stats.bindAddress", "10.10.0.99"),
        2,
        "dr:sites[0].stats.bindAddress: 10.10.0.99 is not an address of this host",
    ),
    (
        "public-frontend-on-private-address",
        "ovh",
        _set("dr:sites.0.haproxy.bindAddress", "10.10.0.2"),
        2,
        "dr:sites[0].haproxy.bindAddress: 10.10.0.2 is not a public address",
    ),
    (
        "public-frontend-on-foreign-ip",
        "ovh",
        _set("dr:sites.0.haproxy.bindAddress", "198.51.100.7"),
        2,
        "dr:sites[0].haproxy.bindAddress: 198.51.100.7 is not this host's public address",
    ),
    (
        "expect-status-5xx",
        "ovh",
        _set("dr:sites.0.healthCheck.expectStatus", 503),
        2,
        "dr:sites[0].healthCheck.expectStatus",
    ),
    (
        "expect-status-4xx",
        "ovh",
        _set("dr:sites.1.healthCheck.expectStatus", 404),
        2,
        "dr:sites[1].healthCheck.expectStatus",
    ),
    (
        "pem-body-not-a-certificate",
        "ovh",
        _set("dr:sites.0.tls.certificate", NOT_A_CERTIFICATE),
        2,
        "dr:sites[0].tls.certificate: certificate 1 of the chain is not an X.509 certificate",
    ),
    (
        "rsa-host-key",
        "ovh",
        _set("dr:sites.0.haproxy.sshHostKey", _rsa_line("203.0.113.10")),
        2,
        "dr:sites[0].haproxy.sshHostKey: ssh-rsa is an RSA host key",
    ),
    (
        "rsa-sha2-host-key",
        "ovh",
        _set("dr:sites.1.haproxy.sshHostKey", _rsa_line("203.0.113.20", "rsa-sha2-512")),
        2,
        "dr:sites[1].haproxy.sshHostKey: rsa-sha2-512 is an RSA host key",
    ),
    (
        "one-server-in-two-sites",
        "ovh",
        _all(_service_name(0, "ns100.ip-203-0-113.eu"), _service_name(1, "ns100.ip-203-0-113.eu")),
        2,
        "dr:sites[1].haproxy.serviceName: ns100.ip-203-0-113.eu is already dr:sites[0].haproxy.serviceName (GRA)",
    ),
    (
        "app-server-is-another-sites-host",
        "ovh",
        _all(
            _service_name(0, "ns100.ip-203-0-113.eu"), _set("dr:sites.1.servers.0.serviceName", "ns100.ip-203-0-113.eu")
        ),
        2,
        "dr:sites[1].servers[0].serviceName: ns100.ip-203-0-113.eu is already dr:sites[0]",
    ),
    # tier names and the organization, at preview
    (
        "site-named-data",
        "ovh",
        _all(
            _set("dr:sites.0.name", "data"), lambda c: c["dr:siteSecrets"].update(data=c["dr:siteSecrets"].pop("gra"))
        ),
        2,
        "dr:sites[0].name: 'data' cannot name a site",
    ),
    (
        "site-named-traffic",
        "ovh",
        _all(
            _set("dr:sites.1.name", "traffic"),
            lambda c: c["dr:siteSecrets"].update(traffic=c["dr:siteSecrets"].pop("rbx")),
        ),
        2,
        "dr:sites[1].name: 'traffic' cannot name a site",
    ),
    (
        "site-named-like-an-automation-tier",
        "ovh",
        _all(
            _set("dr:sites.1.name", "gra-automation"),
            lambda c: c["dr:siteSecrets"].update({"gra-automation": c["dr:siteSecrets"].pop("rbx")}),
        ),
        2,
        "dr:sites[1].name: 'gra-automation' cannot name a site",
    ),
    ("empty-organization", "prod", _set("dr:organization", ""), 2, "dr:organization: is empty"),
    ("blank-organization", "do", _set("dr:organization", "  "), 2, "dr:organization: is empty"),
    # DigitalOcean checks as much as AWS for the same keys
    ("do-image-upper-case", "do", _set("dr:app.image", "Registry.example.com/Orders:1.0"), 2, "dr:app.image"),
    (
        "do-image-url",
        "do",
        _set("dr:app.image", "https://registry.example.com/orders"),
        2,
        "dr:app.image: 'https://registry.example.com/orders' is not a container image reference",
    ),
    (
        "do-health-path-too-long",
        "do",
        _set("dr:app.healthPath", "/" + "h" * 300),
        2,
        "dr:app.healthPath: is 301 characters; Route 53 health checks take at most 255",
    ),
    (
        "do-health-path-space",
        "do",
        _set("dr:app.healthPath", "/health check"),
        2,
        "dr:app.healthPath: '/health check' must be an absolute URL path",
    ),
    ("do-health-path-fragment", "do", _set("dr:app.healthPath", "/health#x"), 2, "dr:app.healthPath"),
    ("do-probe-path", "do", _set("dr:probes.readiness.path", "/ready\tnow"), 2, "dr:probes.readiness.path"),
    (
        "do-load-balancer-path",
        "do",
        _set("dr:loadBalancer.healthCheck.path", "/" + "x" * 260),
        2,
        "dr:loadBalancer.healthCheck.path: is 261 characters",
    ),
    (
        "do-node-size-word",
        "do",
        _set("dr:cluster.nodeSize", "large"),
        2,
        "dr:cluster.nodeSize: 'large' is not a Droplet size slug DOKS takes",
    ),
    ("do-node-size-typo", "do", _set("dr:cluster.nodeSize", "s-2cpu-4gb"), 2, "dr:cluster.nodeSize"),
    (
        "do-node-size-too-small",
        "do",
        _set("dr:cluster.nodeSize", "s-1vcpu-1gb"),
        2,
        "dr:cluster.nodeSize: s-1vcpu-1gb has 1 GB of memory; DOKS nodes need at least 2 GB",
    ),
    (
        "do-node-size-gpu",
        "do",
        _set("dr:cluster.nodeSize", "gpu-h100x1-80gb"),
        2,
        "dr:cluster.nodeSize: gpu-h100x1-80gb is a GPU size",
    ),
    (
        "do-replicas-beyond-the-pool",
        "do",
        _all(_set("dr:app.replicas", 60), _set("dr:cluster.maxNodes", 3)),
        2,
        "dr:app.replicas: 60 pods (+1 during a rolling update) do not fit: 3 s-2vcpu-4gb nodes hold 18 pods",
    ),
    (
        "do-requests-beyond-a-node",
        "do",
        _all(_set("dr:app.resources.requests.memory", "3Gi"), _set("dr:app.resources.limits.memory", "3Gi")),
        2,
        "dr:app.replicas: 4 pods (+1 during a rolling update) do not fit: 5 s-2vcpu-4gb nodes hold 0 pods",
    ),
    (
        "do-memory-limit-one-byte",
        "do",
        _all(_set("dr:app.resources.requests.memory", "1"), _set("dr:app.resources.limits.memory", "1")),
        2,
        "dr:app.resources.requests.memory: 1 is less than 32Mi",
    ),
    (
        "do-memory-limit-tiny",
        "do",
        _set("dr:app.resources.limits.memory", "16Mi"),
        2,
        "dr:app.resources.limits.memory: 16Mi is less than 32Mi",
    ),
    (
        "do-cpu-request-1m",
        "do",
        _set("dr:app.resources.requests.cpu", "1m"),
        2,
        "dr:app.resources.requests.cpu: 1m is less than 10m",
    ),
    # a tier stack's own file (what `drctl deploy --configure-only` writes), broken
    (
        "tier-file-unknown-tier",
        "prod",
        _all(_tier, _set("dr:tier", "eu-west-9")),
        2,
        "dr:tier: eu-west-9: not a tier of prod",
    ),
    ("tier-file-without-base", "prod", _all(_tier, _pop("dr:baseStack")), 2, "dr:baseStack: required with dr:tier"),
    (
        "tier-file-bad-base",
        "prod",
        _all(_tier, _set("dr:baseStack", "prod stack")),
        2,
        "dr:baseStack: 'prod stack' is not a stack name",
    ),
]


def _write(tmp_path: Path, case_id: str, base: str, mutate: Callable[[dict], None]) -> Path:
    doc = _doc(base)
    mutate(doc["config"])
    path = tmp_path / f"Pulumi.{case_id}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    finally:
        restore_mocks()
    out, err = capsys.readouterr()
    return code, out, err


def test_there_are_at_least_forty_broken_files():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case_id, base, mutate, code, expected", CASES, ids=[c[0] for c in CASES])
def test_a_broken_stack_file_is_refused_cleanly(tmp_path, capsys, case_id, base, mutate, code, expected):
    path = _write(tmp_path, case_id, base, mutate)
    got, out, err = _run(capsys, "preview", "--stack", case_id, "--stack-file", str(path))
    assert "Traceback" not in out + err
    assert got == code, out + err
    if code == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
        assert expected in err, err
    else:
        assert err == "" and expected in out, out
        assert "pulumi up` would refuse this stack" in " ".join(out.split())


def test_a_stack_file_that_is_not_utf8_names_the_file_and_the_byte(tmp_path, capsys):
    path = tmp_path / "Pulumi.latin1.yaml"
    path.write_bytes((ROOT / "Pulumi.staging.yaml").read_bytes().replace(b"name: orders\n", b"name: ord\xe9rs\n", 1))
    offset = path.read_bytes().index(b"\xe9")
    code, out, err = _run(capsys, "preview", "--stack", "latin1", "--stack-file", str(path))
    assert code == 2 and out == "" and "Traceback" not in err
    line = path.read_bytes()[:offset].count(b"\n") + 1
    assert (
        err == f"error: Pulumi.latin1.yaml: not UTF-8 text: byte 0xe9 at offset {offset} (line {line}); "
        "save the file as UTF-8\n"
    )
    for command in (["budget"], ["haproxy", "--site", "gra"]):
        code, out, err = _run(capsys, *command, "--stack", "latin1", "--stack-file", str(path))
        assert code == 2 and err.startswith("error: Pulumi.latin1.yaml: not UTF-8 text") and "Traceback" not in err


def test_drctl_stacks_all_names_a_file_that_is_not_utf8(tmp_path, capsys, monkeypatch):
    """`drctl stacks --all` is CI's plan job: one bad file must fail it with the file's name, not a traceback."""
    import drctl.preview
    import drctl.stacks

    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    (tmp_path / "Pulumi.broken.yaml").write_bytes(b"config:\n  dr:layout: aws\n  dr:note: caf\xe9\n")
    monkeypatch.setattr(drctl.preview, "PROJECT_DIR", tmp_path)
    monkeypatch.setattr(drctl.stacks, "PROJECT_DIR", tmp_path)
    code, out, err = _run(capsys, "stacks", "--all")
    assert code == 2 and out == "" and "Traceback" not in err
    assert err == "error: Pulumi.broken.yaml: not UTF-8 text: byte 0xe9 at offset 39 (line 3); save the file as UTF-8\n"


def test_a_base_stack_too_long_for_its_tier_stacks_is_refused_by_drctl_stacks(tmp_path, capsys, monkeypatch):
    import drctl.preview
    import drctl.stacks

    base = "p" * 80  # + "-us-east-2-automation" passes Pulumi's 100 characters
    (tmp_path / "Pulumi.yaml").write_bytes((ROOT / "Pulumi.yaml").read_bytes())
    (tmp_path / f"Pulumi.{base}.yaml").write_bytes((ROOT / "Pulumi.prod.yaml").read_bytes())
    monkeypatch.setattr(drctl.preview, "PROJECT_DIR", tmp_path)
    monkeypatch.setattr(drctl.stacks, "PROJECT_DIR", tmp_path)
    code, _out, err = _run(capsys, "stacks", "--stack", base)
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "is longer than the 100 characters Pulumi allows; shorten the base stack's name" in err


def test_a_tier_stacks_own_file_previews_as_that_tier(tmp_path, capsys):
    """What `drctl deploy --configure-only` writes for a tier: previewed as the tier, its StackReferences answered
    by the offline previews of the tiers it reads (it was a traceback)."""
    path = _write(tmp_path, "prod-us-east-2", "prod", _tier)
    code, out, err = _run(capsys, "preview", "--stack", "prod-us-east-2", "--stack-file", str(path), "--json")
    assert code == 0 and "Traceback" not in err, err
    import json

    doc = json.loads(out)
    assert (doc["tier"], doc["baseStack"], doc["stack"]) == ("us-east-2", "prod", "prod-us-east-2")
    assert {r["region"] for r in doc["resources"] if r["type"].startswith("aws:")} == {"us-east-2"}


def test_an_ovh_site_given_by_service_name_outside_gravelines_previews(tmp_path, capsys):
    """The offline lookup answers each service name in its site's region (it answered every server as
    Gravelines, so an RBX site's lookup failed the preview with a traceback)."""
    path = _write(
        tmp_path,
        "ovh-rbx",
        "ovh",
        _all(
            _service_name(1, "ns200.ip-203-0-113.eu"), _set("dr:sites.1.servers.0.serviceName", "ns201.ip-203-0-113.eu")
        ),
    )
    code, out, err = _run(capsys, "preview", "--stack", "ovh-rbx", "--stack-file", str(path), "--json")
    assert code == 0 and "Traceback" not in err, err
    import json

    doc = json.loads(out)
    rbx = next(
        r
        for r in doc["resources"]
        if r["type"] == "aws:route53/healthCheck:HealthCheck" and r["inputs"]["fqdn"].startswith("rbx.")
    )
    assert rbx["inputs"]["ipAddress"].startswith("198.51.100.")  # the looked-up server's address


@pytest.mark.parametrize("case_id", ["rsa-host-key", "do-replicas-beyond-the-pool", "site-secret-one-value"])
def test_as_a_user_runs_it(tmp_path, case_id):
    """The same files through `python -m drctl`: exit 2, one line, no traceback."""
    _, base, mutate, code, expected = next(c for c in CASES if c[0] == case_id)
    path = _write(tmp_path, case_id, base, mutate)
    run = subprocess.run(
        [sys.executable, "-m", "drctl", "preview", "--stack", case_id, "--stack-file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (run.returncode, run.stdout) == (code, "") and run.stderr.count("\n") == 1, run.stderr
    assert expected in run.stderr and "Traceback" not in run.stderr
