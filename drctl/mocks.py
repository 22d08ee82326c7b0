"""Pulumi mocks that answer like AWS would and record exactly what the program sends the engine.

Used by the offline preview and by the tests (tests/conftest.py installs them once per process).
Recording happens in the mock *monitor*, so options such as protect and ignoreChanges are read
from the same RegisterResource requests the real engine receives.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor

ACCOUNT_ID = "123456789012"
POWERTOOLS_ACCOUNT = "017000801446"  # the account AWS publishes the Powertools layers from
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"

# type token -> (service, resource path template) used to fake ARNs the way AWS shapes them
_ARN_SHAPES = {
    "aws:dynamodb/table:Table": ("dynamodb", "table/{name}"),
    "aws:ecs/cluster:Cluster": ("ecs", "cluster/{name}"),
    "aws:ecs/taskDefinition:TaskDefinition": ("ecs", "task-definition/{name}:1"),
    "aws:lb/loadBalancer:LoadBalancer": ("elasticloadbalancing", "loadbalancer/app/{name}/0123456789abcdef"),
    "aws:lb/targetGroup:TargetGroup": ("elasticloadbalancing", "targetgroup/{name}/0123456789abcdef"),
    "aws:lb/listener:Listener": ("elasticloadbalancing", "listener/app/{name}/0123456789abcdef"),
    "aws:sns/topic:Topic": ("sns", "{name}"),
    "aws:kms/key:Key": ("kms", "key/{id}"),
    "aws:lambda/function:Function": ("lambda", "function:{name}"),
    "aws:cloudwatch/logGroup:LogGroup": ("logs", "log-group:{name}"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch", "alarm:{name}"),
    "aws:cloudwatch/eventRule:EventRule": ("events", "rule/{name}"),
    "aws:ssm/parameter:Parameter": ("ssm", "parameter{name}"),
    "aws:ec2/vpc:Vpc": ("ec2", "vpc/{id}"),
    "aws:secretsmanager/secret:Secret": ("secretsmanager", "secret:{name}-AbCdEf"),
    "aws:ec2/subnet:Subnet": ("ec2", "subnet/{id}"),
    "aws:ec2/securityGroup:SecurityGroup": ("ec2", "security-group/{id}"),
    "aws:sqs/queue:Queue": ("sqs", "{name}"),
}
_GLOBAL_ARN_SHAPES = {
    "aws:iam/role:Role": ("iam", "role/{name}"),
    "aws:iam/policy:Policy": ("iam", "policy/{name}"),
    "aws:route53/healthCheck:HealthCheck": ("route53", "healthcheck/{id}"),
}
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
}
_ALB_ZONE = {"us-east-1": "Z35SXDOTRQ7X7K", "us-east-2": "Z3AADJGX6KTTL2", "us-west-2": "Z1H1FL5HABSF5"}
_ARN_SHAPES.update({
    "aws:rolesanywhere/trustAnchor:TrustAnchor": ("rolesanywhere", "trust-anchor/{id}"),
    "aws:rolesanywhere/profile:Profile": ("rolesanywhere", "profile/{id}"),
})
DOKS_CLUSTER = "digitalocean:index/kubernetesCluster:KubernetesCluster"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


@dataclass(frozen=True)
class StackOutputs:
    """A stack's outputs as a StackReference reads them: plain values, and which of them are secret."""

    values: dict[str, Any]
    secret_names: frozenset[str] = frozenset()
# Obvious dummies in the shapes the real services return (PEM armour, base64, documentation IPs).
DUMMY_CERTIFICATE_PEM = "-----BEGIN CERTIFICATE-----\nTUlJQ2R1bW15LWNlcnRpZmljYXRl\n-----END CERTIFICATE-----\n"
DUMMY_PRIVATE_KEY_PEM = "-----BEGIN PRIVATE KEY-----\nTUlJRWR1bW15LXByaXZhdGUta2V5\n-----END PRIVATE KEY-----\n"
DUMMY_CSR_PEM = "-----BEGIN CERTIFICATE REQUEST-----\nTUlJQ2R1bW15LWNzcg==\n-----END CERTIFICATE REQUEST-----\n"
DUMMY_TOKEN = "dummy-mock-token"


