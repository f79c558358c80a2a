"""Chalice's local HTTP server, with API Gateway's answer to a failing authorizer.

On AWS, a Lambda authorizer that fails with "Unauthorized" makes API Gateway answer 401
(the gateway response UNAUTHORIZED, which the template gives pixelflow's error body).
``chalice local`` has no such path (an exception there is a 500), so this module adds it.
"""

import threading
from typing import Optional

from chalice.config import Config
from chalice.local import (ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer,
                           LocalGateway, LocalGatewayAuthorizer, NotAuthorizedError)

from functions.errors import Unauthorized

UNAUTHORIZED_BODY = (b'{"error":{"code":"unauthorized",'
                     b'"message":"A valid access token is required in the Authorization header."}}')


class _Authorizer(LocalGatewayAuthorizer):
    def authorize(self, raw_path, lambda_event, lambda_context):
        try:
            return super().authorize(raw_path, lambda_event, lambda_context)
        except NotAuthorizedError:
            raise NotAuthorizedError(self._headers(lambda_context), UNAUTHORIZED_BODY) from None
        except Unauthorized:
            raise NotAuthorizedError(self._headers(lambda_context), UNAUTHORIZED_BODY) from None

    @staticmethod
    def _headers(lambda_context):
        return {"x-amzn-RequestId": lambda_context.aws_request_id,
                "x-amzn-ErrorType": "UnauthorizedException",
                "Content-Type": "application/json"}


class Gateway(LocalGateway):
    def __init__(self, app_object, config):
        super().__init__(app_object, config)
        self._authorizer = _Authorizer(app_object)


class _Handler(ChaliceRequestHandler):
    def __init__(self, request, client_address, server, app_object, config):
        self.local_gateway = Gateway(app_object, config)
        # Skip ChaliceRequestHandler.__init__, which would build a plain LocalGateway.
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def log_message(self, format, *args):  # quiet by default; tokens never appear in paths anyway
        pass


class LocalServer:
    """Serves a Chalice app on host:port in a background thread."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 8000, stage: str = "local"):
        if not isinstance(app, LocalChalice):
            # As `chalice local` does: keep current_request per thread, since requests run on threads.
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        config = Config(chalice_stage=stage, config_from_disk={}, user_provided_params={})
        self.server = LocalDevServer(app, config, host, port, handler_cls=_Handler)
        self.url = f"http://{host}:{self.server.server.server_address[1]}"
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "LocalServer":
        self._thread = threading.Thread(target=self.server.server.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.server.shutdown()
        self.server.server.server_close()
        if self._thread:
            self._thread.join(5)
