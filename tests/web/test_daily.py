"""The page as a daily tool, in headless Chromium against a real server: controls re-run the query by
its stored embedding, replay restores settings, tier policy, load more, filters, captions, the
side-by-side preview, region and link queries."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from .conftest import expect_caption_keeps_file_visible, fmt_bytes
from .test_page import _is_post, click_search, ranked_items, ranked_names, set_topk, upload_and_search

pytestmark = pytest.mark.browser


def record_posts(page: Page) -> list[tuple[str, object]]:
    """Every POST the page sends from now on: (path, JSON body or None)."""
    posts: list[tuple[str, object]] = []

    def seen(request):
        if request.method == "POST":
            body = request.post_data_json if request.headers.get("content-type", "").startswith("application/json") else None
            posts.append((urlparse(request.url).path, body))

    page.on("request", seen)
    return posts


def test_changing_controls_reruns_the_query_without_uploading(page: Page, api, query_jpeg):
    first = upload_and_search(page, query_jpeg)
    posts = record_posts(page)

    with page.expect_response(_is_post("/api/search/again")) as info:
        page.get_by_test_id("tiers").select_option("absolute")
    again = info.value.json()
    assert again["tier_policy"] == "absolute" and again["history_id"] == first["history_id"]
    expect(page.get_by_test_id("result-name")).to_have_text(ranked_names(again))
    expect(page.get_by_test_id("tier-name")).to_have_text([t["name"] for t in again["tiers"]])

    # Several quick steps of the slider: one search after they settle (debounced), with the last value.
    page.get_by_test_id("topk").focus()
    with page.expect_response(_is_post("/api/search/again")) as info:
        page.keyboard.press("Home")
        for _ in range(4):
            page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("result")).to_have_count(5)
    page.wait_for_timeout(600)  # longer than the debounce: nothing more is sent
    agains = [body for path, body in posts if path == "/api/search/again"]
    assert [b["topk"] for b in agains] == [50, 5]
    assert all(b["history_id"] == first["history_id"] for b in agains)

    with page.expect_response(_is_post("/api/search/again")) as info:
        page.get_by_test_id("dedup").uncheck()
    assert info.value.json()["dedup_enabled"] is False
    assert [path for path, _ in posts] == ["/api/search/again"] * 3  # never an upload again
    expect(page.get_by_test_id("stat-duplicates")).to_contain_text("off")


def test_tier_policy_is_explained_and_remembered(page: Page):
    help_line = page.get_by_test_id("tiers-help")
    expect(page.get_by_test_id("tiers")).to_have_value("quantile")
    expect(help_line).to_contain_text("top 10 %")
    page.get_by_test_id("tiers").select_option("absolute")
    expect(help_line).to_contain_text("Perfect from 0.85")
    page.reload()
    expect(page.get_by_test_id("tiers")).to_have_value("absolute")
    expect(help_line).to_contain_text("Perfect from 0.85")


def test_replay_restores_the_settings_and_reruns_with_new_ones(page: Page, api, query_jpeg):
    assert api.post("/api/history/clear").status_code == 200
    files = {"image": ("saved.jpg", query_jpeg.read_bytes(), "image/jpeg")}
    saved = api.post("/api/search", params={"topk": 3, "dedup": "false", "tiers": "absolute"}, files=files).json()
    assert saved["query_vector_stored"] is True
    set_topk(page, 9)  # other settings before the replay
    expect(page.get_by_test_id("dedup")).to_be_checked()

    page.get_by_test_id("history-open").click()
    page.get_by_test_id("history-replay").first.click()
    expect(page.get_by_test_id("topk-value")).to_have_text("3")
    expect(page.get_by_test_id("dedup")).not_to_be_checked()
    expect(page.get_by_test_id("tiers")).to_have_value("absolute")
    expect(page.get_by_test_id("result-name")).to_have_text(ranked_names(saved))
    expect(page.get_by_test_id("search-btn")).to_be_enabled()

    posts = record_posts(page)
    with page.expect_response(_is_post("/api/search/again")) as info:
        page.get_by_test_id("dedup").check()
    again = info.value.json()
    assert posts[-1] == ("/api/search/again", {"history_id": saved["history_id"], "topk": 3, "dedup": True, "tiers": "absolute", "offset": 0})
    expect(page.get_by_test_id("result-name")).to_have_text(ranked_names(again))
    # the Search button runs it again too, with the current settings
    with page.expect_response(_is_post("/api/search/again")):
        page.get_by_test_id("search-btn").click()
    assert {path for path, _ in posts} == {"/api/search/again"}
    assert api.get("/api/history").json()["total"] == 1  # re-runs are not new entries


def test_load_more_appends_the_next_page(page: Page, api, query_jpeg):
    whole = api.post("/api/search", params={"topk": 9, "dedup": "false"}, files={"image": ("q.jpg", query_jpeg.read_bytes(), "image/jpeg")}).json()
    set_topk(page, 3)
    page.get_by_test_id("dedup").uncheck()
    upload_and_search(page, query_jpeg)
    more = page.get_by_test_id("load-more")
    for page_number in (2, 3):
        with page.expect_request(lambda r: urlparse(r.url).path == "/api/search/again") as request:
            more.click()
        assert request.value.post_data_json["offset"] == 3 * (page_number - 1)
        assert request.value.post_data_json["topk"] == 3
        expect(page.get_by_test_id("result")).to_have_count(3 * page_number)
    expect(page.get_by_test_id("result-name")).to_have_text(ranked_names(whole))
    ranks = page.locator("[data-testid=result] .rank").all_text_contents()
    assert ranks == [f"#{i}" for i in range(1, 10)]
    expect(page.get_by_test_id("stat-results")).to_contain_text("3 / 3")  # the first page's stats stay


def test_filters_by_folder_and_minimum_score(page: Page, query_jpeg):
    page.get_by_test_id("topk").focus()
    page.keyboard.press("End")
    page.get_by_test_id("dedup").uncheck()
    body = upload_and_search(page, query_jpeg)
    items = ranked_items(body)
    in_sub = [i["filename"] for i in items if i["filename"].startswith("sub/") and "/" not in i["filename"][4:]]
    assert in_sub and len(in_sub) < len(items)

    page.get_by_test_id("filter-folder").select_option("sub/")
    visible = page.locator("[data-testid=result]:visible [data-testid=result-name]")
    expect(visible).to_have_text(in_sub)
    expect(page.get_by_test_id("filter-note")).to_have_text(f"showing {len(in_sub)} of {len(items)}")

    page.get_by_test_id("filter-folder").select_option("")
    floor = sorted(i["score"] for i in items)[len(items) // 2]
    page.get_by_test_id("filter-score").evaluate("(s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }", f"{floor:.2f}")
    kept = [i["filename"] for i in items if i["score"] >= round(floor, 2)]
    assert 0 < len(kept) < len(items)
    expect(visible).to_have_text(kept)
    # a tier left empty by the filter is hidden, the others count what they show
    shown_counts = sum(int(c) for c in page.locator("[data-testid=tier]:visible [data-testid=tier-count]").all_text_contents())
    assert shown_counts == len(kept)


def test_captions_keep_the_file_name_visible(page: Page, query_jpeg, long_path):
    page.get_by_test_id("topk").focus()
    page.keyboard.press("End")
    page.get_by_test_id("dedup").uncheck()
    upload_and_search(page, query_jpeg)
    expect_caption_keeps_file_visible(page.get_by_test_id("result-name").filter(has_text=long_path), long_path)


def test_preview_shows_query_and_match_side_by_side_with_facts(page: Page, query_jpeg, web_gallery):
    items = ranked_items(upload_and_search(page, query_jpeg))
    page.get_by_test_id("result").first.click()
    expect(page.get_by_test_id("preview-query")).to_be_visible()
    query_box = page.get_by_test_id("preview-query-img").bounding_box()
    match_box = page.get_by_test_id("preview-img").bounding_box()
    assert query_box["x"] + query_box["width"] <= match_box["x"] + 1  # side by side, query first
    expect(page.get_by_test_id("preview-query-dims")).to_have_text("300 × 200")
    path = web_gallery / items[0]["filename"]
    with Image.open(path) as img:
        width, height = img.size
    expect(page.get_by_test_id("preview-dims")).to_have_text(f"{width} × {height}")
    expect(page.get_by_test_id("preview-size")).to_have_text(fmt_bytes(path.stat().st_size))
    expect(page.get_by_test_id("preview-date")).not_to_have_text("…")
    expect(page.get_by_test_id("preview-date")).not_to_have_text("–")


RECORD_UPLOADS = """() => {
  const send = window.fetch;
  window.__uploads = [];
  window.fetch = async (url, options) => {
    if (options && options.body instanceof FormData) {
      const file = options.body.get("image");
      const bitmap = await createImageBitmap(file);
      window.__uploads.push({ name: file.name, size: file.size, width: bitmap.width, height: bitmap.height });
    }
    return send(url, options);
  };
}"""


def test_region_query_searches_the_crop_only(page: Page, query_jpeg):
    page.get_by_test_id("file-input").set_input_files(query_jpeg)
    preview = page.get_by_test_id("query-preview")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    # where the 300 x 200 pixels are drawn (object-fit: contain)
    box = preview.evaluate(
        """img => { const r = img.getBoundingClientRect(); const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
        const w = img.naturalWidth * s, h = img.naturalHeight * s; return {x: r.left + (r.width - w) / 2, y: r.top + (r.height - h) / 2, w, h}; }"""
    )
    page.mouse.move(box["x"] + box["w"] * 0.25, box["y"] + box["h"] * 0.25)
    page.mouse.down()
    page.mouse.move(box["x"] + box["w"] * 0.5, box["y"] + box["h"] * 0.5, steps=5)
    page.mouse.move(box["x"] + box["w"] * 0.75, box["y"] + box["h"] * 0.75, steps=5)
    page.mouse.up()
    expect(page.get_by_test_id("region-box")).to_be_visible()
    expect(page.get_by_test_id("region-clear")).to_be_visible()
    region = page.get_by_test_id("region-box").bounding_box()
    assert abs(region["width"] - box["w"] * 0.5) < 3 and abs(region["height"] - box["h"] * 0.5) < 3

    page.evaluate(RECORD_UPLOADS)
    body = click_search(page)
    assert body["query_name"] == "chelsea-query-region.png"
    (sent,) = page.evaluate("window.__uploads")
    assert sent["name"] == "chelsea-query-region.png"
    assert abs(sent["width"] - 150) <= 2 and abs(sent["height"] - 100) <= 2  # the middle half of 300 x 200

    page.get_by_test_id("region-clear").click()
    expect(page.get_by_test_id("region-box")).to_be_hidden()
    click_search(page)
    whole = page.evaluate("window.__uploads")[1]
    assert whole == {"name": "chelsea-query.jpg", "size": query_jpeg.stat().st_size, "width": 300, "height": 200}


def test_a_link_to_a_private_address_is_refused_with_a_clear_error(page: Page, live_server):
    page.get_by_test_id("url-input").fill(f"{live_server}/gallery_images/x.jpg")
    with page.expect_response(_is_post("/api/search/url")) as info:
        page.get_by_test_id("url-btn").click()
    assert info.value.status == 403
    expect(page.get_by_test_id("error")).to_be_visible()
    expect(page.locator("#error-title")).to_have_text("Not allowed")
    expect(page.locator("#error-detail")).to_contain_text("private_address")
    expect(page.get_by_test_id("query-name")).to_have_text(f"{live_server}/gallery_images/x.jpg")


def test_region_of_a_gallery_query_is_cut_from_the_full_image(page: Page, query_jpeg, web_gallery):
    target = ranked_items(upload_and_search(page, query_jpeg))[0]
    page.get_by_test_id("result").first.click()
    with page.expect_response(_is_post("/api/search/similar")):
        page.get_by_test_id("preview-similar").click()
    preview = page.get_by_test_id("query-preview")
    expect(preview).to_have_attribute("src", target["thumb_url"])
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    r = preview.bounding_box()
    page.mouse.move(r["x"] + 1, r["y"] + 1)  # a rounded corner of the drop zone: still starts the box
    page.mouse.down()
    page.mouse.move(r["x"] + r["width"] + 20, r["y"] + r["height"] + 20, steps=8)  # past the edge: clamped
    page.mouse.up()  # (nearly) the whole picture: the crop has the full file's size, not the thumbnail's
    expect(page.get_by_test_id("region-box")).to_be_visible()
    page.evaluate(RECORD_UPLOADS)
    click_search(page)
    (sent,) = page.evaluate("window.__uploads")
    with Image.open(web_gallery / target["filename"]) as img:
        width, height = img.size
    assert width > 256 and sent["width"] > 256 and abs(sent["width"] - width) <= width * 0.05
    assert abs(sent["height"] - height) <= height * 0.05


def test_the_query_can_be_picked_before_the_config_arrives(browser, live_server, query_jpeg):
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    held = []
    page.route("**/api/config", lambda route: held.append(route))
    page.goto("/")
    page.get_by_test_id("file-input").set_input_files(query_jpeg)
    expect(page.get_by_test_id("status")).to_have_text(f"Ready to search with {query_jpeg.name}.")
    page.get_by_test_id("search-btn").click()  # waits for the limits, then searches
    expect(page.get_by_test_id("status")).to_have_text("Searching…")
    assert held
    with page.expect_response(_is_post("/api/search")) as info:
        held[0].continue_()
    assert info.value.ok
    expect(page.get_by_test_id("result").first).to_be_visible()
    expect(page.get_by_test_id("tiers")).to_have_value("quantile")
    context.close()


@pytest.fixture(scope="module")
def url_server(tmp_path_factory, web_gallery, tiny_weights, query_jpeg):
    """A second app that may fetch loopback links, and a plain HTTP server with the query photo."""
    import http.server
    import threading

    from vistamatch.server import create_app
    from vistamatch.server.settings import Settings

    from .conftest import _start_uvicorn, _wait_ready

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = query_jpeg.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    images = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    settings = Settings.for_folder(web_gallery, tmp_path_factory.mktemp("url-data"), tiny_weights, url_allow_private=True)
    base_url, server, thread = _start_uvicorn(create_app(settings))
    try:
        _wait_ready(base_url)
        yield base_url, f"http://127.0.0.1:{images.server_address[1]}/photos/link.jpg?size=large"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        images.shutdown()


def test_query_by_link(browser, url_server, query_jpeg):
    base_url, link = url_server
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto("/")
    page.get_by_test_id("url-input").fill(link)
    with page.expect_response(_is_post("/api/search/url")) as info:
        page.get_by_test_id("url-input").press("Enter")
    assert info.value.ok, info.value.text()
    body = info.value.json()
    assert body["query_name"] == link
    expect(page.get_by_test_id("result-name")).to_have_text(ranked_names(body))
    expect(page.get_by_test_id("query-name")).to_have_text(link)
    expect(page.get_by_test_id("query-preview")).to_have_attribute("src", body["query_thumb_url"])
    # the same ranking as uploading the photo itself
    upload = page.request.post(f"{base_url}/api/search", multipart={"image": {"name": "q.jpg", "mimeType": "image/jpeg", "buffer": query_jpeg.read_bytes()}})
    assert ranked_names(upload.json()) == ranked_names(body)
    # and the controls re-run it by its stored embedding, never fetching the link again
    with page.expect_response(_is_post("/api/search/again")) as info:
        page.get_by_test_id("tiers").select_option("absolute")
    assert info.value.json()["history_id"] == body["history_id"]
    context.close()


def test_a_new_query_is_not_replaced_by_a_rerun_of_the_old_one(page: Page, query_jpeg):
    upload_and_search(page, query_jpeg)
    expect(page.get_by_test_id("load-more")).to_be_hidden()  # 11 images, Top-K 50: nothing more
    posts = record_posts(page)
    page.get_by_test_id("file-input").set_input_files({"name": "next.jpg", "mimeType": "image/jpeg", "buffer": query_jpeg.read_bytes()})
    page.get_by_test_id("tiers").select_option("absolute")
    page.wait_for_timeout(700)  # past the debounce
    assert posts == []  # the old results are not searched again under the new query's name
    with page.expect_response(_is_post("/api/search")) as info:
        page.get_by_test_id("search-btn").click()
    assert info.value.json()["query_name"] == "next.jpg" and info.value.json()["tier_policy"] == "absolute"
