"""The StreamReplicator component under Pulumi's mocks: assertions read the RegisterResource requests."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.iam import failure_queue_key_policy, replicator_policy
from components.orchestrator import FAILOVER_SOURCE
from components.providers import regional_providers
from components.replicator import (
    StreamReplicator,
    StreamReplicatorArgs,
    replicator_args_errors,
    replicator_environment,
    replicator_function_name,
)
from failover.settings import load_replicator_settings

SOURCE, RECEIVING = "us-east-2", "us-west-2"
ACCOUNT = "123456789012"
SOURCE_TABLE = f"arn:aws:dynamodb:{SOURCE}:{ACCOUNT}:table/orders"
STREAM = f"{SOURCE_TABLE}/stream/2026-01-01T00:00:00.000"
RECEIVING_TABLE = f"arn:aws:dynamodb:{RECEIVING}:{ACCOUNT}:table/orders"
TOPIC = f"arn:aws:sns:{SOURCE}:{ACCOUNT}:orders-dr"


def args(**over) -> StreamReplicatorArgs:
    base = {
        "app": "orders",
        "stack": "prod",
        "source_region": SOURCE,
        "receiving_region": RECEIVING,
        "source_table_arn": SOURCE_TABLE,
        "source_stream_arn": STREAM,
        "receiving_table_name": "orders",
        "receiving_table_arn": RECEIVING_TABLE,
        "account_id": ACCOUNT,
    }
    base.update(over)
    return StreamReplicatorArgs(**base)


def declare(**over):
    def run():
        provider = regional_providers([SOURCE], app="orders", stack="prod")[SOURCE]
        rep = StreamReplicator("repl-east2-west2", args(**over), opts=pulumi.ResourceOptions(provider=provider))
        return pulumi.Output.all(rep.function_arn, rep.failure_queue_arn, rep.failure_queue_url)

    return run


def test_replicator_wiring(recorder):
    rec = recorder(declare())
    component = rec.one("dr:data:StreamReplicator")
    children = [r for r in rec.resources if r.parent == component.urn]
    assert sorted(r.type for r in children) == sorted(
        [
            "aws:cloudwatch/logGroup:LogGroup",
            "aws:iam/role:Role",
            "aws:kms/key:Key",
            "aws:sqs/queue:Queue",
            "aws:iam/rolePolicy:RolePolicy",
            "aws:lambda/function:Function",
            "aws:lambda/eventSourceMapping:EventSourceMapping",
        ]
    )
    assert {r.region for r in children} == {SOURCE}
    assert all(r.name.startswith("repl-east2-west2-") for r in children)

    fn = rec.one("aws:lambda/function:Function")
    assert fn.inputs["name"] == "orders-prod-repl-us-east-2-us-west-2"
    assert (fn.inputs["handler"], fn.inputs["runtime"]) == ("failover.replicator.handler", "python3.12")
    assert fn.inputs["layers"] == [
        "arn:aws:lambda:us-east-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:0"
    ]
    assert fn.inputs["environment"]["variables"] == {
        "DR_SOURCE_REGION": SOURCE,
        "DR_RECEIVING_REGION": RECEIVING,
        "DR_RECEIVING_TABLE": "orders",
        "DR_REPLICATOR_WORKERS": "8",
        "POWERTOOLS_SERVICE_NAME": "orders-dr-replicator",
        "DR_FAILURE_QUEUE_URL": f"https://sqs.{SOURCE}.amazonaws.com/{ACCOUNT}/"
        f"{rec.one('aws:sqs/queue:Queue').outputs['name']}",
    }
    assets = fn.inputs["code"]["archive"]["assets"]
    assert sorted(assets) == sorted(f"failover/{p.name}" for p in FAILOVER_SOURCE.iterdir() if p.suffix == ".py")
    assert {"failover/__init__.py", "failover/replicator.py", "failover/replication.py", "failover/settings.py"} <= set(
        assets
    )
    assert all(a["asset"]["path"].endswith(name.split("/")[1]) for name, a in assets.items())

    mapping = rec.one("aws:lambda/eventSourceMapping:EventSourceMapping")
    queue = rec.one("aws:sqs/queue:Queue")
    policy = rec.one("aws:iam/rolePolicy:RolePolicy")
    queue_arn = f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:{queue.outputs['name']}"
    assert mapping.inputs == {
        "eventSourceArn": STREAM,
        "functionName": fn.outputs["arn"],
        "startingPosition": "TRIM_HORIZON",
        "batchSize": 100,
        "maximumBatchingWindowInSeconds": 0,
        "parallelizationFactor": 1,
        "bisectBatchOnFunctionError": True,
        "functionResponseTypes": ["ReportBatchItemFailures"],
        "maximumRetryAttempts": 10000,
        "maximumRecordAgeInSeconds": 21600,
        "destinationConfig": {"onFailure": {"destinationArn": queue_arn}},
    }
    assert policy.urn in mapping.depends_on and policy.urn in fn.depends_on

    key = rec.one("aws:kms/key:Key")
    assert queue.inputs["kmsMasterKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    role_arn = rec.one("aws:iam/role:Role").outputs["arn"]
    assert json.loads(key.inputs["policy"]) == failure_queue_key_policy(
        account_id=ACCOUNT, region=SOURCE, role_arn=role_arn
    )
    log_group = rec.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["name"] == "/aws/lambda/orders-prod-repl-us-east-2-us-west-2"
    assert json.loads(policy.inputs["policy"]) == replicator_policy(
        source_table_arn=SOURCE_TABLE,
        receiving_table_arn=RECEIVING_TABLE,
        failure_queue_arn=queue_arn,
        failure_key_arn=key.outputs["arn"],
        log_group_arn=log_group.outputs["arn"],
    )
    assert rec.value == [
        fn.outputs["arn"],
        queue_arn,
        f"https://sqs.{SOURCE}.amazonaws.com/{ACCOUNT}/{queue.outputs['name']}",
    ]
    assert rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") == []


def test_the_code_archive_is_the_same_on_every_run(recorder):
    first = recorder(declare()).one("aws:lambda/function:Function").inputs["code"]
    second = recorder(declare()).one("aws:lambda/function:Function").inputs["code"]
    assert first == second


def test_a_failure_alarm_when_a_topic_is_given(recorder):
    rec = recorder(declare(failure_alarm_topic_arn=TOPIC, maximum_retry_attempts=50, maximum_record_age_seconds=3600))
    alarm = rec.one("aws:cloudwatch/metricAlarm:MetricAlarm")
    queue = rec.one("aws:sqs/queue:Queue")
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm.inputs["dimensions"] == {"QueueName": queue.outputs["name"]}
    assert alarm.inputs["alarmActions"] == [TOPIC] and alarm.region == SOURCE
    mapping = rec.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs
    assert (mapping["maximumRetryAttempts"], mapping["maximumRecordAgeInSeconds"]) == (50, 3600)


@pytest.mark.parametrize(
    "over, words",
    [
        ({"maximum_retry_attempts": -1}, "maximum_retry_attempts must be a whole number from 0 to 10000, got -1"),
        (
            {"maximum_record_age_seconds": -1},
            "maximum_record_age_seconds must be a whole number from 60 to 604800, got -1",
        ),
        ({"batch_size": 0}, "batch_size must be a whole number from 1 to 10000, got 0"),
        ({"workers": 65}, "workers must be a whole number from 1 to 64, got 65"),
        ({"receiving_region": SOURCE}, "receiving_region must differ from source_region (us-east-2)"),
    ],
)
def test_unbounded_or_invalid_settings_are_refused_naming_the_field(over, words):
    assert replicator_args_errors(args(**over)) == [words]
    with pytest.raises(ValueError, match="StreamReplicator r: "):
        StreamReplicator("r", args(**over))


def test_defaults_are_valid():
    assert replicator_args_errors(args()) == []


def test_the_environment_round_trips_through_the_runtime_settings():
    env = replicator_environment(
        app="orders", source_region=SOURCE, receiving_region=RECEIVING, receiving_table="orders-west", workers=4
    )
    settings = load_replicator_settings(env)
    assert (settings.source_region, settings.receiving_region, settings.receiving_table, settings.workers) == (
        SOURCE,
        RECEIVING,
        "orders-west",
        4,
    )


def test_function_names_fit_lambda_limit():
    assert (
        replicator_function_name("orders", "prod", "us-east-1", "us-west-2") == "orders-prod-repl-us-east-1-us-west-2"
    )
    long = replicator_function_name("a" * 32, "staging-eu", "ap-southeast-2", "ap-northeast-1")
    assert len(long) == 64 and long.startswith("a" * 32)
    assert long != replicator_function_name("a" * 32, "staging-eu", "ap-southeast-2", "ap-northeast-3")
