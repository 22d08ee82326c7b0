"""The mock monitor that records exactly what the program sends the engine: each RegisterResource request as a
RecordedResource (so options such as protect and ignoreChanges are read from the requests the real engine receives)
and each invoke, decoded from the wire form into readable JSON."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor

from drctl.mock_providers import DOKS_CLUSTER

if TYPE_CHECKING:
    from drctl.mocks import AwsLikeMocks

_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str
    region: str | None
    inputs: dict
    protect: bool
    ignore_changes: list[str]
    depends_on: list[str]
    outputs: dict = field(default_factory=dict)
    revealed_inputs: dict | None = None
    """`inputs` with every secret's value in place of "[secret]", as a policy pack sees them (secrets reach
    policies in plain text); None when the inputs hold no secret. Never shown: only the policies read it."""


def unwrap_secrets(value: Any) -> Any:
    """The wire form with each secret replaced by its value (what a provider plugin receives)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
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


class RecordingMonitor(MockMonitor):
    """A MockMonitor that keeps each RegisterResource request as a RecordedResource."""

    def __init__(self, mocks: AwsLikeMocks) -> None:
        super().__init__(mocks)
        self.aws_mocks = mocks
        self.recorded: list[RecordedResource] = []
        self.invokes: list[tuple[str, dict]] = []
        """(token, args) of every invoke, in order; args in wire form (camelCase, secrets as "[secret]")."""
        self._lock = threading.Lock()

    def Invoke(self, request):
        with self._lock:
            self.invokes.append((request.tok, _plain(json_format.MessageToDict(request.args))))
        return super().Invoke(request)

    def RegisterResource(self, request):
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
            provider_region = inputs.get("region") or self.aws_mocks.cluster_regions.get(
                str(inputs.get("clusterIdentifier"))
            )
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
                provider_region
                if request.type.startswith("pulumi:providers:")
                else inputs.get("region")
                if request.type.startswith("digitalocean:")
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
