"""The `pixelflow` command: sign in, upload folders, import, generate, list, fetch and delete images.

Exit codes: 0 success, 1 when any item failed (or the API refused the request), 2 for usage
errors, 130 when interrupted. ``--json`` prints one JSON document on stdout; errors then print
``{"error": {"code", "message"}}``. Progress goes to stderr, as bars only on a terminal.
"""

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import click
import requests

from functions.cli import config, upload
from functions.cli.client import ApiError, Client
from functions.cli.output import Output, human_bytes
from functions.cli.progress import Stopper
from functions.store import STATUSES

FITS = ("cover", "contain", "fill", "inside")
FORMATS = ("jpeg", "png", "webp", "avif")
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif", "gif": "gif"}
JSON_KEY = "pixelflow.json"


class Pixelflow(click.Group):
    """Turns the API's refusals into its message and exit code 1, Ctrl-C into 130: never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ApiError as error:
            if ctx.meta.get(JSON_KEY):
                Output(True).json({"error": {"code": error.code, "message": error.message, "field": error.field}})
            else:
                click.echo(f"Error: {error.message}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def json_option(command):
    def remember(ctx: click.Context, param, value: bool) -> bool:
        ctx.meta[JSON_KEY] = value
        return value
    return click.option("--json", "as_json", is_flag=True, callback=remember, expose_value=True, is_eager=True,
                        help="Print one JSON document on stdout instead of text.")(command)


def wait_option(command):
    command = click.option("--no-wait", is_flag=True, help="Return once started; do not wait for processing.")(command)
    return click.option("--timeout", type=click.FloatRange(min=1), default=1800, show_default=True,
                        help="Longest wait for processing, in seconds.")(command)


def variant_option(command):
    return click.option("--variant", "variants", multiple=True,
                        callback=lambda ctx, param, values: _parse_variants(ctx, param, values),
                        metavar="name:WxH:fit:format:q",
                        help="An extra variant, e.g. card:600x400:cover:jpeg:85 (size, fit, format and quality "
                             "optional; give width, height or both). Repeatable.")(command)


@click.group(cls=Pixelflow, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api", envvar="PIXELFLOW_API", metavar="URL",
              help="The API's address [env PIXELFLOW_API; default: the last login's, else http://127.0.0.1:8000].")
@click.version_option(package_name="pixelflow", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, api: str | None) -> None:
    """pixelflow: upload, import, generate and fetch images from the command line.

    Sign in once with `pixelflow login`; the refresh token is kept in your config folder (mode 0600),
    access tokens never touch the disk. For CI, set PIXELFLOW_API and PIXELFLOW_TOKEN (an access token).
    """
    ctx.obj = {"api": api}


def main() -> None:
    cli(prog_name="pixelflow")


def _client(ctx: click.Context, api: str | None = None) -> Client:
    address = api or ctx.obj.get("api") or config.default_api()
    token = os.environ.get("PIXELFLOW_TOKEN") or None
    return Client(address, access_token=token)


# --- sessions ---------------------------------------------------------------------------

@cli.command()
@click.option("--api", "login_api", metavar="URL", help="The API to sign in to (remembered as the default).")
@click.option("--email", help="Your account's e-mail (prompted for if not given).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@json_option
@click.pass_context
def login(ctx: click.Context, login_api: str | None, email: str | None, password_stdin: bool,
          as_json: bool) -> None:
    """Sign in and keep the session (a refresh token) in your config folder."""
    client = Client(login_api or ctx.obj.get("api") or config.default_api())
    if not email:
        email = click.prompt("Email", err=True)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin read an empty line.")
    else:
        password = click.prompt("Password", hide_input=True, err=True)
    client.login(email, password)
    if as_json:
        Output(True).json({"api": client.api, "email": email, "logged_in": True})
    else:
        Output(False).line(f"Logged in to {client.api} as {email}.")


@cli.command()
@json_option
@click.pass_context
def logout(ctx: click.Context, as_json: bool) -> None:
    """Sign out: revoke the session on the server and forget it here."""
    client = _client(ctx)
    client.logout()
    if as_json:
        Output(True).json({"api": client.api, "logged_out": True})
    else:
        Output(False).line(f"Logged out of {client.api}.")


@cli.command()
@json_option
@click.pass_context
def whoami(ctx: click.Context, as_json: bool) -> None:
    """Show the signed-in account."""
    client = _client(ctx)
    user = client.me()
    if as_json:
        Output(True).json({"api": client.api, "user": user})
    else:
        Output(False).line(f"{user['email']} (user {user['id']}) at {client.api}")


# --- putting images in ------------------------------------------------------------------

@cli.command("upload")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-r", "--recursive", is_flag=True, help="Include the sub-folders of folders.")
@variant_option
@click.option("--concurrency", "-c", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Files posted to storage at once.")
@click.option("--on-duplicate", type=click.Choice(["skip", "reject"]), default="skip", show_default=True,
              help="A file whose exact content is already in your account (by SHA-256): skip it, or count "
                   "it as a failure.")
@wait_option
@json_option
@click.pass_context
def upload_command(ctx: click.Context, paths, recursive, variants, concurrency, on_duplicate, no_wait, timeout,
                   as_json) -> None:
    """Upload files and folders; files already in your account are skipped, so a re-run resumes."""
    options = upload.Options(recursive=recursive, variants=variants or None, concurrency=concurrency,
                             on_duplicate=on_duplicate, wait=not no_wait, timeout=timeout)
    ctx.exit(upload.run(_client(ctx), Output(as_json), list(paths), options))


@cli.command("import")
@click.argument("urls", nargs=-1, required=True)
@variant_option
@wait_option
@json_option
@click.pass_context
def import_command(ctx: click.Context, urls, variants, no_wait, timeout, as_json) -> None:
    """Import images from public URLs."""
    client, output = _client(ctx), Output(as_json)
    started = []
    for url in urls:
        try:
            started.append(client.start_import(url, variants or None)["image_id"])
        except ApiError as error:
            if len(urls) == 1:
                raise
            started.append({"url": url, "status": "failed", "error": {"code": error.code, "message": error.message}})
    ctx.exit(_finish(client, output, started, not no_wait, timeout, "Importing"))


@cli.command()
@click.argument("prompt")
@click.option("--style", help="A style name from GET /generations/styles.")
@click.option("--size", default="1024x1024", show_default=True, metavar="WxH",
              help="Width and height, multiples of 64 up to 1024.")
@variant_option
@wait_option
@json_option
@click.pass_context
def generate(ctx: click.Context, prompt, style, size, variants, no_wait, timeout, as_json) -> None:
    """Generate an image from a text prompt."""
    match = re.fullmatch(r"\s*(\d+)\s*[x×X]\s*(\d+)\s*", size)
    if not match:
        raise click.BadParameter("give WIDTHxHEIGHT, e.g. 1024x768.", param_hint="--size")
    client, output = _client(ctx), Output(as_json)
    ticket = client.start_generation(prompt, style=style, width=int(match.group(1)), height=int(match.group(2)),
                                     variants=variants or None)
    ctx.exit(_finish(client, output, [ticket["image_id"]], not no_wait, timeout, "Generating"))


def _finish(client: Client, output: Output, started: list[Any], wait: bool, timeout: float, label: str) -> int:
    """Wait (unless told not to) for the images started; print them; 1 if any failed."""
    ids = [item for item in started if isinstance(item, str)]
    images: dict[str, dict[str, Any]] = {image_id: client.image(image_id) for image_id in ids}
    if wait:
        images.update(_wait(client, output, ids, timeout, label))
    results = [images[item] if isinstance(item, str) else item for item in started]
    if output.as_json:
        output.json(results[0] if len(results) == 1 else results)
    else:
        output.table(("id", "status", "name", "size", "error"), (_image_row(image) for image in results))
    if any(result["status"] == "failed" for result in results):
        return 1
    if wait and any(result["status"] not in ("done", "failed") for result in results):
        output.note("Still not finished after the timeout.")
        return 1
    return 0


def _wait(client: Client, output: Output, ids: list[str], timeout: float, label: str) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    pending = list(ids)
    deadline = time.monotonic() + timeout
    last_line = None
    stopper = Stopper()
    status_view = output.err.status(f"{label}…") if output.interactive else None
    if status_view:
        status_view.start()
    try:
        while pending and time.monotonic() < deadline:
            for image_id in list(pending):
                latest[image_id] = image = client.image(image_id)
                if image["status"] in ("done", "failed"):
                    pending.remove(image_id)
            states = ", ".join(f"{image['original_name']}: {image['status']}" for image in latest.values())
            if status_view:
                status_view.update(f"{label}… {states}")
            elif states != last_line:
                output.note(f"{label}: {states}")
            last_line = states
            if pending:
                stopper.sleep(1.0)
    finally:
        if status_view:
            status_view.stop()
    return latest


# --- reading ----------------------------------------------------------------------------

@cli.command("ls")
@click.option("--limit", "-n", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--status", type=click.Choice(STATUSES), help="Only images in this state.")
@json_option
@click.pass_context
def list_command(ctx: click.Context, limit: int, status: str | None, as_json: bool) -> None:
    """List your images, newest first."""
    client, output = _client(ctx), Output(as_json)
    found: list[dict[str, Any]] = []
    cursor = None
    while len(found) < limit:
        page = client.images(limit=min(100, limit - len(found)), cursor=cursor, status=status)
        found += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    if as_json:
        output.json(found)
    else:
        output.table(("id", "status", "name", "size", "created", "error"),
                     ((*_image_row(image)[:4], image["created_at"][:19].replace("T", " "), _image_row(image)[4])
                      for image in found))


@cli.command()
@click.argument("image_id")
@json_option
@click.pass_context
def show(ctx: click.Context, image_id: str, as_json: bool) -> None:
    """Show one image: status, sizes, variants."""
    output = Output(as_json)
    image = _client(ctx).image(image_id)
    if as_json:
        output.json(image)
        ctx.exit(1 if image["status"] == "failed" else 0)
    size = f"{image['width']}×{image['height']}" if image.get("width") else None
    rows = [("id", image["id"]), ("name", image["original_name"]), ("status", image["status"]),
            ("source", image["source"]), ("format", image.get("format")), ("size", size),
            ("bytes", image.get("bytes")), ("sha256", image.get("sha256")), ("created", image["created_at"]),
            ("batch", image.get("batch_id"))]
    if image.get("error"):
        rows.append(("error", f"{image['error']['code']}: {image['error']['message']}"))
    output.table(("field", "value"), [row for row in rows if row[1] is not None])
    if image["variants"]:
        output.line("")
        output.table(("variant", "format", "size", "bytes"),
                     ((v["name"], v["format"], f"{v['width']}×{v['height']}", human_bytes(v["bytes"]))
                      for v in image["variants"]))
    if image["status"] == "failed":
        ctx.exit(1)


@cli.command()
@click.argument("image_id")
@click.option("--variant", default="original", show_default=True, help="original, thumbnail, webp or a variant name.")
@click.option("-o", "--output", "target", type=click.Path(), help="File or folder to write to; - for stdout.")
@json_option
@click.pass_context
def get(ctx: click.Context, image_id: str, variant: str, target: str | None, as_json: bool) -> None:
    """Download an image's original or one of its variants."""
    client, output = _client(ctx), Output(as_json)
    image = client.image(image_id)
    name = Path(image["original_name"]).name or image["id"]
    if variant != "original":
        found = next((v for v in image["variants"] if v["name"] == variant), None)
        extension = EXTENSIONS.get(found["format"], found["format"]) if found else "bin"
        name = f"{Path(name).stem}-{variant}.{extension}"
    link = client.download_link(image_id, variant)
    try:
        answer = client.http().get(link, stream=True, timeout=(10, 300))
    except requests.RequestException as error:
        raise ApiError(0, "unreachable", f"Cannot reach storage ({error.__class__.__name__}).") from None
    if answer.status_code != 200:
        raise ApiError(answer.status_code, "download_failed", f"Storage answered {answer.status_code}.")
    total = int(answer.headers.get("Content-Length") or 0)
    if target == "-":
        written = _stream(answer, sys.stdout.buffer, output, total, name)
        sys.stdout.buffer.flush()
        return
    path = Path(target) if target else Path(name)
    if path.is_dir():
        path = path / name
    partial = path.with_name(f".{path.name}.part")
    try:
        with open(partial, "wb") as out:
            written = _stream(answer, out, output, total, name)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if as_json:
        output.json({"image_id": image_id, "variant": variant, "path": str(path), "bytes": written})
    else:
        output.line(f"Saved {path} ({human_bytes(written)}).")


