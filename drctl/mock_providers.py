"""What the offline mocks answer for the providers other than AWS: DigitalOcean, Kubernetes, TLS, OVHcloud and
random. Obvious dummies in the shapes the real services return (PEM armour, base64, documentation IPs), the same on
every run, so previews and golden files are reproducible."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

DOKS_CLUSTER = "digitalocean:index/kubernetesCluster:KubernetesCluster"
# Obvious dummies in the shapes the real services return (PEM armour, base64, documentation IPs).
DUMMY_CERTIFICATE_PEM = "-----BEGIN CERTIFICATE-----\nTUlJQ2R1bW15LWNlcnRpZmljYXRl\n-----END CERTIFICATE-----\n"
DUMMY_PRIVATE_KEY_PEM = "-----BEGIN PRIVATE KEY-----\nTUlJRWR1bW15LXByaXZhdGUta2V5\n-----END PRIVATE KEY-----\n"
DUMMY_CSR_PEM = "-----BEGIN CERTIFICATE REQUEST-----\nTUlJQ2R1bW15LWNzcg==\n-----END CERTIFICATE REQUEST-----\n"
DUMMY_TOKEN = "dummy-mock-token"


def fresh_token(expiry_seconds: int) -> str:
    """The dummy token a cluster lookup answers (unlike the one stored on the cluster resource)."""
    return f"dummy-fresh-token-{expiry_seconds}s"


def stable_uuid(text: str) -> str:
    """A UUID-shaped id derived from `text`: the same on every run."""
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def stable_hex(text: str, n: int = 17) -> str:
    """`n` hex digits derived from `text`: the same on every run."""
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _doks_cluster_state(name: str, inputs: dict) -> dict:
    """A DOKS cluster as the provider reports it, addressed by its (physical) name."""
    cid = stable_uuid(f"doks/{name}")
    endpoint = f"https://{cid}.k8s.ondigitalocean.com"
    ca = _b64(DUMMY_CERTIFICATE_PEM)
    raw = (
        f"apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n"
        f"    server: {endpoint}\n  name: do-{name}\n"
    )
    pool = dict(inputs.get("nodePool") or {})
    if pool:
        count = int(pool.get("minNodes") or pool.get("nodeCount") or 1)
        pool.update(
            id=stable_uuid(f"pool/{name}"),
            actualNodeCount=count,
            nodes=[
                {
                    "id": stable_uuid(f"node/{name}/{i}"),
                    "name": f"{pool.get('name', 'pool')}-{i}",
                    "status": "running",
                    "dropletId": str(400000000 + i),
                }
                for i in range(count)
            ],
        )
    return {
        **inputs,
        "name": name,
        "id": cid,
        "endpoint": endpoint,
        "ipv4Address": "203.0.113.10",
        "clusterSubnet": "10.244.0.0/16",
        "serviceSubnet": "10.245.0.0/16",
        "status": "running",
        "urn": f"do:kubernetes:{cid}",
        "vpcUuid": stable_uuid(f"vpc/{inputs.get('region', '')}"),
        "kubeConfigs": [
            {
                "rawConfig": raw,
                "host": endpoint,
                "clusterCaCertificate": ca,
                "token": DUMMY_TOKEN,
                "clientCertificate": "",
                "clientKey": "",
                "expiresAt": "2030-01-08T00:00:00Z",
            }
        ],
        **({"nodePool": pool} if pool else {}),
    }


def kubernetes_state(typ: str, name: str, inputs: dict) -> tuple[str, dict]:
    """What the API server answers: metadata filled in, a LoadBalancer Service's ingress IP, a token Secret's data."""
    state = dict(inputs)
    meta = dict(inputs.get("metadata") or {})
    meta.setdefault("name", f"{name}-{stable_hex(name, 8)}")
    meta.update(uid=stable_uuid(f"{typ}/{name}"), resourceVersion="1", generation=1)
    state["metadata"] = meta
    rid = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    spec = inputs.get("spec") or {}
    if typ == "kubernetes:core/v1:Service" and spec.get("type") == "LoadBalancer":
        octet = int(stable_hex(name, 2), 16) % 200 + 20  # the Pulumi name: the same object name in two clusters
        state["status"] = {"loadBalancer": {"ingress": [{"ip": f"203.0.113.{octet}", "ipMode": "VIP"}]}}
    if typ == "kubernetes:core/v1:Secret" and inputs.get("type") == "kubernetes.io/service-account-token":
        state["data"] = {
            "token": _b64(DUMMY_TOKEN),
            "ca.crt": _b64(DUMMY_CERTIFICATE_PEM),
            "namespace": _b64(str(meta.get("namespace", "default"))),
        }
    return rid, state


def tls_state(typ: str, inputs: dict) -> dict:
    state = dict(inputs)
    if typ == "tls:index/privateKey:PrivateKey":
        state.update(
            privateKeyPem=DUMMY_PRIVATE_KEY_PEM,
            privateKeyPemPkcs8=DUMMY_PRIVATE_KEY_PEM,
            publicKeyPem="-----BEGIN PUBLIC KEY-----\nTUZrd2R1bW15\n-----END PUBLIC KEY-----\n",
            publicKeyFingerprintSha256="SHA256:dummy",
        )
    if typ in ("tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert"):
        state.update(
            certPem=DUMMY_CERTIFICATE_PEM,
            readyForRenewal=False,
            validityStartTime="2026-01-01T00:00:00Z",
            validityEndTime="2026-04-01T00:00:00Z",
        )
    if typ == "tls:index/certRequest:CertRequest":
        state["certRequestPem"] = DUMMY_CSR_PEM
    return state


_RANDOM_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
# OVHcloud dedicated servers the mocks answer `ovh:index/getServer:getServer` with (service name -> wire
# fields); tests add theirs. The offline preview answers each service name of a stack in the datacenter of the
# site that names it (`offline_ovh_servers`); other names get a server in GRA, in a documentation range.
OVH_SERVERS: dict[str, dict] = {}
# An OVHcloud region code -> (a datacenter of it, as the API names them; the API's region of it).
OVH_DATACENTERS: dict[str, tuple[str, str]] = {
    "BHS": ("bhs6", "ca-east-bhs"),
    "ERI": ("eri1", "eu-west-eri"),
    "GRA": ("gra3", "eu-west-gra"),
    "HIL": ("hil1", "us-west-hil"),
    "LIM": ("lim3", "eu-west-lim"),
    "RBX": ("rbx8", "eu-west-rbx"),
    "SBG": ("sbg5", "eu-west-sbg"),
    "SGP": ("sgp1", "ap-southeast-sgp"),
    "SYD": ("syd1", "ap-southeast-syd"),
    "VIN": ("vin1", "us-east-vin"),
    "WAW": ("waw1", "eu-central-waw"),
    "YNM": ("ynm1", "ap-south-mum"),
}


def offline_ovh_servers(config: dict[str, Any]) -> dict[str, dict]:
    """What the offline preview answers for the OVHcloud servers a stack names by `serviceName` (config as the
    engine passes it): each in a datacenter of the region of the site that names it, state ok, with an address
    from a documentation range. The config's rules keep one service name in one site; the real preview asks
    OVHcloud, and a server elsewhere stops it."""
    import json

    try:
        sites = json.loads(config.get("dr:sites") or "[]")
    except (TypeError, ValueError):
        return {}
    found: dict[str, dict] = {}
    for site in sites if isinstance(sites, list) else []:
        if not isinstance(site, dict) or site.get("ovhRegion") not in OVH_DATACENTERS:
            continue
        datacenter, region = OVH_DATACENTERS[site["ovhRegion"]]
        haproxy = site.get("haproxy")
        if not isinstance(haproxy, dict):
            haproxy = {}
        names = [haproxy.get("serviceName")] + [
            s.get("serviceName") for s in site.get("servers") or [] if isinstance(s, dict)
        ]
        for name in names:
            if isinstance(name, str) and name not in found:
                octet = int(stable_hex(name, 2), 16) % 254 + 1
                ip = (
                    haproxy.get("bindAddress")
                    if name == haproxy.get("serviceName") and haproxy.get("bindAddress")
                    else f"198.51.100.{octet}"
                )
                found[name] = {
                    "name": name,
                    "ip": ip,
                    "ips": [f"{ip}/32"],
                    "datacenter": datacenter,
                    "region": region,
                    "state": "ok",
                    "powerState": "poweron",
                    "vnis": [],
                }
    return found


def preview_random_string(
    name: str,
    length: int,
    *,
    upper: bool = True,
    lower: bool = True,
    numeric: bool = True,
    special: bool = True,
    override_special: str | None = None,
) -> str:
    """The stand-in `result` of a pulumi-random RandomString named `name`: the same on every run, so offline
    previews (and `drctl haproxy`, which derives the stats salt with it) are reproducible."""
    alphabet = "".join(
        (
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if upper else "",
            "abcdefghijklmnopqrstuvwxyz" if lower else "",
            "0123456789" if numeric else "",
            (override_special if override_special is not None else _RANDOM_SPECIAL) if special else "",
        )
    )
    digest = b"".join(hashlib.sha256(f"{name}#{i}".encode()).digest() for i in range(length // 32 + 1))
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def ovh_server(service_name: str, answers: dict[str, dict] | None = None) -> dict:
    if answers and service_name in answers:
        return {"serviceName": service_name, "id": service_name, **answers[service_name]}
    if service_name in OVH_SERVERS:
        return {"serviceName": service_name, "id": service_name, **OVH_SERVERS[service_name]}
    octet = int(stable_hex(service_name, 2), 16) % 254 + 1
    return {
        "serviceName": service_name,
        "id": service_name,
        "name": service_name,
        "ip": f"198.51.100.{octet}",
        "ips": [f"198.51.100.{octet}/32"],
        "datacenter": "gra3",
        "region": "eu-west-gra",
        "state": "ok",
        "powerState": "poweron",
        "vnis": [],
    }


def digitalocean_resource(typ: str, name: str, inputs: dict) -> tuple[str, dict]:
    """A DigitalOcean resource as the provider reports it: (id, state)."""
    physical = inputs.get("name") or f"{name}-{stable_hex(name, 7)}"
    if typ == DOKS_CLUSTER:
        state = _doks_cluster_state(physical, inputs)
        return state["id"], state
    rid = stable_uuid(f"{typ}/{physical}")
    state = {**inputs, "name": physical}
    if typ == "digitalocean:index/loadBalancer:LoadBalancer":
        state.update(
            ip=f"203.0.113.{int(stable_hex(physical, 2), 16) % 200 + 20}", status="active", urn=f"do:loadbalancer:{rid}"
        )
    if typ == "digitalocean:index/certificate:Certificate":
        state.update(uuid=rid, state="verified", notAfter="2027-01-01T00:00:00Z", sha1Fingerprint=stable_hex(rid, 40))
    return rid, state


def digitalocean_call(args: Any) -> dict | None:
    """What DigitalOcean's invokes answer (None: not one of them); `args` is a `pulumi.runtime.MockCallArgs`."""
    if args.token == "digitalocean:index/getKubernetesVersions:getKubernetesVersions":
        prefix = str(args.args.get("versionPrefix") or "")
        minor = prefix if prefix.count(".") == 2 and prefix.endswith(".") else "1.33."
        valid = [f"{minor}2-do.0", f"{minor}1-do.0"] if minor.startswith(prefix) else []
        return {
            "latestVersion": valid[0] if valid else "",
            "validVersions": valid,
            "versionPrefix": prefix,
            "id": f"versions-{prefix or 'all'}",
        }
    if args.token == "digitalocean:index/getKubernetesCluster:getKubernetesCluster":
        # DigitalOcean issues a new token with every kubeconfig it hands out.
        state = _doks_cluster_state(str(args.args["name"]), {})
        expiry = int(args.args.get("kubeconfigExpireSeconds") or 7 * 86400)
        state["kubeConfigs"][0]["token"] = fresh_token(expiry)
        return {k: v for k, v in state.items() if k != "nodePool"} | {"nodePools": []}
    if args.token == "digitalocean:index/getCertificate:getCertificate":
        name = str(args.args["name"])
        uid = stable_uuid(f"certificate/{name}")
        return {
            "name": name,
            "id": uid,
            "uuid": uid,
            "type": "custom",
            "state": "verified",
            "domains": ["*.example.com"],
            "notAfter": "2027-01-01T00:00:00Z",
            "sha1Fingerprint": stable_hex(uid, 40),
        }
    return None
