"""One module decides exit codes (kvcli.cli.exits): every error kind has a decided code, and the library's errors
carry none of their own."""

from __future__ import annotations

import inspect

import kvcli.api.errors as errors
from kvcli.cli import exits

#: kinds that exit with the generic 1 on purpose (README: "error")
GENERIC = {"error", "config", "transport", "closed", "api_error", "server_error", "storage"}


def _error_classes():
    return [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.KvcliError)]


def test_every_kind_has_a_decided_exit_code():
    for cls in _error_classes():
        assert cls.kind in exits.BY_KIND or cls.kind in GENERIC, f"{cls.__name__}: decide the exit code of {cls.kind!r}"


def test_no_error_class_carries_an_exit_code():
    for cls in _error_classes():
        assert "exit_code" not in vars(cls), cls


def test_the_mapping_matches_the_readme_table():
    cases = {
        errors.UsageError("x"): 2, errors.InvalidInput("x"): 2, errors.TooLarge("x"): 2, errors.NotFound("x"): 3,
        errors.Conflict("x"): 4, errors.PreconditionFailed("x"): 4, errors.AuthError("x"): 5,
        errors.RateLimited("x"): 6, errors.PartialFailure("x"): 7, errors.Interrupted("x"): 130,
        errors.TransportError("x"): 1, errors.ServerError("x"): 1, errors.StorageError("x"): 1,
        errors.ConfigError("x"): 1, KeyboardInterrupt(): 130, ValueError("x"): 1,
    }
    for exc, code in cases.items():
        assert exits.exit_code_for(exc) == code, exc