def _stream(answer, out, output: Output, total: int, name: str) -> int:
    written = 0
    show_bar = output.interactive and total > 1_000_000
    if show_bar:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        bar = Progress(TextColumn(name), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                       console=output.err, transient=True)
        task = bar.add_task(name, total=total)
        bar.start()
    try:
        for chunk in answer.iter_content(1 << 16):
            out.write(chunk)
            written += len(chunk)
            if show_bar:
                bar.update(task, completed=written)
    finally:
        if show_bar:
            bar.stop()
    return written


@cli.command("rm")
@click.argument("image_ids", nargs=-1, required=True)
@json_option
@click.pass_context
def remove(ctx: click.Context, image_ids, as_json: bool) -> None:
    """Delete images and every stored file of them."""
    client, output = _client(ctx), Output(as_json)
    results = []
    for image_id in image_ids:
        try:
            client.delete(image_id)
            results.append({"id": image_id, "deleted": True, "error": None})
        except ApiError as error:
            if error.status in (0, 401):
                raise
            results.append({"id": image_id, "deleted": False,
                            "error": {"code": error.code, "message": error.message}})
    if as_json:
        output.json(results)
    else:
        for result in results:
            output.line(f"deleted {result['id']}" if result["deleted"]
                        else f"not deleted {result['id']}: {result['error']['message']}")
    ctx.exit(0 if all(result["deleted"] for result in results) else 1)


