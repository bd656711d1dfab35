"""The duplicates review page in headless Chromium against its own real server: review a group,
keep another file, move to the trash, undo; the members are the search page's result cards, a click
opens the shared preview with the keeper beside the file; file names that are HTML shown as text.

Random weights make near-duplicate scores meaningless: the groups are byte-identical copies, found
at threshold 1.0 (the same content hash)."""

from __future__ import annotations

import shutil
from urllib.parse import urlparse

import pytest
from PIL import Image
from playwright.sync_api import expect

from .conftest import _start_uvicorn, _wait_ready, expect_caption_keeps_file_visible, fmt_bytes

pytestmark = pytest.mark.browser

XSS_NAME = "<img src=x onerror=alert(1)>.jpg"
# A path too long for a card's caption: the file name must stay visible, the folder gives way.
LONG_PATH = "a-folder-name-much-too-long-for-a-card/and-another-long-folder-name/the-end.jpg"


@pytest.fixture(scope="module")
def dups_server(tmp_path_factory, photo_gallery, photos, tiny_weights):
    from vistamatch.server import create_app
    from vistamatch.server.settings import Settings

    root = tmp_path_factory.mktemp("dups-web")
    gallery = root / "gallery"
    shutil.copytree(photo_gallery, gallery)
    (gallery / "copies").mkdir()
    shutil.copy(gallery / "astronaut.jpg", gallery / "copies" / "astronaut.jpg")
    photos["coffee"].resize((160, 120)).save(gallery / "coffee_small.jpg")
    shutil.copy(gallery / "coffee_small.jpg", gallery / XSS_NAME)
    (gallery / LONG_PATH).parent.mkdir(parents=True)
    shutil.copy(gallery / "coffee_small.jpg", gallery / LONG_PATH)
    base_url, server, thread = _start_uvicorn(create_app(Settings.for_folder(gallery, root / "data", tiny_weights)))
    try:
        _wait_ready(base_url)
        yield base_url, gallery
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture()
def dups_page(browser, dups_server):
    base_url, gallery = dups_server
    context = browser.new_context(base_url=base_url, reduced_motion="reduce", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("dialog", lambda d: (errors.append(f"native dialog: {d.message}"), d.dismiss()))  # alert(1) would land here
    yield page, gallery
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def _is(method: str, path: str):
    return lambda r: r.request.method == method and urlparse(r.url).path == path


def group_with(page, name: str):
    return page.get_by_test_id("group").filter(has=page.get_by_test_id("result-name").get_by_text(name, exact=True))


def test_review_keep_another_move_and_undo(dups_page):
    page, gallery = dups_page
    page.goto("/")
    page.get_by_test_id("duplicates-link").click()
    expect(page).to_have_url("/duplicates")  # the search page links here
    page.goto("/duplicates?threshold=1")
    expect(page.get_by_test_id("total-groups")).to_have_text("2")
    expect(page.get_by_test_id("group")).to_have_count(2)

    # a name that is HTML is shown as text, and nothing of it runs
    expect(page.get_by_test_id("result-name").get_by_text(XSS_NAME, exact=True)).to_have_count(1)
    assert page.locator("img[onerror]").count() == 0

    astro = group_with(page, "astronaut.jpg")
    cards = astro.get_by_test_id("member")
    expect(astro.get_by_test_id("result-name")).to_have_text(["astronaut.jpg", "copies/astronaut.jpg"])
    expect(cards.nth(0).get_by_test_id("member-role")).to_have_text("keep")
    expect(cards.nth(1).get_by_test_id("member-role")).to_have_text("exact copy")

    # keep the copy instead, select the group: the original is the one to go
    cards.nth(1).get_by_test_id("keep-choice").check()
    expect(cards.nth(1).get_by_test_id("member-role")).to_have_text("keep")
    astro.get_by_test_id("group-select").check()
    expect(cards.nth(0).get_by_test_id("member-role")).to_have_text("to trash")
    size = (gallery / "astronaut.jpg").stat().st_size
    expect(page.get_by_test_id("selected-bytes")).to_have_text(f"{size / 1024:.1f} KB")
    expect(page.get_by_test_id("move-selected")).to_be_enabled()

    # cancelling the confirmation moves nothing
    page.get_by_test_id("move-selected").click()
    page.get_by_test_id("confirm-cancel").click()
    assert (gallery / "astronaut.jpg").exists()

    page.get_by_test_id("move-selected").click()
    expect(page.get_by_test_id("confirm-text")).to_contain_text("Move 1 files")
    with page.expect_response(_is("POST", "/api/duplicates/trash")) as info:
        page.get_by_test_id("confirm-ok").click()
    assert info.value.json()["done"] == ["astronaut.jpg"]
    expect(page.get_by_test_id("status")).to_contain_text("Moved 1 files to the trash")
    expect(page.get_by_test_id("group")).to_have_count(1)
    assert not (gallery / "astronaut.jpg").exists() and (gallery / "copies" / "astronaut.jpg").exists()

    page.get_by_test_id("undo-last").click()
    with page.expect_response(_is("POST", "/api/duplicates/undo")) as info:
        page.get_by_test_id("confirm-ok").click()
    assert info.value.json()["state"] == "restored"
    expect(page.get_by_test_id("status")).to_contain_text("Restored 1 files")
    expect(page.get_by_test_id("group")).to_have_count(2)
    assert (gallery / "astronaut.jpg").exists()

    page.get_by_test_id("undo-last").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("status")).to_have_text("Nothing to undo.")


