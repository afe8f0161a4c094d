"""kvcli: manage Fastly KV stores from Python or the command line, against Fastly or an embedded local backend.

The library (docs/library.md)::

    import kvcli

    with kvcli.connect() as kv:            # the CLI's precedence: profile, environment, else the embedded backend
        store = kv.create_store("demo")
        store["greeting"] = "hello"
        assert store["greeting"] == b"hello"

Importing ``kvcli`` is cheap: every name below is loaded on first use (PEP 562), and none of them imports the CLI
(typer, click, rich) or the server; ``httpx`` is imported only by a connection to the Fastly API.
"""

__version__ = "0.1.0"

# kvcli's console script imports this package first on every run: keep this module free of imports (no `typing`)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from kvcli.api.errors import (
        ApiError,
        AuthError,
        Closed,
        ConfigError,
        Conflict,
        Interrupted,
        InvalidInput,
        KvcliError,
        NotFound,
        PartialFailure,
        PreconditionFailed,
        RateLimited,
        ServerError,
        StorageError,
        TooLarge,
        TransportError,
        UsageError,
        VersionLocked,
    )
    from kvcli.api.models import Item, ItemInfo
    from kvcli.bulk.copy_report import CopyReport
    from kvcli.bulk.delete import DeleteReport
    from kvcli.bulk.diff import Difference, DiffRun
    from kvcli.bulk.export import ExportReport
    from kvcli.bulk.import_report import ImportReport
    from kvcli.library import KV, Settings, connect
    from kvcli.library_copy import copy, diff
    from kvcli.library_store import Store

__all__ = [
    "KV",
    "ApiError",
    "AuthError",
    "Closed",
    "ConfigError",
    "Conflict",
    "CopyReport",
    "DeleteReport",
    "DiffRun",
    "Difference",
    "ExportReport",
    "ImportReport",
    "Interrupted",
    "InvalidInput",
    "Item",
    "ItemInfo",
    "KvcliError",
    "NotFound",
    "PartialFailure",
    "PreconditionFailed",
    "RateLimited",
    "ServerError",
    "Settings",
    "StorageError",
    "Store",
    "TooLarge",
    "TransportError",
    "UsageError",
    "VersionLocked",
    "__version__",
    "connect",
    "copy",
    "diff",
]

_ERRORS = "kvcli.api.errors"
_LAZY = {
    "connect": "kvcli.library",
    "KV": "kvcli.library",
    "Settings": "kvcli.library",
    "Store": "kvcli.library_store",
    "Item": "kvcli.api.models",
    "ItemInfo": "kvcli.api.models",
    "ImportReport": "kvcli.bulk.import_report",
    "ExportReport": "kvcli.bulk.export",
    "DeleteReport": "kvcli.bulk.delete",
    "CopyReport": "kvcli.bulk.copy_report",
    "Difference": "kvcli.bulk.diff",
    "DiffRun": "kvcli.bulk.diff",
    "copy": "kvcli.library_copy",
    "diff": "kvcli.library_copy",
    **{name: _ERRORS for name in __all__ if name.endswith(("Error", "Input", "Failure", "Failed"))},
    **{name: _ERRORS for name in ("Closed", "Conflict", "Interrupted", "NotFound", "RateLimited", "TooLarge",
                                  "VersionLocked")},
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kvcli' has no attribute {name!r}")
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
