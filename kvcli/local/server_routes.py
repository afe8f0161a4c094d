"""The KV store and item endpoints of ``kvcli local serve`` (registered by :func:`kvcli.local.server.register`).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from kvcli.api import validation, wire
from kvcli.api.errors import InvalidInput, NotFound
from kvcli.api.models import PutMode
from kvcli.local.engine import Engine
from kvcli.local.server_responses import header_value, json_response, store_json
from kvcli.local.server_routing import Call

# ------------------------------------------------------------------------------------------------ handlers
STORES = wire.STORES_PATH
STORE = STORES + "/{store_id}"
KEYS = STORE + "/" + wire.KEYS_SEGMENT
ITEM = KEYS + "/{key}"
BATCH = STORE + "/" + wire.BATCH_SEGMENT


def _value_limit(engine: Engine) -> int:
    return engine.max_value_bytes if engine.max_value_bytes is not None else validation.max_value_bytes()


def oidc_configuration(call: Call) -> Response:
    """Enough of an OpenID Connect discovery document for the official CLI's start-up check. Its URLs name the
    server's own address: echoing the request's Host would hand a rebinding page URLs of its choosing."""
    base = call.base_url + "/realms/fastly"
    oidc = base + "/protocol/openid-connect"
    return json_response(
        {
            "issuer": base,
            "authorization_endpoint": oidc + "/auth",
            "token_endpoint": oidc + "/token",
            "userinfo_endpoint": oidc + "/userinfo",
            "end_session_endpoint": oidc + "/logout",
            "jwks_uri": oidc + "/certs",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }
    )


def _name_from_body(call: Call) -> str:
    body = call.json_body()
    if not isinstance(body, dict) or "name" not in body:
        raise InvalidInput('request body must be a JSON object with a "name"', 'send {"name": "<store name>"}')
    name = body["name"]
    if not isinstance(name, str):
        raise InvalidInput('"name" must be a string')
    return name


def create_store(call: Call) -> Response:
    location = call.q(wire.LOCATION_PARAM) or None
    store = call.engine.create_store(_name_from_body(call), location)
    return json_response(store_json(store), 201)


def list_stores(call: Call) -> Response:
    limit = call.int_param("limit")
    name = call.q("name")
    if name:
        try:
            found = [call.engine.find_store(name)]
        except NotFound:
            found = []
        meta: dict[str, Any] = {"limit": limit or wire.DEFAULT_LIST_LIMIT, "total": len(found)}
        return json_response({"data": [store_json(s) for s in found], "meta": meta})
    page = call.engine.list_stores(cursor=call.q("cursor") or None, limit=limit)
    meta = {"limit": limit or wire.DEFAULT_LIST_LIMIT, "total": page.total}
    if page.next_cursor:
        meta["next_cursor"] = page.next_cursor
    return json_response({"data": [store_json(s) for s in page.items], "meta": meta})


def get_store(call: Call) -> Response:
    store = call.engine.get_store(call.params["store_id"])
    if call.header(wire.H_DELETE_CHECK) == wire.DELETE_CHECK_ASK:  # kvcli's pre-check before emptying a store
        call.engine.check_store_deletable(store.id)
        return json_response(store_json(store), headers={wire.H_DELETE_CHECK: wire.DELETE_CHECK_OK})
    return json_response(store_json(store))


def rename_store(call: Call) -> Response:
    store = call.engine.rename_store(call.params["store_id"], _name_from_body(call))
    return json_response(store_json(store))


def delete_store(call: Call) -> Response:
    call.engine.delete_store(call.params["store_id"])
    return Response(status_code=204)


def list_keys(call: Call) -> Response:
    limit = call.int_param("limit")
    prefix = call.q("prefix") or None
    consistency = call.q("consistency") or "strong"
    page = call.engine.list_keys(
        call.params["store_id"], prefix=prefix, cursor=call.q("cursor") or None, limit=limit, consistency=consistency
    )
    meta: dict[str, Any] = {"limit": limit or wire.DEFAULT_LIST_LIMIT}
    if prefix:
        meta["prefix"] = prefix
    headers: dict[str, str] = {}
    if consistency == "eventual":
        meta["consistency"] = "eventual"
        headers[wire.H_AGE] = "0"
    if page.next_cursor:
        meta["next_cursor"] = page.next_cursor
    return json_response({"data": page.items, "meta": meta}, headers=headers)


def _item_headers(info) -> dict[str, str]:
    headers = {
        wire.H_GENERATION: str(info.generation),
        wire.H_METADATA: header_value(info.metadata or ""),
        wire.H_STORED_LENGTH: str(info.size),
    }
    if info.last_modified is not None:
        headers[wire.H_LAST_MODIFIED] = wire.http_date(info.last_modified)
    if info.expires_at is not None:
        headers[wire.H_EXPIRES] = wire.format_expires(info.expires_at)
    return headers


def get_item(call: Call) -> Response:
    item = call.engine.get_item(call.params["store_id"], call.params["key"])
    return Response(item.value, media_type=wire.CT_OCTET, headers=_item_headers(item.info))


def head_item(call: Call) -> Response:
    info = call.engine.describe_item(call.params["store_id"], call.params["key"])
    headers = _item_headers(info) | {"content-length": str(info.size)}
    return Response(b"", media_type=wire.CT_OCTET, headers=headers)


def put_item(call: Call) -> Response:
    add, append, prepend = call.flag("add"), call.flag("append"), call.flag("prepend")
    if append and prepend:
        raise InvalidInput("append and prepend cannot be combined", "send only one of them")
    # add (must not exist) wins over append/prepend: on a missing key those simply create it
    mode = PutMode.ADD if add else PutMode.APPEND if append else PutMode.PREPEND if prepend else PutMode.UPSERT
    ttl = call.uint_header(wire.H_TTL)
    call.engine.put_item(
        call.params["store_id"],
        call.params["key"],
        call.body,
        metadata=call.header(wire.H_METADATA),
        ttl=ttl,
        mode=mode,
        if_generation_match=call.uint_header(wire.H_IF_GENERATION_MATCH),
        background_fetch=call.flag("background_fetch"),
    )
    return Response(b"", status_code=200)


def delete_item(call: Call) -> Response:
    call.engine.delete_item(
        call.params["store_id"],
        call.params["key"],
        force=call.flag("force"),
        if_generation_match=call.uint_header(wire.H_IF_GENERATION_MATCH),
    )
    return Response(status_code=204)


def short_listing(call: Call) -> bool:
    """A list page of at most the default limit (1,000 keys): answered on the event loop; a longer one in a thread."""
    raw = call.q("limit")
    if raw is None or raw == "":
        return True
    try:
        return int(raw) <= wire.DEFAULT_LIST_LIMIT
    except ValueError:
        return True  # refused at once by the handler