def test_threshold_slider_reloads(dups_page):
    page, _ = dups_page
    page.goto("/duplicates?threshold=1")
    expect(page.get_by_test_id("total-groups")).to_have_text("2")
    with page.expect_response(lambda r: urlparse(r.url).path == "/api/duplicates") as info:
        page.get_by_test_id("threshold").fill("0.99")
    assert "threshold=0.99" in info.value.url
    expect(page.get_by_test_id("threshold-value")).to_have_text("0.990")
    # the nearest-neighbour histogram: 20 bins of 0.01 from 0.80, the copies (score 1.0) in the last
    bars = page.get_by_test_id("histogram").locator("rect")
    expect(bars).to_have_count(20)
    expect(bars.last.locator("title")).to_contain_text("0.99–1.00")


def test_phone_width_has_no_horizontal_scroll(browser, dups_server):
    base_url, _ = dups_server
    context = browser.new_context(base_url=base_url, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto("/duplicates?threshold=1")
    expect(page.get_by_test_id("group")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # a group's row scrolls inside itself
    context.close()


def test_members_are_the_result_grids_cards(dups_page):
    page, _ = dups_page
    page.goto("/duplicates?threshold=1")
    group = group_with(page, LONG_PATH)
    expect(group.get_by_test_id("member")).to_have_count(3)
    # each member is the grid's card: a button with the thumbnail, the meta line and the caption
    cards = group.locator("li.card.dup-member")
    expect(cards).to_have_count(3)
    expect(cards.locator("> button.card-btn[data-testid=result] > .thumb > img")).to_have_count(3)
    expect(cards.locator("> .card-btn > .card-meta > .score")).to_have_text(["1.0000"] * 3)
    expect_caption_keeps_file_visible(group.get_by_test_id("result-name").filter(has_text=LONG_PATH), LONG_PATH)


def test_preview_shows_the_keeper_beside_the_file_and_closes(dups_page):
    page, gallery = dups_page
    page.goto("/duplicates?threshold=1")
    astro = group_with(page, "astronaut.jpg")
    copy = astro.get_by_test_id("member").nth(1).get_by_test_id("result")
    copy.click()
    dialog = page.get_by_test_id("preview")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("preview-query")).to_be_visible()  # the keeper on the left
    expect(page.locator("#preview-query-label")).to_have_text("Keeper")
    expect(page.locator("#preview-query-name")).to_have_text("astronaut.jpg")
    expect(page.locator("#preview-match-label")).to_have_text("Duplicate")
    expect(page.get_by_test_id("preview-name")).to_have_text("copies/astronaut.jpg")
    keeper_box = page.get_by_test_id("preview-query-img").bounding_box()
    match_box = page.get_by_test_id("preview-img").bounding_box()
    assert keeper_box["x"] + keeper_box["width"] <= match_box["x"] + 1  # side by side, keeper first
    with Image.open(gallery / "astronaut.jpg") as img:
        dims = f"{img.width} × {img.height}"
    size = fmt_bytes((gallery / "astronaut.jpg").stat().st_size)
    expect(page.get_by_test_id("preview-query-dims")).to_have_text(dims)
    expect(page.get_by_test_id("preview-query-facts")).to_contain_text(size)
    expect(page.get_by_test_id("preview-dims")).to_have_text(dims)
    expect(page.get_by_test_id("preview-size")).to_have_text(fmt_bytes((gallery / "copies" / "astronaut.jpg").stat().st_size))
    for text in ("…", "–", ""):
        expect(page.get_by_test_id("preview-date")).not_to_have_text(text)
    # no rank, tier, arrows or "search similar" here
    for testid in ("preview-rank", "preview-tier", "preview-prev", "preview-next", "preview-similar"):
        expect(page.get_by_test_id(testid)).to_be_hidden()
    expect(page.get_by_test_id("preview-close")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(copy).to_be_focused()

    # keep the copy instead: the original's preview has the copy beside it; the close button closes
    astro.get_by_test_id("keep-choice").nth(1).check()
    astro.get_by_test_id("member").nth(0).get_by_test_id("result").click()
    expect(page.locator("#preview-query-name")).to_have_text("copies/astronaut.jpg")
    expect(page.get_by_test_id("preview-name")).to_have_text("astronaut.jpg")
    page.get_by_test_id("preview-close").click()
    expect(dialog).to_be_hidden()

    # the keeper alone
    copy.click()
    expect(page.get_by_test_id("preview-name")).to_have_text("copies/astronaut.jpg")
    expect(page.locator("#preview-match-label")).to_have_text("Keeper")
    expect(page.get_by_test_id("preview-query")).to_be_hidden()


def test_a_name_that_is_html_is_text_in_card_and_preview(dups_page):
    page, _ = dups_page
    page.goto("/duplicates?threshold=1")
    caption = page.get_by_test_id("result-name").filter(has_text=XSS_NAME)
    expect(caption.get_by_test_id("result-file")).to_have_text(XSS_NAME)
    page.get_by_role("button", name=XSS_NAME).click()
    expect(page.get_by_test_id("preview-name")).to_have_text(XSS_NAME)
    expect(page.get_by_test_id("preview-img")).to_have_attribute("alt", XSS_NAME)
    assert page.locator("img[onerror]").count() == 0
