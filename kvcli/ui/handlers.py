"""The explorer's routes: one function per endpoint of :func:`kvcli.ui.server.create_app`, on the library."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from kvcli.api.errors import InvalidInput, KvcliError, NotFound
from kvcli.formats import FILE_EXPORT_SUFFIXES, INPUT_FORMATS
from kvcli.ui.explorer import (
    COUNT_PAGE,
    JSON_BODY_LIMIT,
    STATIC_TYPES,
    UPLOAD_LIMIT,
    Explorer,
    Refused,
    attachment,
    store_json,
)
from kvcli.ui.values import describe_value

if TYPE_CHECKING:
    from kvcli.library_store import Store


async def _read_json(request: Request) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > JSON_BODY_LIMIT:
        raise Refused(413, f"request body over {JSON_BODY_LIMIT} bytes")
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind != "application/json":
        # also what keeps a cross-site form (which cannot send JSON) out, on top of the Origin checks
        raise Refused(415, "the API takes application/json bodies")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > JSON_BODY_LIMIT:
            raise Refused(413, f"request body over {JSON_BODY_LIMIT} bytes")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        raise Refused(400, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, "the request body must be a JSON object")
    return body


def _static(name: str) -> Response:
    if not re.fullmatch(r"[a-z0-9_-]+\.(js|css|html|svg)", name):
        raise NotFound(f"no static file {name!r}")
    folder = resources.files("kvcli.ui") / "static"
    target = folder / name
    if not target.is_file():
        raise NotFound(f"no static file {name!r}")
    return Response(target.read_bytes(), media_type=STATIC_TYPES[Path(name).suffix])


def _info(explorer: Explorer) -> Response:
    return JSONResponse({"backend": explorer.description, "local": explorer.kv.local,
                         "display_limit": explorer.display_limit, "page_size": explorer.page_size,
                         # the forms offer what kvcli/formats.py names, so a new format needs no change to the page
                         "import_formats": list(INPUT_FORMATS), "export_formats": list(FILE_EXPORT_SUFFIXES)})


def _stores(explorer: Explorer) -> Response:
    return JSONResponse({"stores": [store_json(s) for s in explorer.kv.stores()]})


def _get_store(explorer: Explorer, request: Request) -> Response:
    explorer.forget(request.path_params["sid"])  # a page (re)opens the store: its name as it is now
    return JSONResponse(store_json(explorer.store(request)))


def _create_store(explorer: Explorer, request: Request) -> Response:
    body = request.state.body
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("a store needs a name", "type a name")
    location = body.get("location") or None
    if location is not None and not isinstance(location, str):
        raise InvalidInput("location must be text")
    return JSONResponse(store_json(explorer.kv.create_store(name.strip(), location)), status_code=201)


def _delete_store(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    if request.state.body.get("confirm") != store.name:
        raise InvalidInput("the name typed does not match the store's", f"type {store.name!r} to confirm")
    explorer.kv.delete_store(store)
    explorer.forget(store.id)
    return JSONResponse({"deleted": store.id})


def _limit(request: Request, default: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidInput(f"limit must be a whole number from 1 to 1000 (got {raw!r})")
    return int(raw)


def _keys(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    prefix = request.query_params.get("prefix") or None
    cursor = request.query_params.get("cursor") or None
    page = explorer.kv.api.list_keys(store.id, prefix=prefix, cursor=cursor,
                                     limit=_limit(request, explorer.page_size))
    return JSONResponse({"keys": list(page.items), "next_cursor": page.next_cursor or None})


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _item(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    key = explorer.key_param(request)
    info = store.describe(key)
    out: dict[str, Any] = {
        "key": info.key, "size": info.size, "generation": info.generation, "metadata": info.metadata or "",
        "last_modified": _iso(info.last_modified), "expires_at": _iso(info.expires_at),
    }
    if info.size > explorer.display_limit:
        out["too_large"] = True
        return JSONResponse(out)
    item = store.get(key)
    out.update(size=len(item.value), generation=item.info.generation, metadata=item.info.metadata or "",
               expires_at=_iso(item.info.expires_at))
    if len(item.value) > explorer.display_limit:
        out["too_large"] = True
    else:
        out.update(describe_value(item.value))
    return JSONResponse(out)


def _download(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    key = explorer.key_param(request)
    item = store.get(key)
    name = key.rsplit("/", 1)[-1] or "value"
    return Response(item.value, media_type="application/octet-stream",
                    headers={"Content-Disposition": attachment(name)})


def _optional_int(body: dict[str, Any], name: str, minimum: int = 0) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{name} must be a whole number of at least {minimum} (got {value!r})")
    return value


def _put(explorer: Explorer, request: Request) -> Response:
    import base64

    store = explorer.store(request)
    body = request.state.body
    key = body.get("key")
    if not isinstance(key, str) or key == "":
        raise InvalidInput("a key is needed", "type a key")
    if isinstance(body.get("value_base64"), str):
        try:
            value = base64.b64decode(body["value_base64"], validate=True)
        except ValueError:
            raise InvalidInput("value_base64 is not base64") from None
    elif isinstance(body.get("value"), str):
        value = body["value"].encode("utf-8")
    else:
        raise InvalidInput("no value given")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        raise InvalidInput("metadata must be text")
    ttl = _optional_int(body, "ttl", 1)
    generation = _optional_int(body, "if_generation_match")
    if ttl is None and generation:  # an edit without a new TTL keeps the key's expiry (a put would drop it)
        ttl = _remaining_ttl(store, key)
    try:
        store.put(key, value, metadata=metadata or None, ttl=ttl, if_generation_match=generation)
    except KvcliError as exc:
        if exc.kind == "precondition_failed" and generation is not None:
            raise type(exc)(
                "the key was added by someone else meanwhile" if generation == 0 else
                f"{key!r} was changed since you opened it (you edited generation {generation}); nothing was written",
                "reload it to see the current value, then edit again") from None
        raise
    info = store.describe(key)
    return JSONResponse({"key": key, "generation": info.generation, "size": info.size})


def _remaining_ttl(store: Store, key: str) -> int | None:
    import math
    from datetime import UTC, datetime

    try:
        expires = store.describe(key).expires_at
    except NotFound:
        return None  # gone: the conditional put reports it
    if expires is None:
        return None
    return max(1, math.ceil((expires - datetime.now(UTC)).total_seconds()))


def _delete(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    body = request.state.body
    key = body.get("key")
    if not isinstance(key, str) or key == "":
        raise InvalidInput("a key is needed")
    generation = _optional_int(body, "if_generation_match")
    try:
        store.delete(key, if_generation_match=generation)
    except KvcliError as exc:
        if exc.kind == "precondition_failed":
            raise type(exc)(f"{key!r} was changed since you opened it; it was not deleted",
                            "reload it, then delete again") from None
        raise
    return JSONResponse({"deleted": key})


def _count_keys(explorer: Explorer, store: Store, prefix: str | None) -> tuple[int, int]:
    """(keys under prefix, list requests it took): key names only, a page at a time, nothing kept."""
    from kvcli.api.port import iter_keys

    count = pages = 0
    for page in iter_keys(explorer.kv.api, store.id, prefix=prefix, page_size=COUNT_PAGE):
        pages += 1
        count += len(page.items)
    return count, pages


def _count(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    prefix = request.query_params.get("prefix") or None
    count, pages = _count_keys(explorer, store, prefix)
    out: dict[str, Any] = {"prefix": prefix or "", "count": count}
    if not explorer.kv.local:
        # over the Fastly API a bulk delete checks the store, lists the keys again (1,000 a page, as here) and
        # sends one DELETE per key: each counts against the account's API rate limit
        out["requests"] = 1 + pages + count
    return JSONResponse(out)


def _delete_prefix(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    body = request.state.body
    prefix = body.get("prefix", "")
    if not isinstance(prefix, str):
        raise InvalidInput("prefix must be text")
    expected = _optional_int(body, "expected_count")
    if expected is None:
        raise InvalidInput("count the keys first", "the page asks for the count before it deletes")
    deleted = store.delete_prefix(prefix) if prefix else store.clear()
    return JSONResponse({"deleted": deleted, "prefix": prefix})


def _export(explorer: Explorer, request: Request) -> Response:
    store = explorer.store(request)
    fmt = (request.query_params.get("format") or "ndjson").lower()
    if fmt not in FILE_EXPORT_SUFFIXES:
        raise InvalidInput(f"unknown export format {fmt!r}", f"use one of: {', '.join(FILE_EXPORT_SUFFIXES)}")
    prefix = request.query_params.get("prefix") or None
    folder = tempfile.mkdtemp(prefix="kvcli-ui-export-", dir=explorer.upload_dir)
    path = os.path.join(folder, "export" + FILE_EXPORT_SUFFIXES[fmt])
    try:
        store.export(path, format=fmt, prefix=prefix)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    label = store.name + (f"-{prefix}" if prefix else "")
    return FileResponse(path, media_type="application/octet-stream",
                        headers={"Content-Disposition": attachment(label + FILE_EXPORT_SUFFIXES[fmt])},
                        background=BackgroundTask(shutil.rmtree, folder, True))


def _job(explorer: Explorer, request: Request) -> Response:
    with explorer.jobs_lock:
        job = explorer.jobs.get(request.path_params["jid"])
        if job is None:
            raise NotFound("no such import")
        return JSONResponse(dict(job))


async def _start_import(explorer: Explorer, request: Request) -> Response:
    """Save the upload (streamed to a private temporary file, capped), then import it in a thread; the page polls
    ``/api/jobs/ID`` for its progress."""
    from starlette.concurrency import run_in_threadpool

    store = await run_in_threadpool(explorer.store, request)
    name = request.query_params.get("filename") or "upload"
    fmt = request.query_params.get("format") or None
    suffix = "".join(Path(name).suffixes[-2:])
    if not re.fullmatch(r"(\.[A-Za-z0-9]{1,10}){0,2}", suffix):
        suffix = ""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > UPLOAD_LIMIT:
        raise Refused(413, f"the file is over {UPLOAD_LIMIT} bytes")
    folder = tempfile.mkdtemp(prefix="kvcli-ui-import-", dir=explorer.upload_dir)
    path = os.path.join(folder, "upload" + suffix)
    size = 0
    try:
        with open(path, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > UPLOAD_LIMIT:
                    raise Refused(413, f"the file is over {UPLOAD_LIMIT} bytes")
                fh.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    jid = uuid.uuid4().hex
    job: dict[str, Any] = {"id": jid, "state": "running", "written": 0, "failed": 0, "skipped": 0,
                           "file": name, "bytes": size}
    with explorer.jobs_lock:
        explorer.jobs[jid] = job

    def progress(report: Any) -> None:
        with explorer.jobs_lock:
            job.update(written=report.written, failed=report.failed, skipped=getattr(report, "skipped", 0))

    def work() -> None:
        from kvcli.redact import redact

        try:
            report = store.import_file(path, format=fmt, on_progress=progress)
            with explorer.jobs_lock:
                job.update(state="done", written=report.written, failed=report.failed,
                           skipped=getattr(report, "skipped", 0))
        except KvcliError as exc:
            hint = exc.hint
            if exc.reason == "format_unknown_input":  # the page has a Format menu where the CLI has --format
                hint = f"choose the Format, one of: {exc.facts.get('formats')}"
            text = exc.message.rstrip(".") + (f" (hint: {hint})" if hint else "")
            text = text.replace(path, name)  # the page knows the file by the name it was uploaded as
            failed_report: Any = getattr(exc, "report", None)
            errors = []
            if failed_report is not None:
                errors = [{"line": e.get("line"), "key": e.get("key"), "detail": e.get("detail")}
                          for e in list(getattr(failed_report, "errors", []))[:20]]
            with explorer.jobs_lock:
                job.update(state="failed", error=redact(text), kind=exc.kind, errors=errors)
                if failed_report is not None:
                    job.update(written=failed_report.written, failed=failed_report.failed)
        except Exception as exc:  # noqa: BLE001 - shown in the page in one line
            with explorer.jobs_lock:
                job.update(state="failed", error=f"internal error: {type(exc).__name__}: {exc}", kind="internal")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    from kvcli.threads import worker_thread

    worker_thread(work, f"kvcli-ui-import-{jid[:8]}").start()
    return JSONResponse({"job": jid}, status_code=202)
