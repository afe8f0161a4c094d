"""The API port: models, errors and the adapter protocol, plus the adapters that implement it.

Nothing here prints or reads configuration; adapters are built from an explicit :class:`kvcli.config.Target`.
"""
