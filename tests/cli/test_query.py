"""`vistamatch search` queries: a file, a folder or a missing path, a URL (loopback image host), Top-K
bounds shared with the API, and `vistamatch --version`."""

import json

import pytest

from vistamatch import __version__, defaults
from vistamatch.cli import main
from vistamatch.crawler.addresses import is_public
from vistamatch.server.schemas import SimilarRequest

from .helpers import run_cli as run


@pytest.fixture(scope="module")
def indexed(setup):
    gallery, opts, _, _ = setup
    assert main(["index", str(gallery), *opts, "--quiet"]) == 0
    return gallery, opts


def search_json(capsys, opts, *query):
    code, out, err = run(capsys, "search", *query, *opts, "--topk", "5", "--json")
    assert code == 0, err
    return json.loads(out)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out == f"vistamatch {__version__}\n"


def test_a_folder_a_missing_file_or_no_query_is_one_line(indexed, capsys, tmp_path):
    _, opts = indexed
    cases = [
        (["search", tmp_path, *opts], f"error: the query is a folder, not an image file: {tmp_path}\n"),
        (["search", "--query", tmp_path, *opts], f"error: the query is a folder, not an image file: {tmp_path}\n"),
        (["search", tmp_path / "nope.jpg", *opts], f"error: query image not found: {tmp_path / 'nope.jpg'}\n"),
        (["search", *opts], "error: give one query: vistamatch search QUERY (an image file or an http(s) URL)\n"),
    ]
    for argv, message in cases:
        assert run(capsys, *argv) == (2, "", message)


def test_topk_bounds_are_the_apis(indexed, capsys):
    _, opts = indexed
    api = SimilarRequest.model_json_schema()["properties"]["topk"]
    assert (api["minimum"], api["maximum"], api["default"]) == (defaults.TOPK_MIN, defaults.TOPK_MAX, defaults.TOPK_DEFAULT)
    query = indexed[0] / "astronaut.jpg"
    code, out, _ = run(capsys, "search", query, *opts, "--topk", defaults.TOPK_MAX, "--json")
    assert code == 0 and json.loads(out)["topk_requested"] == defaults.TOPK_MAX
    for bad in (defaults.TOPK_MAX + 1, 0):
        with pytest.raises(SystemExit) as exit_info:
            main(["search", str(query), *opts, "--topk", str(bad)])
        assert exit_info.value.code == 2
        assert "--topk" in capsys.readouterr().err


def test_a_url_query_equals_the_same_bytes_as_a_file(indexed, image_host, capsys, tmp_path):
    _, opts = indexed
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_host.photo_bytes(3))
    from_file = search_json(capsys, opts, photo)
    from_url = search_json(capsys, opts, "--query", image_host.url("/photo/3.jpg"), "--allow-private-urls")
    assert from_url["tiers"] == from_file["tiers"] and from_url["topk_returned"] == 5
    # redirects are followed (to /photo/40005.jpg)
    redirected = search_json(capsys, opts, image_host.url("/redirect/5.jpg"), "--allow-private-urls")
    assert redirected["ok"] and image_host.hits["/photo/40005.jpg"] == 1


def test_loopback_urls_are_refused_before_any_request(indexed, image_host, capsys):
    _, opts = indexed
    for host, address in (("127.0.0.1", "127.0.0.1"), ("localhost", "localhost is 127.0.0.1"), ("[::1]", "::1")):
        url = f"http://{host}:{image_host.port}/photo/1.jpg"
        code, out, err = run(capsys, "search", url, *opts)
        assert (code, out) == (2, "")
        assert err == f"error: query URL refused, private_address: {address} (pass --allow-private-urls to allow it): {url}\n"
    assert not image_host.hits  # refused before connecting, not after


@pytest.mark.parametrize(
    ("path", "flags", "reason"),
    [
        ("/huge/0.jpg", ["--url-max-bytes", "100000"], "too_big"),
        ("/huge-chunked/0.jpg", ["--url-max-bytes", "100000"], "too_big"),
        ("/slow/0.jpg", ["--url-timeout", "0.5"], "timeout"),
        ("/text/0", [], "not_image"),
        ("/truncated/0.jpg", [], "corrupt"),
        ("/status/404/0", [], "http_404"),
    ],
)
def test_url_limits_and_validation_are_the_crawlers(indexed, image_host, capsys, path, flags, reason):
    _, opts = indexed
    url = image_host.url(path)
    code, out, err = run(capsys, "search", url, *opts, "--allow-private-urls", *flags)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: query URL refused, {reason}") and err.endswith(f": {url}\n") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True), ("2606:4700:4700::1111", True),
        ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
        ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
        ("::1", False), ("fe80::1%eth0", False), ("fc00::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public(address) is public
