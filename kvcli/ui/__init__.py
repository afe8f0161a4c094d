"""``kvcli ui``: a web explorer for KV stores, served on 127.0.0.1 over the library (:func:`kvcli.connect`).

:mod:`kvcli.ui.server` is the Starlette app (the page, its static files and a JSON API of its own, behind an access
token, Host and Origin checks); :mod:`kvcli.ui.run` starts it for the ``kvcli ui`` command. Nothing here is imported
by ``import kvcli`` or by any other command.
"""
