"""`pixelflow upload`: a folder of photos to the API, resumable, with progress.

1. Check: every file is sniffed (non-images are skipped and reported), hashed, and looked up by
   its SHA-256 among the account's images (GET /images?sha256=), so a second run skips what the
   first one uploaded.
2. Send: files go out in batches (POST /batches, split when the API says a batch is too big),
   each file with its sha256 (the API fails it with checksum_mismatch if the bytes change on the
   way), posted to storage by N threads with the presigned POSTs.
3. Wait: batches are followed until every image is done or failed.

Ctrl-C stops cleanly: no new POST starts, the ones under way are aborted, and the images created
for files that were not posted are deleted, so no upload is left waiting and a re-run finishes the job.
"""

import collections
import concurrent.futures
import dataclasses
import re
import time
from pathlib import Path
from typing import Any

from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor

from functions.cli import files
from functions.cli.client import ApiError, Client
from functions.cli.output import Output
from functions.cli.progress import Bar, Stopper, TransferView

BATCH_SIZE = 100  # the API's default MAX_BATCH_ITEMS; halved when a server answers too_many_items
# Failures a new upload of the same bytes can cure; any other earlier outcome counts as "already uploaded".
RETRYABLE = {"upload_expired", "processing_failed", "checksum_mismatch", "missing_original", "original_lost"}
TERMINAL = ("done", "failed")


class Stopped(Exception):
    """The user asked to stop: the file was not (completely) posted."""


@dataclasses.dataclass
class Item:
    """One local file and what became of it."""

    path: Path
    size: int = 0
    kind: str | None = None
    sha256: str | None = None
    # checking -> pending -> ticketed -> uploaded -> done | failed; or skipped, duplicate, failed, interrupted
    status: str = "checking"
    image_id: str | None = None
    batch_id: str | None = None
    code: str | None = None
    message: str | None = None
    previous_status: str | None = None

    def content_type(self) -> str:
        """The Content-Type to upload with (only files checked to be images reach an upload)."""
        assert self.kind is not None
        return files.CONTENT_TYPES[self.kind]

    def fail(self, code: str, message: str) -> None:
        self.status, self.code, self.message = "failed", code, message

    def as_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "status": self.status, "image_id": self.image_id, "sha256": self.sha256,
                "bytes": self.size, "batch_id": self.batch_id, "previous_status": self.previous_status,
                "error": {"code": self.code, "message": self.message} if self.code else None}


@dataclasses.dataclass
class Options:
    recursive: bool = False
    variants: list[dict[str, Any]] | None = None
    concurrency: int = 4
    on_duplicate: str = "skip"
    wait: bool = True
    timeout: float = 1800


def run(client: Client, output: Output, paths: list[str], options: Options) -> int:
    """Upload ``paths``; print the summary (or JSON); return the exit code (0, 1 any failure, 130 interrupted)."""
    items = [Item(path) for path in files.expand(paths, options.recursive)]
    stopper = Stopper()
    timed_out = False
    with stopper.on_interrupt(output):
        _check(client, output, items, options, stopper)
        if not stopper.requested:
            _send(client, output, items, options, stopper)
        if options.wait and not stopper.requested:
            timed_out = not _follow(client, output, items, options, stopper)
    interrupted = stopper.requested
    for item in items:
        if item.status in ("checking", "pending", "ticketed"):
            item.status = "interrupted"
    _report(output, items, interrupted, timed_out)
    if interrupted:
        return 130
    return 1 if timed_out or any(item.status == "failed" for item in items) else 0


# --- 1. check ---------------------------------------------------------------------------

def _check(client: Client, output: Output, items: list[Item], options: Options, stopper: Stopper) -> None:
    def check(item: Item) -> None:
        if stopper.requested:
            return
        try:
            item.size = item.path.stat().st_size
            item.kind = files.image_type(item.path)
            if item.kind is None:
                item.status, item.code = "skipped", "not_image"
                item.message = "Not a JPEG, PNG, WebP, GIF or AVIF image (by its content)."
                return
            item.sha256 = files.sha256_of(item.path)
        except OSError as error:
            item.fail("unreadable", f"Cannot read the file: {error.strerror or error}.")
            return
        for image in client.images(sha256=item.sha256, limit=20)["items"]:
            stored_error = image.get("error") or {}
            if image["status"] == "awaiting_upload" or stored_error.get("code") in RETRYABLE:
                continue  # never arrived, or failed in a way a new upload cures
            item.status, item.image_id, item.previous_status = "duplicate", image["id"], image["status"]
            if stored_error:
                item.code, item.message = stored_error["code"], stored_error["message"]
            return
        item.status = "pending"

    with Bar(output, "Checking files", len(items)) as bar, \
            concurrent.futures.ThreadPoolExecutor(max(1, options.concurrency)) as pool:
        futures = [pool.submit(check, item) for item in items]
        for count, future in enumerate(concurrent.futures.as_completed(futures), 1):
            future.result()  # an API error here (unreachable, signed out) ends the command
            bar.update(count)
    first_of: dict[str | None, Item] = {}  # by sha256, which every pending item has
    for item in items:
        if item.status == "pending":
            earlier = first_of.setdefault(item.sha256, item)
            if earlier is not item:
                item.status, item.previous_status = "duplicate", None
                item.message = f"Same content as {earlier.path}."
        if item.status == "duplicate" and options.on_duplicate == "reject":
            item.status = "failed"
            item.code = "duplicate"
            item.message = (f"Already uploaded as image {item.image_id}." if item.image_id else item.message)


