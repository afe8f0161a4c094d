"""Bulk operations: each takes a typed request and returns a report; the CLI and the library both call them.

================  =============================================  ==============================================
operation         request                                        run
================  =============================================  ==============================================
import            :class:`kvcli.ops.imports.ImportRequest`       :class:`~kvcli.ops.imports.ImportJob` (``run()``)
export            :class:`kvcli.ops.export.ExportRequest`        :func:`kvcli.ops.export.run_export`
sync              :class:`kvcli.ops.sync.SyncRequest`            :func:`~kvcli.ops.sync.plan_sync`, ``run_sync``
bulk delete       :class:`kvcli.ops.delete.DeleteRequest`        :func:`kvcli.ops.delete.run_delete`
================  =============================================  ==============================================

Requests are frozen, keyword-only dataclasses, so a misspelled field is a ``TypeError`` where the request is made.
Operations size their work from what the backend declares on the port (``api.limits``, a
:class:`kvcli.api.models.BackendLimits`), never from which adapter it is. They print nothing and name no CLI flag:
the CLI maps flags to a request and renders the report; the library (:mod:`kvcli.library_store`) raises from it.
The machinery they drive (sources, batching, the importer, journals, writers) is :mod:`kvcli.bulk`.
"""
