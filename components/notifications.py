"""A KMS-encrypted SNS topic per region, for failover notices and (in us-east-1) health alarms."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.iam import topic_key_policy
from components.naming import SNS_TOPIC, autonamed


class NotificationTopic(pulumi.ComponentResource):
    """Customer-managed key, the topic, and email subscriptions.

    The key lets a service principal use it only where that service publishes here: CloudWatch, for
    the alarms named by `alarm_name_pattern` in this account and region; no one else.
    """

    key: aws.kms.Key
    topic: aws.sns.Topic

    def __init__(
        self,
        name: str,
        *,
        account_id: pulumi.Input[str],
        emails: list[str],
        provider: aws.Provider,
        alarm_name_pattern: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dr:notify:NotificationTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)).region
        self.key = aws.kms.Key(
            f"{name}-key",
            description="Encrypts DR notifications",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(account_id, region).apply(
                lambda a: json.dumps(
                    topic_key_policy(account_id=a[0], region=a[1], alarm_name_pattern=alarm_name_pattern)
                )
            ),
            opts=child,
        )
        self.topic = aws.sns.Topic(autonamed(SNS_TOPIC, f"{name}-topic"), kms_master_key_id=self.key.arn, opts=child)
        for i, email in enumerate(emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{i}", topic=self.topic.arn, protocol="email", endpoint=email, opts=child
            )
        self.register_outputs({"topicArn": self.topic.arn, "keyArn": self.key.arn})
