"""The bucket snapshot: incremental saves (by ETag), and an unreachable emulator never empties it."""

import boto3
import pytest
from botocore.config import Config

from functions import wiring
from functions.local.stack import LOCAL_CREDENTIALS, BucketSnapshot, free_port


def test_given_a_saved_bucket_when_saved_again_then_only_changed_objects_are_copied_and_deleted_ones_dropped(
        stack, private_dir):
    s3, bucket = wiring.boto3_client("s3"), wiring.settings().bucket
    prefix = f"variants/snapshot-{free_port()}/"
    for name in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=name.encode(), ContentType="text/plain")
    snapshot = BucketSnapshot(private_dir / "s3")
    first = snapshot.save(s3, bucket)
    assert first["copied"] == first["objects"] >= 3

    s3.put_object(Bucket=bucket, Key=prefix + "b", Body=b"changed", ContentType="text/plain")
    s3.delete_object(Bucket=bucket, Key=prefix + "c")
    second = snapshot.save(s3, bucket)

    assert (second["copied"], second["dropped"], second["objects"]) == (1, 1, first["objects"] - 1)
    assert (private_dir / "s3" / "objects" / prefix / "b").read_bytes() == b"changed"
    assert not (private_dir / "s3" / "objects" / prefix / "c").exists()
    assert snapshot.entries()[prefix + "a"]["content_type"] == "text/plain"


def test_given_an_emulator_that_does_not_answer_when_saving_then_it_raises_and_the_snapshot_stays_whole(
        stack, private_dir):
    s3, bucket = wiring.boto3_client("s3"), wiring.settings().bucket
    s3.put_object(Bucket=bucket, Key="variants/snapshot-kept/x", Body=b"x")
    snapshot = BucketSnapshot(private_dir / "s3")
    saved = snapshot.save(s3, bucket)["objects"]
    gone = boto3.client("s3", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}",
                        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
                        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    with pytest.raises(Exception):
        snapshot.save(gone, bucket)
    assert len(snapshot.entries()) == saved
