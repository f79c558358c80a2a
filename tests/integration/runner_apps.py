"""A Chalice app that exists for the runner's tests, importable by module path in worker processes."""

import os
import threading
from pathlib import Path

from chalice import Chalice

app = Chalice(app_name="runner-process-test")


@app.on_sqs_message(queue="runner-work", batch_size=1)
def work(event):
    """``hang``: never return (only the timeout ends it); ``pid:<path>``: write this process's id there."""
    for record in event:
        if record.body == "hang":
            threading.Event().wait()
        if record.body.startswith("pid:"):
            Path(record.body[4:]).write_text(str(os.getpid()))