def fresh_token(expiry_seconds: int) -> str:
    """The dummy token a cluster lookup answers (unlike the one stored on the cluster resource)."""
    return f"dummy-fresh-token-{expiry_seconds}s"


def _uuid(text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _doks_cluster_state(name: str, inputs: dict) -> dict:
    """A DOKS cluster as the provider reports it, addressed by its (physical) name."""
    cid = _uuid(f"doks/{name}")
    endpoint = f"https://{cid}.k8s.ondigitalocean.com"
    ca = _b64(DUMMY_CERTIFICATE_PEM)
    raw = (f"apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n"
           f"    server: {endpoint}\n  name: do-{name}\n")
    pool = dict(inputs.get("nodePool") or {})
    if pool:
        count = int(pool.get("minNodes") or pool.get("nodeCount") or 1)
        pool.update(id=_uuid(f"pool/{name}"), actualNodeCount=count,
                    nodes=[{"id": _uuid(f"node/{name}/{i}"), "name": f"{pool.get('name', 'pool')}-{i}",
                            "status": "running", "dropletId": str(400000000 + i)} for i in range(count)])
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
        "vpcUuid": _uuid(f"vpc/{inputs.get('region', '')}"),
        "kubeConfigs": [{
            "rawConfig": raw, "host": endpoint, "clusterCaCertificate": ca, "token": DUMMY_TOKEN,
            "clientCertificate": "", "clientKey": "", "expiresAt": "2030-01-08T00:00:00Z",
        }],
        **({"nodePool": pool} if pool else {}),
    }


def _kubernetes_state(typ: str, name: str, inputs: dict) -> tuple[str, dict]:
    """What the API server answers: metadata filled in, a LoadBalancer Service's ingress IP, a token Secret's data."""
    state = dict(inputs)
    meta = dict(inputs.get("metadata") or {})
    meta.setdefault("name", f"{name}-{_hex(name, 8)}")
    meta.update(uid=_uuid(f"{typ}/{name}"), resourceVersion="1", generation=1)
    state["metadata"] = meta
    rid = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    spec = inputs.get("spec") or {}
    if typ == "kubernetes:core/v1:Service" and spec.get("type") == "LoadBalancer":
        octet = int(_hex(name, 2), 16) % 200 + 20  # the Pulumi name: the same object name in two clusters
        state["status"] = {"loadBalancer": {"ingress": [{"ip": f"203.0.113.{octet}", "ipMode": "VIP"}]}}
    if typ == "kubernetes:core/v1:Secret" and inputs.get("type") == "kubernetes.io/service-account-token":
        state["data"] = {"token": _b64(DUMMY_TOKEN), "ca.crt": _b64(DUMMY_CERTIFICATE_PEM),
                         "namespace": _b64(str(meta.get("namespace", "default")))}
    return rid, state


