"""Whether a remote source can be reached now, decided in seconds, so an offline machine fails at once
with the fix instead of hanging in a download."""

from __future__ import annotations

import concurrent.futures
import socket
import urllib.parse

NETWORK_TIMEOUT_S = 3.0


def reachable(url: str, timeout: float = NETWORK_TIMEOUT_S) -> str | None:
    """None if a TCP connection to ``url``'s host opens within ``timeout`` seconds, else why not.

    Name resolution has no timeout of its own, so it runs in a worker thread we stop waiting for.
    """
    parsed = urllib.parse.urlparse(url)
    host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)

    def connect() -> None:
        with socket.create_connection((host, port), timeout=timeout):
            pass

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(connect).result(timeout=timeout + 0.5)
        return None
    except concurrent.futures.TimeoutError:
        return f"no answer from {host}:{port} within {timeout:.0f} s"
    except OSError as err:
        return f"{host}:{port} unreachable ({err})"
    finally:
        pool.shutdown(wait=False)
