"""The explorer's access rules, over a real socket with httpx: the token, the Host, the Origin, the headers, and
the Fastly token that never reaches the page."""

from __future__ import annotations

import httpx
import pytest

import kvcli
from tests.served import LocalServe
from tests.ui.conftest import UiServe


@pytest.fixture
def ui(tmp_path, isolated):
    with kvcli.connect(data_dir=isolated["data"]) as kv:
        store = kv.create_store("demo")
        store.put("hello", b"world", metadata="m")
    served = UiServe(tmp_path, "--local")
    try:
        yield served
    finally:
        served.stop()


def client(ui: UiServe, *, cookie: bool = True, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=ui.base, cookies={"kvcli_ui": ui.token} if cookie else None, timeout=30, **kwargs)


def store_id(ui: UiServe) -> str:
    with client(ui) as c:
        return c.get("/api/stores").json()["stores"][0]["id"]


def test_the_url_is_the_first_stdout_line_on_127_0_0_1_with_a_random_token(ui, tmp_path):
    assert ui.url.startswith("http://127.0.0.1:") and "/?token=" in ui.url
    assert len(ui.token) >= 32
    other = UiServe(tmp_path, "--local")
    try:
        assert other.token != ui.token
    finally:
        other.stop()
    assert ui.token not in ui.stderr()  # the token is on stdout only (stderr shows it redacted)


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/info", "/api/stores", "/api/nope"])
def test_a_request_without_the_token_is_refused(ui, path):
    with client(ui, cookie=False) as c:
        assert c.get(path).status_code == 403
    with httpx.Client(base_url=ui.base, cookies={"kvcli_ui": "not-the-token"}) as c:
        assert c.get(path).status_code == 403
        assert c.get(path, params={"token": ui.token[:-1] + "x"}).status_code == 403
    with client(ui) as c:
        assert c.get(path).status_code == (404 if path == "/api/nope" else 200)


