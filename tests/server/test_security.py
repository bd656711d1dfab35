"""Against a real uvicorn on 127.0.0.1: Host and Origin checks, security headers, HEAD, OPTIONS, 405."""

from __future__ import annotations

import dataclasses
import re
import socket

import pytest

from vistamatch.server import create_app

from .helpers import LiveServer

EVIL = "http://evil.example"


def history_total(http) -> int:
    return http.get("/api/history").json()["total"]


def upload(http, data: bytes, **headers):
    return http.post("/api/search", files={"image": ("q.jpg", data, "image/jpeg")}, params={"topk": 2}, headers=headers)


def test_cross_site_form_cannot_clear_the_history(live, query_jpeg):
    with live.client() as http:
        assert upload(http, query_jpeg).status_code == 200
        # What an auto-submitted <form enctype="text/plain" action=".../api/history/clear"> sends.
        headers = {"Origin": EVIL, "Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
        r = http.post("/api/history/clear", content=b"x=1", headers=headers)
        assert r.status_code == 403 and "cross-site" in r.json()["error"]
        assert history_total(http) == 1


@pytest.mark.parametrize(
    "headers",
    [{"Origin": EVIL}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://127.0.0.1:1"}],
    ids=["foreign-origin", "null-origin", "sec-fetch-cross-site", "other-port"],
)
def test_cross_site_search_is_refused_and_not_recorded(live, query_jpeg, headers):
    with live.client() as http:
        assert upload(http, query_jpeg, **headers).status_code == 403
        assert http.delete("/api/history/anything", headers=headers).status_code == 403
        assert history_total(http) == 0


def test_null_origin_without_a_host_header_is_refused(live):
    """HTTP/1.0 needs no Host: an absent Host must not make 'null' look like our own origin."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
        sock.sendall(b"POST /api/history/clear HTTP/1.0\r\nOrigin: null\r\nContent-Length: 0\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 403 ")


def test_writes_without_origin_and_from_the_page_itself_work(live, query_jpeg):
    with live.client() as http:
        assert upload(http, query_jpeg).status_code == 200  # curl, scripts
        same = {"Origin": live.url, "Sec-Fetch-Site": "same-origin"}
        assert upload(http, query_jpeg, **same).status_code == 200
        # The same origin spelled with upper case and the host by name.
        by_name = {"Origin": f"HTTP://LOCALHOST:{live.port}", "Host": f"localhost:{live.port}"}
        assert http.post("/api/history/clear", headers=by_name).json()["removed"] == 2


def test_a_configured_cors_origin_may_write(settings, engine, query_jpeg):
    allowed = dataclasses.replace(settings, cors_origins=("http://ok.example",))
    with LiveServer(create_app(allowed, engine=engine)) as server, server.client() as http:
        r = upload(http, query_jpeg, Origin="http://ok.example", **{"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://ok.example"
        assert upload(http, query_jpeg, Origin=EVIL).status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "localhost.evil.example"])
def test_an_unknown_host_is_421_even_for_reads(live, host):
    with live.client() as http:
        for method, path in [("GET", "/api/history"), ("GET", "/"), ("POST", "/api/history/clear")]:
            r = http.request(method, path, headers={"Host": host.format(port=live.port)})
            assert r.status_code == 421, (method, path)
            assert "unknown host" in r.json()["error"] and "--allowed-host" in r.json()["error"]
            assert "::1" not in r.json()["error"]  # the allowed names are not given away


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost.", "[::1]:{port}", "127.0.0.1"])
def test_loopback_hosts_are_served(live, host):
    with live.client() as http:
        assert http.get("/api/health", headers={"Host": host.format(port=live.port)}).status_code == 200


def test_allowed_hosts_are_served(settings, engine):
    named = dataclasses.replace(settings, allowed_hosts=("photos.lan", "Box.Example:8080"))
    with LiveServer(create_app(named, engine=engine)) as server, server.client() as http:
        for host in ("photos.lan", f"photos.lan:{server.port}", "box.example"):
            assert http.get("/api/health", headers={"Host": host}).status_code == 200, host
        assert http.get("/api/health", headers={"Host": "evil.example"}).status_code == 421
        # Same origin under an allowed name: writes work.
        headers = {"Host": "photos.lan", "Origin": "http://photos.lan"}
        assert http.post("/api/history/clear", headers=headers).status_code == 200
    anything = dataclasses.replace(settings, allowed_hosts=("*",))
    with LiveServer(create_app(anything, engine=engine)) as server, server.client() as http:
        assert http.get("/api/health", headers={"Host": "evil.example"}).status_code == 200


def test_page_has_a_content_security_policy(live):
    with live.client() as http:
        page = http.get("/")
        docs = http.get("/docs")
        gallery_file = http.get("/gallery_images/astronaut.jpg")
    policy = dict(p.strip().split(" ", 1) for p in page.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    # A gallery file keeps its own stricter policy.
    assert gallery_file.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_docs_load_swagger_ui_from_this_server(live):
    with live.client() as http:
        html = http.get("/docs").text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/") for a in assets), assets  # nothing from a CDN
        for asset in assets:
            assert http.get(asset).status_code == 200, asset
        assert http.get("/openapi.json").status_code == 200
        assert http.get("/redoc").status_code == 404  # ReDoc needs a CDN font and web workers: off


def test_head_answers_like_get_without_a_body(live):
    with live.client() as http:
        for path in ("/gallery_images/astronaut.jpg", "/thumbs/astronaut.jpg", "/", "/api/stats", "/static/main.js"):
            got, head = http.get(path), http.head(path)
            assert head.status_code == 200 and head.content == b"", path
            assert head.headers["content-type"] == got.headers["content-type"], path
            if "etag" in got.headers:
                assert head.headers["etag"] == got.headers["etag"], path
        assert http.head("/gallery_images/missing.jpg").status_code == 404


@pytest.mark.parametrize(
    "path, allow",
    [
        ("/api/history/abc", "DELETE, GET, HEAD, OPTIONS"),
        ("/api/history/clear", "DELETE, GET, HEAD, OPTIONS, POST"),  # also the entry named "clear"
        ("/api/search", "OPTIONS, POST"),
        ("/gallery_images/astronaut.jpg", "GET, HEAD, OPTIONS"),
        ("/static/main.js", "GET, HEAD, OPTIONS"),
    ],
)
def test_options_and_405_name_every_method_of_the_path(live, path, allow):
    with live.client() as http:
        options = http.options(path)
        assert options.status_code == 204 and options.headers["allow"] == allow
        wrong = http.put(path)
        assert wrong.status_code == 405 and wrong.headers["allow"] == allow
        assert "PUT" in wrong.json()["error"]
