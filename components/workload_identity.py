"""Short-lived AWS credentials for workloads that run outside AWS (DOKS pods, OVHcloud servers).

IAM Roles Anywhere: a private CA (generated with pulumi-tls) is registered as a trust anchor; a role
trusts that anchor for certificates with the listed subject names only; a profile vends one-hour
sessions of that role. Each workload holds a certificate and its key and runs AWS's signing helper as
its `credential_process`, so no AWS access key exists anywhere. The private keys stay Pulumi secrets.

Roles Anywhere is regional: create one `WorkloadIdentity` per AWS region that serves a site, so a
site's credentials never depend on another region.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls

from components.iam import (
    notice_publisher_policy,
    roles_anywhere_trust_policy,
    scheduler_trust_policy,
    task_policy,
)
from components.naming import IAM_ROLE, ROLES_ANYWHERE_PROFILE, SCHEDULE, TRUST_ANCHOR, autonamed, aws_name

ORGANIZATION = "dynamodb-dr"
# The signing helper asks for a session of this length; the profile caps it.
SESSION_SECONDS = 3600
_SECRET_KEY_OUTPUTS = ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"]


def aws_config_file(
    *,
    region: str,
    signing_helper: str,
    certificate_path: str,
    private_key_path: str,
    trust_anchor_arn: str,
    profile_arn: str,
    role_arn: str,
) -> str:
    """The AWS config file a workload mounts: every AWS SDK and the CLI call the signing helper for
    credentials (and cache them until shortly before they expire)."""
    process = f"{signing_helper} credential-process --certificate {certificate_path} --private-key {private_key_path} --trust-anchor-arn {trust_anchor_arn} --profile-arn {profile_arn} --role-arn {role_arn} --region {region}"
    return f"[default]\nregion = {region}\ncredential_process = {process}\n"


def expiry_notice_window(validity_end: str, notice_days: int) -> tuple[str, str]:
    """(start, end) of the daily notices about a certificate that ends at `validity_end` (RFC 3339, as pulumi-tls
    reports it): from `notice_days` before its end until its end, as EventBridge Scheduler's UTC dates."""
    end = datetime.datetime.fromisoformat(validity_end).astimezone(datetime.UTC)
    start = end - datetime.timedelta(days=notice_days)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")


def expiry_notice_message(validity_end: str, *, what: str, identity: str, renewal_days: int) -> str:
    """The notice's SNS message (the topic's email subscribers read it as it is) about a certificate that ends at
    `validity_end` (the value of the Output it is applied to)."""
    return json.dumps(
        {
            "notice": "dynamodb-dr workload certificate expiring",
            "certificate": what,
            "identity": identity,
            "expires": validity_end,
            "action": (
                f"run `pulumi up` (or drctl deploy) for this stack: any update in the certificate's last "
                f"{renewal_days} days issues a new one; without it, the workloads lose AWS access at expiry"
            ),
        },
        sort_keys=True,
    )


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
    table_arns: pulumi.Input[Sequence[str]]
    """Every replica of the data table (the app follows the active region)."""
    parameter_arns: pulumi.Input[Sequence[str]]
    control_arns: pulumi.Input[Sequence[str]] = ()
    """The control table in its replica regions: the workloads confirm their write permission there."""
    """The active-region parameter in every region (the client falls back across regions)."""
    certificate_validity_hours: int = 90 * 24
    early_renewal_hours: int = 30 * 24
    """A `pulumi up` within this window before expiry issues a new certificate (and key)."""
    ca_validity_hours: int = 5 * 365 * 24
    ca_early_renewal_hours: int = 180 * 24
    notice_topic_arn: pulumi.Input[str] | None = None
    """A notice topic (KMS-encrypted) in `region`: each certificate not renewed in time is announced there
    every day from `notice_days` (the CA: `ca_notice_days`) before it expires until it is renewed."""
    notice_key_arn: pulumi.Input[str] | None = None
    """The notice topic's KMS key (the notices' publisher must encrypt with it)."""
    notice_days: int = 21
    """Workload certificates renew on any `pulumi up` in their last 30 days: nine days without one start the
    notices, three weeks before the workloads would lose AWS access."""
    ca_notice_days: int = 150


