"""Run this program under Pulumi's mocks, without the Pulumi CLI, providers or cloud credentials, and print what
it declared as one JSON document: `{"resources": [{"type", "name", "custom", "inputs"}], "outputs": {...}}`.

    python preview_offline.py [stack]        # default: dev (reads Pulumi.dev.yaml beside this file)

The mocks answer like AWS enough for the program to run to the end (ids, ARNs, a load balancer's DNS name and
zone, the caller's account, availability zones, the Powertools layer's parameter); they check nothing.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.stack import Stack
from ruamel.yaml import YAML

HERE = Path(__file__).resolve().parent
PROJECT = "orders-dr"
ACCOUNT_ID = "123456789012"


def engine_config(stack_file: Path) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the engine hands it to a program (objects as JSON strings), and its secret keys
    (their `secure:` values are left out: this program's example stack has none)."""
    doc = YAML(typ="safe", pure=True).load(stack_file.read_text(encoding="utf-8")) or {}
    config: dict[str, str] = {}
    secret: list[str] = []
    for key, value in (doc.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            secret.append(key)
            continue
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config, secret


class AwsLikeMocks(pulumi.runtime.Mocks):
    """Records every registration (components included) and answers with AWS-shaped values."""

    def __init__(self) -> None:
        self.resources: list[dict[str, Any]] = []
        self.provider_regions: dict[str, str] = {}

    def _region(self, provider_ref: str | None) -> str:
        return self.provider_regions.get((provider_ref or "").rsplit("::", 1)[-1], "us-east-1")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        self.resources.append({"type": args.typ, "name": args.name, "custom": args.custom, "inputs": state})
        if not args.custom:
            return "", state
        rid = f"{args.name}-id"
        if args.typ.startswith("pulumi:providers:"):
            self.provider_regions[rid] = str(state.get("region", "us-east-1"))
            return rid, state
        region = self._region(args.provider)
        name = str(state.get("name") or args.name)
        service = args.typ.split(":")[1].split("/")[0]
        state.setdefault("name", name)
        state["arn"] = f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{name}"
        if args.typ == "aws:dynamodb/table:Table":
            state["replicas"] = [
                {**r, "arn": f"arn:aws:dynamodb:{r['regionName']}:{ACCOUNT_ID}:table/{name}"}
                for r in state.get("replicas", [])
            ]
            state["streamArn"] = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}/stream/1"
        if args.typ == "aws:lb/loadBalancer:LoadBalancer":
            state.update(dnsName=f"{name}.{region}.elb.amazonaws.com", zoneId="Z35SXDOTRQ7X7K")
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        return self._answer(args), []  # no check failures

    def _answer(self, args: pulumi.runtime.MockCallArgs) -> dict:
        region = self._region(args.provider)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/preview", "userId": "AIDA"}
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": [f"{region}{z}" for z in "abc"], "zoneIds": [f"{region}-az{i}" for i in (1, 2, 3)]}
        if args.token == "aws:ssm/getParameter:getParameter":
            layer = f"arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3:1"
            return {"name": args.args.get("name"), "type": "String", "value": layer, "insecureValue": layer}
        return {}


def preview(stack: str = "dev") -> dict[str, Any]:
    """Run `__main__.py` as `stack` under the mocks; what it registered and exported."""
    config, secret = engine_config(HERE / f"Pulumi.{stack}.yaml")
    mocks = AwsLikeMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(config, secret)
    exported: dict[str, Any] = {}

    def program() -> pulumi.Output:
        runpy.run_path(str(HERE / "__main__.py"), run_name="__main__")
        root = settings.get_root_resource()
        assert isinstance(root, Stack)
        return pulumi.Output.from_input(dict(root.outputs)).apply(exported.update)

    os.chdir(HERE)  # the program reads Pulumi.<stack>.yaml from its working directory, as under the CLI
    pulumi.runtime.test(program)()
    return {"resources": mocks.resources, "outputs": exported}


if __name__ == "__main__":
    print(json.dumps(preview(*sys.argv[1:2]), indent=1, sort_keys=True, default=str))
