"""A Chalice app that exists for the runner's tests, importable by module path in worker processes.
"""

import os
import threading
from pathlib import Path

from chalice import Chalice

app = Chalice(app_name="runner-process-test")
APP_PATH = "tests.integration.runner_apps:app"


@app.on_sqs_message(queue="runner-work", batch_size=1)
def work(event):
    """``pid:<path>``: write this process's id there; ``hang``: never return (only the timeout ends it)."""
    for record in event:
        command, _, path = record.body.partition(":")
        if path:
            Path(path).write_text(str(os.getpid()))
        if command == "hang":
            threading.Event().wait()


def serve(endpoint: str) -> None:
    """A runner process of this app's own, against ``endpoint``, for a test to kill."""
    import boto3

    from functions.local.runner import EventRunner

    sqs = boto3.session.Session().client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    EventRunner(app, sqs, region="us-east-1", concurrency=2, wait_seconds=1, timeout_seconds=600,
                app_path=APP_PATH).start()
    threading.Event().wait()
