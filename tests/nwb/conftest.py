"""Fixtures of the NWB tests (helpers live in nwb_compare, nwb_content and nwb_reads)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nwb_reads import ReadPair


@pytest.fixture(scope="module")
def read_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadPair]:
    pair = ReadPair(tmp_path_factory.mktemp("nwb"))
    yield pair
    pair.close()
