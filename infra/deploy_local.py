"""Provision infra/resources.json on whatever S3/SQS endpoint and database are configured.

Idempotent: each resource is read first and written only when it differs, so a second
run reports no changes (and moto sends no second s3:TestEvent).

    python -m infra.deploy_local          # uses AWS_ENDPOINT_URL and DATABASE_URL
"""

import json
import logging
import sys
from typing import Any

from botocore.exceptions import ClientError

from functions import wiring
from functions.adapters.database import apply_migrations
from infra.resources import BucketSpec, QueueSpec, Resources, load

log = logging.getLogger(__name__)


def deploy(settings, s3, sqs, db) -> list[str]:
    """Create or update every resource; return a line per change (empty when nothing changed)."""
    resources = load(settings)
    changes: list[str] = []
    changes += _ensure_bucket(s3, resources.bucket, settings.region)
    arns = {}
    for queue in resources.queues:
        queue_changes, arns[queue.name] = _ensure_queue(sqs, queue, resources)
        changes += queue_changes
    changes += _ensure_notifications(s3, resources.bucket, arns)
    changes += [f"migration {name} applied" for name in apply_migrations(db)]
    return changes


def _ensure_bucket(s3, bucket: BucketSpec, region: str) -> list[str]:
    changes = []
    try:
        s3.head_bucket(Bucket=bucket.name)
    except ClientError:
        kwargs: dict[str, Any] = {"Bucket": bucket.name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        changes.append(f"bucket {bucket.name} created")
    block = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
             "RestrictPublicBuckets": True}
    try:
        current_block = s3.get_public_access_block(Bucket=bucket.name)["PublicAccessBlockConfiguration"]
    except ClientError:
        current_block = None
    if current_block != block:
        s3.put_public_access_block(Bucket=bucket.name, PublicAccessBlockConfiguration=block)
        changes.append(f"bucket {bucket.name} public access blocked")
    rule = {
        "AllowedHeaders": list(bucket.cors_headers),
        "AllowedMethods": list(bucket.cors_methods),
        "AllowedOrigins": [bucket.cors_origin],
        "ExposeHeaders": list(bucket.cors_expose),
        "MaxAgeSeconds": bucket.cors_max_age,
    }
    try:
        current = s3.get_bucket_cors(Bucket=bucket.name)["CORSRules"]
    except ClientError:
        current = []
    if [_without_id(item) for item in current] != [rule]:
        s3.put_bucket_cors(Bucket=bucket.name, CORSConfiguration={"CORSRules": [rule]})
        changes.append(f"bucket {bucket.name} CORS set for {bucket.cors_origin}")
    return changes


def _without_id(rule):
    return {key: value for key, value in rule.items() if key != "ID"}


def _ensure_queue(sqs, queue: QueueSpec, resources: Resources):
    changes = []
    dlq_url, created = _queue_url(sqs, queue.dlq_name)
    if created:
        changes.append(f"queue {queue.dlq_name} created")
    dlq_arn = _arn(sqs, dlq_url)
    changes += _set_attributes(sqs, dlq_url, queue.dlq_name, {
        "MessageRetentionPeriod": str(queue.dlq_retention_seconds),
    })
    url, created = _queue_url(sqs, queue.name)
    if created:
        changes.append(f"queue {queue.name} created")
    arn = _arn(sqs, url)
    wanted = {
        "VisibilityTimeout": str(queue.visibility_timeout),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}),
    }
    senders = [n for n in resources.bucket.notifications if n.queue.name == queue.name]
    if senders:
        wanted["Policy"] = json.dumps(_s3_send_policy(arn, resources.bucket.name))
    changes += _set_attributes(sqs, url, queue.name, wanted)
    return changes, arn


def _queue_url(sqs, name):
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"], False
    except ClientError:
        return sqs.create_queue(QueueName=name)["QueueUrl"], True


def _arn(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _set_attributes(sqs, url, name, wanted) -> list[str]:
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
    differing = {key: value for key, value in wanted.items() if not _same(current.get(key), value)}
    if not differing:
        return []
    sqs.set_queue_attributes(QueueUrl=url, Attributes=differing)
    return [f"queue {name} {', '.join(sorted(differing))} set"]


def _same(current, wanted) -> bool:
    if current is None:
        return False
    if wanted.startswith("{"):
        try:
            return _normalise(json.loads(current)) == _normalise(json.loads(wanted))
        except ValueError:
            return False
    return str(current) == wanted


def _normalise(value):
    # SQS may echo numbers in JSON attributes back as strings.
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    return str(value)


def _s3_send_policy(queue_arn: str, bucket: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowBucketNotifications",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
        }],
    }


def _ensure_notifications(s3, bucket: BucketSpec, arns) -> list[str]:
    wanted = [
        {
            "Id": item.id,
            "QueueArn": arns[item.queue.name],
            "Events": list(item.events),
            # S3 treats the rule name case-insensitively; moto accepts only lower case.
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": item.prefix}]}},
        }
        for item in bucket.notifications
    ]
    current = s3.get_bucket_notification_configuration(Bucket=bucket.name).get("QueueConfigurations", [])
    if _notification_key(current) == _notification_key(wanted):
        return []
    s3.put_bucket_notification_configuration(
        Bucket=bucket.name, NotificationConfiguration={"QueueConfigurations": wanted}
    )
    return [f"bucket {bucket.name} notifications set"]


def _notification_key(configs):
    key = []
    for config in configs:
        rules = config.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        key.append((
            config.get("Id"), config.get("QueueArn"), tuple(sorted(config.get("Events", []))),
            tuple(sorted((rule["Name"].lower(), rule["Value"]) for rule in rules)),
        ))
    return sorted(key)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = wiring.settings()
    changes = deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
    for change in changes:
        print(f"  {change}")
    print(f"deploy-local: {len(changes)} change(s) on {settings.endpoint_url or 'AWS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
