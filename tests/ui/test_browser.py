"""The explorer in a real headless Chromium, on the embedded backend and through `kvcli local serve`.

Every wait is on the page: Playwright's ``expect`` polls a selector until it holds (or fails after its timeout),
so nothing here sleeps. With ``KVCLI_UI_SCREENSHOTS=docs/ui`` the embedded runs save the screenshots of docs/ui.md.
"""

from __future__ import annotations

import base64
import json
import os
import re

import pytest

import kvcli
from tests.served import LocalServe
from tests.ui.conftest import UiServe, shot

try:
    from playwright.sync_api import expect
except ImportError as missing:  # required where .ci/run installed the browser: an error then, not a skip
    if os.environ.get("KVCLI_REQUIRE_BROWSER") == "1":
        raise ImportError(f"Playwright is missing and KVCLI_REQUIRE_BROWSER=1: {missing}") from missing
    pytest.skip(f"could not import playwright.sync_api: {missing}", allow_module_level=True)



def _png(width: int, height: int) -> bytes:
    """A real RGB PNG (a gradient), made here so the test needs no image library."""
    import struct
    import zlib

    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 160))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = _png(96, 64)
XSS_KEY = "<script>window.pwned=1</script>"
XSS_META = '<img src=x onerror="window.pwned=2">'
USERS = 1050  # past the 1,000 keys of one Fastly page, and past two of the explorer's 500-key pages
TOKEN = "local-serve-token-for-ui-tests"


class Explorer:
    def __init__(self, ui: UiServe, data_dir, backend: str) -> None:
        self.ui = ui
        self.data_dir = data_dir
        self.backend = backend

    def kv(self) -> kvcli.KV:
        """A connection of the test's own to the same data (to change it behind the page's back)."""
        return kvcli.connect(data_dir=self.data_dir)

    def store_id(self) -> str:
        with self.kv() as kv:
            return kv.store("demo").id


def _seed(data_dir, tmp_path) -> None:
    lines = [json.dumps({"key": f"user/{i:04d}", "value": base64.b64encode(b'{"n": %d}' % i).decode()})
             for i in range(USERS)]
    (tmp_path / "seed.ndjson").write_text("\n".join(lines) + "\n")
    with kvcli.connect(data_dir=data_dir) as kv:
        store = kv.create_store("demo", location="EU")
        store.import_file(tmp_path / "seed.ndjson")
        store.put("config.json", b'{"debug":false,"regions":["eu","us"],"name":"demo"}', metadata="v1", ttl=86400)
        store.put("blob.bin", bytes(range(256)) * 2)
        store.put("logo.png", PNG, metadata="image")
        store.put("docs/readme.txt", b"Hello from kvcli.\nSecond line.")
        store.put(XSS_KEY, b"<b>not bold</b>", metadata=XSS_META)
        kv.create_store("empty")


@pytest.fixture(params=["embedded", "local-serve"])
def explorer(request, tmp_path, isolated):
    data_dir = isolated["data"]
    _seed(data_dir, tmp_path)
    served = ui = None
    try:
        if request.param == "embedded":
            ui = UiServe(tmp_path, "--local", env={"KVCLI_UI_DISPLAY_LIMIT": "16384"})
        else:
            served = LocalServe(data_dir, token=TOKEN)
            ui = UiServe(tmp_path, "--endpoint", served.url, "--token", TOKEN, env={"KVCLI_UI_DISPLAY_LIMIT": "16384"})
        yield Explorer(ui, data_dir, request.param)
    finally:
        if ui is not None:
            ui.stop()
        if served is not None:
            served.stop()


def open_store(page, explorer: Explorer, name: str = "demo"):
    page.goto(explorer.ui.url)
    expect(page.get_by_role("heading", name="Stores")).to_be_visible()
    assert "token=" not in page.url  # the token left the address bar once it became the cookie
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.locator("#key-status")).to_contain_text("keys listed")


def screenshots(explorer: Explorer) -> bool:
    return explorer.backend == "embedded"


