"""A moto server on loopback standing in for AWS: `make run`'s sandbox and the tests' cloud."""

from __future__ import annotations

import logging
from collections.abc import Callable


def start_sandbox(port: int = 0) -> tuple[str, Callable[[], None]]:
    """Start moto's threaded server on 127.0.0.1 (port 0: any free port).

    Returns the endpoint URL for provider config `endpoint_url` and a function that stops it.
    """
    # moto is a sandbox/test dependency only, so it is imported when a sandbox is wanted.
    from moto.server import ThreadedMotoServer

    # One access-log line per API call drowns everything else the service prints.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    return f"http://{host}:{bound_port}", server.stop
