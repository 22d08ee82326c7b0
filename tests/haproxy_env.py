"""The real haproxy binary (Debian's package, installed by `make test` as root) and sample configs for the tests.

Without haproxy the tests that need it are skipped, except under CI (`CI=true`), where they fail: CI must
prove every rendered config against the real validator.
"""

from __future__ import annotations

import base64
import copy
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from components.config import decode_engine_config
from drctl.stackfile import load_stack_config

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"  # an obvious test dummy


def haproxy_path() -> str | None:
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )


def require_haproxy() -> str:
    path = haproxy_path()
    if path is None:
        message = "haproxy is not installed (`make test` installs Debian's package when run as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def haproxy_check(config: str, workdir: Path) -> subprocess.CompletedProcess:
    """`haproxy -c -f` on the text, as the deployment runs it on the host."""
    path = workdir / "haproxy.cfg"
    path.write_text(config)
    return subprocess.run([require_haproxy(), "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)


def host_key_line(host: str, seed: str = "k") -> str:
    """A syntactically valid known_hosts line whose key bytes are a dummy."""
    body = (seed * 32)[:32].encode()
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + body
    return f"{host} ssh-ed25519 {base64.b64encode(blob).decode()}"


def ovh_values() -> dict:
    """The shipped Pulumi.ovh.yaml as raw `dr:` values (secrets as the preview's placeholder)."""
    raw, _ = decode_engine_config(load_stack_config(ROOT, "ovh")[0])
    return copy.deepcopy(raw)


def with_secrets(values: dict, password: str = PASSWORD) -> dict:
    """The values with dummy secrets for every site (a TLS key only where the site has a certificate)."""
    values = copy.deepcopy(values)
    values["siteSecrets"] = {
        site.get("name", site["ovhRegion"].lower()): {
            "statsPassword": password,
            "sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\ndummy\n-----END OPENSSH PRIVATE KEY-----\n",
            **({"tlsKey": "-----BEGIN PRIVATE KEY-----\ndummy\n-----END PRIVATE KEY-----\n"} if "tls" in site else {}),
        }
        for site in values["sites"]
    }
    return values


def self_signed_pem(workdir: Path, name: str = "site") -> Path:
    """A throwaway certificate and key in one PEM, as HAProxy's `crt` wants it."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    path = workdir / f"{name}.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path