@dataclass(frozen=True)
class WorkloadCertificate:
    certificate_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    """A Pulumi secret: it reaches a workload only as a secret (a Kubernetes Secret, an encrypted file)."""


def check_workload_identity_args(args: WorkloadIdentityArgs) -> None:
    """ValueError when the arguments cannot make a working identity: repeated subjects, a certificate that would
    outlive its CA, or expiry notices that would start before a `pulumi up` can renew."""
    if not args.subjects or len(set(args.subjects)) != len(args.subjects):
        raise ValueError("a workload identity needs distinct certificate subjects")
    if args.certificate_validity_hours > args.ca_validity_hours:
        raise ValueError("a workload certificate cannot outlive its CA")
    if args.notice_topic_arn is not None and not (
        args.notice_days * 24 < args.early_renewal_hours and args.ca_notice_days * 24 < args.ca_early_renewal_hours
    ):
        raise ValueError("expiry notices must start after the renewal window opens (a `pulumi up` then renews)")


class WorkloadIdentity(pulumi.ComponentResource):
    """Trust anchor + profile + role for one AWS region, and a certificate per subject.

    Outputs: `trust_anchor_arn`, `profile_arn`, `role_arn`, `certificates[subject]`.
    """

    trust_anchor_arn: pulumi.Output[str]
    profile_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    certificates: dict[str, WorkloadCertificate]
    expiry_schedules: dict[str, aws.scheduler.Schedule]
    """`ca` and each subject's resource suffix -> its expiry notice schedule (none without a notice topic)."""

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dr:identity:WorkloadIdentity", name, None, opts)
        check_workload_identity_args(args)
        child = pulumi.ResourceOptions(parent=self)
        ca_key, ca = self._ca(name, args)
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
        role, profile = self._role_and_profile(name, args, anchor)
        expiring: dict[str, tuple[pulumi.Output[str], int, int]] = {
            "ca": (ca.validity_end_time, args.ca_notice_days, args.ca_early_renewal_hours // 24)
        }
        self.certificates = {}
        for subject in args.subjects:
            self.certificates[subject], validity_end = self._certificate(name, args, subject, ca_key, ca)
            expiring[_resource_suffix(subject)] = (validity_end, args.notice_days, args.early_renewal_hours // 24)
        self.expiry_schedules = self._expiry_notices(name, args, expiring) if args.notice_topic_arn is not None else {}

        self.region = args.region
        self.trust_anchor_arn = anchor.arn
        self.profile_arn = profile.arn
        self.role_arn = role.arn
        self.register_outputs({"trustAnchorArn": anchor.arn, "profileArn": profile.arn, "roleArn": role.arn})

    def _ca(self, name: str, args: WorkloadIdentityArgs) -> tuple[tls.PrivateKey, tls.SelfSignedCert]:
        """The private CA the trust anchor registers (its key a Pulumi secret)."""
        ca_key = tls.PrivateKey(
            f"{name}-ca",
            algorithm="ECDSA",
            ecdsa_curve="P256",
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=_SECRET_KEY_OUTPUTS),
        )
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{args.name} workload CA", organization=ORGANIZATION),
            is_ca_certificate=True,
            validity_period_hours=args.ca_validity_hours,
            early_renewal_hours=args.ca_early_renewal_hours,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            set_subject_key_id=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return ca_key, ca

    def _role_and_profile(
        self,
        name: str,
        args: WorkloadIdentityArgs,
        anchor: aws.rolesanywhere.TrustAnchor,
    ) -> tuple[aws.iam.Role, aws.rolesanywhere.Profile]:
        """The role the anchor's certificates with the listed subjects may assume (the data table, the
        active-region parameter and the control table only), and the profile that vends its sessions."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            autonamed(IAM_ROLE, f"{name}-workload"),
            description=f"Workloads of {args.name} (IAM Roles Anywhere)",
            assume_role_policy=anchor.arn.apply(
                lambda arn: json.dumps(
                    roles_anywhere_trust_policy(trust_anchor_arn=arn, common_names=list(args.subjects))
                )
            ),
            max_session_duration=SESSION_SECONDS,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-workload",
            role=role.id,
            policy=pulumi.Output.all(args.table_arns, args.parameter_arns, args.control_arns).apply(
                lambda a: json.dumps(
                    task_policy(table_arns=list(a[0]), parameter_arns=list(a[1]), control_table_arns=list(a[2]))
                )
            ),
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
        return role, profile

    def _certificate(
        self, name: str, args: WorkloadIdentityArgs, subject: str, ca_key: tls.PrivateKey, ca: tls.SelfSignedCert
    ) -> tuple[WorkloadCertificate, pulumi.Output[str]]:
        """A key and a certificate the CA signs for `subject`; returns them and the certificate's end of
        validity."""
        child = pulumi.ResourceOptions(parent=self)
        suffix = _resource_suffix(subject)
        key = tls.PrivateKey(
            f"{name}-{suffix}",
            algorithm="ECDSA",
            ecdsa_curve="P256",
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=_SECRET_KEY_OUTPUTS),
        )
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
        issued = WorkloadCertificate(
            certificate_pem=certificate.cert_pem, private_key_pem=pulumi.Output.secret(key.private_key_pem)
        )
        return issued, certificate.validity_end_time

    def _expiry_notices(
        self, name: str, args: WorkloadIdentityArgs, expiring: dict[str, tuple[pulumi.Output[str], int, int]]
    ) -> dict[str, aws.scheduler.Schedule]:
        """A daily EventBridge Scheduler schedule per certificate (and the CA) that publishes to the notice topic
        between `notice_days` before its end and its end. A renewal moves the dates with the certificate, so a
        stack that is deployed in time never sends one; one that is not sends one a day until it is."""
        if args.notice_topic_arn is None:
            return {}
        child = pulumi.ResourceOptions(parent=self)
        topic = pulumi.Output.from_input(args.notice_topic_arn)
        role = aws.iam.Role(
            f"{name}-expiry-notices",
            name=aws_name(IAM_ROLE, f"{args.name}-cert-expiry-notices"),
            description=f"EventBridge Scheduler: certificate expiry notices of {args.name}",
            assume_role_policy=topic.apply(  # the topic's account is the stack's
                lambda arn: json.dumps(scheduler_trust_policy(account_id=arn.split(":")[4]))
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-expiry-notices",
            role=role.id,
            policy=pulumi.Output.all(topic, args.notice_key_arn).apply(
                lambda a: json.dumps(notice_publisher_policy(topic_arn=a[0], key_arn=a[1]))
            ),
            opts=child,
        )
        schedules = {}
        for suffix, (validity_end, notice_days, renewal_days) in expiring.items():
            what = f"the workload CA of {args.name}" if suffix == "ca" else f"the workload certificate {suffix}"
            window = validity_end.apply(partial(expiry_notice_window, notice_days=notice_days))
            schedules[suffix] = aws.scheduler.Schedule(
                f"{name}-{suffix}-expiry",
                name=aws_name(SCHEDULE, f"{args.name}-{suffix}-expiry"),
                description=f"Daily notice while {what} is about to expire",
                schedule_expression="rate(1 day)",
                start_date=window.apply(lambda w: w[0]),
                end_date=window.apply(lambda w: w[1]),
                flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                target=aws.scheduler.ScheduleTargetArgs(
                    arn=topic,
                    role_arn=role.arn,
                    input=validity_end.apply(
                        partial(expiry_notice_message, what=what, identity=args.name, renewal_days=renewal_days)
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role, policy]),
            )
        return schedules

    def aws_config(self, *, signing_helper: str, certificate_path: str, private_key_path: str) -> pulumi.Output[str]:
        """`aws_config_file(...)` with this identity's ARNs."""
        return pulumi.Output.all(self.trust_anchor_arn, self.profile_arn, self.role_arn).apply(
            lambda a: aws_config_file(
                region=self.region,
                signing_helper=signing_helper,
                certificate_path=certificate_path,
                private_key_path=private_key_path,
                trust_anchor_arn=a[0],
                profile_arn=a[1],
                role_arn=a[2],
            )
        )