def test_the_token_in_the_url_becomes_an_httponly_samesite_strict_cookie(ui):
    with client(ui, cookie=False) as c:
        first = c.get("/", params={"token": ui.token})
        assert first.status_code == 200 and "<title>kvcli explorer</title>" in first.text
        cookie = first.headers["set-cookie"]
        assert cookie.startswith(f"kvcli_ui={ui.token};")
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
        assert c.get("/api/stores").status_code == 200  # the cookie alone now
    with client(ui, cookie=False) as c:  # the first load comes from the redirect file: a cross-site navigation
        assert c.get("/", params={"token": ui.token}, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
        # the token in a query string opens the page only, never the API
        assert httpx.get(ui.base + "/api/stores", params={"token": ui.token}).status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.nip.io", "attacker.com:80"])
def test_a_foreign_host_is_refused_even_with_the_token(ui, host):
    with client(ui) as c:
        answer = c.get("/api/stores", headers={"Host": host})
        assert answer.status_code == 403 and "not a loopback name" in answer.json()["error"]
        assert "--allow-host" not in answer.text  # kvcli ui has no such flag
    with client(ui, cookie=False) as c:
        assert c.get("/", params={"token": ui.token}, headers={"Host": host}).status_code == 403


def test_a_cross_site_origin_is_refused_for_reads_and_writes(ui):
    with client(ui) as c:
        assert c.get("/api/stores", headers={"Origin": "http://evil.example"}).status_code == 403
        assert c.get("/api/stores", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert c.get("/", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403  # a link from another site
        made = c.post("/api/stores", json={"name": "evil"}, headers={"Origin": "http://evil.example"})
        assert made.status_code == 403
        assert c.post("/api/stores", json={"name": "evil"}, headers={"Origin": "null"}).status_code == 403
        assert "evil" not in [s["name"] for s in c.get("/api/stores").json()["stores"]]


def test_writes_need_the_token_and_a_same_origin_request(ui):
    sid = store_id(ui)
    with client(ui) as c:
        # the token alone is not enough: a write must say it comes from the explorer's own page
        refused = c.post("/api/stores", json={"name": "nope"})
        assert refused.status_code == 403 and "same-origin" in refused.json()["error"]
        assert c.put(f"/api/stores/{sid}/item", json={"key": "k", "value": "v"}).status_code == 403
        # a form (which a page of another site could post) is not JSON
        form = c.post("/api/stores", content=b"name=x", headers={"Origin": ui.base,
                                                                  "Content-Type": "text/plain"})
        assert form.status_code == 415
        made = c.post("/api/stores", json={"name": "made"}, headers={"Origin": ui.base})
        assert made.status_code == 201
        same = c.put(f"/api/stores/{sid}/item", json={"key": "k", "value": "v"},
                     headers={"Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 200
    with client(ui, cookie=False) as c:
        assert c.post("/api/stores", json={"name": "x2"}, headers={"Origin": ui.base}).status_code == 403
    with kvcli.connect() as kv:
        assert {s.name for s in kv.stores()} == {"demo", "made"}
        assert kv.store("demo")["k"] == b"v"


def test_every_answer_has_a_strict_csp_and_nosniff(ui):
    sid = store_id(ui)
    with client(ui) as c:
        answers = [c.get("/"), c.get("/static/app.js"), c.get("/api/stores"), c.get("/api/nope"),
                   c.get(f"/api/stores/{sid}/item", params={"key": "missing"})]
    with client(ui, cookie=False) as c:
        answers.append(c.get("/api/stores"))
    for a in answers:
        csp = a.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert a.headers["x-content-type-options"] == "nosniff"
        assert a.headers["cache-control"] == "no-store"
    page = answers[0].text
    assert "<script>" not in page.replace('<script src="/static/app.js" defer></script>', "")  # no inline script


def test_values_and_exports_are_downloads_never_rendered(ui):
    sid = store_id(ui)
    with client(ui) as c:
        c.put(f"/api/stores/{sid}/item", json={"key": "page.html", "value": "<script>alert(1)</script>"},
              headers={"Origin": ui.base})
        value = c.get(f"/api/stores/{sid}/value", params={"key": "page.html"})
        assert value.content == b"<script>alert(1)</script>"
        assert value.headers["content-type"] == "application/octet-stream"
        assert value.headers["content-disposition"].startswith('attachment; filename="page.html"')
        export = c.get(f"/api/stores/{sid}/export", params={"format": "ndjson"})
        assert export.status_code == 200 and export.headers["content-disposition"].startswith("attachment;")
        assert {line.split('"key":')[1].split('"')[1] for line in export.text.splitlines()} == {"hello", "page.html"}


def test_a_backend_error_is_one_line_with_its_hint_never_a_traceback(ui):
    sid = store_id(ui)
    with client(ui) as c:
        missing = c.get(f"/api/stores/{sid}/item", params={"key": "missing"})
        assert missing.status_code == 404 and missing.json()["kind"] == "not_found"
        bad = c.put(f"/api/stores/{sid}/item", json={"key": "a#b", "value": "v"}, headers={"Origin": ui.base})
        assert bad.status_code == 400 and "\n" not in bad.json()["error"]
        full = c.post(f"/api/stores/{sid}/delete", json={"confirm": "demo"}, headers={"Origin": ui.base})
        assert full.status_code == 409 and "(hint: " in full.json()["error"]
        wrong = c.post(f"/api/stores/{sid}/delete", json={"confirm": "dem"}, headers={"Origin": ui.base})
        assert wrong.status_code == 400 and "type 'demo' to confirm" in wrong.json()["error"]
        for answer in (missing, bad, full, wrong):
            assert "Traceback" not in answer.text


def test_the_fastly_token_never_reaches_the_page(tmp_path, isolated):
    secret = "FastlyTokenThatMustStayOnTheServer1234"
    with kvcli.connect(data_dir=isolated["data"]) as kv:
        kv.create_store("demo").put("k", b"v")
    served = LocalServe(isolated["data"], token=secret)
    ui = wrong = None
    try:
        ui = UiServe(tmp_path, "--endpoint", served.url, "--token", secret)
        wrong = UiServe(tmp_path, "--endpoint", served.url, "--token", secret + "x")  # refused by the backend
        for server, ok in ((ui, True), (wrong, False)):
            with client(server) as c:
                sid = c.get("/api/stores").json()["stores"][0]["id"] if ok else "someid"
                answers = [c.get("/"), c.get("/static/app.js"), c.get("/static/app.css"), c.get("/api/info"),
                           c.get("/api/stores"), c.get(f"/api/stores/{sid}"), c.get(f"/api/stores/{sid}/keys"),
                           c.get(f"/api/stores/{sid}/item", params={"key": "k"}),
                           c.get(f"/api/stores/{sid}/count", params={"prefix": "k"}),
                           c.get(f"/api/stores/{sid}/export"), c.get("/api/stores/nosuchstore")]
            statuses = [a.status_code for a in answers]
            assert (statuses[4] == 200) is ok, statuses
            if not ok:
                assert answers[4].json()["kind"] == "auth"
            for a in answers:
                assert secret not in a.text and secret not in str(a.headers)
            assert secret not in server.stderr()
    finally:
        for s in (ui, wrong):
            if s is not None:
                s.stop()
        served.stop()


def _declared(ui: UiServe, method: str, path: str, length: int, kind: str) -> str:
    """The status line of a request that declares a body of ``length`` bytes and sends none of it."""
    import socket

    host, port = ui.base[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {ui.base}\r\n"
                     f"Cookie: kvcli_ui={ui.token}\r\nContent-Type: {kind}\r\nContent-Length: {length}\r\n\r\n"
                     .encode())
        return sock.makefile("rb").readline().decode()


def test_bodies_over_the_caps_are_refused_before_they_are_read(ui):
    from kvcli.ui.server import JSON_BODY_LIMIT, UPLOAD_LIMIT

    sid = store_id(ui)
    assert " 413 " in _declared(ui, "PUT", f"/api/stores/{sid}/item", JSON_BODY_LIMIT + 1, "application/json")
    assert " 413 " in _declared(ui, "POST", f"/api/stores/{sid}/import?filename=a.ndjson", UPLOAD_LIMIT + 1,
                                "application/octet-stream")


def test_an_import_error_names_the_uploaded_file_not_the_servers_temporary_copy(ui):
    sid = store_id(ui)
    with client(ui) as c:
        started = c.post(f"/api/stores/{sid}/import", params={"filename": "mystery.bin"}, content=b"\x00\x01garbage",
                         headers={"Origin": ui.base, "Content-Type": "application/octet-stream"})
        assert started.status_code == 202
        job = started.json()["job"]
        while (state := c.get(f"/api/jobs/{job}").json())["state"] == "running":  # the import thread's own pace
            pass
    assert state["state"] == "failed"
    assert state["error"].startswith("cannot tell the format of mystery.bin (hint: choose the Format")
    assert "kvcli-ui-import" not in state["error"]


def test_the_forms_offer_the_formats_kvcli_formats_names_and_the_page_lists_none_itself(ui):
    from importlib import resources

    from kvcli.formats import FILE_EXPORT_SUFFIXES, INPUT_FORMATS

    with client(ui) as c:
        info = c.get("/api/info").json()
        assert info["import_formats"] == list(INPUT_FORMATS)
        assert info["export_formats"] == list(FILE_EXPORT_SUFFIXES)
        for fmt in FILE_EXPORT_SUFFIXES:  # every format the export form offers is one the server exports
            answer = c.get(f"/api/stores/{store_id(ui)}/export", params={"format": fmt})
            assert answer.status_code == 200, (fmt, answer.text)
            assert FILE_EXPORT_SUFFIXES[fmt] in answer.headers["content-disposition"]
    page = resources.files("kvcli.ui").joinpath("static/app.js").read_text()
    assert '"setup-json"' not in page and '"viceroy"' not in page  # a second list to keep in step
