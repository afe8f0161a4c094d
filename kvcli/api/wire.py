"""Constants of Fastly's wire format, shared by the HTTP adapter and ``kvcli local serve`` (mirror images)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

STORES_PATH = "/resources/stores/kv"
OIDC_PATH = "/realms/fastly/.well-known/openid-configuration"

H_KEY = "Fastly-Key"
H_GENERATION = "Generation"
H_METADATA = "Metadata"
H_IF_GENERATION_MATCH = "if-generation-match"
H_TTL = "time_to_live_sec"
H_STORED_LENGTH = "Stored-Content-Length"
H_LAST_MODIFIED = "Last-Modified"
H_RL_REMAINING = "Fastly-RateLimit-Remaining"
H_RL_RESET = "Fastly-RateLimit-Reset"
H_EXPIRES = "Kvcli-Expires-At"  # extension: epoch seconds of a TTL'd item's expiry (not sent by real Fastly)
#: extension: sent (value DELETE_CHECK_ASK) on GET of a store, asks the server to refuse (409) if the store could not be
#: deleted once empty (a link from a service version); kvcli local serve then answers with it (DELETE_CHECK_OK). Real
#: Fastly ignores it and answers without it: the links were not checked.
H_DELETE_CHECK = "Kvcli-Delete-Check"
DELETE_CHECK_ASK = "links"
DELETE_CHECK_OK = "ok"

CT_JSON = "application/json"
CT_NDJSON = "application/x-ndjson"
CT_OCTET = "application/octet-stream"
CT_FORM = "application/x-www-form-urlencoded"
CT_PROBLEM = "application/problem+json"  # RFC 7807 error bodies
CT_JSONAPI = "application/vnd.api+json"  # JSON:API error bodies

H_RETRY_AFTER = "Retry-After"
KEYS_SEGMENT = "keys"  # /resources/stores/kv/{store_id}/keys[/{key}]
BATCH_SEGMENT = "batch"  # /resources/stores/kv/{store_id}/batch
# item PUT / DELETE boolean query flags (sent lower case, only when true)
Q_ADD = "add"
Q_APPEND = "append"
Q_PREPEND = "prepend"
Q_BACKGROUND_FETCH = "background_fetch"
Q_FORCE = "force"

DEFAULT_LIST_LIMIT = 1000
BATCH_SUCCESS = {"type": "", "title": "success", "errors": []}
TRUE_VALUES = frozenset({"true", "True", "TRUE", "1"})

# --- server side of the same wire format (`kvcli local serve`) ---------------------------------------------------
H_AGE = "Age"  # sent on eventual-consistency key listings
FALSE_VALUES = frozenset({"false", "False", "FALSE", "0", ""})
AUTH_FAILED_MSG = "Provided credentials are missing or invalid"  # body {"msg": ...} of a 401
BATCH_ERROR_TYPE = "error"  # "type" of a batch response with errors[] (success has type "")
LOCATION_PARAM = "location"


def format_expires(dt: datetime) -> str:
    """The ``Kvcli-Expires-At`` value: whole epoch seconds, rounded up (never claims expiry too early)."""
    ts = dt.timestamp()
    whole = int(ts)
    return str(whole if whole == ts else whole + 1)


def parse_expires(raw: str | None) -> datetime | None:
    """Parse ``Kvcli-Expires-At`` (epoch seconds, integer or decimal); None when absent or malformed."""
    if not raw:
        return None
    try:
        return datetime.fromtimestamp(float(raw.strip()), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def store_timestamp(dt: datetime | None) -> str | None:
    """Fastly's current store timestamp form: ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_timestamp(raw: str | None) -> datetime | None:
    """Parse either form Fastly has used: ``2025-06-23 19:41:15`` or RFC 3339 (``2023-01-19T11:28:13.754Z``)."""
    if not raw:
        return None
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def http_date(dt: datetime) -> str:
    from email.utils import format_datetime  # imported here: email.utils costs ~5 ms of every start-up

    return format_datetime(dt.astimezone(UTC), usegmt=True)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_cursor(last_key: str) -> str:
    """Fastly's observed key-list cursor: base64 of a protobuf-like field 1 holding the last key returned."""
    raw = last_key.encode("utf-8")
    return base64.b64encode(b"\x0a" + _varint(len(raw)) + raw).decode("ascii")


def decode_cursor(cursor: str) -> str:
    """The last key a cursor points after; ValueError when it is not a cursor kvcli (or Fastly) produced."""
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True)
    except Exception as exc:
        raise ValueError("cursor is not base64") from exc
    if not raw or raw[0] != 0x0A:
        raise ValueError("cursor has an unknown format")
    n = 0
    shift = 0
    i = 1
    while True:
        if i >= len(raw):
            raise ValueError("cursor is truncated")
        b = raw[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    body = raw[i:]
    if len(body) != n:
        raise ValueError("cursor length does not match")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("cursor is not UTF-8") from exc


# --- services, versions and resource links (`/service/...`; form-encoded requests, JSON answers) ---------------
SERVICE_PATH = "/service"  # GET list, POST create; /service/{sid}; /service/search?name=
SEARCH_SEGMENT = "search"
DETAILS_SEGMENT = "details"  # /service/{sid}/details[?version=N][&filter[versions.active]=true]
VERSION_SEGMENT = "version"  # /service/{sid}/version[/{n}[/clone|lock|activate|deactivate]]
RESOURCE_SEGMENT = "resource"  # /service/{sid}/version/{n}/resource[/{link_id}]
VALIDATE_SEGMENT = "validate"  # GET /service/{sid}/version/{n}/validate
DOMAIN_SEGMENT = "domain"  # GET /service/{sid}/domain, /service/{sid}/version/{n}/domain
VERSION_ACTIONS = ("clone", "lock", "activate", "deactivate")
Q_FILTER_ACTIVE = "filter[versions.active]"
Q_FILTER_STAGED = "filter[versions.staged]"
Q_PAGE = "page"
Q_PER_PAGE = "per_page"
STATUS_OK = {"status": "ok"}  # body of a resource-link (and service) DELETE
MSG_NOT_FOUND = "Record not found"
MSG_VERSION_LOCKED = "Version locked"  # 422
MSG_DUPLICATE = "Duplicate record"  # 409
ENV_PRODUCTION = "production"  # the environment an active version is listed under


def service_timestamp(dt: datetime | None) -> str | None:
    """The ``/service`` family's timestamp form: RFC 3339 in UTC with whole seconds (``2023-01-19T11:28:14Z``)."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_loopback_host(host: str) -> bool:
    """A host name that can only mean this machine: ``localhost`` (and ``*.localhost``, RFC 6761), 127.0.0.0/8,
    ``::1`` (bracketed or not) and IPv4-mapped loopback. Never resolved: under DNS rebinding an attacker's name
    resolves to 127.0.0.1 too, so only the name itself counts."""
    import ipaddress

    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback
