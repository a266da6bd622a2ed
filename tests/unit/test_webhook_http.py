"""The delivery attempt on the wire, against real sockets on 127.0.0.1 (the local setting allows it): signatures the
``standardwebhooks`` library verifies, the checked address connected to with the URL's host in ``Host`` and as the
TLS server name, and every way an endpoint can misbehave a failed attempt with its reason, never an exception."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from partnerhub.outbound.addresses import HostGuard
from partnerhub.outbound.http import HttpSender

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
BODY = b'{"id":"evt_1","type":"license.revoked","created_at":"2026-11-03T09:00:00Z","data":{}}'


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP(S) server whose answer to each POST is ``behave(handler)``; it keeps what it received."""

    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0


def serve(
    behave: Callable[[http.server.BaseHTTPRequestHandler], None], tls: ssl.SSLContext | None = None
) -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            receiver.seen.append(
                Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            )
            behave(self)

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[socket.socket, object]:
            sock, address = super().get_request()
            receiver.connections += 1
            if tls is not None:
                sock = tls.wrap_socket(sock, server_side=True)
            return sock, address

    server = Server(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def answer(
    status: int, body: bytes = b"ok", headers: dict[str, str] | None = None
) -> Callable[[http.server.BaseHTTPRequestHandler], None]:
    def behave(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return behave


def sender(resolve: Callable[[str, int], list[str]] | None = None, **options: object) -> HttpSender:
    guard = HostGuard(resolve or (lambda host, port: ["127.0.0.1"]), allow_local=True)
    return HttpSender(guard, allow_local=True, **options)  # type: ignore[arg-type]


NOW = dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)


def wall_clock() -> dt.datetime:
    """Now, read when a test signs: the reference library checks the timestamp against the wall clock (five
    minutes' tolerance), and a suite's collection may be many minutes before the test runs."""
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def ok() -> Iterator[Receiver]:
    yield from serve(answer(204, b""))


def test_a_2xx_is_delivered_and_the_library_verifies_the_signature(ok: Receiver) -> None:
    # When an event is sent to the endpoint, through a host name resolved to the checked address
    signed_at = wall_clock()
    result = sender().send(f"http://hooks.example:{ok.port}/in?src=ph", BODY, "evt_1", signed_at, [SECRET])
    # Then it was delivered
    assert (result.ok, result.status_code, result.error) == (True, 204, None)
    (seen,) = ok.seen
    # to the URL's path, with the URL's host in Host, the body as is, JSON
    assert (seen.path, seen.headers["host"], seen.body) == ("/in?src=ph", f"hooks.example:{ok.port}", BODY)
    assert seen.headers["content-type"] == "application/json"
    # and the Standard Webhooks reference library accepts it with the secret, and refuses it with another
    assert Webhook(SECRET).verify(seen.body, seen.headers) == {
        "id": "evt_1",
        "type": "license.revoked",
        "created_at": "2026-11-03T09:00:00Z",
        "data": {},
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD_SECRET).verify(seen.body, seen.headers)
    assert seen.headers["webhook-id"] == "evt_1" and seen.headers["webhook-timestamp"] == str(int(signed_at.timestamp()))


def test_while_a_secret_is_rotated_both_sign_and_either_verifies(ok: Receiver) -> None:
    sender().send(f"http://127.0.0.1:{ok.port}/", BODY, "evt_1", wall_clock(), [SECRET, OLD_SECRET])
    (seen,) = ok.seen
    assert len(seen.headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OLD_SECRET):
        Webhook(secret).verify(seen.body, seen.headers)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (301, "HTTP 301: redirects are not followed"),
        (307, "HTTP 307: redirects are not followed"),
        (400, "HTTP 400"),
        (410, "HTTP 410"),
        (500, "HTTP 500"),
        (503, "HTTP 503"),
    ],
)
def test_3xx_4xx_and_5xx_are_failed_attempts_with_an_excerpt(status: int, error: str) -> None:
    for receiver in serve(
        answer(status, b"nope\x00\n  see https://x.example/", {"Location": "http://169.254.169.254/"})
    ):
        result = sender().send(f"http://127.0.0.1:{receiver.port}/", BODY, "evt_1", NOW, [SECRET])
        assert (result.ok, result.status_code, result.error, result.response) == (
            False,
            status,
            error,
            "nope    see https://x.example/",
        )
        # the redirect is not followed anywhere
        assert len(receiver.seen) == 1


def test_a_huge_answer_is_read_up_to_the_cap_and_fails() -> None:
    for receiver in serve(answer(200, b"x" * (5 * 1024 * 1024))):
        result = sender(max_response=64 * 1024).send(f"http://127.0.0.1:{receiver.port}/", BODY, "evt_1", NOW, [SECRET])
        assert (result.ok, result.status_code, result.error) == (False, 200, "the answer's body is over 64 KB")
        assert result.response == "x" * 300


def test_a_slow_endpoint_is_a_timeout() -> None:
    release = threading.Event()

    def slow(handler: http.server.BaseHTTPRequestHandler) -> None:
        release.wait(10)
        answer(200)(handler)

    try:
        for receiver in serve(slow):
            result = sender(timeout=0.5).send(f"http://127.0.0.1:{receiver.port}/", BODY, "evt_1", NOW, [SECRET])
            assert (result.ok, result.status_code, result.error) == (False, None, "no answer within 0.5 s")
    finally:
        release.set()


