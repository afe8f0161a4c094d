"""Typer commands and rendering. Commands parse options, call the API port, and render; nothing else."""