def _tls_state(typ: str, inputs: dict) -> dict:
    state = dict(inputs)
    if typ == "tls:index/privateKey:PrivateKey":
        state.update(privateKeyPem=DUMMY_PRIVATE_KEY_PEM, privateKeyPemPkcs8=DUMMY_PRIVATE_KEY_PEM,
                     publicKeyPem="-----BEGIN PUBLIC KEY-----\nTUZrd2R1bW15\n-----END PUBLIC KEY-----\n",
                     publicKeyFingerprintSha256="SHA256:dummy")
    if typ in ("tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert"):
        state.update(certPem=DUMMY_CERTIFICATE_PEM, readyForRenewal=False,
                     validityStartTime="2026-01-01T00:00:00Z", validityEndTime="2026-04-01T00:00:00Z")
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
    "BHS": ("bhs6", "ca-east-bhs"), "ERI": ("eri1", "eu-west-eri"), "GRA": ("gra3", "eu-west-gra"),
    "HIL": ("hil1", "us-west-hil"), "LIM": ("lim3", "eu-west-lim"), "RBX": ("rbx8", "eu-west-rbx"),
    "SBG": ("sbg5", "eu-west-sbg"), "SGP": ("sgp1", "ap-southeast-sgp"), "SYD": ("syd1", "ap-southeast-syd"),
    "VIN": ("vin1", "us-east-vin"), "WAW": ("waw1", "eu-central-waw"), "YNM": ("ynm1", "ap-south-mum"),
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
        haproxy = site.get("haproxy") if isinstance(site.get("haproxy"), dict) else {}
        names = [haproxy.get("serviceName")] + [s.get("serviceName") for s in site.get("servers") or []
                                                  if isinstance(s, dict)]
        for name in names:
            if isinstance(name, str) and name not in found:
                octet = int(_hex(name, 2), 16) % 254 + 1
                ip = haproxy.get("bindAddress") if name == haproxy.get("serviceName") and \
                    haproxy.get("bindAddress") else f"198.51.100.{octet}"
                found[name] = {"name": name, "ip": ip, "ips": [f"{ip}/32"], "datacenter": datacenter,
                               "region": region, "state": "ok", "powerState": "poweron", "vnis": []}
    return found


