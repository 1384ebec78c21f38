"""A bounded request loop for the scenarios' tests under load: it runs in a thread beside the playbook it loads, and
records every request's outcome. Test traffic goes only to the project's own containers."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable


class RequestLoop:
    """GET url(n) for n = 0, 1, ... until `seconds` have passed or the `with` block ends (`until_stopped`), pausing
    `pause` seconds between requests. Each outcome is (start, status, body); status 0 and the error for a request that
    failed. The default pause (about 15 requests a second to a node on the local cloud) is well above the autoscaling
    tests' thresholds and finds a gap of a tenth of a second, without taking the cores the playbook under test needs."""

    def __init__(self, url: Callable[[int], str], seconds: float, pause: float = 0.05, until_stopped: bool = True,
                 start_when: Callable[[], bool] | None = None):
        self.url = url
        self.seconds = seconds
        self.pause = pause
        self.until_stopped = until_stopped
        self.start_when = start_when
        self.stopped = threading.Event()
        self.results: list[tuple[float, int, bytes]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        # With start_when, the first request waits until it returns true (polled every 0.2 s), or the block ends.
        while self.start_when is not None and not self.stopped.is_set() and not self.start_when():
            time.sleep(0.2)
        deadline, n = time.monotonic() + self.seconds, 0
        while time.monotonic() < deadline and not self.stopped.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url(n), timeout=5) as answer:
                    self.results.append((started, answer.status, answer.read()))
            except (urllib.error.URLError, OSError) as error:
                self.results.append((started, 0, str(error).encode()))
            n += 1
            time.sleep(self.pause)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.until_stopped:
            self.stopped.set()
        self.thread.join()

    def failed(self, since: float = 0) -> list:
        """The requests started at or after `since` that did not answer 200."""
        return [r for r in self.results if r[0] >= since and r[1] != 200]
