"""kvcli: manage Fastly KV stores from the command line, against Fastly or an embedded local backend."""

__version__ = "0.1.0"
