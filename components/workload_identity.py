"""Short-lived AWS credentials for workloads that run outside AWS (DOKS pods, OVHcloud servers).

IAM Roles Anywhere: a private CA (generated with pulumi-tls) is registered as a trust anchor; a role
trusts that anchor for certificates with the listed subject names only; a profile vends one-hour
sessions of that role. Each workload holds a certificate and its key and runs AWS's signing helper as
its `credential_process`, so no AWS access key exists anywhere. The private keys stay Pulumi secrets.

Roles Anywhere is regional: create one `WorkloadIdentity` per AWS region that serves a site, so a
site's credentials never depend on another region.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls

from components.iam import roles_anywhere_trust_policy, task_policy
from components.naming import IAM_ROLE, ROLES_ANYWHERE_PROFILE, TRUST_ANCHOR, autonamed, aws_name

ORGANIZATION = "dynamodb-dr"
# The signing helper asks for a session of this length; the profile caps it.
SESSION_SECONDS = 3600
_SECRET_KEY_OUTPUTS = ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"]


def aws_config_file(*, region: str, signing_helper: str, certificate_path: str, private_key_path: str,
                    trust_anchor_arn: str, profile_arn: str, role_arn: str) -> str:
    """The AWS config file a workload mounts: every AWS SDK and the CLI call the signing helper for
    credentials (and cache them until shortly before they expire)."""
    process = " ".join([
        signing_helper, "credential-process",
        "--certificate", certificate_path,
        "--private-key", private_key_path,
        "--trust-anchor-arn", trust_anchor_arn,
        "--profile-arn", profile_arn,
        "--role-arn", role_arn,
        "--region", region,
    ])
    return f"[default]\nregion = {region}\ncredential_process = {process}\n"


def _resource_suffix(subject: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", subject.lower()).strip("-")


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    name: str
    """Prefix of the physical names (`<app>-<stack>-<site>`)."""
    region: str
    """The AWS region of the aws provider passed in opts: the trust anchor's and profile's region."""
    subjects: list[str]
    """Certificate subject common names, one certificate each (a site, or a server)."""
    table_arns: pulumi.Input[list]
    """Every replica of the data table (the app follows the active region)."""
    parameter_arns: pulumi.Input[list]
    """The active-region parameter in every region (the client falls back across regions)."""
    certificate_validity_hours: int = 90 * 24
    early_renewal_hours: int = 30 * 24
    """A `pulumi up` within this window before expiry issues a new certificate (and key)."""
    ca_validity_hours: int = 5 * 365 * 24
    ca_early_renewal_hours: int = 180 * 24


@dataclass(frozen=True)
class WorkloadCertificate:
    certificate_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    """A Pulumi secret: it reaches a workload only as a secret (a Kubernetes Secret, an encrypted file)."""


class WorkloadIdentity(pulumi.ComponentResource):
    """Trust anchor + profile + role for one AWS region, and a certificate per subject.

    Outputs: `trust_anchor_arn`, `profile_arn`, `role_arn`, `certificates[subject]`.
    """

    trust_anchor_arn: pulumi.Output[str]
    profile_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    certificates: dict[str, WorkloadCertificate]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr:identity:WorkloadIdentity", name, None, opts)
        if not args.subjects or len(set(args.subjects)) != len(args.subjects):
            raise ValueError("a workload identity needs distinct certificate subjects")
        if args.certificate_validity_hours > args.ca_validity_hours:
            raise ValueError("a workload certificate cannot outlive its CA")
        child = pulumi.ResourceOptions(parent=self)
        secret_key = pulumi.ResourceOptions(parent=self, additional_secret_outputs=_SECRET_KEY_OUTPUTS)

        ca_key = tls.PrivateKey(f"{name}-ca", algorithm="ECDSA", ecdsa_curve="P256", opts=secret_key)
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{args.name} workload CA", organization=ORGANIZATION),
            is_ca_certificate=True,
            validity_period_hours=args.ca_validity_hours,
            early_renewal_hours=args.ca_early_renewal_hours,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            set_subject_key_id=True,
            opts=child,
        )
        anchor = aws.rolesanywhere.TrustAnchor(
            f"{name}-anchor",
            name=aws_name(TRUST_ANCHOR, f"{args.name}-workloads"),
            enabled=True,
            source=aws.rolesanywhere.TrustAnchorSourceArgs(
                source_type="CERTIFICATE_BUNDLE",
                source_data=aws.rolesanywhere.TrustAnchorSourceSourceDataArgs(x509_certificate_data=ca.cert_pem),
            ),
            opts=child,
        )
        role = aws.iam.Role(
            autonamed(IAM_ROLE, f"{name}-workload"),
            description=f"Workloads of {args.name} (IAM Roles Anywhere)",
            assume_role_policy=anchor.arn.apply(lambda arn: json.dumps(
                roles_anywhere_trust_policy(trust_anchor_arn=arn, common_names=list(args.subjects)))),
            max_session_duration=SESSION_SECONDS,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-workload",
            role=role.id,
            policy=pulumi.Output.all(args.table_arns, args.parameter_arns).apply(
                lambda a: json.dumps(task_policy(table_arns=list(a[0]), parameter_arns=list(a[1])))),
            opts=child,
        )
        profile = aws.rolesanywhere.Profile(
            f"{name}-profile",
            name=aws_name(ROLES_ANYWHERE_PROFILE, f"{args.name}-workloads"),
            enabled=True,
            role_arns=[role.arn],
            duration_seconds=SESSION_SECONDS,
            opts=child,
        )

        self.certificates = {}
        for subject in args.subjects:
            suffix = _resource_suffix(subject)
            key = tls.PrivateKey(f"{name}-{suffix}", algorithm="ECDSA", ecdsa_curve="P256", opts=secret_key)
            request = tls.CertRequest(
                f"{name}-{suffix}",
                private_key_pem=key.private_key_pem,
                subject=tls.CertRequestSubjectArgs(common_name=subject, organization=ORGANIZATION),
                opts=child,
            )
            certificate = tls.LocallySignedCert(
                f"{name}-{suffix}",
                cert_request_pem=request.cert_request_pem,
                ca_private_key_pem=ca_key.private_key_pem,
                ca_cert_pem=ca.cert_pem,
                validity_period_hours=args.certificate_validity_hours,
                early_renewal_hours=args.early_renewal_hours,
                allowed_uses=["digital_signature", "client_auth"],
                opts=child,
            )
            self.certificates[subject] = WorkloadCertificate(
                certificate_pem=certificate.cert_pem,
                private_key_pem=pulumi.Output.secret(key.private_key_pem),
            )

        self.region = args.region
        self.trust_anchor_arn = anchor.arn
        self.profile_arn = profile.arn
        self.role_arn = role.arn
        self.register_outputs({"trustAnchorArn": anchor.arn, "profileArn": profile.arn, "roleArn": role.arn})

    def aws_config(self, *, signing_helper: str, certificate_path: str, private_key_path: str) -> pulumi.Output[str]:
        """`aws_config_file(...)` with this identity's ARNs."""
        return pulumi.Output.all(self.trust_anchor_arn, self.profile_arn, self.role_arn).apply(
            lambda a: aws_config_file(region=self.region, signing_helper=signing_helper,
                                      certificate_path=certificate_path, private_key_path=private_key_path,
                                      trust_anchor_arn=a[0], profile_arn=a[1], role_arn=a[2]))
