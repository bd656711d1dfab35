"""The loopback image host the crawler tests download from."""

from __future__ import annotations

import pytest

from .imagehost import ImageHost


@pytest.fixture
def image_host(photos):
    host = ImageHost(photos).start()
    yield host
    host.stop()
