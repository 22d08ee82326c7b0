"""WorkloadIdentity (IAM Roles Anywhere) under the mocks, and its IAM documents through parliament."""

from __future__ import annotations

import configparser
import json

import parliament
import pulumi
import pulumi_aws as aws
import pytest

from components import iam
from components.workload_identity import WorkloadIdentity, WorkloadIdentityArgs, aws_config_file

TABLES = [f"arn:aws:dynamodb:{r}:123456789012:table/orders" for r in ("eu-west-1", "eu-west-3")]
PARAMETERS = ["arn:aws:ssm:eu-west-1:123456789012:parameter/orders/prod/active_region"]


def declare(subjects=("orders.prod.gra-1", "orders.prod.gra-2"), **over):
    def run():
        provider = aws.Provider("aws-eu-west-1", region="eu-west-1")
        identity = WorkloadIdentity(
            "orders-gra", WorkloadIdentityArgs(name="orders-prod-gra", region="eu-west-1", subjects=list(subjects),
                                               table_arns=TABLES, parameter_arns=PARAMETERS, **over),
            opts=pulumi.ResourceOptions(providers={"aws": provider}))
        return pulumi.Output.all(
            certs={s: c.certificate_pem for s, c in identity.certificates.items()},
            key_secret=identity.certificates[subjects[0]].private_key_pem.is_secret(),
            config=identity.aws_config(signing_helper="/opt/aws_signing_helper", certificate_path="/etc/c.pem",
                                       private_key_path="/etc/k.pem"),
            anchor=identity.trust_anchor_arn, profile=identity.profile_arn, role=identity.role_arn)
    return run


def test_one_anchor_profile_and_role_and_a_certificate_per_subject(recorder):
    rec = recorder(declare())
    anchor = rec.one("aws:rolesanywhere/trustAnchor:TrustAnchor")
    ca = rec.one("tls:index/selfSignedCert:SelfSignedCert")
    assert anchor.region == "eu-west-1" and anchor.inputs["enabled"] is True
    assert anchor.inputs["source"] == {"sourceType": "CERTIFICATE_BUNDLE",
                                       "sourceData": {"x509CertificateData": ca.outputs["certPem"]}}
    assert ca.inputs["isCaCertificate"] is True
    assert set(ca.inputs["allowedUses"]) == {"cert_signing", "crl_signing", "digital_signature"}
    role = rec.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust == iam.roles_anywhere_trust_policy(trust_anchor_arn=anchor.outputs["arn"],
                                                    common_names=["orders.prod.gra-1", "orders.prod.gra-2"])
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
    assert flags == {"--certificate": "/etc/c.pem", "--private-key": "/etc/k.pem",
                     "--trust-anchor-arn": rec.value["anchor"], "--profile-arn": rec.value["profile"],
                     "--role-arn": rec.value["role"], "--region": "eu-west-1"}
    assert "aws_access_key_id" not in rec.value["config"].lower()


def test_aws_config_file_is_a_pure_function():
    text = aws_config_file(region="us-east-1", signing_helper="h", certificate_path="c", private_key_path="k",
                           trust_anchor_arn="ta", profile_arn="p", role_arn="r")
    assert text == ("[default]\nregion = us-east-1\ncredential_process = h credential-process --certificate c "
                    "--private-key k --trust-anchor-arn ta --profile-arn p --role-arn r --region us-east-1\n")


@pytest.mark.parametrize("subjects, over, words", [
    ((), {}, "distinct certificate subjects"),
    (("a", "a"), {}, "distinct certificate subjects"),
    (("a",), {"certificate_validity_hours": 10, "ca_validity_hours": 5}, "outlive its CA"),
])
def test_bad_arguments_are_refused(subjects, over, words):
    with pytest.raises(ValueError, match=words):
        WorkloadIdentity("x", WorkloadIdentityArgs(name="x", region="eu-west-1", subjects=list(subjects),
                                                   table_arns=[], parameter_arns=[], **over))


def _serious(doc: dict) -> list:
    findings = parliament.analyze_policy_string(json.dumps(doc)).findings
    return [(f.issue, f.detail) for f in findings if f.severity in ("MEDIUM", "HIGH", "CRITICAL")]


def test_trust_policy_passes_parliament_and_is_pinned_to_anchor_and_subjects():
    anchor = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0123abcd-0123-4567-89ab-0123456789ab"
    doc = iam.roles_anywhere_trust_policy(trust_anchor_arn=anchor, common_names=["b", "a"])
    (statement,) = doc["Statement"]
    assert statement["Principal"] == {"Service": "rolesanywhere.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": anchor},
                                      "StringEquals": {"aws:PrincipalTag/x509Subject/CN": ["a", "b"]}}
    assert _serious(doc) == []


def test_scaler_statements_pass_parliament_and_read_one_secret_only():
    arns = ["arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/prod/nyc3/kubernetes-scaler-AbCdEf",
            "arn:aws:secretsmanager:us-west-2:123456789012:secret:orders/prod/nyc3/kubernetes-scaler-AbCdEf"]
    statements = iam.scaler_credentials_statements(arns)
    assert statements == [{"Sid": "KubernetesScalerCredentials", "Effect": "Allow",
                           "Action": ["secretsmanager:GetSecretValue"], "Resource": arns}]
    assert _serious({"Version": "2012-10-17", "Statement": statements}) == []
    misspelt = {"Version": "2012-10-17", "Statement": [{**statements[0], "Action": ["secretsmanager:GetSecretValues"]}]}
    assert [f.issue for f in parliament.analyze_policy_string(json.dumps(misspelt)).findings] == ["UNKNOWN_ACTION"]