# --- 2. send ----------------------------------------------------------------------------

def _send(client: Client, output: Output, items: list[Item], options: Options, stopper: Stopper) -> None:
    queue = collections.deque(item for item in items if item.status == "pending")
    if not queue:
        return
    chunk_size = BATCH_SIZE
    created_any = False
    in_flight: dict[concurrent.futures.Future, Item] = {}
    view = TransferView(output, len(queue), sum(item.size for item in queue))
    with view, concurrent.futures.ThreadPoolExecutor(max(1, options.concurrency)) as pool:
        while (queue or in_flight) and not stopper.requested:
            # Links expire (UPLOAD_URL_TTL): ask for the next batch only when the threads are about to need it.
            while queue and len(in_flight) < 2 * options.concurrency and not stopper.requested:
                chunk = [queue.popleft() for _ in range(min(chunk_size, len(queue)))]
                try:
                    ticket = client.create_batch([_file_entry(item) for item in chunk], options.variants)
                except ApiError as error:
                    field = re.match(r"files\[(\d+)\]", error.field or "")
                    if error.code == "too_many_items" and len(chunk) > 1:
                        chunk_size = max(1, len(chunk) // 2)
                        queue.extendleft(reversed(chunk))
                    elif error.status == 422 and field and int(field.group(1)) < len(chunk):
                        chunk.pop(int(field.group(1))).fail(error.code, error.message)
                        queue.extendleft(reversed(chunk))
                    elif not created_any:
                        raise  # e.g. a refused variant: the same for every file, say it once
                    else:
                        for item in [*chunk, *queue]:
                            item.fail(error.code, error.message)
                        queue.clear()
                    continue
                created_any = True
                for item, upload in zip(chunk, ticket["uploads"]):
                    item.status, item.image_id, item.batch_id = "ticketed", upload["image_id"], ticket["batch_id"]
                    in_flight[pool.submit(_post, client, view, item, upload, stopper)] = item
            if in_flight:
                done, _ = concurrent.futures.wait(in_flight, timeout=0.2,
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    in_flight.pop(future)
        # Stopping: posts not started yet return at once, the ones under way abort on their next chunk.
        concurrent.futures.wait(in_flight)
    # Only images this run created (batch_id set): a rejected duplicate's image_id is the account's older image.
    _withdraw(client, output, [item for item in items
                               if item.batch_id and item.status in ("ticketed", "failed", "interrupted")])


def _file_entry(item: Item) -> dict[str, Any]:
    return {"filename": item.path.name, "content_type": item.content_type(), "size": item.size,
            "sha256": item.sha256}


def _post(client: Client, view: TransferView, item: Item, upload: dict[str, Any], stopper: Stopper) -> None:
    """POST one file to storage with its presigned form; the outcome is recorded on the item."""
    if stopper.requested:
        return
    key = id(item)
    view.started(key, item.path.name, item.size)
    error: str | None = None
    try:
        with open(item.path, "rb") as handle:
            encoder = MultipartEncoder(fields=[*upload["upload"]["fields"].items(),
                                               ("file", (item.path.name, handle, item.content_type()))])

            def sent(monitor: MultipartEncoderMonitor) -> None:
                if stopper.requested:
                    raise Stopped()
                view.sent(key, min(item.size, monitor.bytes_read * item.size // max(1, encoder.len)))

            monitor = MultipartEncoderMonitor(encoder, sent)
            answer = client.http().post(upload["upload"]["url"], data=monitor,
                                        headers={"Content-Type": monitor.content_type}, timeout=(10, 300))
        if answer.status_code >= 300:
            error = _storage_error(answer)
            item.fail("upload_refused", f"Storage refused the file: {error}")
        else:
            item.status = "uploaded"
    except Stopped:
        error = "stopped"
        item.status = "interrupted"
    except OSError as error_:  # the file vanished, or the connection broke (requests' errors are OSErrors)
        error = f"{error_.__class__.__name__}: {error_}"
        item.fail("upload_failed", f"The upload did not complete ({error}).")
    finally:
        view.finished_file(key, str(item.path), item.size, error)


def _storage_error(answer) -> str:
    code = re.search(r"<Code>([^<]+)</Code>", answer.text or "")
    message = re.search(r"<Message>([^<]+)</Message>", answer.text or "")
    parts = [part.group(1) for part in (code, message) if part]
    return " ".join(parts) or f"HTTP {answer.status_code}"


def _withdraw(client: Client, output: Output, items: list[Item]) -> None:
    """Delete the images of files that were not posted, so nothing stays awaiting_upload and a re-run sends them."""
    for item in items:
        if item.image_id is None:
            continue  # never ticketed: nothing was created
        try:
            client.delete(item.image_id)
        except ApiError as error:
            if error.status != 404:
                output.note(f"could not withdraw image {item.image_id} of {item.path}: {error.message}")
                continue
        item.image_id = item.batch_id = None


# --- 3. wait ----------------------------------------------------------------------------

def _follow(client: Client, output: Output, items: list[Item], options: Options, stopper: Stopper) -> bool:
    """Follow the batches until every uploaded image is done or failed; False on timeout."""
    waiting = {item.image_id: item for item in items if item.status == "uploaded"}
    if not waiting:
        return True
    batches = {item.batch_id for item in waiting.values() if item.batch_id}
    deadline = time.monotonic() + options.timeout
    total = len(waiting)
    with Bar(output, "Processing", total, "done {task.fields[done]}, failed {task.fields[failed]}",
                 done=0, failed=0) as bar:
        bar.update(0, done=0, failed=0)
        while batches:
            for batch_id in list(batches):
                batch = client.get_batch(batch_id)
                for entry in batch["items"]:
                    item = waiting.get(entry["image_id"])
                    if item is not None and entry["status"] in TERMINAL:
                        item.status = entry["status"]
                        if entry["error"]:
                            item.code, item.message = entry["error"]["code"], entry["error"]["message"]
                        del waiting[entry["image_id"]]
                if not any(item.batch_id == batch_id for item in waiting.values()):
                    batches.discard(batch_id)
            counts = collections.Counter(item.status for item in items)
            bar.update(total - len(waiting), done=counts["done"], failed=counts["failed"])
            if not batches:
                return True
            if time.monotonic() > deadline or stopper.sleep(0.5):
                return stopper.requested
    return True


# --- summary ----------------------------------------------------------------------------

def _report(output: Output, items: list[Item], interrupted: bool, timed_out: bool) -> None:
    counts = collections.Counter(item.status for item in items)
    if output.as_json:
        output.json({"files": [item.as_json() for item in items], "counts": dict(counts),
                     "batches": sorted({item.batch_id for item in items if item.batch_id}),
                     "interrupted": interrupted, "timed_out": timed_out})
        return
    words = {"done": "done", "uploaded": "uploaded (processing)", "failed": "failed",
             "duplicate": "already uploaded", "skipped": "skipped (not images)",
             "interrupted": "not uploaded (interrupted)"}
    summary = ", ".join(f"{counts[status]} {word}" for status, word in words.items() if counts[status])
    output.line(f"{len(items)} file{'s' if len(items) != 1 else ''}: {summary or 'nothing to do'}")
    failed = [item for item in items if item.status == "failed"]
    if failed:
        output.line("Failed:")
        output.table(("file", "code", "reason"), ((str(item.path), item.code, item.message) for item in failed))
    skipped = [item for item in items if item.status == "skipped"]
    if skipped:
        output.line("Skipped, not images:")
        for item in skipped:
            output.line(f"  {item.path}")
    earlier = [item for item in items if item.status == "duplicate" and item.previous_status == "failed"]
    if earlier:
        output.line("Uploaded before, and failed then (a new upload would fail the same way):")
        output.table(("file", "code", "image"), ((str(item.path), item.code, item.image_id) for item in earlier))
    if interrupted:
        sent = counts["done"] + counts["uploaded"] + counts["failed"]
        output.line(f"Interrupted: {sent} file(s) were uploaded and keep processing; {counts['interrupted']} were "
                    "not. Run the same command again to upload the rest.")
    if timed_out:
        output.line(f"Still processing after the timeout: {counts['uploaded']} image(s). "
                    "Follow them with `pixelflow batch ID`.")
