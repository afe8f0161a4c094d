"""The NDJSON batch endpoint of the HTTP adapter (mixed into :class:`kvcli.api.http.adapter.HttpAdapter`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kvcli.api import validation
from kvcli.api.errors import ApiError, InvalidInput, RequestInfo
from kvcli.api.http.failures import ErrorContext, request_info
from kvcli.api.http.kv_helpers import STORES, _store_context
from kvcli.api.models import BatchEntry, BatchError, BatchResult, Store
from kvcli.api.wire import BATCH_SEGMENT, CT_NDJSON
from kvcli.redact import redact

if TYPE_CHECKING:
    import httpx


class BatchHttpMixin:
    """``put_batch`` over HTTP. Needs the client's ``_request``, ``_secrets`` and ``error_from_response``, and the
    adapter's ``get_store`` and ``_check_store_id``."""

    if TYPE_CHECKING:  # provided by FastlyHttp and HttpAdapter

        _secrets: tuple[str, ...]

        def _request(self, method: str, segments: Iterable[str], **kwargs: Any) -> httpx.Response: ...

        def error_from_response(
            self, response: httpx.Response, info: RequestInfo | None = None, context: ErrorContext = ...
        ) -> ApiError: ...

        def get_store(self, store_id: str) -> Store: ...

        @staticmethod
        def _check_store_id(store_id: str) -> None: ...

    def put_batch(self, store_id: str, entries: Iterable[BatchEntry]) -> BatchResult:
        """One NDJSON batch request. Invalid entries are reported by their index and never sent.

        Entries that are valid batch lines already (``wire_body()`` and ``keys``: a
        :class:`kvcli.bulk.lines.LineRun`) are sent as they are."""
        self._check_store_id(store_id)
        result = BatchResult()
        body = getattr(entries, "wire_body", None)
        if body is not None:
            sent: list[tuple[int, str]] = list(enumerate(entries.keys))  # type: ignore[attr-defined]
            content = body() if sent else b""
        else:
            sent, content = self._encode_lines(entries, result)
        if not sent:
            self.get_store(store_id)  # nothing to send, but a missing store is still an error
            return result
        resp = self._request(
            "PUT",
            (*STORES, store_id, BATCH_SEGMENT),
            content=content,
            headers={"Content-Type": CT_NDJSON},
            retry_safe=True,  # every line is an upsert
            tolerate=(400, 413, 422),
            context=_store_context(store_id),
        )
        line_errors = self._batch_errors(resp, sent)
        if line_errors is None:  # a 4xx that is not about lines: the whole request failed
            raise self.error_from_response(
                resp, request_info(resp.request), _store_context(store_id)
            )
        failed_lines = {e.index for e in line_errors if e.index >= 0}
        unplaced = sum(1 for e in line_errors if e.index < 0)
        result.errors.extend(line_errors)
        result.errors.sort(key=lambda e: (e.index < 0, e.index))
        result.written = max(0, len(sent) - len(failed_lines) - unplaced)
        return result

    @staticmethod
    def _encode_lines(entries: Iterable[BatchEntry], result: BatchResult) -> tuple[list[tuple[int, str]], bytes]:
        """(index in ``entries`` and key of each line sent, the NDJSON body); invalid entries go to ``result``."""
        lines: list[bytes] = []
        sent: list[tuple[int, str]] = []  # (index in ``entries``, key) per line sent
        for index, entry in enumerate(entries):
            wire = getattr(entry, "wire", None)  # kvcli.bulk entries: their batch line, encoded and validated
            if wire is not None:
                lines.append(wire)
                sent.append((index, entry.key))
                continue
            problem = validation.key_problem(entry.key) or validation.metadata_problem(entry.metadata)
            if problem is None and entry.ttl is not None:
                try:
                    validation.check_ttl(entry.ttl)
                except InvalidInput as exc:
                    problem = exc.message
            if problem:
                result.errors.append(BatchError(index=index, key=entry.key, code="400", reason=problem))
                continue
            obj: dict[str, Any] = {"key": entry.key, "value": base64.b64encode(bytes(entry.value)).decode("ascii")}
            if entry.metadata is not None:
                obj["metadata"] = entry.metadata
            if entry.ttl is not None:
                obj["time_to_live_sec"] = entry.ttl
            if entry.background_fetch:
                obj["background_fetch"] = True
            lines.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
            sent.append((index, entry.key))
        return sent, b"\n".join(lines) + b"\n"

    def _batch_errors(self, resp: httpx.Response, sent: list[tuple[int, str]]) -> list[BatchError] | None:
        """Per-line errors of a batch answer (indexes mapped back to the caller's entries); None if not per-line."""
        try:
            doc = json.loads(resp.content) if resp.content.strip() else None
        except ValueError:
            doc = None
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if not isinstance(errors, list) or not errors:
            return [] if resp.status_code < 300 else None
        out: list[BatchError] = []
        first_index_of_key: dict[str, int] = {}
        for original, key in sent:
            first_index_of_key.setdefault(key, original)
        for err in errors:
            if not isinstance(err, dict):
                continue
            line = err.get("index")
            raw_key = err.get("key")
            key = raw_key if isinstance(raw_key, str) else ""
            if isinstance(line, int) and not isinstance(line, bool) and 0 <= line < len(sent):
                original, sent_key = sent[line]
                key = key or sent_key
            elif key in first_index_of_key:
                original = first_index_of_key[key]
            else:
                original = -1
            reason = err.get("reason") or err.get("detail") or err.get("title") or "rejected"
            code = str(err.get("code", resp.status_code))
            out.append(BatchError(index=original, key=key, code=code, reason=redact(str(reason), self._secrets)))
        if resp.status_code >= 300 and not out:
            return None
        return out
