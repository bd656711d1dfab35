"""fetch_one_image, shared by `vistamatch search URL` and the page's query by URL: request forgery
refused before connecting (literal addresses and names), only http(s), one time limit."""

from __future__ import annotations

import socket

import pytest

from vistamatch.crawler.reasons import PRIVATE_ADDRESS, Rejected
from vistamatch.crawler.single import fetch_one_image


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.jpg", "http://[::1]:9/x.jpg", "http://169.254.169.254/latest", "http://localhost:9/x.jpg"])
def test_private_targets_are_refused_before_connecting(url):
    # port 9 (discard) is closed: a refusal for any other reason than the address would say "connection"
    with pytest.raises(Rejected) as info:
        fetch_one_image(url)
    assert info.value.reason == PRIVATE_ADDRESS


def test_only_http_urls():
    for url in ("ftp://example.org/x.jpg", "file:///etc/passwd", "http:///nohost"):
        with pytest.raises(Rejected) as info:
            fetch_one_image(url)
        assert info.value.reason == "invalid_url"


def test_a_server_that_never_answers_times_out():
    """A listening socket that accepts and sends nothing: the time limit ends the fetch."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.jpg"
        with pytest.raises(Rejected) as info:
            fetch_one_image(url, allow_private=True, timeout_s=0.5)
    assert info.value.reason == "timeout"
