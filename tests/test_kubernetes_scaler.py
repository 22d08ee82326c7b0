"""KubernetesScaler against a real HTTPS server on loopback (its certificate made here with `cryptography`),
with the scaler credentials in Secrets Manager on moto: method, path, token, content type and body are
checked by the server; refusals, 403s and servers that never answer all raise ScaleError within the time-out."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from moto import mock_aws

from failover.scaling import (
    EcsTarget,
    KubernetesScaler,
    KubernetesTarget,
    ScaleError,
    arn_in_region,
    parse_scale_target,
    patch_scale,
    scale_path,
    scale_target_json,
)

TOKEN = "dummy-scaler-token"
HOME = "us-west-2"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str = "dummy cluster CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_certificate(ca_key, ca_cert):
    """The API server's certificate, for 127.0.0.1, signed by the cluster CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("kube-apiserver"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that rejects our certificate is an expected outcome here, not noise


class ApiServer:
    """A TLS server on loopback standing in for the cluster's API server."""

    def __init__(self, tmp_path, behaviour: str = "ok") -> None:
        ca_key, ca_cert = make_ca()
        key, cert = make_server_certificate(ca_key, ca_cert)
        (tmp_path / "server.pem").write_text(pem(cert))
        (tmp_path / "server.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.ca_pem = pem(ca_cert)
        self.behaviour = behaviour
        self.requests: list[dict] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a real API server

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "body": body,
                        "authorization": self.headers.get("Authorization"),
                        "content_type": self.headers.get("Content-Type"),
                    }
                )
                if outer.behaviour == "hang":
                    outer.release.wait(10)
                    return
                ok = (
                    self.command == "PATCH"
                    and self.path == f"{scale_path('orders', 'orders')}?fieldManager=dynamodb-dr-orchestrator"
                    and self.headers.get("Authorization") == f"Bearer {TOKEN}"
                    and self.headers.get("Content-Type") == "application/merge-patch+json"
                )
                if outer.behaviour == "forbidden" or not ok:
                    code, doc = (
                        403,
                        {
                            "kind": "Status",
                            "status": "Failure",
                            "reason": "Forbidden",
                            "code": 403,
                            "message": 'deployments.apps "orders" is forbidden: User cannot patch',
                        },
                    )
                else:
                    replicas = json.loads(body)["spec"]["replicas"]
                    code, doc = (
                        200,
                        {
                            "kind": "Scale",
                            "apiVersion": "autoscaling/v1",
                            "metadata": {"name": "orders", "namespace": "orders"},
                            "spec": {"replicas": replicas},
                            "status": {"replicas": 1},
                        },
                    )
                payload = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_PATCH = do_PUT = do_POST = do_GET = _handle

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api(tmp_path):
    server = ApiServer(tmp_path)
    yield server
    server.close()


@pytest.fixture
def aws(monkeypatch):
    dummies = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": HOME}
    for k, v in dummies.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def client_for(service: str, region: str, timeout: float):
    """What the orchestrator hands scalers: clients with the step's deadline and no retries."""
    return boto3.client(
        service,
        region_name=region,
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1, "mode": "standard"}),
    )


def store_credentials(ca_pem: str, token: str = TOKEN) -> str:
    """The secret as the program writes it: in the site's AWS region, replicated to the orchestrator's."""
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    created = sm.create_secret(
        Name="orders/prod/nyc3/kubernetes-scaler-1",
        SecretString=json.dumps({"token": token, "caCertificate": ca_pem}),
        AddReplicaRegions=[{"Region": HOME}],
    )
    return created["ARN"]


def target(server: str, arn: str, replicas: int = 6) -> KubernetesTarget:
    return KubernetesTarget(
        server=server, namespace="orders", deployment="orders", replicas=replicas, credentials_secret_arn=arn
    )


def test_scales_the_deployment_with_a_merge_patch(api, aws):
    arn = store_credentials(api.ca_pem)
    KubernetesScaler(client_for, HOME).scale_up(target(api.url, arn), "us-east-1", timeout=5)
    assert api.requests == [
        {
            "method": "PATCH",
            "path": "/apis/apps/v1/namespaces/orders/deployments/orders/scale?fieldManager=dynamodb-dr-orchestrator",
            "body": b'{"spec": {"replicas": 6}}',
            "authorization": f"Bearer {TOKEN}",
            "content_type": "application/merge-patch+json",
        }
    ]


def test_reads_the_copy_in_its_own_region(api, aws):
    """The site's region may be the one that failed: only the home region's replica is read."""
    arn = store_credentials(api.ca_pem)
    assert ":us-east-1:" in arn
    calls = []

    def recording(service, region, timeout):
        calls.append((service, region))
        return client_for(service, region, timeout)

    token, ca = KubernetesScaler(recording, HOME).credentials(arn, timeout=5)
    assert (token, ca) == (TOKEN, api.ca_pem) and calls == [("secretsmanager", HOME)]


def test_a_refused_connection_raises(aws):
    arn = store_credentials(make_ca()[1].public_bytes(serialization.Encoding.PEM).decode())
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    start = time.monotonic()
    with pytest.raises(ScaleError, match="failed"):
        KubernetesScaler(client_for, HOME).scale_up(target(f"https://127.0.0.1:{port}", arn), "us-east-1", timeout=3)
    assert time.monotonic() - start < 3


