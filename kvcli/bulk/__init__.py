"""Bulk work as pipelines of generators: sources → validated entries → batches → sinks; bulk deletion."""
