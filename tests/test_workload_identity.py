"""WorkloadIdentity (IAM Roles Anywhere) under the mocks, and its IAM documents through parliament."""

from __future__ import annotations

import configparser
import datetime
import json

import parliament
import pulumi
import pulumi_aws as aws
import pytest

from components import iam
from components.workload_identity import (
    WorkloadIdentity,
    WorkloadIdentityArgs,
    aws_config_file,
    check_workload_identity_args,
)

TABLES = [f"arn:aws:dynamodb:{r}:123456789012:table/orders" for r in ("eu-west-1", "eu-west-3")]
PARAMETERS = ["arn:aws:ssm:eu-west-1:123456789012:parameter/orders/prod/active_region"]


def declare(subjects=("orders.prod.gra-1", "orders.prod.gra-2"), **over):
    def run():
        provider = aws.Provider("aws-eu-west-1", region="eu-west-1")
        identity = WorkloadIdentity(
            "orders-gra",
            WorkloadIdentityArgs(
                name="orders-prod-gra",
                region="eu-west-1",
                subjects=list(subjects),
                table_arns=TABLES,
                parameter_arns=PARAMETERS,
                **over,
            ),
            opts=pulumi.ResourceOptions(providers={"aws": provider}),
        )
        return pulumi.Output.all(
            certs={s: c.certificate_pem for s, c in identity.certificates.items()},
            key_secret=identity.certificates[subjects[0]].private_key_pem.is_secret(),
            config=identity.aws_config(
                signing_helper="/opt/aws_signing_helper", certificate_path="/etc/c.pem", private_key_path="/etc/k.pem"
            ),
            anchor=identity.trust_anchor_arn,
            profile=identity.profile_arn,
            role=identity.role_arn,
        )

    return run


