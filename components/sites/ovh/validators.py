"""Plain checks of the values an OVHcloud site's keys hold: IPv4 addresses (public, private, wildcard,
loopback), the SSH host key a connection is pinned to, a TLS certificate chain, and the OVHcloud region of a
dedicated server's datacenter. The site models (`components.sites.ovh.config`), the config checks and the policy
pack use them."""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import re
import struct

# OVHcloud locations, as the OVHcloud API names dedicated servers' datacenters (`gra3`, `rbx-hz`, `ynm1`):
# the region code is the datacenter's letters, upper-cased.
OVH_REGIONS: dict[str, str] = {
    "BHS": "Beauharnois",
    "ERI": "Erith (London)",
    "GRA": "Gravelines",
    "HIL": "Hillsboro",
    "LIM": "Limburg (Frankfurt)",
    "RBX": "Roubaix",
    "SBG": "Strasbourg",
    "SGP": "Singapore",
    "SYD": "Sydney",
    "VIN": "Vint Hill",
    "WAW": "Warsaw",
    "YNM": "Mumbai",
}

SSH_HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)
RSA_HOST_KEY_TYPES = ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512")
"""Refused: for an RSA host key pulumi-command offers only the `ssh-rsa` (SHA-1) signature, which OpenSSH 8.8 and
later refuse by default, so the delivery would fail on the first `pulumi up`."""
# RFC 5737: reserved for documentation, accepted as "public" so that examples never name a real host.
_DOCUMENTATION_NETS = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
_PRIVATE_NETS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8")
)


def check_ipv4(value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, ValueError):
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def is_wildcard(address: str) -> bool:
    """`*`, an empty host, 0.0.0.0 or :: — a bind on every address of the host."""
    return address.strip() in ("", "*", "0.0.0.0", "::", "[::]", "ipv4@", "ipv6@")


def is_private_ipv4(address: str) -> bool:
    """RFC 1918, carrier-grade NAT (OVHcloud vRack and Public Cloud private networks use these) or loopback."""
    try:
        ip = ipaddress.IPv4Address(address)
    except (ipaddress.AddressValueError, ValueError):
        return False
    return any(ip in net for net in _PRIVATE_NETS)


def check_public_ipv4(value: str) -> str:
    ip = check_ipv4(value)
    if not (ip.is_global or any(ip in net for net in _DOCUMENTATION_NETS)):
        raise ValueError(f"{value} is not a public IPv4 address")
    return value


def check_private_ipv4(value: str) -> str:
    check_ipv4(value)
    if is_wildcard(value):
        raise ValueError(f"{value} is the wildcard address; give one private address")
    if not is_private_ipv4(value):
        raise ValueError(f"{value} is not a private address (10/8, 172.16/12, 192.168/16, 100.64/10 or loopback)")
    return value


def authorized_key_from_known_hosts(line: str) -> str:
    """The `type base64` key of one known_hosts line (the form the SSH client pins); ValueError if malformed."""
    fields = line.split()
    if fields and fields[0].startswith("@"):
        raise ValueError(f"markers such as {fields[0]} are not supported; give the host's own key line")
    if len(fields) < 3:
        raise ValueError("expected one known_hosts line: 'HOST KEY-TYPE BASE64-KEY'")
    key_type, blob = fields[1], fields[2]
    if key_type in RSA_HOST_KEY_TYPES:
        raise ValueError(
            f"{key_type} is an RSA host key: pulumi-command would offer only ssh-rsa (SHA-1), which "
            "OpenSSH 8.8 and later refuse; give the host's ed25519 or ECDSA key instead "
            "(ssh-keyscan -t ed25519 HOST)"
        )
    if key_type not in SSH_HOST_KEY_TYPES:
        raise ValueError(f"{key_type!r} is not an SSH host key type ({', '.join(SSH_HOST_KEY_TYPES)})")
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        encoded_type = raw[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise ValueError("the key is not valid base64 SSH key data") from None
    if encoded_type != key_type and not (key_type.startswith("rsa-sha2-") and encoded_type == "ssh-rsa"):
        raise ValueError(f"the key data is a {encoded_type!r} key, the line says {key_type!r}")
    return f"{key_type} {blob}"


def certificate_chain_problem(pem: str, now: datetime.datetime | None = None) -> None:
    """ValueError naming the block of a PEM chain whose body is not an X.509 certificate, or the first certificate
    that has expired (HAProxy would load it and every client would refuse it)."""
    from cryptography import x509

    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.DOTALL)
    now = now or datetime.datetime.now(datetime.UTC)
    for i, block in enumerate(blocks):
        try:
            certificate = x509.load_pem_x509_certificate(block.encode())
        except ValueError:
            raise ValueError(
                f"certificate {i + 1} of the chain is not an X.509 certificate (its base64 body does not decode as one)"
            ) from None
        if certificate.not_valid_after_utc < now:
            raise ValueError(
                f"certificate {i + 1} of the chain expired on {certificate.not_valid_after_utc:%Y-%m-%d}"
            ) from None


def datacenter_region(datacenter: str) -> str | None:
    """The OVHcloud region code of a dedicated server's datacenter (`gra3` -> GRA, `rbx-hz` -> RBX), or None."""
    letters = re.match(r"^([a-z]+)", datacenter or "")
    code = letters.group(1).upper() if letters else ""
    return code if code in OVH_REGIONS else None


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.IPv4Address(address).is_loopback
    except (ipaddress.AddressValueError, ValueError):
        return False
