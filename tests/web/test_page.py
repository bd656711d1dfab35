"""The search page in headless Chromium against a real server: search, controls, modal, history, errors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

TIER_ORDER = ["Perfect", "Excellent", "Good", "Just-so-so"]


def _is_post(path: str):
    return lambda r: r.request.method == "POST" and urlparse(r.url).path == path


def _is_post_request(path: str):
    return lambda r: r.method == "POST" and urlparse(r.url).path == path


def ranked_items(body: dict) -> list[dict]:
    return [item for tier in body["tiers"] for item in tier["items"]]


def ranked_names(body: dict) -> list[str]:
    return [item["filename"] for item in ranked_items(body)]


def click_search(page: Page) -> dict:
    """Click Search, wait for the answer and its display; return the JSON body."""
    with page.expect_response(_is_post("/api/search")) as info:
        page.get_by_test_id("search-btn").click()
    assert info.value.ok, info.value.text()
    body = info.value.json()
    expect(page.get_by_test_id("result-name")).to_have_text(ranked_names(body))
    return body


def upload_and_search(page: Page, path) -> dict:
    page.get_by_test_id("file-input").set_input_files(path)
    return click_search(page)


def set_topk(page: Page, value: int) -> None:
    """Move the slider with the keyboard, like a user: Home is 1, each ArrowRight adds one."""
    page.get_by_test_id("topk").focus()
    page.keyboard.press("Home")
    for _ in range(value - 1):
        page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("topk-value")).to_have_text(str(value))


def test_upload_shows_tiers_in_order_with_stats(page: Page, query_jpeg, gallery_names):
    expect(page.get_by_test_id("search-btn")).to_be_disabled()
    expect(page.get_by_test_id("gallery-info")).to_contain_text(f"{len(gallery_names)} images")

    body = upload_and_search(page, query_jpeg)

    expect(page.get_by_test_id("query-name")).to_have_text(query_jpeg.name)
    shown = [tier["name"] for tier in body["tiers"]]  # the server leaves out empty tiers
    assert len(shown) >= 2 and shown == [name for name in TIER_ORDER if name in shown]
    expect(page.get_by_test_id("tier-name")).to_have_text(shown)
    counts = [int(text) for text in page.get_by_test_id("tier-count").all_text_contents()]
    assert counts == [tier["size"] for tier in body["tiers"]]
    assert sum(counts) == body["topk_returned"] == page.get_by_test_id("result").count() > 0
    assert set(ranked_names(body)) <= gallery_names

    # Thumbnails, lazily loaded, not the full-size files.
    images = page.locator("[data-testid=result] img")
    assert images.evaluate_all("imgs => imgs.map(i => i.loading)") == ["lazy"] * len(ranked_items(body))
    assert images.evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))") == [
        item["thumb_url"] for item in ranked_items(body)
    ]

    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=images.first.element_handle())

    expect(page.get_by_test_id("stat-results")).to_contain_text(f"{body['topk_returned']} / 50")
    expect(page.get_by_test_id("stat-gallery")).to_contain_text(f"{body['gallery_size']} images")
    expect(page.get_by_test_id("stat-duplicates")).to_contain_text(str(body["duplicates_removed"]))
    expect(page.get_by_test_id("timing").locator("li")).to_have_count(4)
    expect(page.get_by_test_id("search-btn")).to_be_enabled()
    expect(page.get_by_test_id("search-btn")).to_have_attribute("aria-busy", "false")
    expect(page.get_by_test_id("status")).to_contain_text(f"Found {body['topk_returned']} matches")


def test_slider_and_dedup_toggle_change_the_request(page: Page, query_jpeg):
    expect(page.get_by_test_id("topk")).to_have_value("50")
    expect(page.get_by_test_id("dedup")).to_be_checked()
    page.get_by_test_id("file-input").set_input_files(query_jpeg)

    set_topk(page, 3)
    page.get_by_test_id("dedup").uncheck()
    with page.expect_request(_is_post_request("/api/search")) as request:
        body = click_search(page)
    assert parse_qs(urlparse(request.value.url).query) == {"topk": ["3"], "dedup": ["false"], "tiers": ["quantile"], "offset": ["0"]}
    assert body["topk_requested"] == 3 and body["dedup_enabled"] is False
    expect(page.get_by_test_id("result")).to_have_count(body["topk_returned"])
    assert 0 < body["topk_returned"] <= 3
    expect(page.get_by_test_id("stat-duplicates")).to_contain_text("off")

    page.get_by_test_id("topk").focus()
    page.keyboard.press("End")
    expect(page.get_by_test_id("topk-value")).to_have_text("200")
    page.get_by_test_id("dedup").check()
    with page.expect_request(_is_post_request("/api/search")) as request:
        click_search(page)
    assert parse_qs(urlparse(request.value.url).query) == {"topk": ["200"], "dedup": ["true"], "tiers": ["quantile"], "offset": ["0"]}


def test_settings_survive_a_reload(page: Page):
    set_topk(page, 7)
    page.get_by_test_id("dedup").uncheck()
    page.reload()
    expect(page.get_by_test_id("topk-value")).to_have_text("7")
    expect(page.get_by_test_id("dedup")).not_to_be_checked()


def test_busy_state_while_searching(page: Page, query_jpeg):
    held = []
    page.route("**/api/search?*", lambda route: held.append(route))  # hold the request until we let it go
    page.get_by_test_id("file-input").set_input_files(query_jpeg)
    button = page.get_by_test_id("search-btn")
    button.click()
    expect(button).to_be_disabled()
    expect(button).to_have_attribute("aria-busy", "true")
    expect(button.locator(".spinner")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("Searching…")
    for _ in range(200):  # the held request reaches the handler through the event loop
        if held:
            break
        page.wait_for_timeout(25)
    assert len(held) == 1
    expect(button).to_be_disabled()  # still waiting for the answer
    held[0].continue_()
    expect(page.get_by_test_id("result").first).to_be_visible()
    expect(button).to_be_enabled()
    expect(button.locator(".spinner")).to_be_hidden()


def test_modal_opens_navigates_with_arrows_and_closes_with_escape(page: Page, query_jpeg):
    body = upload_and_search(page, query_jpeg)
    items = ranked_items(body)
    assert len(items) >= 2
    first_card = page.get_by_test_id("result").first
    first_card.click()

    dialog = page.get_by_test_id("preview")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("preview-name")).to_have_text(items[0]["filename"])
    expect(page.get_by_test_id("preview-rank")).to_have_text(f"#1 / {len(items)}")
    expect(page.get_by_test_id("preview-score")).to_have_text(f"{items[0]['score']:.3f}")
    expect(page.get_by_test_id("preview-tier")).to_have_text(body["tiers"][0]["name"])
    expect(page.get_by_test_id("preview-img")).to_have_attribute("src", items[0]["url"])  # the full image
    expect(page.locator("#preview-open")).to_have_attribute("href", items[0]["url"])
    expect(page.get_by_test_id("preview-close")).to_be_focused()

    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("preview-name")).to_have_text(items[1]["filename"])
    expect(page.get_by_test_id("preview-rank")).to_have_text(f"#2 / {len(items)}")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("preview-name")).to_have_text(items[0]["filename"])
    page.keyboard.press("ArrowLeft")  # already the first: stays
    expect(page.get_by_test_id("preview-name")).to_have_text(items[0]["filename"])

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(first_card).to_be_focused()


def test_search_similar_from_the_modal(page: Page, query_jpeg):
    target = ranked_items(upload_and_search(page, query_jpeg))[1]
    page.get_by_test_id("result").nth(1).click()
    with page.expect_request(_is_post_request("/api/search/similar")) as request:
        page.get_by_test_id("preview-similar").click()
    assert request.value.post_data_json == {"path": target["filename"], "topk": 50, "dedup": True, "tiers": "quantile", "offset": 0}
    response = request.value.response()
    assert response.ok
    body = response.json()

    expect(page.get_by_test_id("preview")).to_be_hidden()
    expect(page.get_by_test_id("result-name")).to_have_text(ranked_names(body))
    expect(page.get_by_test_id("query-name")).to_have_text(target["filename"])
    assert body["query_name"] == target["filename"]
    # The query is a gallery image: it finds itself first.
    assert ranked_names(body)[0] == target["filename"]

    # Search again with other settings: the same gallery query, not the earlier upload.
    set_topk(page, 2)
    with page.expect_request(_is_post_request("/api/search/similar")) as request:
        page.get_by_test_id("search-btn").click()
    assert request.value.post_data_json == {"path": target["filename"], "topk": 2, "dedup": True, "tiers": "quantile", "offset": 0}
    expect(page.get_by_test_id("result")).to_have_count(2)


def test_history_replay_restores_results_without_searching(page: Page, api, query_jpeg):
    assert api.post("/api/history/clear").status_code == 200
    first = upload_and_search(page, query_jpeg)
    set_topk(page, 4)
    second = click_search(page)
    assert ranked_names(first) != ranked_names(second)

    page.get_by_test_id("history-open").click()
    drawer = page.get_by_test_id("history")
    expect(drawer).to_be_visible()
    entries = page.get_by_test_id("history-entry")
    expect(entries).to_have_count(2)
    assert [entries.nth(i).get_attribute("data-id") for i in range(2)] == [second["history_id"], first["history_id"]]
    expect(entries.nth(0)).to_contain_text("K 4")
    expect(entries.nth(1)).to_contain_text("K 50")
    expect(entries.nth(1).get_by_test_id("history-name")).to_have_text(query_jpeg.name)
    expect(entries.nth(1).locator("img")).to_have_attribute("src", first["query_thumb_url"])
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=entries.nth(1).locator("img").element_handle())

    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    entries.nth(1).get_by_test_id("history-replay").click()
    expect(drawer).to_be_hidden()
    expect(page.get_by_test_id("result-name")).to_have_text(ranked_names(first))
    assert page.get_by_test_id("tier-count").all_text_contents() == [str(t["size"]) for t in first["tiers"]]
    expect(page.get_by_test_id("stat-results")).to_contain_text(f"{first['topk_returned']} / 50")
    expect(page.get_by_test_id("query-name")).to_have_text(query_jpeg.name)
    expect(page.get_by_test_id("query-preview")).to_have_attribute("src", first["query_thumb_url"])
    assert posts == []

    # Esc closes the drawer and gives the focus back to its button.
    page.get_by_test_id("history-open").click()
    expect(drawer).to_be_visible()
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(page.get_by_test_id("history-open")).to_be_focused()


def _add_history(api, query_jpeg, count: int) -> list[str]:
    ids = []
    for k in range(1, count + 1):
        files = {"image": (f"q{k}.jpg", query_jpeg.read_bytes(), "image/jpeg")}
        response = api.post("/api/search", params={"topk": k}, files=files)
        assert response.status_code == 200, response.text
        ids.append(response.json()["history_id"])
    return ids[::-1]  # newest first


def test_history_delete_one_and_clear_all_with_confirmation(page: Page, api, query_jpeg):
    assert api.post("/api/history/clear").status_code == 200
    newest_first = _add_history(api, query_jpeg, 3)

    page.get_by_test_id("history-open").click()
    entries = page.get_by_test_id("history-entry")
    expect(entries).to_have_count(3)
    entries.nth(1).get_by_test_id("history-delete").click()
    expect(entries).to_have_count(2)
    left = [newest_first[0], newest_first[2]]
    assert [entries.nth(i).get_attribute("data-id") for i in range(2)] == left
    assert [e["id"] for e in api.get("/api/history").json()["items"]] == left

    # Cancel keeps everything.
    page.get_by_test_id("history-clear").click()
    confirm = page.get_by_test_id("confirm")
    expect(confirm).to_be_visible()
    page.get_by_test_id("confirm-cancel").click()
    expect(confirm).to_be_hidden()
    expect(entries).to_have_count(2)
    assert api.get("/api/history").json()["total"] == 2

    page.get_by_test_id("history-clear").click()
    page.get_by_test_id("confirm-ok").click()
    expect(entries).to_have_count(0)
    expect(page.get_by_test_id("history-status")).to_have_text("History cleared.")
    expect(page.get_by_test_id("history-clear")).to_be_disabled()
    assert api.get("/api/history").json()["total"] == 0


@pytest.mark.parametrize(
    ("name", "content", "mime"),
    [("notes.txt", b"just some text, not an image", "text/plain"), ("cut.jpg", None, "image/jpeg")],
    ids=["text-file", "truncated-jpeg"],
)
def test_a_bad_file_shows_a_clear_error(page: Page, query_jpeg, name, content, mime):
    if content is None:
        content = query_jpeg.read_bytes()[:600]  # a JPEG cut short
    page.get_by_test_id("file-input").set_input_files({"name": name, "mimeType": mime, "buffer": content})
    with page.expect_response(_is_post("/api/search")) as info:
        page.get_by_test_id("search-btn").click()
    assert info.value.status in (400, 415)
    error = page.get_by_test_id("error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Not an image we can read")
    expect(error).to_contain_text(info.value.json()["error"])
    expect(page.get_by_test_id("result")).to_have_count(0)
    expect(page.get_by_test_id("search-btn")).to_be_enabled()


def test_an_approximate_store_shows_its_measured_recall(page: Page):
    expect(page.get_by_test_id("gallery-info")).to_contain_text("images")
    expect(page.get_by_test_id("gallery-info")).not_to_contain_text("approximate")  # the test index is exact
    line = "approximate: 99.7 % of exact top-50, measured on 1,000 of your images"

    def as_if_approximate(route):
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "store": "ann", "store_description": line})

    page.route("**/api/stats", as_if_approximate)
    page.reload()
    expect(page.get_by_test_id("gallery-info")).to_contain_text(line)


def test_a_file_over_the_upload_limit_is_refused(page: Page, oversized_png):
    expect(page.get_by_test_id("gallery-info")).to_contain_text("images")  # stats, with the limit, loaded
    page.get_by_test_id("file-input").set_input_files(oversized_png)
    error = page.get_by_test_id("error")
    expect(error).to_contain_text("Image too big")
    expect(error).to_contain_text("the limit is 1 MB")

    # Sent anyway, the server refuses it too, and the page says so.
    with page.expect_response(_is_post("/api/search")) as info:
        page.get_by_test_id("search-btn").click()
    assert info.value.status == 413
    expect(error).to_contain_text("Image too big")
    expect(error).to_contain_text(info.value.json()["error"])


def test_server_unreachable_is_reported(page: Page, query_jpeg):
    page.route("**/api/search?*", lambda route: route.abort("connectionrefused"))
    page.get_by_test_id("file-input").set_input_files(query_jpeg)
    page.get_by_test_id("search-btn").click()
    error = page.get_by_test_id("error")
    expect(error).to_contain_text("Server unreachable")
    expect(error).to_contain_text("Check that it is running")
    expect(page.get_by_test_id("search-btn")).to_be_enabled()


def test_drop_and_paste_set_the_query(page: Page, query_jpeg):
    send_file = """([bytes, name, how]) => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], name, { type: "image/jpeg" }));
        const init = { bubbles: true, cancelable: true };
        if (how === "drop") {
            document.querySelector("[data-testid=dropzone]").dispatchEvent(new DragEvent("drop", { ...init, dataTransfer: data }));
        } else {
            document.body.dispatchEvent(new ClipboardEvent("paste", { ...init, clipboardData: data }));
        }
    }"""
    data = list(query_jpeg.read_bytes())
    page.evaluate(send_file, [data, "dropped.jpg", "drop"])
    expect(page.get_by_test_id("query-name")).to_have_text("dropped.jpg")
    expect(page.get_by_test_id("search-btn")).to_be_enabled()
    page.wait_for_function("document.querySelector('[data-testid=query-preview]').naturalWidth > 0")

    page.evaluate(send_file, [data, "pasted.jpg", "paste"])
    expect(page.get_by_test_id("query-name")).to_have_text("pasted.jpg")
    assert click_search(page)["query_name"] == "pasted.jpg"


def test_html_file_names_render_as_text(page: Page, html_names, query_jpeg):
    page.get_by_test_id("topk").focus()
    page.keyboard.press("End")  # 200: the whole gallery
    page.get_by_test_id("dedup").uncheck()
    names = ranked_names(upload_and_search(page, query_jpeg))
    for name in html_names:
        assert name in names
        expect(page.get_by_test_id("result-name").filter(has_text=name)).to_have_text(name)
    assert page.locator("#results b, #results img[src='x']").count() == 0
    assert page.evaluate("window.__xss") is None

    # In the modal, too.
    page.get_by_test_id("result").nth(names.index(html_names[1])).click()
    expect(page.get_by_test_id("preview-name")).to_have_text(html_names[1])
    page.keyboard.press("Escape")

    # A query whose own name is markup, in the query card and in the history drawer.
    page.get_by_test_id("file-input").set_input_files(
        {"name": html_names[1], "mimeType": "image/jpeg", "buffer": query_jpeg.read_bytes()}
    )
    click_search(page)
    expect(page.get_by_test_id("query-name")).to_have_text(html_names[1])
    page.get_by_test_id("history-open").click()
    expect(page.get_by_test_id("history-name").first).to_have_text(html_names[1])
    assert page.locator("#history-list img[src='x'], #history-list b").count() == 0
    assert page.evaluate("window.__xss") is None


def settled_box(locator):
    """The element's box once its opening animation (e.g. the drawer sliding in) has finished."""
    locator.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")
    return locator.bounding_box()


def test_phone_width_has_no_horizontal_scroll(phone_page: Page, query_jpeg):
    page = phone_page
    upload_and_search(page, query_jpeg)
    width = page.evaluate("document.documentElement.clientWidth")
    assert width == 360
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # Two columns of results.
    columns = page.locator(".grid").first.evaluate("g => getComputedStyle(g).gridTemplateColumns.split(' ').length")
    assert columns == 2

    page.get_by_test_id("result").first.click()
    box = settled_box(page.get_by_test_id("preview"))
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    page.keyboard.press("Escape")
    page.get_by_test_id("history-open").click()
    box = settled_box(page.get_by_test_id("history"))
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_entrance_animations_respect_reduced_motion(browser, live_server, query_jpeg):
    durations = {}
    for motion in ("no-preference", "reduce"):
        context = browser.new_context(base_url=live_server, reduced_motion=motion)
        page = context.new_page()
        page.goto("/")
        upload_and_search(page, query_jpeg)
        card = page.locator(".card").first
        durations[motion] = card.evaluate("c => parseFloat(getComputedStyle(c).animationDuration)")
        context.close()
    assert durations["no-preference"] >= 0.2
    assert durations["reduce"] < 0.001
