"""Locust load for benchmarks/simulator_throughput.py: pre-signed verification requests, closed loop.

Runs in its own process (locust monkey-patches with gevent). Each request is signed in advance by the
benchmark with its own nonce, so the load generator spends nothing on HMAC or JSON; a request is used
once (a second use would be a replayed nonce), and a user stops when the supply runs out.
"""

from __future__ import annotations

import json
import os
from itertools import count

from locust import FastHttpUser, constant, task
from locust.exception import StopUser

with open(os.environ["CCC_BENCH_REQUESTS"], encoding="utf-8") as _file:
    _REQUESTS = [(path, headers, body.encode()) for path, headers, body in map(json.loads, _file)]
_NEXT = count()


class SignedPlatform(FastHttpUser):
    wait_time = constant(0)

    @task
    def verify(self) -> None:
        i = next(_NEXT)
        if i >= len(_REQUESTS):
            raise StopUser()
        path, headers, body = _REQUESTS[i]
        with self.client.post(path, data=body, headers=headers, name="POST /api/v1/verifications",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
