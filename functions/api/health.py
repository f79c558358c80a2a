"""GET /health: 200 when the database, the bucket and the queues answer, 503 naming what failed."""

from chalice import Blueprint

from functions import wiring
from functions.api.routing import Reply, route
from functions.api.schemas import HEALTH
from functions.health import check_health

api = Blueprint(__name__)


@route(api, "GET", "/health", summary="Check the database, the bucket and the queues", tag="service",
       auth=False, responses={200: ("Every dependency answers", HEALTH),
                              503: ("Something does not answer; the body names it", HEALTH)})
def health(call):
    healthy, checks = check_health(wiring.database, wiring.storage, wiring.queues)
    failed = sorted(name for name, check in checks.items() if not check["ok"])
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if failed:
        body["failed"] = failed
    return Reply(200 if healthy else 503, body)
