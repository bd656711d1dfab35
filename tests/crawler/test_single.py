"""fetch_one_image: the server-side-request-forgery guard, on addresses and on names."""

from __future__ import annotations

import pytest

from vistamatch.crawler.reasons import Rejected
from vistamatch.crawler.single import PRIVATE_ADDRESS, fetch_one_image, is_public_address


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1", "100.64.0.1"]
)
def test_non_public_addresses_are_not_public(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_public(address):
    assert is_public_address(address)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.jpg", "http://[::1]:9/x.jpg", "http://169.254.169.254/latest", "http://localhost:9/x.jpg"])
def test_private_targets_are_refused_before_connecting(url):
    # port 9 (discard) is closed: a refusal for any other reason than the address would say "connection"
    with pytest.raises(Rejected) as info:
        fetch_one_image(url)
    assert info.value.reason == PRIVATE_ADDRESS


def test_only_http_urls():
    for url in ("ftp://example.org/x.jpg", "file:///etc/passwd", "http:///nohost", "http://h:99999/"):
        with pytest.raises(Rejected) as info:
            fetch_one_image(url)
        assert info.value.reason == "invalid_url"


def test_a_server_that_never_answers_times_out(tmp_path):
    """A listening socket that accepts and sends nothing: the one deadline ends the fetch."""
    import socket

    from vistamatch.crawler.fetch import FetchSettings

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.jpg"
        with pytest.raises(Rejected) as info:
            fetch_one_image(url, allow_private=True, fetch=FetchSettings(timeout_s=0.5))
    assert info.value.reason == "timeout"
