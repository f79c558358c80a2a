"""The image bucket: presigned POSTs and GETs, reads, writes, deletes."""

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.disposition import attachment_disposition
from functions.errors import Unavailable


class Storage:
    """Wraps an S3 client and one bucket (``Storage(s3_client, bucket)``).

    ``presigner`` signs browser links when browsers reach storage at another address than
    this process does (containers); signing is local, it makes no request.
    """

    def __init__(self, s3, bucket: str, presigner=None):
        self._s3 = s3
        self._presigner = presigner or s3
        self.bucket = bucket

    def presigned_post(self, key: str, *, max_bytes: int, content_type: str, expires_in: int,
                       min_bytes: int = 1) -> dict[str, Any]:
        """A browser form upload to exactly ``key``, of the declared type and min_bytes..max_bytes bytes.

        S3 enforces the range (400 EntityTooLarge / EntityTooSmall); some emulators do not.
        """
        return self._presigner.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", min_bytes, max_bytes],
            ],
            ExpiresIn=expires_in,
        )

    def presigned_get(self, key: str, *, expires_in: int, download_name: str | None = None) -> str:
        """A short-lived GET link; ``download_name`` makes browsers save it under that name."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = attachment_disposition(download_name)
        return self._presigner.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write (or overwrite) one object."""
        self._call(self._s3.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def head(self, key: str) -> dict[str, Any] | None:
        """Size, ETag (without quotes) and stored content type, or None when the object does not exist."""
        try:
            found = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise Unavailable(f"Storage refused to describe an object: {_code(error)}") from error
        except BotoCoreError as error:
            raise Unavailable("Storage is unavailable.") from error
        return {"bytes": found["ContentLength"], "etag": found.get("ETag", "").strip('"') or None,
                "content_type": found.get("ContentType")}

    def get(self, key: str, *, etag: str | None = None) -> bytes:
        """The whole object; with ``etag``, only that version of it (Unavailable if it was replaced since)."""
        extra = {"IfMatch": f'"{etag}"'} if etag else {}
        answer = self._call(self._s3.get_object, Bucket=self.bucket, Key=key, **extra)
        return answer["Body"].read()

    def delete(self, keys: Iterable[str]) -> None:
        """Delete objects; keys that do not exist are fine (idempotent)."""
        keys = list(keys)
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": key} for key in keys[start:start + 1000]]
            answer = self._call(self._s3.delete_objects, Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})
            # S3 answers 200 and lists the keys it could not delete; callers rely on "deleted or raised".
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise Unavailable(f"Storage kept {len(answer['Errors'])} object(s): {first.get('Code', 'error')}")

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``."""
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as error:
            raise Unavailable("Storage is unavailable.") from error
        return keys

    def ping(self) -> None:
        """Raise Unavailable unless the bucket answers."""
        self._call(self._s3.head_bucket, Bucket=self.bucket)

    def _call(self, method, **kwargs):
        try:
            return method(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise Unavailable(f"Storage is unavailable: {_code(error)}") from error


def _code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "error"))
    return error.__class__.__name__