def test_stores_list_create_and_delete_with_typed_confirmation(explorer, new_page):
    page = new_page()
    page.goto(explorer.ui.url)
    rows = page.locator("table.stores tbody tr")
    expect(rows).to_have_count(2)
    demo = rows.filter(has_text="demo")
    expect(demo.locator("td").nth(1)).to_have_text(explorer.store_id())
    # the location where the backend lists it (Fastly's store listing leaves it out)
    expect(demo.locator("td").nth(2)).to_have_text("EU" if explorer.backend == "embedded" else "—")
    expect(demo.locator("td").nth(3)).not_to_have_text("—")
    if screenshots(explorer):
        shot(page, "stores")
    page.get_by_label("New store name").fill("made-in-ui")
    page.get_by_role("button", name="Create store").click()
    expect(page.get_by_role("heading", name="made-in-ui")).to_be_visible()
    expect(page.locator("#key-status")).to_have_text("This store has no keys.")
    page.get_by_role("link", name="Stores").click()
    page.get_by_role("button", name="Delete store made-in-ui").click()
    dialog = page.locator("dialog[open]")
    confirm = dialog.get_by_role("button", name="Delete store")
    expect(confirm).to_be_disabled()
    dialog.get_by_label("to confirm").fill("made-in-u")
    expect(confirm).to_be_disabled()
    dialog.get_by_label("to confirm").fill("made-in-ui")
    confirm.click()
    expect(page.locator("#notice")).to_have_text("Deleted store made-in-ui.")
    expect(rows).to_have_count(2)
    # a store with keys cannot be deleted: the backend's error is shown in one line, with its hint
    page.get_by_role("button", name="Delete store demo").click()
    page.locator("dialog[open]").get_by_label("to confirm").fill("demo")
    page.locator("dialog[open]").get_by_role("button", name="Delete store").click()
    expect(page.get_by_role("alert")).to_contain_text("(hint: ")
    assert "\n" not in page.get_by_role("alert").inner_text()
    with explorer.kv() as kv:
        assert {s.name for s in kv.stores()} == {"demo", "empty"}