def preview_random_string(name: str, length: int, *, upper: bool = True, lower: bool = True, numeric: bool = True,
                          special: bool = True, override_special: Optional[str] = None) -> str:
    """The stand-in `result` of a pulumi-random RandomString named `name`: the same on every run, so offline
    previews (and `drctl haproxy`, which derives the stats salt with it) are reproducible."""
    alphabet = "".join((
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if upper else "",
        "abcdefghijklmnopqrstuvwxyz" if lower else "",
        "0123456789" if numeric else "",
        (override_special if override_special is not None else _RANDOM_SPECIAL) if special else "",
    ))
    digest = b"".join(hashlib.sha256(f"{name}#{i}".encode()).digest() for i in range(length // 32 + 1))
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def _ovh_server(service_name: str, answers: Optional[dict[str, dict]] = None) -> dict:
    if answers and service_name in answers:
        return {"serviceName": service_name, "id": service_name, **answers[service_name]}
    if service_name in OVH_SERVERS:
        return {"serviceName": service_name, "id": service_name, **OVH_SERVERS[service_name]}
    octet = int(_hex(service_name, 2), 16) % 254 + 1
    return {"serviceName": service_name, "id": service_name, "name": service_name, "ip": f"198.51.100.{octet}",
            "ips": [f"198.51.100.{octet}/32"], "datacenter": "gra3", "region": "eu-west-gra", "state": "ok",
            "powerState": "poweron", "vnis": []}


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str
    region: Optional[str]
    inputs: dict
    protect: bool
    ignore_changes: list[str]
    depends_on: list[str]
    outputs: dict = field(default_factory=dict)
    revealed_inputs: Optional[dict] = None
    """`inputs` with every secret's value in place of "[secret]", as a policy pack sees them (secrets reach
    policies in plain text); None when the inputs hold no secret. Never shown: only the policies read it."""


def _hex(text: str, n: int = 17) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _unwrap_secrets(value: Any) -> Any:
    """The wire form with each secret replaced by its value (what a provider plugin receives)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _unwrap_secrets(value.get("value"))
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


def _plain(value: Any, reveal: bool = False) -> Any:
    """Turn the wire form into readable JSON: secrets -> "[secret]" (their value with `reveal`), unknowns ->
    "[unknown]"."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            return _plain(value.get("value"), reveal) if reveal else "[secret]"
        if sig == _ARCHIVE_SIG:
            return {"archive": {k: _plain(v, reveal) for k, v in value.items() if k != _SIG_KEY}}
        if sig == _ASSET_SIG:
            return {"asset": {k: _plain(v, reveal) for k, v in value.items() if k != _SIG_KEY}}
        return {k: _plain(v, reveal) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, reveal) for v in value]
    if value == _UNKNOWN:
        return "[unknown]"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Structs carry every number as a double
    return value


class AwsLikeMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes with AWS-shaped ids, ARNs and DNS names."""

    def __init__(self, stack_outputs: Optional[dict[str, "StackOutputs"]] = None,
                 ovh_servers: Optional[dict[str, dict]] = None) -> None:
        self.ovh_servers: dict[str, dict] = dict(ovh_servers or {})
        """Service name -> the OVHcloud server the lookup answers (before OVH_SERVERS and the default)."""
        self.provider_regions: dict[str, str] = {}
        self.cluster_regions: dict[str, str] = {}
        """DOKS cluster id -> its region slug, so a Kubernetes provider identified by it maps to the slug."""
        self.calls: list[tuple[str, dict, Optional[str]]] = []
        """Each invoke as (token, arguments, region of its provider)."""
        self.stack_outputs: dict[str, StackOutputs] = dict(stack_outputs or {})
        self.provider_inputs: dict[str, dict] = {}
        """Explicit provider name -> its inputs as the provider plugin receives them (secrets decrypted): what a
        test checks to see that a provider got the stack's credentials. Kept in memory only."""
        """Fully qualified stack name -> what a StackReference to it reads (the offline preview of that stack)."""

    def _stack_reference(self, name: str) -> tuple[str, dict]:
        """What the engine answers for a StackReference: `{"outputs": {...}}` of the referenced stack."""
        if name not in self.stack_outputs:
            raise ValueError(f"the offline preview has no outputs for stack {name!r} "
                             f"(known: {', '.join(sorted(self.stack_outputs)) or 'none'})")
        found = self.stack_outputs[name]
        return name, {"name": name, "outputs": dict(found.values), "secretOutputNames": sorted(found.secret_names)}

    def region_of(self, provider_ref: str) -> Optional[str]:
        return self.provider_regions.get(provider_ref)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(str(inputs.get("name") or args.resource_id or args.name))
        if args.typ.startswith("pulumi:providers:"):
            self.provider_inputs[args.name] = _unwrap_secrets(inputs)
            return f"{args.name}-id", inputs  # RecordingMonitor maps its reference to the region
        if args.typ.startswith("kubernetes:"):
            return _kubernetes_state(args.typ, args.name, inputs)
        if args.typ.startswith("tls:"):
            return _uuid(f"{args.typ}/{args.name}"), _tls_state(args.typ, inputs)
        if args.typ.startswith("digitalocean:"):
            return self._digitalocean_resource(args.typ, args.name, inputs)
        region = self.region_of(args.provider) or "us-east-1"
        rid = _ID_PREFIX.get(args.typ, "") + _hex(f"{args.typ}/{args.name}")
        state = dict(inputs)
        name = inputs.get("name") or f"{args.name}-{_hex(args.name, 7)}"
        state.setdefault("name", name)
        if args.typ == "aws:dynamodb/table:Table":
            rid = name
            state["replicas"] = [
                {**r, "arn": f"arn:aws:dynamodb:{r['regionName']}:{ACCOUNT_ID}:table/{name}"}
                for r in inputs.get("replicas", [])
            ]
            state["streamArn"] = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}/stream/2026-01-01T00:00:00.000"
        if args.typ == "aws:lb/loadBalancer:LoadBalancer":
            state["dnsName"] = f"{name}-{_hex(name, 8)}.{region}.elb.amazonaws.com"
            state["zoneId"] = _ALB_ZONE.get(region, "Z" + _hex(region, 13).upper())
        if args.typ == "aws:ssm/parameter:Parameter":
            rid = name
        if args.typ == "aws:sqs/queue:Queue":
            rid = state["url"] = f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{name}"
        if args.typ == "aws:ecs/service:Service":
            state["arn"] = f"arn:aws:ecs:{region}:{ACCOUNT_ID}:service/{inputs.get('cluster', '').split('/')[-1]}/{name}"
        if args.typ in _ARN_SHAPES:
            service, path = _ARN_SHAPES[args.typ]
            state["arn"] = f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{path.format(name=name, id=rid)}"
        elif args.typ in _GLOBAL_ARN_SHAPES:
            service, path = _GLOBAL_ARN_SHAPES[args.typ]
            state["arn"] = f"arn:aws:{service}::{ACCOUNT_ID}:{path.format(name=name, id=rid)}"
        if args.typ == "aws:kms/key:Key":
            state["keyId"] = rid
        if args.typ == "random:index/randomString:RandomString":
            state["result"] = preview_random_string(
                args.name, int(inputs["length"]), upper=inputs.get("upper", True), lower=inputs.get("lower", True),
                numeric=inputs.get("numeric", True), special=inputs.get("special", True),
                override_special=inputs.get("overrideSpecial"))
        if args.typ == "command:remote:Command":
            state.update(stdout="", stderr="")
        return rid, state

    @staticmethod
    def _digitalocean_resource(typ: str, name: str, inputs: dict) -> tuple[str, dict]:
        physical = inputs.get("name") or f"{name}-{_hex(name, 7)}"
        if typ == DOKS_CLUSTER:
            state = _doks_cluster_state(physical, inputs)
            return state["id"], state
        rid = _uuid(f"{typ}/{physical}")
        state = {**inputs, "name": physical}
        if typ == "digitalocean:index/loadBalancer:LoadBalancer":
            state.update(ip=f"203.0.113.{int(_hex(physical, 2), 16) % 200 + 20}", status="active",
                         urn=f"do:loadbalancer:{rid}")
        if typ == "digitalocean:index/certificate:Certificate":
            state.update(uuid=rid, state="verified", notAfter="2027-01-01T00:00:00Z", sha1Fingerprint=_hex(rid, 40))
        return rid, state

    def _digitalocean_call(self, args: pulumi.runtime.MockCallArgs) -> Optional[dict]:
        if args.token == "digitalocean:index/getKubernetesVersions:getKubernetesVersions":
            prefix = str(args.args.get("versionPrefix") or "")
            minor = prefix if prefix.count(".") == 2 and prefix.endswith(".") else "1.33."
            valid = [f"{minor}2-do.0", f"{minor}1-do.0"] if minor.startswith(prefix) else []
            return {"latestVersion": valid[0] if valid else "", "validVersions": valid,
                    "versionPrefix": prefix, "id": f"versions-{prefix or 'all'}"}
        if args.token == "digitalocean:index/getKubernetesCluster:getKubernetesCluster":
            # DigitalOcean issues a new token with every kubeconfig it hands out.
            state = _doks_cluster_state(str(args.args["name"]), {})
            expiry = int(args.args.get("kubeconfigExpireSeconds") or 7 * 86400)
            state["kubeConfigs"][0]["token"] = fresh_token(expiry)
            return {k: v for k, v in state.items() if k != "nodePool"} | {"nodePools": []}
        if args.token == "digitalocean:index/getCertificate:getCertificate":
            name = str(args.args["name"])
            uid = _uuid(f"certificate/{name}")
            return {"name": name, "id": uid, "uuid": uid, "type": "custom", "state": "verified",
                    "domains": ["*.example.com"], "notAfter": "2027-01-01T00:00:00Z", "sha1Fingerprint": _hex(uid, 40)}
        return None

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token.startswith("digitalocean:"):
            answer = self._digitalocean_call(args)
            if answer is not None:
                return answer
        region = self.region_of(args.provider) or "us-east-1"
        self.calls.append((args.token, dict(args.args), self.region_of(args.provider)))
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/preview",
                "userId": "AIDAPREVIEW",
                "id": ACCOUNT_ID,
            }
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"{region[:3]}-az{i}" for i in (1, 2, 3)], "id": region}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if args.token == "ovh:index/getServer:getServer":
            return _ovh_server(args.args["serviceName"], self.ovh_servers)
        if args.token == "aws:ssm/getParameter:getParameter":
            return self._public_parameter(str(args.args.get("name", "")), region)
        raise NotImplementedError(f"the offline mocks do not answer the invoke {args.token}")


    @staticmethod
    def _public_parameter(name: str, region: str) -> dict:
        """AWS's public Powertools parameters hold a layer version ARN; offline, its layer number is unknown
        and answered as 0 (the real preview reads the parameter AWS publishes for the pinned version)."""
        parts = name.split("/")  # /aws/service/powertools/python/<arch>/<runtime>/<version>
        if len(parts) != 8 or parts[1:5] != ["aws", "service", "powertools", "python"]:
            raise NotImplementedError(f"the offline mocks do not answer the SSM parameter {name}")
        arch, runtime = parts[5], parts[6].replace(".", "")
        arn = f"arn:aws:lambda:{region}:{POWERTOOLS_ACCOUNT}:layer:AWSLambdaPowertoolsPythonV3-{runtime}-{arch}:0"
        return {"name": name, "value": arn, "insecureValue": arn, "type": "String", "version": 1,
                "arn": f"arn:aws:ssm:{region}::parameter{name}", "id": name, "withDecryption": True}


