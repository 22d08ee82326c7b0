"""A KMS-encrypted SNS topic per region, for failover notices and (in us-east-1) health alarms."""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.iam import topic_key_policy


class NotificationTopic(pulumi.ComponentResource):
    """Customer-managed key (CloudWatch and EventBridge may use it), the topic, and email subscriptions."""

    key: aws.kms.Key
    topic: aws.sns.Topic

    def __init__(
        self,
        name: str,
        *,
        account_id: pulumi.Input[str],
        emails: list[str],
        provider: aws.Provider,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("dr:notify:NotificationTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.key = aws.kms.Key(
            f"{name}-key",
            description="Encrypts DR notifications",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.from_input(account_id).apply(
                lambda acct: json.dumps(topic_key_policy(account_id=acct))
            ),
            opts=child,
        )
        self.topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=self.key.arn, opts=child)
        for i, email in enumerate(emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{i}", topic=self.topic.arn, protocol="email", endpoint=email, opts=child
            )
        self.register_outputs({"topicArn": self.topic.arn, "keyArn": self.key.arn})