def test_a_403_raises_with_the_api_servers_reason(tmp_path, aws):
    server = ApiServer(tmp_path, behaviour="forbidden")
    try:
        arn = store_credentials(server.ca_pem)
        with pytest.raises(ScaleError, match=r"refused: HTTP 403: deployments.apps \"orders\" is forbidden"):
            KubernetesScaler(client_for, HOME).scale_up(target(server.url, arn), "us-east-1", timeout=5)
        assert len(server.requests) == 1
    finally:
        server.close()


def test_a_wrong_token_is_refused_by_the_server(api, aws):
    arn = store_credentials(api.ca_pem, token="someone-elses-token")
    with pytest.raises(ScaleError, match="HTTP 403"):
        KubernetesScaler(client_for, HOME).scale_up(target(api.url, arn), "us-east-1", timeout=5)


def test_a_server_that_accepts_and_never_answers_costs_the_timeout_only(aws):
    """TCP accepted, no TLS handshake ever: the handshake is bounded by what is left of the deadline."""
    arn = store_credentials(make_ca()[1].public_bytes(serialization.Encoding.PEM).decode())
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        start = time.monotonic()
        with pytest.raises(ScaleError, match="timed out|within"):
            KubernetesScaler(client_for, HOME).scale_up(
                target(f"https://127.0.0.1:{listener.getsockname()[1]}", arn), "us-east-1", timeout=0.8
            )
        assert 0.5 < time.monotonic() - start < 2.0
    finally:
        listener.close()


def test_a_server_that_reads_the_request_and_hangs_costs_the_timeout_only(tmp_path, aws):
    server = ApiServer(tmp_path, behaviour="hang")
    try:
        arn = store_credentials(server.ca_pem)
        start = time.monotonic()
        with pytest.raises(ScaleError, match="timed out|within"):
            KubernetesScaler(client_for, HOME).scale_up(target(server.url, arn), "us-east-1", timeout=0.8)
        assert 0.5 < time.monotonic() - start < 2.0
        assert [r["method"] for r in server.requests] == ["PATCH"]
    finally:
        server.close()


def test_an_api_server_with_another_ca_is_not_trusted(api, aws):
    arn = store_credentials(pem(make_ca("some other CA")[1]))
    with pytest.raises(ScaleError, match="SSLCertVerificationError|CERTIFICATE_VERIFY_FAILED"):
        KubernetesScaler(client_for, HOME).scale_up(target(api.url, arn), "us-east-1", timeout=5)
    assert api.requests == []  # the token never left the orchestrator


def test_missing_or_malformed_credentials_raise(aws):
    sm = boto3.client("secretsmanager", region_name=HOME)
    scaler = KubernetesScaler(client_for, HOME)
    with pytest.raises(ScaleError, match="cannot read the scaler credentials"):
        scaler.scale_up(
            target("https://127.0.0.1:1", f"arn:aws:secretsmanager:{HOME}:123456789012:secret:nope-AbCdEf"),
            "us-east-1",
            timeout=3,
        )
    bad = sm.create_secret(Name="bad", SecretString=json.dumps({"token": TOKEN}))["ARN"]
    with pytest.raises(ScaleError, match="is not"):
        scaler.scale_up(target("https://127.0.0.1:1", bad), "us-east-1", timeout=3)
    empty = sm.create_secret(Name="empty", SecretString=json.dumps({"token": "", "caCertificate": "x"}))["ARN"]
    with pytest.raises(ScaleError, match="empty token"):
        scaler.scale_up(target("https://127.0.0.1:1", empty), "us-east-1", timeout=3)


def test_no_time_left_after_reading_credentials(api, aws):
    arn = store_credentials(api.ca_pem)
    ticks = iter([0.0, 10.0])
    with pytest.raises(ScaleError, match="no time left"):
        KubernetesScaler(client_for, HOME, clock=lambda: next(ticks)).scale_up(target(api.url, arn), "x", timeout=5)
    assert api.requests == []


def test_only_https_servers_and_only_kubernetes_targets():
    with pytest.raises(ScaleError, match="not an https:// URL"):
        patch_scale(
            server="http://127.0.0.1:1",
            namespace="n",
            deployment="d",
            replicas=1,
            token="t",
            ca_certificate="x",
            timeout=1,
        )
    with pytest.raises(TypeError, match="cannot scale a ecs target"):
        KubernetesScaler(client_for, HOME).scale_up(EcsTarget("c", "s", 2), "us-east-1", timeout=1)


def test_helpers():
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/prod/nyc3/kubernetes-scaler-AbCdEf"
    assert arn_in_region(arn, "us-west-2") == arn.replace(":us-east-1:", ":us-west-2:")
    with pytest.raises(ValueError):
        arn_in_region("not-an-arn", "us-west-2")
    assert scale_path("a b", "c/d") == "/apis/apps/v1/namespaces/a%20b/deployments/c%2Fd/scale"
    t = target("https://x.k8s.ondigitalocean.com", arn)
    assert parse_scale_target("us-east-1", scale_target_json(t)) == t
