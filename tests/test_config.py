"""The config model: shipped stacks validate, each mistake names its key path, MRSC rules hold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.common_config import MRSC_REGION_SETS, is_valid_mrsc_set
from components.config import ConfigError, parse_stack_config
from tests.stack_values import dr_values

ALL_REGIONS = sorted(set().union(*MRSC_REGION_SETS) | {"ca-central-1", "sa-east-1", "ap-south-1"})


def test_prod_stack_is_valid_and_strong():
    cfg = parse_stack_config(dr_values("prod"))
    assert cfg.regions.all == ["us-east-1", "us-east-2", "us-west-2"]
    assert cfg.table.consistency == "strong"
    assert cfg.health_check.interval == 10


def test_staging_stack_is_valid_and_eventual():
    cfg = parse_stack_config(dr_values("staging"))
    assert len(cfg.regions.all) == 2
    assert cfg.table.consistency == "eventual"
    assert cfg.app.desired_count < parse_stack_config(dr_values("prod")).app.desired_count


def _error(mutate) -> ConfigError:
    values = dr_values("prod")
    mutate(values)
    with pytest.raises(ConfigError) as info:
        parse_stack_config(values)
    return info.value


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (
            lambda v: v["regions"]["secondaries"].__setitem__(0, "us-east-1"),
            "dr:regions.secondaries[0]",
            "us-east-1 is already the primary region",
        ),
        (lambda v: v["regions"]["secondaries"].append("us-east-2"), "dr:regions.secondaries[2]", "listed twice"),
        (lambda v: v["regions"].__setitem__("secondaries", []), "dr:regions.secondaries", "at least 1"),
        (lambda v: v["regions"].__setitem__("primary", "mars-north-1x"), "dr:regions.primary", "not an AWS region"),
        (lambda v: v["healthCheck"].__setitem__("interval", 15), "dr:healthCheck.interval", "15"),
        (lambda v: v["healthCheck"].__setitem__("failureThreshold", 11), "dr:healthCheck.failureThreshold", "10"),
        (lambda v: v.__setitem__("layout", "gcp"), "dr:layout", "not a layout"),
        (lambda v: v["app"].__setitem__("helthPath", "/x"), "dr:app.helthPath", "unknown key"),
        (lambda v: v["app"].pop("image"), "dr:app.image", "required key is missing"),
        (lambda v: v["app"].__setitem__("standbyDesiredCount", 99), "dr:app.standbyDesiredCount", "more than"),
        (lambda v: v["table"].__setitem__("hashKey", "id"), "dr:table.hashKey", "not declared"),
        (lambda v: v["table"]["attributes"].__setitem__("extra", "S"), "dr:table.attributes.extra", "key attributes"),
        (lambda v: v["regions"]["secondaries"].__setitem__(1, "eu-west-1"), "dr:table.consistency", "MRSC"),
        (
            lambda v: v["dns"]["certificateArns"].__setitem__("us-east-2", v["dns"]["certificateArns"]["us-east-1"]),
            "dr:dns.certificateArns.us-east-2",
            "certificate is in us-east-1",
        ),
        (lambda v: v["dns"].__setitem__("recordName", "not a name"), "dr:dns.recordName", "fully qualified"),
        (
            lambda v: v.__setitem__("network", {"eu-west-9": {"cidr": "10.1.0.0/16"}}),
            "dr:network.eu-west-9",
            "not one of the stack's regions",
        ),
        (
            lambda v: v.__setitem__("network", {"us-east-1": {"vpcId": "vpc-0123456789abcdef0"}}),
            "dr:network.us-east-1.subnetIds",
            "two subnets",
        ),
        (lambda v: v["notifications"]["emails"].append("nobody"), "dr:notifications.emails", "not an email"),
        (lambda v: v["objectives"].__setitem__("rtoSeconds", 0), "dr:objectives.rtoSeconds", "greater than"),
        (lambda v: v["failover"].update(mode="manual", failback="automatic"), "dr:failover.failback", "automatic"),
        (
            lambda v: v["table"].__setitem__("consistency", "eventual"),
            "dr:objectives.rpoSeconds",
            "0 needs table.consistency strong",
        ),
        (
            lambda v: v["app"].__setitem__("standbyDesiredCount", 2),
            "dr:app.standbyDesiredCount",
            "a hot standby runs app.desiredCount everywhere",
        ),
        (
            lambda v: v["failover"].__setitem__("probeTimeoutSeconds", 6),
            "dr:failover.probeTimeoutSeconds",
            "more than half of failover.probeIntervalSeconds",
        ),
        (
            lambda v: v["failover"].__setitem__("probeIntervalSeconds", 2),
            "dr:failover.probeIntervalSeconds",
            "greater than or equal to 5",
        ),
        (
            lambda v: v["failover"].__setitem__("monitorIntervalMinutes", 1),
            "dr:failover.monitorIntervalMinutes",
            "replaced by failover.probeIntervalSeconds",
        ),
        (lambda v: v["app"].__setitem__("standby", "lukewarm"), "dr:app.standby", "'warm' or 'hot'"),
    ],
)
def test_each_mistake_names_its_key(mutate, key, words):
    err = _error(mutate)
    assert err.key == key, str(err)
    assert words in err.message, str(err)
    assert "\n" not in str(err) and str(err).startswith(key + ": ")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(ALL_REGIONS), min_size=2, max_size=4, unique=True))
def test_strong_consistency_accepted_exactly_for_mrsc_sets(regions):
    values = dr_values("prod")
    values["regions"] = {"primary": regions[0], "secondaries": regions[1:]}
    values["dns"].pop("certificateArns")
    one_set = any(set(regions) <= s for s in MRSC_REGION_SETS)
    expected_ok = len(regions) == 3 and one_set
    assert is_valid_mrsc_set(regions) == expected_ok
    if expected_ok:
        assert parse_stack_config(values).table.consistency == "strong"
    else:
        with pytest.raises(ConfigError) as info:
            parse_stack_config(values)
        assert info.value.key == "dr:table.consistency"
    values["table"]["consistency"] = "eventual"
    values["objectives"]["rpoSeconds"] = 5  # eventual consistency cannot promise RPO 0
    if one_set:  # the control table can be strongly consistent: automatic failover is fine
        assert parse_stack_config(values).regions.all == regions
    else:
        with pytest.raises(ConfigError) as info:
            parse_stack_config(values)
        assert info.value.key == "dr:failover.mode" and "strongly consistent control table" in info.value.message
        values["failover"]["mode"] = "manual"
        values["failover"].pop("failback", None)
        assert parse_stack_config(values).regions.all == regions


@settings(max_examples=150, deadline=None)
@given(interval=st.integers(-5, 100), threshold=st.integers(-2, 20))
def test_health_check_bounds(interval, threshold):
    values = dr_values("prod")
    values["healthCheck"] = {"interval": interval, "failureThreshold": threshold}
    ok = interval in (10, 30) and 1 <= threshold <= 10
    if ok:
        cfg = parse_stack_config(values)
        assert (cfg.health_check.interval, cfg.health_check.failure_threshold) == (interval, threshold)
    else:
        with pytest.raises(ConfigError) as info:
            parse_stack_config(values)
        assert info.value.key.startswith("dr:healthCheck.")
