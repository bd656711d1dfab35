"""The index strip in Chromium: progress while indexing, coverage, up to date, skipped files as text,
polling paused while the page is hidden. GET /api/index is the real server's, or rewritten by a route
to play an indexing gallery."""

import json

import httpx

import pytest

pytest.importorskip("playwright")

from playwright.sync_api import expect  # noqa: E402

HTML_NAME = "<img src=x onerror=alert(1)>.jpg"


def _serve_state(page, states: list[dict]):
    """Answer GET /api/index with states[-1] (a test appends to move on); returns the requests seen."""
    seen: list[str] = []

    def answer(route):
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(states[-1]))

    page.route("**/api/index*", answer)
    return seen


def _indexing(indexed: int, total: int = 600, **extra) -> dict:
    return {
        "ok": True, "state": "indexing", "watching": True, "indexed": indexed, "total": total,
        "searchable": indexed, "images_per_second": 4.5, "eta_seconds": (total - indexed) / 4.5,
        "skipped_count": 0, "skipped": None, "last_update": None, "generation": 1, "error": None, **extra,
    }


def test_the_real_server_says_its_index_is_up_to_date(page):
    line = page.get_by_test_id("index-line")
    line.wait_for()
    assert "Up to date" in line.text_content()
    assert page.get_by_test_id("index-progress").is_hidden()


def test_a_progress_bar_advances_while_indexing_then_up_to_date(page):
    states = [_indexing(120)]
    _serve_state(page, states)
    page.reload()
    bar = page.get_by_test_id("index-progress")
    line = page.get_by_test_id("index-line")
    expect(bar).to_have_js_property("value", 120)
    expect(bar).to_have_js_property("max", 600)
    text = line.text_content()
    assert "Indexing: 120 of 600 files" in text and "4.5 images/s" in text and "min left" in text
    assert "searching the 120 indexed so far" in text

    states.append(_indexing(450))  # the next poll (1 s while indexing) moves the bar
    expect(bar).to_have_js_property("value", 450, timeout=5000)
    assert "Indexing: 450 of 600" in line.text_content()

    states.append({**_indexing(600), "state": "watching", "eta_seconds": None, "last_update": "2026-12-02T10:00:00Z"})
    expect(bar).to_be_hidden(timeout=5000)
    assert line.text_content().startswith("Up to date, watching the gallery · last change")


def test_skipped_files_are_listed_on_request_as_text(page):
    states = [{**_indexing(10, total=10), "state": "watching", "skipped_count": 1}]
    full = {**states[0], "skipped": [{"path": f"photos/{HTML_NAME}", "reason": "cannot identify image file"}]}
    _serve_state(page, states)
    # the route added last is asked first: it answers the list, the one above the polls
    page.route("**/api/index?skipped=1", lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(full)))
    page.reload()
    skipped = page.get_by_test_id("index-skipped")
    skipped.wait_for()
    assert skipped.locator("summary").text_content() == "1 file skipped"
    skipped.locator("summary").click()
    item = page.get_by_test_id("index-skipped-list").locator("li")
    item.wait_for()
    assert item.locator("code").text_content() == f"photos/{HTML_NAME}"
    assert "cannot identify image file" in item.text_content()
    assert page.get_by_test_id("index-skipped-list").locator("img").count() == 0  # text, never HTML


def test_polling_pauses_while_the_page_is_hidden(page):
    states = [_indexing(5)]
    seen = _serve_state(page, states)
    page.reload()
    expect(page.get_by_test_id("index-progress")).to_have_js_property("value", 5)
    page.wait_for_timeout(2500)
    assert len(seen) >= 2  # about one a second while indexing

    hide = "(h) => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => h});" \
           " document.dispatchEvent(new Event('visibilitychange')); }"
    page.evaluate(hide, True)
    before = len(seen)
    page.wait_for_timeout(3000)
    assert len(seen) == before  # nothing polled while hidden

    page.evaluate(hide, False)
    page.wait_for_timeout(1500)
    assert len(seen) > before


def test_a_real_gallery_being_indexed_shows_its_progress_then_up_to_date(browser, tmp_path, tiny_weights, monkeypatch):
    from server.test_serve_cli import start_serve, stop, wait_ready
    from server.test_watcher import png, wait_for

    from .conftest import _new_page

    gallery = tmp_path / "gallery"
    gallery.mkdir()
    (gallery / "first.png").write_bytes(png(99_999))
    monkeypatch.setenv("VISTAMATCH_COMMIT_SECONDS", "0.5")
    proc, url = start_serve(tmp_path, gallery, tiny_weights)
    try:
        wait_ready(proc, url)
        for i in range(600):  # photos arrive
            (gallery / f"drop_{i:03d}.png").write_bytes(png(i, size=96))
        wait_for(lambda: httpx.get(f"{url}/api/index").json()["state"] == "indexing", what="the update")
        context, page, errors = _new_page(browser, url, viewport={"width": 1280, "height": 900})
        bar = page.get_by_test_id("index-progress")
        expect(bar).to_be_visible()
        first = bar.evaluate("b => b.value")
        expect(page.get_by_test_id("index-line")).to_contain_text("Indexing:")
        page.wait_for_timeout(1500)
        assert bar.evaluate("b => b.value") > first or bar.is_hidden()  # it moves on (or has finished)
        expect(bar).to_be_hidden(timeout=120_000)
        expect(page.get_by_test_id("index-line")).to_contain_text("Up to date, watching the gallery")
        context.close()
        assert not errors, errors
    finally:
        stop(proc)