@cli.command("batch")
@click.argument("batch_id")
@click.option("--wait", is_flag=True, help="Follow it until every item is done or failed.")
@json_option
@click.pass_context
def batch_command(ctx: click.Context, batch_id: str, wait: bool, as_json: bool) -> None:
    """Show a batch's progress and its items."""
    client, output = _client(ctx), Output(as_json)
    batch = client.get_batch(batch_id)
    if wait and not batch["complete"]:
        from functions.cli.progress import Bar
        stopper = Stopper()
        fields = "done {task.fields[done]}, failed {task.fields[failed]}"
        with Bar(output, "Processing", len(batch["items"]), fields, done=0, failed=0) as bar:
            while True:
                counts = batch["counts"]
                bar.update(counts["done"] + counts["failed"], done=counts["done"], failed=counts["failed"])
                if batch["complete"]:
                    break
                stopper.sleep(1.0)
                batch = client.get_batch(batch_id)
    if as_json:
        output.json(batch)
    else:
        counts = ", ".join(f"{count} {status}" for status, count in batch["counts"].items() if count)
        output.line(f"batch {batch['id']}: {batch['percent']}% settled, {counts or 'no items'}"
                    f"{' (complete)' if batch['complete'] else ''}")
        output.table(("image", "status", "name", "error"),
                     ((item["image_id"], item["status"], item["original_name"],
                       f"{item['error']['code']}: {item['error']['message']}" if item["error"] else None)
                      for item in batch["items"]))
    ctx.exit(1 if batch["counts"]["failed"] else 0)


