"""An httpx transport whose every network call waits at most until one deadline.

httpx's timeouts bound each connect, read and write on its own, so a server that sends its
headers (or body) a byte a second never trips them; the fetch of a web page has a deadline
for the whole exchange instead. httpx takes no network backend of its own, but its pool is
httpcore's, which does: each stream is wrapped so that no call outlasts what is left.
"""

from __future__ import annotations

import time
from typing import Any


def deadline_transport(deadline: float) -> Any:
    """httpx's own transport, whose every connect, read and write waits at most until
    `deadline`: httpx's timeouts bound each network call, so a server trickling its
    headers would never trip them."""
    import httpcore
    import httpx

    class Stream(httpcore.NetworkStream):
        def __init__(self, stream: httpcore.NetworkStream):
            self.stream = stream

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self.stream.read(max_bytes, _within(timeout, deadline, httpcore.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self.stream.write(buffer, _within(timeout, deadline, httpcore.WriteTimeout))

        def close(self) -> None:
            self.stream.close()

        def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            kwargs["timeout"] = _within(kwargs.get("timeout"), deadline, httpcore.ConnectTimeout)
            return Stream(self.stream.start_tls(*args, **kwargs))

        def get_extra_info(self, info: str) -> Any:
            return self.stream.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self, backend: httpcore.NetworkBackend):
            self.backend = backend

        def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            kwargs["timeout"] = _within(kwargs.get("timeout"), deadline, httpcore.ConnectTimeout)
            return Stream(self.backend.connect_tcp(*args, **kwargs))

        def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            raise httpcore.ConnectError("not a network address")

        def sleep(self, seconds: float) -> None:
            self.backend.sleep(seconds)

    def transport(proxy: str | None) -> httpx.HTTPTransport:
        made = httpx.HTTPTransport(proxy=proxy)
        # httpx takes no network backend of its own; its pool is httpcore's, which does.
        pool = made._pool
        pool._network_backend = Backend(pool._network_backend)
        return made

    return _Routes(transport)


class _Routes:
    """An httpx transport that sends each request directly or through the proxy the
    environment names for it (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), as httpx itself would
    when it makes its own transports; each made by `make(proxy)` once."""

    def __init__(self, make: Any):
        self.make, self.made = make, {}

    def handle_request(self, request: Any) -> Any:
        import urllib.request

        proxy = None
        if not urllib.request.proxy_bypass(request.url.host):
            proxy = urllib.request.getproxies().get(request.url.scheme)
        if proxy not in self.made:
            self.made[proxy] = self.make(proxy)
        return self.made[proxy].handle_request(request)

    def close(self) -> None:
        for made in self.made.values():
            made.close()

    def __enter__(self) -> _Routes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _within(timeout: float | None, deadline: float, error: type[Exception]) -> float:
    """A network call's timeout, cut to what is left before `deadline`."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the deadline passed")
    return left if timeout is None else min(timeout, left)
