"""The two ends of `kv-store copy` and `kv-store diff`: each a backend (a profile, else the command line's) and a
store named by name or ID, resolved on its own side."""

from __future__ import annotations

import os
from typing import Any

from kvcli.api.errors import InvalidInput, NotFound, UsageError
from kvcli.cli.state import State
from kvcli.records import dataclass  # dataclasses' semantics, a fraction of the import time


@dataclass
class Opened:
    api: Any
    target: Any
    owned: bool  # opened for this side (a profile): closed by close()
    where: str  # "embedded backend at PATH" / "Fastly API at URL"

    def close(self) -> None:
        if self.owned:
            self.api.close()


def target_id(target) -> str:
    """The backend's identity in resume journals (the same as an import's)."""
    if target.kind == "local":
        return f"local:{os.path.realpath(str(target.data_dir))}"
    return f"http:{target.endpoint}"


def open_backend(state: State, profile: str | None) -> Opened:
    """``profile``'s backend, else the command line's (global flags, environment, default profile)."""
    if profile is None:
        target = state.target()
        api = state.api()
        owned = False
    else:
        from kvcli.config import make_api, resolve_target
        from kvcli.redact import add_secret, url_secrets

        if not profile.strip():
            raise UsageError("the profile name is empty", "pass a profile name, or leave the option out")
        target = resolve_target(profile=profile)
        for secret in (target.token, *url_secrets(target.endpoint or "")):
            add_secret(secret)
        api = make_api(target, **({"debug": state.debug} if target.kind == "http" else {}))
        owned = True
    return Opened(api, target, owned, target.describe().split(" (via ", 1)[0])


def find_store(api, name_or_id: str):
    """The store with this name, else with this ID; None when neither exists."""
    if not name_or_id.strip():
        raise UsageError("the store name or ID is empty", "pass --from and --to a store name or ID")
    try:
        return api.find_store(name_or_id)
    except NotFound:
        pass
    try:
        return api.get_store(name_or_id)
    except (NotFound, InvalidInput):  # InvalidInput: not even the shape of an ID
        return None
