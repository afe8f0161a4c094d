"""The embedded backend: a SQLite engine and a Starlette server exposing it as Fastly's API."""
