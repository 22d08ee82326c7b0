"""The `aws` layout's own keys: the containerised application (`dr:app`), the AWS regions it runs in
(`dr:regions`), their networks (`dr:network`) and its secrets (`dr:appSecrets`), on top of the DR plane's keys.
Rules across these keys are in `components.sites.ecs.checks`."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from components.common_config import CommonConfig, RegionsConfig
from components.config_base import ConfigModel, check_app_name, check_http_path, check_image
from components.sites.ecs.addressing import vpc_cidr_problem

# Fargate (Linux) task sizes: CPU units -> the memory sizes (MiB) offered with them.
FARGATE_MEMORY_MIB: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


class AppConfig(ConfigModel):
    """The containerised application deployed identically in every region."""

    name: str = Field(description="Short name; prefixes every resource and the SSM parameter.")
    image: str = Field(min_length=1, description="Container image reference (registry/repository:tag or @digest).")
    port: int = Field(8080, ge=1, le=65535, description="Port the container listens on.")
    health_path: str = Field("/health", description="HTTP path answering 200 when healthy.")
    cpu: Literal[256, 512, 1024, 2048, 4096, 8192, 16384] = Field(512, description="Fargate CPU units.")
    memory: int = Field(1024, description="Task memory in MiB; one of the sizes Fargate offers with `cpu`.")
    desired_count: int = Field(2, ge=1, le=1000, description="Tasks in the active region.")
    standby_desired_count: int = Field(1, ge=1, le=1000, description="Tasks kept warm in each standby region.")
    environment: dict[str, str] = Field(default_factory=dict, description="Plain (non-secret) container environment.")
    standby: Literal["warm", "hot"] = Field(
        "warm",
        description="warm: standbys run standbyDesiredCount and are scaled up on failover (the traffic budget "
        "adds the scale-up); hot: every region runs desiredCount.",
    )

    _name = field_validator("name")(classmethod(lambda cls, v: check_app_name(v)))
    _path = field_validator("health_path")(classmethod(lambda cls, v: check_http_path(v)))
    _image = field_validator("image")(classmethod(lambda cls, v: check_image(v)))


class RegionNetworkConfig(ConfigModel):
    """Either an existing VPC (vpcId + at least two subnetIds) or a CIDR for a new VPC."""

    vpc_id: str | None = Field(None, pattern=r"^vpc-[0-9a-f]{8,17}$")
    subnet_ids: list[str] = Field(default_factory=list)
    cidr: str | None = Field(None, description="Private IPv4 block, /16 to /19, for a VPC the stack creates.")

    @field_validator("subnet_ids")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        for s in v:
            if not re.match(r"^subnet-[0-9a-f]{8,17}$", s):
                raise ValueError(f"{s!r} is not a subnet id (subnet-...)")
        return v

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str | None) -> str | None:
        problem = vpc_cidr_problem(v) if v is not None else None
        if problem:
            raise ValueError(problem)
        return v


class AwsStackConfig(CommonConfig):
    """The `aws` layout: ALB + ECS sites in AWS regions."""

    layout: Literal["aws"]
    fis_drills: ClassVar[bool] = True
    accelerator_problem: ClassVar[str | None] = None  # an ALB per region, in front of which the site puts an NLB
    app: AppConfig
    regions: RegionsConfig
    network: dict[str, RegionNetworkConfig] = Field(default_factory=dict)
    app_secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Container secrets NAME -> value; only via `pulumi config set --secret --path`.",
    )

    @field_validator("app_secrets")
    @classmethod
    def _secret_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not re.match(r"^[A-Z_][A-Z0-9_]*$", name):
                raise ValueError(f"{name!r} is not an environment variable name (A-Z, 0-9, _)")
        return v

    @property
    def scale_kind(self) -> str:
        """How the orchestrator brings a standby to full size: ECS for a warm standby, nothing when hot."""
        return "ecs" if self.app.standby == "warm" else "none"

    @property
    def dns_ttl(self) -> int:
        return 60  # Route 53 answers alias records to an ALB with the ALB's fixed 60 s