def test_an_endpoint_that_trickles_its_answer_is_cut_at_the_deadline() -> None:
    release = threading.Event()

    def trickle(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(100):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            if release.wait(0.05):
                return

    try:
        for receiver in serve(trickle):
            result = sender(timeout=0.5).send(f"http://127.0.0.1:{receiver.port}/", BODY, "evt_1", NOW, [SECRET])
            assert (result.ok, result.error) == (False, "no answer within 0.5 s")
    finally:
        release.set()


def test_a_closed_connection_is_a_failed_attempt() -> None:
    def hang_up(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.connection.shutdown(socket.SHUT_RDWR)
        handler.close_connection = True

    for receiver in serve(hang_up):
        result = sender().send(f"http://127.0.0.1:{receiver.port}/", BODY, "evt_1", NOW, [SECRET])
        assert (result.ok, result.status_code, result.error) == (
            False,
            None,
            "the connection was closed before a complete answer",
        )


def test_an_answer_that_is_not_http_is_a_failed_attempt() -> None:
    def garbage(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        handler.close_connection = True

    for receiver in serve(garbage):
        result = sender().send(f"http://127.0.0.1:{receiver.port}/", BODY, "evt_1", NOW, [SECRET])
        assert result.ok is False and result.error is not None and result.error.startswith("the answer was not HTTP")


def test_a_refused_connection_is_a_failed_attempt() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    result = sender().send(f"http://127.0.0.1:{port}/", BODY, "evt_1", NOW, [SECRET])
    assert (result.ok, result.error) == (False, "the connection was refused")


def test_a_body_over_the_cap_is_not_sent(ok: Receiver) -> None:
    result = sender(max_body=1024).send(f"http://127.0.0.1:{ok.port}/", b"x" * 1025, "evt_1", NOW, [SECRET])
    assert (result.ok, result.error, ok.connections) == (False, "the event is over 1 KB: not sent", 0)


def test_a_name_that_resolves_to_a_private_or_metadata_address_is_never_connected_to(ok: Receiver) -> None:
    # Given a name saved while it pointed at the endpoint, that points at the metadata service at delivery (rebinding)
    answers = iter([["127.0.0.1"], ["169.254.169.254"], ["127.0.0.1", "10.0.0.9"]])
    deliver = sender(lambda host, port: next(answers))
    url = f"http://rebind.example:{ok.port}/"
    assert deliver.send(url, BODY, "evt_1", NOW, [SECRET]).ok
    # When it is delivered to again
    refused = deliver.send(url, BODY, "evt_2", NOW, [SECRET])
    mixed = deliver.send(url, BODY, "evt_3", NOW, [SECRET])
    # Then nothing is sent: the check runs on what the name resolves to now, every address of it
    assert refused.error == (
        "rebind.example resolves to 169.254.169.254, a cloud metadata address: deliveries go to public addresses only"
    )
    assert mixed.error == (
        "rebind.example resolves to 10.0.0.9, a private address: deliveries go to public addresses only"
    )
    assert [s.headers["webhook-id"] for s in ok.seen] == ["evt_1"]


def test_the_deployed_sender_refuses_127_0_0_1_and_plain_http(ok: Receiver) -> None:
    deployed = HttpSender(HostGuard(lambda host, port: ["127.0.0.1"]))
    https = deployed.send(f"https://hooks.example:{ok.port}/", BODY, "evt_1", NOW, [SECRET])
    plain = deployed.send(f"http://hooks.example:{ok.port}/", BODY, "evt_1", NOW, [SECRET])
    assert (
        https.error == "hooks.example resolves to 127.0.0.1, a loopback address: deliveries go to public addresses only"
    )
    assert plain.error == "the URL cannot be delivered to: must be an https:// URL"
    assert ok.connections == 0


# -- TLS: the URL's host is the server name, and the certificate must be for it -------------------------------------


@dataclass
class Certificates:
    client: ssl.SSLContext
    server_for: Callable[[str], ssl.SSLContext]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder: Path = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    client = ssl.create_default_context(cafile=str(folder / "ca.pem"))

    def server_for(name: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = folder / f"{name}.pem"
        pem.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pem))
        return context

    return Certificates(client, server_for)


def test_tls_goes_to_the_checked_address_with_the_urls_host_as_server_name(certificates: Certificates) -> None:
    names: list[str | None] = []
    server = certificates.server_for("hooks.example")
    server.sni_callback = lambda sock, name, context: names.append(name)  # type: ignore[assignment,misc,func-returns-value]
    for receiver in serve(answer(200), tls=server):
        result = sender(tls=certificates.client).send(
            f"https://hooks.example:{receiver.port}/in", BODY, "evt_1", NOW, [SECRET]
        )
        assert (result.ok, result.status_code, result.error) == (True, 200, None)
        assert names == ["hooks.example"]
        assert receiver.seen[0].headers["host"] == f"hooks.example:{receiver.port}"


def test_a_certificate_for_another_name_fails_the_attempt(certificates: Certificates) -> None:
    for receiver in serve(answer(200), tls=certificates.server_for("elsewhere.example")):
        result = sender(tls=certificates.client).send(
            f"https://hooks.example:{receiver.port}/in", BODY, "evt_1", NOW, [SECRET]
        )
        assert result.ok is False and result.status_code is None
        assert result.error is not None and result.error.startswith(
            "TLS: the certificate is not valid for hooks.example"
        )
        assert "mismatch" in result.error.lower()
        assert receiver.seen == []