def test_browse_as_list_and_tree_search_by_prefix_and_page_past_1000_keys(explorer, new_page):
    page = new_page()
    open_store(page, explorer)
    keys = page.locator("ul.keys li")
    expect(keys).to_have_count(500)  # one page: the store is never listed whole
    expect(page.locator("#key-status")).to_have_text("500 keys listed, more to load")
    page.get_by_role("button", name="Load more").click()
    expect(keys).to_have_count(1000)
    page.get_by_role("button", name="Load more").click()
    expect(keys).to_have_count(USERS + 5)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    expect(page.get_by_role("link", name=f"user/{USERS - 1:04d}", exact=True)).to_be_visible()
    expect(page.locator("#key-status")).to_have_text(f"{USERS + 5} keys listed")

    page.get_by_label("Key prefix").fill("user/100")
    page.get_by_role("button", name="Search").click()
    expect(keys).to_have_count(10)
    assert keys.all_inner_texts() == [f"user/{i}" for i in range(1000, 1010)]
    page.get_by_label("Key prefix").fill("nothing-here/")
    page.get_by_label("Key prefix").press("Enter")
    expect(page.locator("#key-status")).to_have_text("No keys start with this prefix.")

    page.get_by_label("Key prefix").fill("")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#key-status")).to_have_text("500 keys listed, more to load")
    page.get_by_role("button", name="Tree").click()
    expect(page.get_by_role("button", name="Tree")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Folder docs/")).to_be_visible()
    expect(page.get_by_role("button", name="Folder user/")).to_be_visible()
    expect(page.get_by_role("link", name="config.json", exact=True)).to_be_visible()
    if screenshots(explorer):
        shot(page, "tree")
    page.get_by_role("button", name="Folder docs/").click()
    expect(keys).to_have_count(1)
    expect(page.get_by_role("link", name="readme.txt", exact=True)).to_be_visible()
    page.get_by_role("link", name="readme.txt", exact=True).click()
    expect(page.locator("#value-text")).to_have_text("Hello from kvcli.\nSecond line.")


def test_values_as_json_hex_image_and_text_with_stored_markup_escaped(explorer, new_page):
    page = new_page()
    open_store(page, explorer)
    if screenshots(explorer):
        shot(page, "keys")
    page.get_by_role("link", name="config.json", exact=True).click()
    pre = page.locator("#value-text")
    expect(pre).to_contain_text('"regions": [\n    "eu",')  # pretty-printed
    expect(page.locator("#fact-metadata")).to_have_text("v1")
    expect(page.locator("#fact-size")).to_have_text("51 bytes")
    expect(page.locator("#fact-expires")).not_to_have_text("never")
    with explorer.kv() as kv:
        expect(page.locator("#fact-generation")).to_have_text(str(kv.store("demo").describe("config.json").generation))
    if screenshots(explorer):
        shot(page, "value-json")
    page.get_by_role("button", name="Text").click()
    expect(pre).to_have_text('{"debug":false,"regions":["eu","us"],"name":"demo"}')

    page.go_back()
    expect(page.locator("#key-status")).to_contain_text("keys listed")
    page.get_by_role("link", name="blob.bin", exact=True).click()
    expect(page.locator("#value-hex")).to_contain_text("00000000  00 01 02 03 04 05 06 07")
    expect(page.locator("#value-hex")).to_contain_text("000001f0  f0 f1 f2 f3")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download value").click()
    assert download.value.suggested_filename == "blob.bin"
    assert open(download.value.path(), "rb").read() == bytes(range(256)) * 2

    page.go_back()
    page.get_by_role("link", name="logo.png", exact=True).click()
    image = page.get_by_role("img", name="Preview of logo.png")
    expect(image).to_be_visible()
    assert image.get_attribute("src").startswith("blob:")
    page.wait_for_function("document.getElementById('image-preview').naturalWidth === 96")
    if screenshots(explorer):
        shot(page, "value-image")

    page.go_back()
    page.get_by_role("link", name=XSS_KEY, exact=True).click()  # the key is text, not markup
    expect(page.get_by_role("heading", level=1)).to_have_text(XSS_KEY)
    expect(page.locator("#fact-metadata")).to_have_text(XSS_META)
    expect(page.locator("#value-text")).to_have_text("<b>not bold</b>")
    assert page.locator("main script, main img, main b").count() == 0
    assert page.evaluate("window.pwned") is None

    # over the display limit (16 KiB in these tests): offered as a download, not shown
    with explorer.kv() as kv:
        kv.store("demo").put("big.txt", b"x" * 20000)
    page.goto(explorer.ui.base + "/#/s/" + explorer.store_id() + "/k?key=big.txt")
    expect(page.locator("#too-large")).to_contain_text("over the page's display limit")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download value").click()
    assert open(download.value.path(), "rb").read() == b"x" * 20000


def test_add_edit_with_a_stale_generation_and_delete(explorer, new_page):
    page = new_page()
    open_store(page, explorer)
    page.get_by_role("link", name="Add key").click()
    page.get_by_label("Key", exact=True).fill("notes/today")
    page.get_by_label("Value (text)").fill("first draft")
    page.get_by_label("Metadata").fill("by ui")
    page.get_by_label("TTL in seconds (optional)").fill("3600")
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("notes/today")
    expect(page.locator("#value-text")).to_have_text("first draft")
    expect(page.locator("#fact-expires")).not_to_have_text("never")
    with explorer.kv() as kv:
        item = kv.store("demo").get("notes/today")
        assert (item.value, item.metadata) == (b"first draft", "by ui")

    # adding a key that exists is refused, not an overwrite
    page.goto(explorer.ui.base + "/#/s/" + explorer.store_id() + "/new")
    page.get_by_label("Key", exact=True).fill("notes/today")
    page.get_by_label("Value (text)").fill("clobber")
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_role("alert")).to_contain_text("the key was added by someone else meanwhile")

    page.goto(explorer.ui.base + "/#/s/" + explorer.store_id() + "/k?key=notes%2Ftoday")
    page.get_by_role("link", name="Edit").click()
    editor = page.get_by_label("Value (text)")
    expect(editor).to_have_value("first draft")
    editor.fill("my edit")
    with explorer.kv() as kv:  # someone else changes the key while it is open in the page
        kv.store("demo").put("notes/today", b"their edit", metadata="by ui", ttl=3600)
    page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("'notes/today' was changed since you opened it")
    expect(alert).to_contain_text("nothing was written (hint: reload it")
    if screenshots(explorer):
        shot(page, "edit-conflict")
    with explorer.kv() as kv:
        assert kv.store("demo")["notes/today"] == b"their edit"

    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("#value-text")).to_have_text("their edit")
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Value (text)").fill("merged edit")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#value-text")).to_have_text("merged edit")
    with explorer.kv() as kv:  # an edit keeps the metadata and the expiry it did not change
        item = kv.store("demo").get("notes/today")
        assert item.metadata == "by ui" and item.expires_at is not None

    page.get_by_role("button", name="Delete key").click()
    page.locator("dialog[open]").get_by_role("button", name="Cancel").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    page.get_by_role("button", name="Delete key").click()
    page.locator("dialog[open]").get_by_role("button", name="Delete key").click()
    expect(page.locator("#notice")).to_have_text("Deleted notes/today.")
    with explorer.kv() as kv:
        assert "notes/today" not in kv.store("demo")


