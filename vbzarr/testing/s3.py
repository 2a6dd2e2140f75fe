"""A real S3 API on 127.0.0.1 (moto's server) that counts the requests it serves.

Used by the tests and the benchmarks to prove how many GETs an operation costs. Needs ``moto[server]``
(``pip install 'vbzarr[test]'``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any


def _moto():
    try:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server
    except ImportError as err:  # pragma: no cover - the test extra has moto
        raise ImportError("vbzarr.testing.s3 needs moto's server: pip install 'moto[server]'") from err
    return ThreadedMotoServer, DomainDispatcherApplication, create_backend_app, make_server


class CountingS3Server:
    """moto's S3 server on ``127.0.0.1`` (a free port), recording ``(method, path)`` of requests.

    Examples
    --------
    >>> with CountingS3Server() as s3:  # doctest: +SKIP
    ...     s3.make_bucket("vbo")
    ...     options = s3.storage_options()
    """

    def __init__(self) -> None:
        threaded, dispatcher, backend, make_server = _moto()
        self.requests: list[tuple[str, str]] = []
        self.bytes_sent = 0  # response body bytes served
        self._lock = threading.Lock()
        outer = self

        class _Server(threaded):  # type: ignore[valid-type,misc]  # moto's class, imported lazily
            def _server_entry(self) -> None:  # wrap the WSGI app to count requests
                app = dispatcher(backend)

                def counting(environ: dict, start_response: Any):
                    with outer._lock:
                        outer.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
                    for chunk in app(environ, start_response):
                        with outer._lock:
                            outer.bytes_sent += len(chunk)
                        yield chunk

                self._server = make_server(self._ip_address, self._port, counting, True)
                logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
                self._server_ready_event.set()
                self._server.serve_forever()

        # Port 0: the OS picks a free port (a fixed one collides between parallel test runs).
        self._server = _Server(ip_address="127.0.0.1", port=0, verbose=False)

    def __enter__(self) -> CountingS3Server:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def storage_options(self, anon: bool = False) -> dict[str, Any]:
        """fsspec/s3fs options for this server (credentialed, or anonymous with ``anon=True``)."""
        options: dict[str, Any] = {
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": "us-west-2"},
            "skip_instance_cache": True,
            "use_listings_cache": False,
        }
        if anon:
            options["anon"] = True
        else:
            options.update(key="testing", secret="testing")
        return options

    def make_bucket(self, name: str, public: bool = False) -> None:
        """Create a bucket; ``public`` (ACL public-read) lets anonymous clients read and list it."""
        import s3fs

        s3fs.S3FileSystem(**self.storage_options()).mkdir(name, acl="public-read" if public else False)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_sent = 0

    def count(self, method: str = "GET") -> int:
        with self._lock:
            return sum(1 for m, _ in self.requests if m == method)

    def summary(self) -> Counter:
        with self._lock:
            return Counter(m for m, _ in self.requests)