class RecordingMonitor(MockMonitor):
    """A MockMonitor that keeps each RegisterResource request as a RecordedResource."""

    def __init__(self, mocks: AwsLikeMocks) -> None:
        super().__init__(mocks)
        self.aws_mocks = mocks
        self.recorded: list[RecordedResource] = []
        self.invokes: list[tuple[str, dict]] = []
        """(token, args) of every invoke, in order; args in wire form (camelCase, secrets as "[secret]")."""
        self._lock = threading.Lock()

    def Invoke(self, request):  # noqa: N802 (gRPC method name)
        with self._lock:
            self.invokes.append((request.tok, _plain(json_format.MessageToDict(request.args))))
        return super().Invoke(request)

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        wire = json_format.MessageToDict(request.object)
        inputs = _plain(wire)
        revealed = _plain(wire, reveal=True) if _SECRET_SIG in json.dumps(wire) else None
        outputs = _plain(json_format.MessageToDict(response.object)) if response.object else {}
        if request.type == DOKS_CLUSTER and "region" in inputs:
            self.aws_mocks.cluster_regions[response.id] = inputs["region"]
        provider_region = None
        if request.type.startswith("pulumi:providers:"):
            # an AWS provider's region, or a Kubernetes provider's cluster's region slug
            provider_region = (inputs.get("region")
                               or self.aws_mocks.cluster_regions.get(str(inputs.get("clusterIdentifier"))))
            if provider_region:
                self.aws_mocks.provider_regions[f"{response.urn}::{response.id}"] = provider_region
        record = RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            provider=request.provider,
            region=(
                provider_region if request.type.startswith("pulumi:providers:")
                else inputs.get("region") if request.type.startswith("digitalocean:")
                else self.aws_mocks.region_of(request.provider)
            ),
            inputs=inputs,
            protect=bool(request.protect),
            ignore_changes=list(request.ignoreChanges),
            depends_on=list(request.dependencies),
            outputs=outputs,
            revealed_inputs=revealed,
        )
        with self._lock:
            self.recorded.append(record)
        return response

    def reset(self) -> None:
        with self._lock:
            self.recorded.clear()
            self.invokes.clear()
        self.aws_mocks.provider_regions.clear()
        self.aws_mocks.cluster_regions.clear()
        self.aws_mocks.calls.clear()
        self.resources.clear()


def install(project: str = "dynamodb-dr", stack: str = "test", preview: bool = True,
            stack_outputs: Optional[dict[str, StackOutputs]] = None,
            ovh_servers: Optional[dict[str, dict]] = None) -> RecordingMonitor:
    """Set process-global Pulumi mocks; returns the monitor whose `recorded` list fills as resources register.

    Each install starts a new root stack resource, so one process can preview several stacks in turn (the
    tiers of a deployment); `stack_outputs` answers the StackReferences of the stack about to run."""
    from pulumi.runtime import settings

    settings.set_root_resource(None)  # type: ignore[arg-type]
    mocks = AwsLikeMocks(stack_outputs, ovh_servers)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    return monitor