# --- helpers ----------------------------------------------------------------------------

def _image_row(image: dict[str, Any]):
    size = f"{image['width']}×{image['height']}" if image.get("width") else None
    error = image.get("error")
    return (image.get("id") or image.get("url"), image["status"], image.get("original_name") or image.get("url"),
            size, f"{error['code']}: {error['message']}" if error else None)


def _parse_variants(ctx: click.Context, param, values) -> list[dict[str, Any]]:
    """``name:WxH:fit:format:q`` strings as the API's variant objects; BadParameter (exit 2) when malformed."""
    parsed = []
    for value in values:
        parts = value.split(":")
        if not parts[0] or len(parts) > 5:
            raise click.BadParameter(f"{value!r}: give name:WxH:fit:format:quality, e.g. card:600x400:cover:jpeg:85.")
        spec: dict[str, Any] = {"name": parts[0]}
        if len(parts) > 1 and parts[1]:
            size = re.fullmatch(r"(\d*)\s*[x×X]\s*(\d*)|(\d+)", parts[1])
            if not size or not any(size.groups()):
                raise click.BadParameter(f"{value!r}: the size must look like 600x400, 600x or x400.")
            width, height = (size.group(1), size.group(2)) if size.group(3) is None else (size.group(3), "")
            if width:
                spec["width"] = int(width)
            if height:
                spec["height"] = int(height)
        for index, (key, allowed) in enumerate((("fit", FITS), ("format", FORMATS)), start=2):
            if len(parts) > index and parts[index]:
                if parts[index] not in allowed:
                    raise click.BadParameter(f"{value!r}: {key} must be one of {', '.join(allowed)}.")
                spec[key] = parts[index]
        if len(parts) > 4 and parts[4]:
            if not parts[4].isdigit() or not 1 <= int(parts[4]) <= 100:
                raise click.BadParameter(f"{value!r}: quality must be 1 to 100.")
            spec["quality"] = int(parts[4])
        parsed.append(spec)
    return parsed


if __name__ == "__main__":
    main()
