"""Fixtures for reads from S3 through the request-counting proxy (in front of the moto server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from counting_proxy import CountingProxy


@pytest.fixture()
def proxy(s3_endpoint: str) -> Iterator[CountingProxy]:
    """A counting proxy in front of the session's moto server (no added latency unless a test sets one)."""
    with CountingProxy.running(s3_endpoint) as running:
        yield running


@pytest.fixture()
def via_proxy(proxy: CountingProxy, s3_storage_options: dict[str, Any]) -> dict[str, Any]:
    """Storage options that reach the moto server through ``proxy``."""
    return {**s3_storage_options, "endpoint_url": proxy.url}
