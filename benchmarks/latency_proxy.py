"""A latency-adding TLS proxy on loopback: HTTPS in front of a plain-HTTP server, as if it were far away.

    client ──TCP, delayed──▶ delay stage ──TCP──▶ TLS stage ──plain HTTP──▶ upstream (e.g. `kvcli local serve`)

The delay stage sits in front of the TLS terminator, so the TLS handshake's round trips are delayed like the
requests: every chunk is held RTT/2 in each direction (in order), and a connection's first chunk from the client one
extra RTT, standing in for the TCP handshake that loopback does instantly. Nothing else (bandwidth, loss) is modelled.

The certificate is a throw-away self-signed one for 127.0.0.1 and localhost, made at start (with the `cryptography`
package if it is installed, else with the `openssl` command) and written to --cert-file; clients trust it through
SSL_CERT_FILE (Go's crypto/x509 reads it on Linux; httpx reads it when trust_env is on, its default).

Usage: python benchmarks/latency_proxy.py --upstream http://127.0.0.1:PORT [--rtt-ms 50] [--port 0]
                                          [--cert-file PATH]
Prints the proxy's https URL on stdout once it listens; runs until SIGTERM or Ctrl-C.
`--self-test` starts a tiny upstream, sends one HTTPS request through the proxy and exits 0 if it came back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

CHUNK = 65536


# ---------------------------------------------------------------------------------------------------- certificate
def make_certificate(cert_file: Path, key_file: Path) -> str:
    """Write a self-signed certificate for 127.0.0.1/localhost and its key; returns how it was made."""
    try:
        return _with_cryptography(cert_file, key_file)
    except ImportError:
        pass
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key_file), "-out", str(cert_file), "-days", "2", "-subj", "/CN=kvcli benchmark proxy",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
         "-addext", "extendedKeyUsage=serverAuth"],
        check=True, capture_output=True,
    )  # fmt: skip
    return "openssl"


def _with_cryptography(cert_file: Path, key_file: Path) -> str:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kvcli benchmark proxy")])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True
        )  # digitalSignature, keyCertSign
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return "cryptography"


# ---------------------------------------------------------------------------------------------------- the proxy
async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _delayed_pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, first_extra: float
) -> None:
    """Forward chunks, each written ``delay`` seconds after it arrived (the first ``first_extra`` later still)."""
    queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def read() -> None:
        extra = first_extra
        due = 0.0
        try:
            while data := await reader.read(CHUNK):
                due = max(due, loop.time() + delay + extra)  # never overtakes an earlier chunk
                extra = 0.0
                queue.put_nowait((due, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((max(due, loop.time() + delay), None))

    async def write() -> None:
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    await asyncio.gather(read(), write())


class LatencyProxy:
    """The two stages on 127.0.0.1; ``url`` is the https URL clients use once ``start`` returned."""

    def __init__(self, upstream: str, rtt: float, cert_file: Path, key_file: Path, port: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"--upstream must be http://HOST:PORT (got {upstream!r})")
        self.upstream = (parts.hostname, parts.port)
        self.rtt = rtt
        self.port = port
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(str(cert_file), str(key_file))
        self.servers: list[asyncio.Server] = []
        self.url = ""

    async def start(self) -> str:
        tls = await asyncio.start_server(self._tls_conn, "127.0.0.1", 0, ssl=self.ctx)
        self.tls_port = tls.sockets[0].getsockname()[1]
        front = await asyncio.start_server(self._front_conn, "127.0.0.1", self.port)
        self.servers = [tls, front]
        self.url = f"https://127.0.0.1:{front.sockets[0].getsockname()[1]}"
        return self.url

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _front_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.tls_port)
        except OSError:
            writer.close()
            return
        half = self.rtt / 2
        with contextlib.suppress(asyncio.CancelledError):  # the proxy stopping with connections open
            await asyncio.gather(
                _delayed_pipe(reader, up_writer, half, self.rtt),  # the TCP handshake's round trip, once
                _delayed_pipe(up_reader, writer, half, 0.0),
            )

    async def _tls_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


# ---------------------------------------------------------------------------------------------------- entry points
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", help="the plain-HTTP server, http://127.0.0.1:PORT")
    ap.add_argument("--rtt-ms", type=float, default=50.0, help="round-trip time to add (default 50)")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    ap.add_argument("--cert-file", type=Path, help="where to write the certificate (PEM) clients should trust")
    ap.add_argument("--self-test", action="store_true", help="one HTTPS request through the proxy, then exit")
    return ap


async def _serve(args: argparse.Namespace, cert: Path, key: Path) -> None:
    proxy = LatencyProxy(args.upstream, args.rtt_ms / 1000, cert, key, args.port)
    print(await proxy.start(), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await proxy.close()


async def self_test(rtt: float, workdir: Path) -> float:
    """Start an upstream answering one fixed response, fetch it over HTTPS through the proxy; returns the seconds."""
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    make_certificate(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    upstream = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    proxy = LatencyProxy(f"http://127.0.0.1:{port}", rtt, cert, key)
    url = urlsplit(await proxy.start())
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        t0 = time.perf_counter()
        reader, writer = await asyncio.open_connection(url.hostname, url.port, ssl=ctx, server_hostname="127.0.0.1")
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await writer.drain()
        body = await asyncio.wait_for(reader.read(), 10)
        took = time.perf_counter() - t0
        writer.close()
        if not body.startswith(b"HTTP/1.1 200") or not body.endswith(b"ok"):
            raise SystemExit(f"self-test: unexpected response {body[:200]!r}")
        return took
    finally:
        await proxy.close()
        upstream.close()


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.self_test:
        with tempfile.TemporaryDirectory(prefix="kvcli-proxy-") as tmp:
            took = asyncio.run(self_test(args.rtt_ms / 1000, Path(tmp)))
        print(f"self-test passed: one HTTPS request through the proxy in {took * 1000:.1f} ms")
        return
    if not args.upstream:
        raise SystemExit("Error: --upstream is required (hint: pass the plain-HTTP server's URL)")
    with tempfile.TemporaryDirectory(prefix="kvcli-proxy-") as tmp:
        cert = args.cert_file or Path(tmp) / "cert.pem"
        key = Path(tmp) / "key.pem"
        how = make_certificate(cert, key)
        print(f"certificate ({how}): {cert}", file=sys.stderr, flush=True)
        asyncio.run(_serve(args, cert, key))


if __name__ == "__main__":
    main()
