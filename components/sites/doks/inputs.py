"""What a DOKS site computes from config, as plain functions tested plainly: physical names, the Deployment's and
the load balancer's inputs, the operator notice about the pinned DOKS version, and the scaler credentials the
orchestrator reads. `DoksSite` (`components.sites.doks.component`) only wires them into resources."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from components.sites.doks import manifests as km
from components.sites.doks.config import DigitalOceanConfig, DoSiteConfig

if TYPE_CHECKING:
    from pulumi_kubernetes.core.v1.outputs import ServiceStatus


def cluster_name(app: str, stack: str, slug: str) -> str:
    return f"{app}-{stack}-{slug}"


def workload_subject(app: str, stack: str, slug: str) -> str:
    """The certificate subject CN a site's pods present to IAM Roles Anywhere."""
    return f"{app}.{stack}.{slug}"


def version_notice(pinned: str, offered: list[str]) -> str | None:
    """What to tell the operator about the pinned DOKS version against the ones DigitalOcean offers for its
    minor, or None. Never an error: a running cluster keeps a version DigitalOcean no longer offers."""
    if not offered:
        minor = ".".join(pinned.split(".")[:2])
        return (
            f"dr:cluster.version: DigitalOcean offers no {minor} version any more; a new "
            f"cluster at {pinned} would be refused (see `doctl kubernetes options versions`)"
        )
    newest = max(offered, key=_version_key)
    if pinned not in offered:
        return (
            f"dr:cluster.version: DigitalOcean does not offer {pinned} (it offers {', '.join(sorted(offered))}); "
            "a new cluster would be refused, running clusters keep it"
        )
    if _version_key(newest) > _version_key(pinned):
        return (
            f"dr:cluster.version: {newest} is available; the clusters stay at {pinned} until "
            "dr:cluster.version says otherwise (a surge upgrade)"
        )
    return None


def _version_key(slug: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", slug))


def scaler_credential(secret_data: Mapping[str, str], key: str) -> str:
    """One decoded field of the scaler's token Secret: the token (`token`) or the cluster CA (`ca.crt`)."""
    return json.loads(scaler_credentials_json(secret_data))["token" if key == "token" else "caCertificate"]


def scaler_credentials_json(secret_data: Mapping[str, str]) -> str:
    """The secret the orchestrator reads: the ServiceAccount token and the cluster CA, decoded from the
    token Secret's base64 `data` (which the cluster fills in)."""
    try:
        token = base64.b64decode(secret_data["token"]).decode()
        ca = base64.b64decode(secret_data["ca.crt"]).decode()
    except (KeyError, TypeError, ValueError):
        raise ValueError("the scaler's token Secret has no token or ca.crt yet") from None
    return json.dumps({"token": token, "caCertificate": ca}, sort_keys=True)


def load_balancer_ip(status: ServiceStatus | None) -> str:
    """The public IPv4 address a LoadBalancer Service's status reports (DigitalOcean fills it in)."""
    balancer = status.load_balancer if status is not None else None
    ingress = balancer.ingress if balancer is not None else None
    ip = ingress[0].ip if ingress else None
    if ip is None:
        raise ValueError("the load balancer Service reports no ingress IP address")
    return ip


def workload_from_config(
    cfg: DigitalOceanConfig,
    site: DoSiteConfig,
    *,
    stack: str,
    active: bool,
    table_name: str,
    parameter_name: str,
    cache_seconds: int,
    control_table: str,
    control_regions: tuple[str, ...],
) -> km.Workload:
    """The Deployment's inputs for one site (pure: the tests validate what this gives)."""
    app = cfg.app
    environment = {
        **app.environment,
        **km.client_environment(
            app=app.name,
            regions=cfg.data_regions,
            table=table_name,
            parameter_name=parameter_name,
            cache_seconds=cache_seconds,
            aws_region=site.aws_region,
            control_table=control_table,
            control_regions=list(control_regions),
        ),
    }

    def probe(p, success: int = 1) -> km.Probe:
        return km.Probe(
            path=cfg.probe_path(p),
            period_seconds=p.period_seconds,
            timeout_seconds=p.timeout_seconds,
            failure_threshold=p.failure_threshold,
            initial_delay_seconds=p.initial_delay_seconds,
            success_threshold=success,
        )

    return km.Workload(
        app=app.name,
        site=site.region,
        namespace=app.name,
        image=app.image,
        port=app.port,
        replicas=app.replicas if active else app.standby_replicas,
        requests=app.resources.requests.model_dump(),
        limits=app.resources.limits.model_dump(),
        environment=environment,
        liveness=probe(cfg.probes.liveness),
        readiness=probe(cfg.probes.readiness, cfg.probes.readiness.success_threshold),
        startup=probe(cfg.probes.startup),
        run_as_user=app.run_as_user,
        aws_config_map=km.aws_config_map_name(app.name),
        aws_credentials_secret=km.aws_credentials_secret_name(app.name),
    )


def load_balancer_from_config(
    cfg: DigitalOceanConfig, site: DoSiteConfig, *, stack: str, certificate_name: Any = None
) -> km.LoadBalancer:
    hc = cfg.load_balancer.health_check
    return km.LoadBalancer(
        name=cluster_name(cfg.app.name, stack, site.region),
        health_path=cfg.load_balancer_health_path,
        interval_seconds=hc.interval_seconds,
        timeout_seconds=hc.timeout_seconds,
        healthy_threshold=hc.healthy_threshold,
        unhealthy_threshold=hc.unhealthy_threshold,
        size_unit=cfg.load_balancer.size_unit,
        certificate_name=certificate_name if cfg.tls else None,
        redirect_http_to_https=cfg.tls.redirect_http_to_https if cfg.tls else False,
    )