def test_bulk_delete_of_a_prefix_import_and_export(explorer, new_page, tmp_path):
    page = new_page()
    open_store(page, explorer)
    page.get_by_label("Key prefix").fill("user/10")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#key-status")).to_have_text("50 keys listed")
    page.get_by_role("button", name="Delete prefix…").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_role("heading")).to_have_text("Delete 50 keys?")  # counted first
    if explorer.backend == "local-serve":  # over the Fastly API: what it costs in requests
        expect(dialog).to_contain_text("about 52 API requests")  # the store, 1 listing, 50 DELETEs
    else:
        expect(dialog).not_to_contain_text("API requests")
    if screenshots(explorer):
        shot(page, "bulk-delete")
    dialog.get_by_label("to confirm").fill("50")
    dialog.get_by_role("button", name="Delete 50 keys").click()
    expect(page.locator("#notice")).to_have_text("Deleted 50 keys.")
    expect(page.locator("#key-status")).to_have_text("No keys start with this prefix.")
    with explorer.kv() as kv:
        assert len(list(kv.store("demo").keys(prefix="user/"))) == USERS - 50

    # import: a wrangler file (any format kv-store-entry create --file reads), with progress
    upload = tmp_path / "bulk.json"
    upload.write_text(json.dumps([{"key": f"imported/{i}", "value": f"v{i}"} for i in range(30)]))
    page.get_by_label("Import file").set_input_files(str(upload))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#import-status")).to_have_text("Imported 30 entries.")
    if screenshots(explorer):
        shot(page, "import")
    with explorer.kv() as kv:
        assert kv.store("demo")["imported/7"] == b"v7"

    # a bad file: the importer's error in one line
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"key": "ok-key", "value": "eA=="}\n{"key": "bad#key", "value": "eA=="}\n')
    page.get_by_label("Import file").set_input_files(str(bad))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("import incomplete: 1 of 2 entries failed")
    expect(page.get_by_role("alert")).to_contain_text("line 2 (bad#key)")

    # export a prefix as a download, in the format chosen
    page.get_by_label("Key prefix").fill("imported/")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#key-status")).to_have_text("30 keys listed")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export prefix").click()
    assert download.value.suggested_filename == "demo-imported_.ndjson"
    records = [json.loads(line) for line in open(download.value.path(), encoding="utf-8")]
    assert sorted(r["key"] for r in records) == sorted(f"imported/{i}" for i in range(30))
    assert base64.b64decode(next(r for r in records if r["key"] == "imported/3")["value"]) == b"v3"


def test_the_redirect_file_opens_the_explorer_and_the_token_stays_out_of_the_address_bar(tmp_path, isolated,
                                                                                     new_page):
    from kvcli.ui.run import write_redirect_file

    _seed(isolated["data"], tmp_path)
    ui = UiServe(tmp_path, "--local")
    try:
        redirect = write_redirect_file(ui.url, str(tmp_path))
        page = new_page()
        page.goto(redirect.as_uri())
        expect(page.get_by_role("heading", name="Stores")).to_be_visible()
        assert page.url == ui.base + "/"
        expect(page.locator("#backend")).to_contain_text("embedded backend at")
        # the cookie opens it from now on; it is HttpOnly, so the page's scripts cannot read it
        assert page.evaluate("document.cookie") == ""
        page.goto(ui.base + "/")
        expect(page.get_by_role("heading", name="Stores")).to_be_visible()
    finally:
        ui.stop()


def test_keyboard_only_and_a_narrow_window(tmp_path, isolated, new_page):
    _seed(isolated["data"], tmp_path)
    ui = UiServe(tmp_path, "--local")
    try:
        page = new_page(width=390, height=800)
        page.goto(ui.url)
        expect(page.get_by_role("heading", name="Stores")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # every control has an accessible name
        unnamed = page.evaluate("""() => [...document.querySelectorAll('button, a, input, select, textarea')]
            .filter(el => !(el.getAttribute('aria-label') || el.labels?.length || el.textContent.trim()))
            .map(el => el.outerHTML)""")
        assert unnamed == []
        page.keyboard.press("Tab")  # skip link
        for _ in range(20):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == "demo":
                break
        page.keyboard.press("Enter")
        expect(page.locator("#key-status")).to_contain_text("keys listed")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, "narrow") if screenshots_enabled() else None
        page.get_by_label("Key prefix").focus()
        page.keyboard.type("docs/")
        page.keyboard.press("Enter")
        expect(page.locator("ul.keys li")).to_have_count(1)
        page.keyboard.press("Tab")
        while not re.search(r"docs/readme", page.evaluate("document.activeElement.textContent")):
            page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.locator("#value-text")).to_have_text("Hello from kvcli.\nSecond line.")
        page.get_by_role("button", name="Delete key").focus()
        page.keyboard.press("Enter")
        expect(page.locator("dialog[open]")).to_have_count(1)
        page.keyboard.press("Escape")  # a dialog closes with Esc, deleting nothing
        expect(page.locator("dialog[open]")).to_have_count(0)
        with kvcli.connect(data_dir=isolated["data"]) as kv:
            assert "docs/readme.txt" in kv.store("demo")
    finally:
        ui.stop()


def screenshots_enabled() -> bool:
    from tests.ui.conftest import SCREENSHOTS

    return bool(SCREENSHOTS)
