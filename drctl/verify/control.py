"""The authority and its projection: the control item in every replica, read by the runtime's own code, and each
region's SSM parameter compared with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from drctl.verify.calls import GLOBAL, ControlItemMalformed, VerifyUsageError
from drctl.verify.declared import Declared
from drctl.verify.report import Check

if TYPE_CHECKING:
    from drctl.verify.facts import RegionFacts
    from failover.decisions import ControlState


def read_control_item(runtime_environment: Mapping[str, str], region: str, dynamodb_client) -> ControlState:
    """The control item in `region`'s replica, parsed by `failover.store.ControlStore.read` into a
    `failover.decisions.ControlState`. The one place that knows the runtime's API, so verify follows
    any change to the item's format; raises ControlItemMalformed when the runtime cannot parse it."""
    from failover.settings import SettingsError, load_settings
    from failover.store import BadControlState, ControlStore

    try:
        settings = load_settings({**runtime_environment, "DR_HOME_REGION": region})
    except SettingsError as exc:
        raise VerifyUsageError(f"the orchestrator environment the stack declares is not usable: {exc}") from None
    try:
        state = ControlStore(settings, dynamodb_client).read()
    except BadControlState as exc:
        raise ControlItemMalformed(str(exc)) from None
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise ControlItemMalformed(f"{type(exc).__name__}: {exc}") from None
    problems = control_state_problems(state, settings.regions)
    if problems:
        raise ControlItemMalformed("; ".join(problems))
    return state


def control_state_problems(state: ControlState, regions: Iterable[str]) -> list[str]:
    """What makes a parsed control state unusable by the runtime (empty when it is fine)."""
    regions = tuple(regions)
    problems = []
    if state.active_region not in regions:
        problems.append(f"activeRegion {state.active_region!r} is not one of {', '.join(regions)}")
    if state.epoch < 0:
        problems.append(f"epoch {state.epoch} is negative")
    if state.previous_region is not None and state.previous_region not in regions:
        problems.append(f"previousRegion {state.previous_region!r} is not one of {', '.join(regions)}")
    return problems


def control_checks(declared: Declared, facts: Mapping[str, RegionFacts]) -> tuple[list[Check], ControlState | None]:
    """One row per replica of the control item; returns the newest well-formed state (highest epoch)."""
    table = declared.control_table
    if table is None:
        name = declared.runtime_environment.get("DR_CONTROL_TABLE")
        return [Check("control item", GLOBAL, False, f"the stack declares no control table {name}")], None
    key = f"control#{declared.runtime_environment.get('DR_APP')}"
    readings = {r.region: facts[r.region].control for r in table.replicas}
    good: dict[str, ControlState] = {region: o.value for region, o in readings.items() if o.ok}
    newest = max(good.values(), key=lambda s: s.epoch, default=None)
    checks = []
    for region, outcome in readings.items():
        if outcome.error is not None:
            checks.append(Check(f"control item {key}", region, False, outcome.error))
            continue
        state = good[region]
        detail = f"active {state.active_region}, epoch {state.epoch}"
        if state.pending:
            detail += f", pending steps: {', '.join(state.pending)}"
        if newest is not None and (state.active_region, state.epoch) != (newest.active_region, newest.epoch):
            checks.append(
                Check(
                    f"control item {key}",
                    region,
                    False,
                    f"{detail}; behind epoch {newest.epoch} ({newest.active_region}) seen elsewhere",
                )
            )
        else:
            checks.append(Check(f"control item {key}", region, True, detail))
    return checks, newest


def parameter_checks(
    declared: Declared, facts: Mapping[str, RegionFacts], authority: ControlState | None
) -> list[Check]:
    """Each region's projection names the authority's region and epoch (`failover.projection` reads it)."""
    from failover import projection

    checks = []
    what = f"SSM {declared.parameter_name}"
    for region in declared.parameter_regions:
        outcome = facts[region].parameter
        if outcome.error is not None:
            checks.append(Check(what, region, False, "missing" if outcome.missing else outcome.error))
            continue
        seen = projection.parse(outcome.value)
        shown = f"{seen.region} (epoch {seen.epoch})" if seen else repr(outcome.value)
        if authority is None:
            checks.append(Check(what, region, False, f"{shown}; no well-formed control item to compare with"))
        elif seen is None or (seen.region, seen.epoch) != (authority.active_region, authority.epoch):
            right = projection.render(authority.active_region, authority.epoch)
            checks.append(
                Check(
                    what,
                    region,
                    False,
                    f"{shown}, but the control item says "
                    f"{authority.active_region} (epoch {authority.epoch}); the orchestrator in {region} "
                    f"rewrites it on its next round, or: aws ssm put-parameter --region {region} --name "
                    f"{declared.parameter_name} --value '{right}' --overwrite",
                )
            )
        else:
            checks.append(Check(what, region, True, f"{shown}, as the control item says"))
    return checks
