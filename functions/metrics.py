"""CloudWatch Embedded Metric Format: one JSON line on stdout per handled record, no client and no API call.

On Lambda, CloudWatch Logs turns each such line into metrics of the ``pixelflow`` namespace
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
Elsewhere (tests, the local runner) the same line goes to this module's logger at DEBUG, so a
local run's output stays readable. Lambda's JSON log format leaves stdout lines as they are,
which is what EMF needs; a line sent through ``logging`` would be wrapped and not parsed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

NAMESPACE = "pixelflow"
UNITS = {"Processed": "Count", "Failed": "Count", "ProcessingMs": "Milliseconds", "QueueWaitMs": "Milliseconds"}


def emf_line(dimensions: Mapping[str, str], metrics: Mapping[str, float],
             properties: Mapping[str, object] | None = None, *, by: tuple[tuple[str, ...], ...] | None = None,
             timestamp_ms: int | None = None) -> str:
    """One EMF document: ``metrics`` (named in UNITS) under ``dimensions``, aggregated ``by`` these key sets
    (default: all the dimensions together); ``properties`` are searchable in Logs Insights, not metrics."""
    dimension_sets = [list(keys) for keys in (by or (tuple(dimensions),))]
    document: dict[str, object] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimension_sets,
                "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in metrics],
            }],
        },
        **dict(properties or {}),
        **dimensions,
        **metrics,
    }
    return json.dumps(document, separators=(",", ":"), default=str)


def emit(line: str) -> None:
    """Write one EMF line where CloudWatch reads it: stdout on Lambda, this logger (DEBUG) elsewhere."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    else:
        log.debug("%s", line)
