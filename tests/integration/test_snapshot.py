"""The bucket snapshot: incremental saves (by ETag), an unreachable emulator never empties it, and no key
(``..``, ``K`` with ``K/z``, a trailing ``/``) writes outside its folder or stops the other objects' save."""

import json
import os
import stat

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
    assert snapshot._path(prefix + "b").read_bytes() == b"changed"
    assert not snapshot._path(prefix + "c").exists()
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


def _files(folder):
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_given_keys_with_dot_dot_and_k_with_k_slash_z_when_saved_and_restored_then_nothing_leaves_the_folder(
        stack, private_dir):
    s3, bucket = wiring.boto3_client("s3"), wiring.settings().bucket
    # As the review left it: the state folder's secret next to the snapshot folder.
    secret = private_dir / "jwt-secret"
    secret.write_text("the real secret")
    secret.chmod(0o600)
    prefix = f"originals/snapshot-{free_port()}/"
    hostile = {"originals/../../jwt-secret": b"forged", f"{prefix}../../../../jwt-secret": b"forged",
               "variants/../jwt-secret": b"forged"}
    kept = {prefix + "K": b"file", prefix + "K/z": b"under it", prefix + "ends/": b"slash", prefix + "ok": b"ok"}
    for key, body in {**hostile, **kept, "elsewhere/x": b"not ours"}.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    listed = {item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
              for item in page.get("Contents", [])}
    assert set(kept) <= listed and set(hostile) & listed, listed
    outside = {path: data for path, data in _files(private_dir).items() if private_dir / "s3" not in path.parents}

    snapshot = BucketSnapshot(private_dir / "s3")
    counts = snapshot.save(s3, bucket)

    assert counts["failed"] == 0
    assert secret.read_text() == "the real secret" and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert {path: data for path, data in _files(private_dir).items()
            if private_dir / "s3" not in path.parents} == outside
    entries = snapshot.entries()
    assert set(kept) <= set(entries) and "elsewhere/x" not in entries
    # Every file is objects/<64 hex digits> or the index, whatever the key.
    assert all(path.parent == snapshot.objects and len(path.name) == 64 or path == snapshot.index
               for path in _files(private_dir / "s3"))

    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in kept]})
    snapshot.restore(s3, bucket)
    for key, body in kept.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert secret.read_text() == "the real secret"


def test_given_an_object_that_cannot_be_written_when_saved_then_the_others_are_saved_and_it_is_counted(
        stack, private_dir):
    s3, bucket = wiring.boto3_client("s3"), wiring.settings().bucket
    prefix = f"variants/snapshot-{free_port()}/"
    for name in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=name.encode())
    snapshot = BucketSnapshot(private_dir / "s3")
    # A real filesystem refusal for one object: a folder where its temporary file goes.
    blocked = snapshot._path(prefix + "b")
    blocked.with_name(blocked.name + ".saving").mkdir(parents=True)

    counts = snapshot.save(s3, bucket)

    assert counts["failed"] == 1
    entries = snapshot.entries()
    assert prefix + "a" in entries and prefix + "c" in entries and prefix + "b" not in entries
    assert snapshot._path(prefix + "c").read_bytes() == b"c"


def test_given_a_snapshot_in_the_previous_layout_when_restored_then_its_objects_come_back_and_no_traversal(
        stack, private_dir):
    s3, bucket = wiring.boto3_client("s3"), wiring.settings().bucket
    folder = private_dir / "s3"
    good = f"originals/snapshot-old-{free_port()}/photo"
    (folder / "objects" / good).parent.mkdir(parents=True)
    (folder / "objects" / good).write_bytes(b"old layout")
    (private_dir / "outside").write_bytes(b"not an object")
    sneaky = "originals/../../outside"
    (folder / "index.json").write_text(json.dumps({good: {"etag": "", "content_type": "image/png"},
                                                   sneaky: {"etag": "", "content_type": "text/plain"}}))
    snapshot = BucketSnapshot(folder)

    assert snapshot.restore(s3, bucket) == 1
    assert s3.get_object(Bucket=bucket, Key=good)["Body"].read() == b"old layout"
    s3.delete_object(Bucket=bucket, Key=sneaky)   # in case an emulator normalised nothing
    # The next save moves it to the new layout and drops the old files.
    snapshot.save(s3, bucket)
    assert snapshot._path(good).read_bytes() == b"old layout"
    assert not (folder / "objects" / "originals").exists()
    assert os.path.exists(private_dir / "outside")
