"""A throwaway HTTP server on 127.0.0.1 for tests that exercise real HTTP clients."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def serve(
    handler: type[http.server.BaseHTTPRequestHandler], certificate: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """Serve `handler` on a free loopback port (HTTPS with `certificate`, a certificate and
    its key); yields the base URL, stops on exit."""
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if certificate is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    # shutdown() waits for the loop's next poll: the default 0.5 s made each test 0.5 s.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """A quiet stand-in of a JSON REST API: subclasses answer with `answer` and read a
    request's body with `read_json`."""

    def log_message(self, *args: object) -> None:
        pass

    def answer(self, body: object, code: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))
