"""The CLI's words for library errors whose fix a CLI user makes with a flag.

Library, engine and adapter errors name no CLI flag: they carry a ``reason`` (a short stable code) and ``facts``,
and a hint in the library's terms. :func:`worded` gives the message and hint the CLI prints instead, so its output
is what it always was (``Error: key 'k' already exists … (hint: drop --add to overwrite it)``). What an adapter
added to the hint after the error was made (e.g. "it may or may not have been applied") is kept. Imported only when
an error with a reason is reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kvcli.api.errors import KvcliError

#: reason -> the CLI's hint (``str.format`` fields are the error's ``facts``)
HINTS: dict[str, str] = {
    # engine and adapters
    "store_not_empty": "delete its keys first, or use 'kvcli kv-store delete --all'",
    "key_exists": "drop --add to overwrite it",
    "generation_not_new": "pass the key's current generation, or drop --if-generation-match",
    "key_missing": "pass --force to ignore missing keys",
    "metadata_not_header": "remove leading or trailing whitespace and control characters such as NUL, or import the "
                           "entry with a batch, --file, which carries metadata in JSON",
    "store_name_empty": "pass a name with -n/--name",
    "auth_refused": "check the API token: pass -t/--token, set FASTLY_API_TOKEN, or store one with 'kvcli profile "
                    "create'; 'kvcli profile list' shows the stored ones",
    "endpoint_invalid": "use a URL such as https://api.fastly.com or http://127.0.0.1:7676 in --endpoint, "
                        "FASTLY_API_ENDPOINT or the profile's endpoint",
    "token_unsendable": "check the token given with -t/--token, FASTLY_API_TOKEN or the profile: no surrounding "
                        "whitespace",
    "token_missing": "pass -t/--token, set FASTLY_API_TOKEN, store one with 'kvcli profile create NAME', or import "
                     "the official Fastly CLI's with 'kvcli profile import'; only loopback endpoints such as 'kvcli "
                     "local serve' work without one",
    "unreachable": "is the server running? check --endpoint or the profile's endpoint, and your network",
    "value_answer_too_large": "no value can be larger than KVCLI_MAX_VALUE_BYTES, {limit}; check --endpoint, or "
                              "raise KVCLI_MAX_VALUE_BYTES",
    "answer_too_large": "no answer to this request needs that much; check that --endpoint is the Fastly API, or "
                        "raise {variable}, in bytes",
    "body_corrupt": "the body arrived corrupt, e.g. as a broken gzip stream; try again, and check --endpoint and "
                    "any proxy in between",
    "not_json": "check that --endpoint points at the Fastly API",
    # services, versions and resource links (engine, adapter, version choice)
    "service_name_empty": "pass a name with -n/--name",
    "resource_link_name_empty": "pass a name with -n/--name",
    "service_update_empty": "pass a new name with -n/--name or a comment with --comment",
    "service_active": "deactivate it first with 'kvcli service version deactivate --service-id {service_id} "
                      "--version {version}', or pass --force to 'kvcli service delete'",
    "version_not_found": "run 'kvcli service version list --service-id {service_id}' to see its versions",
    "version_not_active": "run 'kvcli service version list --service-id {service_id}' to see which version is active",
    "version_locked": "edit a clone of it: pass --autoclone, or run 'kvcli service version clone'",
    "version_locked_answer": "the version is active or locked; repeat with --autoclone to edit a clone of it",
    "version_not_editable": "repeat the command with --autoclone to work on a clone of it",
    "version_spec_invalid": 'pass a version number, "latest", "active" or "staged" with --version',
    "no_active_version": "pass --version latest or a version number, or activate one with 'kvcli service version "
                         "activate'",
    "no_staged_version": "pass --version latest, active or a version number",
    "link_not_found": "run 'kvcli resource-link list --service-id {service_id} --version {version}' to see its links",
    "link_list_answer": "run 'kvcli resource-link list --service-id {service_id} --version {version}'",
    "link_name_taken": "choose another name with -n/--name: link names are unique within a version",
    "link_resource_missing": "pass the KV store ID with -r/--resource-id",
    "link_update_empty": "pass a new name with -n/--name",
    "store_linked": "unlink it first: 'kvcli resource-link delete --service-id {service_id} --version {version} --id "
                    "{link_id}'",
    "store_linked_active": "unlink it first: 'kvcli resource-link delete --service-id {service_id} --version "
                           "{version} --id {link_id} --autoclone', then activate the new version",
    # kvcli local serve
    "host_unresolvable": "pass an IP address such as 127.0.0.1",
    "port_busy": "pick another --port, or --port 0 for a free one",
    # bulk inputs and journals
    "format_unknown_input": "pass --format, one of: {formats}",
    "toml_stdin": "pass it with --file",
    "toml_store_not_toml": "drop --toml-store or pass a fastly.toml",
    "file_missing": "check the path given to --file",
    "file_is_dir": "use --dir to import the files of a directory",
    "dir_missing": "check the path given to --dir",
    "dir_is_file": "use --file for a file",
    "toml_no_stores": "add [local_server.kv_stores.NAME] or [setup.kv_stores.NAME], or pass another --file",
    "toml_pick": "pick one with --toml-store NAME",
    "toml_pick_format": "pass --format fastly-toml for local_server, or --format setup-toml for setup",
    "journal_unreadable": "re-run without --resume to start over",
    "input_changed": "re-run without --resume to import everything again",
    "input_unreadable": "check the input, then run the import again; --resume continues a file import",
    "export_not_a_directory": "pass a directory, or a new path, to -O",
}

#: reason -> the CLI's message, where the library's names what the CLI calls a flag
MESSAGES: dict[str, str] = {
    "unknown_format": "unknown --format {format!r}",
    "format_not_for_dir": "--format {format} does not apply to --dir",
    "toml_store_not_toml": "--toml-store only applies to a fastly.toml",
    "host_unresolvable": "cannot resolve --host {host!r}: {error}",
}

#: per-entry details of an export report (by their code) in the CLI's words
EXPORT_DETAILS: dict[str, str] = {
    "binary_value": "value is not UTF-8 text, which Viceroy's JSON cannot hold: use --format ndjson or dir",
}


def _fill(template: str, exc: KvcliError) -> str:
    try:
        return template.format(**exc.facts)
    except (KeyError, IndexError, ValueError):  # facts missing: the template as it stands beats a crash
        return template


def worded(exc: KvcliError) -> tuple[str, str | None]:
    """(message, hint) as the CLI says them."""
    message, hint = exc.message, exc.hint
    reason = exc.reason
    if reason is None:
        return message, hint
    template = MESSAGES.get(reason)
    if template is not None:
        mine = _fill(template, exc)
        message = message.replace(exc.base_message, mine, 1)
    template = HINTS.get(reason)
    if template is not None:
        mine = _fill(template, exc)
        base_hint = exc.base_hint
        if not hint:
            hint = mine
        elif base_hint and hint.startswith(base_hint):
            hint = mine + hint[len(base_hint):]
        elif not base_hint:
            hint = f"{mine}; {hint}"  # the adapter added to an error that had no hint of its own
    return message, hint
