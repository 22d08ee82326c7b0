"""Policy pack entry point: `pulumi preview --policy-pack policies [--policy-pack-config policies/config.staging.json]`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the rules reuse components/ (budget, MRSC sets)

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import build_policies

PolicyPack(name="dynamodb-dr-guardrails", enforcement_level=EnforcementLevel.MANDATORY, policies=build_policies())