def test_one_anchor_profile_and_role_and_a_certificate_per_subject(recorder):
    rec = recorder(declare())
    anchor = rec.one("aws:rolesanywhere/trustAnchor:TrustAnchor")
    ca = rec.one("tls:index/selfSignedCert:SelfSignedCert")
    assert anchor.region == "eu-west-1" and anchor.inputs["enabled"] is True
    assert anchor.inputs["source"] == {
        "sourceType": "CERTIFICATE_BUNDLE",
        "sourceData": {"x509CertificateData": ca.outputs["certPem"]},
    }
    assert ca.inputs["isCaCertificate"] is True
    assert set(ca.inputs["allowedUses"]) == {"cert_signing", "crl_signing", "digital_signature"}
    role = rec.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust == iam.roles_anywhere_trust_policy(
        trust_anchor_arn=anchor.outputs["arn"], common_names=["orders.prod.gra-1", "orders.prod.gra-2"]
    )
    assert role.inputs["maxSessionDuration"] == 3600
    policy = json.loads(rec.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert policy == iam.task_policy(table_arns=TABLES, parameter_arns=PARAMETERS)
    profile = rec.one("aws:rolesanywhere/profile:Profile")
    assert profile.inputs["roleArns"] == [role.outputs["arn"]] and profile.inputs["durationSeconds"] == 3600
    leaves = rec.of_type("tls:index/locallySignedCert:LocallySignedCert")
    assert len(leaves) == 2
    for leaf in leaves:
        assert leaf.inputs["caCertPem"] == ca.outputs["certPem"] and leaf.inputs["caPrivateKeyPem"] == "[secret]"
        assert set(leaf.inputs["allowedUses"]) == {"digital_signature", "client_auth"}
        assert (leaf.inputs["validityPeriodHours"], leaf.inputs["earlyRenewalHours"]) == (2160, 720)
    subjects = sorted(r.inputs["subject"]["commonName"] for r in rec.of_type("tls:index/certRequest:CertRequest"))
    assert subjects == ["orders.prod.gra-1", "orders.prod.gra-2"]
    assert set(rec.value["certs"]) == {"orders.prod.gra-1", "orders.prod.gra-2"}
    assert rec.value["key_secret"] is True


def test_config_file_points_the_sdk_at_the_signing_helper(recorder):
    rec = recorder(declare())
    parser = configparser.ConfigParser()
    parser.read_string(rec.value["config"])
    assert parser["default"]["region"] == "eu-west-1"
    process = parser["default"]["credential_process"].split()
    assert process[:2] == ["/opt/aws_signing_helper", "credential-process"]
    flags = dict(zip(process[2::2], process[3::2]))
    assert flags == {
        "--certificate": "/etc/c.pem",
        "--private-key": "/etc/k.pem",
        "--trust-anchor-arn": rec.value["anchor"],
        "--profile-arn": rec.value["profile"],
        "--role-arn": rec.value["role"],
        "--region": "eu-west-1",
    }
    assert "aws_access_key_id" not in rec.value["config"].lower()


def test_aws_config_file_is_a_pure_function():
    text = aws_config_file(
        region="us-east-1",
        signing_helper="h",
        certificate_path="c",
        private_key_path="k",
        trust_anchor_arn="ta",
        profile_arn="p",
        role_arn="r",
    )
    assert text == (
        "[default]\nregion = us-east-1\ncredential_process = h credential-process --certificate c "
        "--private-key k --trust-anchor-arn ta --profile-arn p --role-arn r --region us-east-1\n"
    )


@pytest.mark.parametrize(
    "subjects, over, words",
    [
        ((), {}, "distinct certificate subjects"),
        (("a", "a"), {}, "distinct certificate subjects"),
        (("a",), {"certificate_validity_hours": 10, "ca_validity_hours": 5}, "outlive its CA"),
    ],
)
def test_bad_arguments_are_refused(subjects, over, words):
    with pytest.raises(ValueError, match=words):
        WorkloadIdentity(
            "x",
            WorkloadIdentityArgs(
                name="x", region="eu-west-1", subjects=list(subjects), table_arns=[], parameter_arns=[], **over
            ),
        )


def test_the_argument_checks_are_a_plain_function():
    def args(subjects=("a",), **over):
        return WorkloadIdentityArgs(
            name="x", region="eu-west-1", subjects=list(subjects), table_arns=[], parameter_arns=[], **over
        )

    check_workload_identity_args(args(("a", "b"), notice_topic_arn="topic", notice_key_arn="key"))
    for bad, words in (
        (args(()), "distinct certificate subjects"),
        (args(("a", "a")), "distinct certificate subjects"),
        (args(certificate_validity_hours=10, ca_validity_hours=5), "outlive its CA"),
        (args(notice_topic_arn="topic", notice_days=30), "after the renewal window opens"),
        (args(notice_topic_arn="topic", ca_notice_days=180), "after the renewal window opens"),
    ):
        with pytest.raises(ValueError, match=words):
            check_workload_identity_args(bad)


def _serious(doc: dict) -> list:
    findings = parliament.analyze_policy_string(json.dumps(doc)).findings
    return [(f.issue, f.detail) for f in findings if f.severity in ("MEDIUM", "HIGH", "CRITICAL")]


def test_trust_policy_passes_parliament_and_is_pinned_to_anchor_and_subjects():
    anchor = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0123abcd-0123-4567-89ab-0123456789ab"
    doc = iam.roles_anywhere_trust_policy(trust_anchor_arn=anchor, common_names=["b", "a"])
    (statement,) = doc["Statement"]
    assert statement["Principal"] == {"Service": "rolesanywhere.amazonaws.com"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": anchor},
        "StringEquals": {"aws:PrincipalTag/x509Subject/CN": ["a", "b"]},
    }
    assert _serious(doc) == []


def test_scaler_statements_pass_parliament_and_read_one_secret_only():
    arns = [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/prod/nyc3/kubernetes-scaler-AbCdEf",
        "arn:aws:secretsmanager:us-west-2:123456789012:secret:orders/prod/nyc3/kubernetes-scaler-AbCdEf",
    ]
    statements = iam.scaler_credentials_statements(arns)
    assert statements == [
        {
            "Sid": "KubernetesScalerCredentials",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": arns,
        }
    ]
    assert _serious({"Version": "2012-10-17", "Statement": statements}) == []
    misspelt = {"Version": "2012-10-17", "Statement": [{**statements[0], "Action": ["secretsmanager:GetSecretValues"]}]}
    assert [f.issue for f in parliament.analyze_policy_string(json.dumps(misspelt)).findings] == ["UNKNOWN_ACTION"]


# -- certificate expiry notices -------------------------------------------------------------------------------
TOPIC = "arn:aws:sns:eu-west-1:123456789012:orders-notify-eu-west-1-topic-abc1234"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab"


def test_the_notice_window_and_message_are_plain_functions():
    from components.workload_identity import expiry_notice_message, expiry_notice_window

    assert expiry_notice_window("2026-04-01T12:30:00Z", 21) == ("2026-03-11T12:30:00Z", "2026-04-01T12:30:00Z")
    assert expiry_notice_window("2026-04-01T14:30:00+02:00", 1) == ("2026-03-31T12:30:00Z", "2026-04-01T12:30:00Z")
    message = json.loads(
        expiry_notice_message(
            what="the workload certificate gra-1",
            identity="orders-prod-gra",
            validity_end="2026-04-01T00:00:00Z",
            renewal_days=30,
        )
    )
    assert message["expires"] == "2026-04-01T00:00:00Z" and "last 30 days" in message["action"]


def test_every_certificate_and_the_ca_is_announced_daily_before_it_expires(recorder):
    """Certificates renew only on a `pulumi up`: a stack not deployed for 69 days gets a notice a day on its notice
    topic until it is (three weeks before the workloads lose AWS access), the CA 150 days before its end."""
    rec = recorder(declare(notice_topic_arn=TOPIC, notice_key_arn=KEY))
    schedules = {r.inputs["name"]: r for r in rec.of_type("aws:scheduler/schedule:Schedule")}
    assert sorted(schedules) == [
        "orders-prod-gra-ca-expiry",
        "orders-prod-gra-orders-prod-gra-1-expiry",
        "orders-prod-gra-orders-prod-gra-2-expiry",
    ]
    role = next(r for r in rec.of_type("aws:iam/role:Role") if r.name == "orders-gra-expiry-notices")
    policy = next(r for r in rec.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "orders-gra-expiry-notices")
    assert json.loads(role.inputs["assumeRolePolicy"]) == iam.scheduler_trust_policy(account_id="123456789012")
    assert json.loads(policy.inputs["policy"]) == iam.notice_publisher_policy(topic_arn=TOPIC, key_arn=KEY)
    leaf_end = rec.of_type("tls:index/locallySignedCert:LocallySignedCert")[0].outputs["validityEndTime"]
    ca_end = rec.one("tls:index/selfSignedCert:SelfSignedCert").outputs["validityEndTime"]
    assert leaf_end and ca_end
    for name, schedule in schedules.items():
        i = schedule.inputs
        end, days = (ca_end, 150) if name.endswith("-ca-expiry") else (leaf_end, 21)
        start = datetime.datetime.fromisoformat(i["startDate"])
        assert i["endDate"] == end.replace("+00:00", "Z")
        assert datetime.datetime.fromisoformat(end) - start == datetime.timedelta(days=days)
        assert (i["scheduleExpression"], i["flexibleTimeWindow"]) == ("rate(1 day)", {"mode": "OFF"})
        assert (i["target"]["arn"], i["target"]["roleArn"]) == (TOPIC, role.outputs["arn"])
        assert json.loads(i["target"]["input"])["expires"] == end
        assert {role.urn, policy.urn} <= set(schedule.depends_on)  # it may publish from its first firing
        assert schedule.region == "eu-west-1" and len(i["name"]) <= 64


def test_no_topic_no_notices_and_notices_must_start_inside_the_renewal_window(recorder):
    rec = recorder(declare())
    assert rec.of_type("aws:scheduler/schedule:Schedule") == [] and len(rec.of_type("aws:iam/role:Role")) == 1
    with pytest.raises(ValueError, match="after the renewal window opens"):
        WorkloadIdentity(
            "x",
            WorkloadIdentityArgs(
                name="x",
                region="eu-west-1",
                subjects=["a"],
                table_arns=[],
                parameter_arns=[],
                notice_topic_arn=TOPIC,
                notice_key_arn=KEY,
                notice_days=30,
            ),
        )


def test_the_notice_documents_pass_parliament_and_name_one_topic_and_key():
    trust = iam.scheduler_trust_policy(account_id="123456789012")
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    policy = iam.notice_publisher_policy(topic_arn=TOPIC, key_arn=KEY)
    assert [(s["Action"], s["Resource"]) for s in policy["Statement"]] == [
        (["sns:Publish"], [TOPIC]),
        (["kms:Decrypt", "kms:GenerateDataKey"], [KEY]),
    ]
    assert _serious(trust) == [] and _serious(policy) == []
