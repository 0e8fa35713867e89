"""The kit's certificate authority: TLS for the mock IdP, and the one place every client trusts it.

Layout in ``<state>/tls/`` (0700; key files 0600), created on first need and gone with ``wif reset``
(so a reset rotates the CA)::

    ca.pem            the kit CA's certificate (public: the one file a client must trust)
    ca-key.pem        its private key (signs the leaf, nothing else)
    localhost.pem     the IdP's leaf certificate: DNS ``localhost``, IP ``127.0.0.1`` and ``::1``
    localhost-key.pem the leaf's private key
    ca-bundle.pem     the public roots (certifi if installed, else the system store) + the kit CA

``ca-bundle.pem`` is what ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` point at (``wif env``): a vendor
SDK then trusts the kit's IdP *and* every public site it trusted before, with no verify-off switch.
In-process clients use ``client_context(state)``: the default trust store plus the kit CA.

Keys are ECDSA P-256: a TLS handshake signed with P-256 costs a fraction of an RSA-2048 one, and
every client the kit meets (OpenSSL, Node.js, Go, Java) accepts it.

The CA is name-constrained (RFC 5280 §4.2.1.10, critical): it can vouch only for ``localhost``, the
loopback addresses and the vendor hosts the cloud registry's loopback proxy answers for
(``clouds.vendor_hosts``). Trusting it (``wif env``) therefore lets no one who reads its key
impersonate any other site to a shell or kernel that trusts the bundle.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import ipaddress
import os
import ssl
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import StateError
from .state import StateDir, default_state_path, write_private

TLS_DIR = "tls"
CA_NAME = "wif-notebook kit CA"
LEAF_DNS = ("localhost",)
LEAF_IPS = ("127.0.0.1", "::1")
CA_DAYS = 3650
LEAF_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True)
class KitTLS:
    """Where the kit's TLS files are (they exist once ``ensure`` returned)."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path
    bundle: Path


def paths(state: StateDir) -> KitTLS:
    """The file locations, without creating anything."""
    d = state.path / TLS_DIR
    return KitTLS(
        d, d / "ca.pem", d / "ca-key.pem", d / "localhost.pem", d / "localhost-key.pem", d / "ca-bundle.pem"
    )


def exists(state: StateDir) -> bool:
    """Has the kit CA been created in this state directory?"""
    return paths(state).ca_cert.exists()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # The IdP, the test mongod and a notebook may all need the CA at once: one creates it. The lock
    # is on the folder itself, so no lock file is left behind.
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def ensure(state: StateDir) -> KitTLS:
    """Create the CA and the leaf where missing (or the leaf about to expire).

    The bundle (a quarter of a megabyte of public roots) is written on first ask, by ``ca_bundle``:
    the IdP needs only its certificate to start.
    """
    files = paths(state)
    if _complete(files):
        return files
    state.ensure()
    directory = state.subdir(TLS_DIR)
    try:
        with _locked(directory):
            if not (
                files.ca_cert.exists() and files.ca_key.exists() and _ca_covers_needed_names(files.ca_cert)
            ):
                _write_ca(files)
                with contextlib.suppress(FileNotFoundError):
                    files.cert.unlink()  # a leaf of an older CA must not survive it
                with contextlib.suppress(FileNotFoundError):
                    files.bundle.unlink()
            if not _leaf_fresh(files.cert, files.key, files.ca_cert):
                _write_leaf(files, files.cert, files.key, LEAF_DNS, LEAF_IPS)
    except (OSError, ValueError) as exc:
        raise StateError(
            f"cannot set up the kit's certificate authority in {directory}: {exc}",
            hint="check the permissions of the state directory, or `wif reset` to start afresh",
        ) from exc
    return files


def _complete(files: KitTLS) -> bool:
    return (
        all(p.exists() for p in (files.ca_cert, files.ca_key))
        and _leaf_fresh(files.cert, files.key, files.ca_cert)
        and _ca_covers_needed_names(files.ca_cert)
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _leaf_fresh(cert: Path, key: Path, ca_cert: Path) -> bool:
    """The leaf exists, has its key, is signed by this CA and is not about to expire."""
    try:
        leaf = x509.load_pem_x509_certificate(cert.read_bytes())
        leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_cert.read_bytes()))
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return leaf.not_valid_after_utc - _now() > RENEW_BEFORE and key.exists()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# RFC 5280 §4.2.1.3, in x509.KeyUsage's order.
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(*granted: str) -> x509.KeyUsage:
    return x509.KeyUsage(**{usage: usage in granted for usage in _KEY_USAGES})


def build_certificate(
    public_key: CertificatePublicKeyTypes,
    signing_key: CertificateIssuerPrivateKeyTypes,
    subject: str | x509.Name,
    *,
    lifetime: datetime.timedelta,
    issuer: x509.Certificate | None = None,
    backdate: datetime.timedelta = datetime.timedelta(minutes=5),
    serial: int | None = None,
    ca: bool = False,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    permitted: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """The one X.509 builder of the kit: its CA (``ca=True``), TLS leaves for host names and
    addresses (``dns``/``ips``: server authentication, signed by ``issuer`` = the CA and valid no
    longer than it) and plain self-signed certificates (``issuer=None``, no names: the public keys
    Google publishes at ``/oauth2/v1/certs``, an app registration's certificate in the tests).

    ``signing_key`` is the issuer's private key (the subject's own when self-signed); ``backdate``
    allows for clocks a little behind; ``serial`` defaults to a random one (RFC 5280 §4.1.2.2);
    ``permitted`` (a CA only) are the only names it may certify (critical name constraints).
    """
    name = (
        subject
        if isinstance(subject, x509.Name)
        else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    )
    now = _now()
    not_after = now + lifetime
    if issuer is not None:
        not_after = min(not_after, issuer.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(public_key)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if ca:
        builder = builder.add_extension(_key_usage("key_cert_sign", "crl_sign"), critical=True)
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        if permitted:
            builder = builder.add_extension(
                x509.NameConstraints(permitted_subtrees=list(permitted), excluded_subtrees=None),
                critical=True,
            )
    if dns or ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = (
            builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(_key_usage("digital_signature"), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    return builder.sign(signing_key, hashes.SHA256())


def _names_needed() -> tuple[list[str], list[str]]:
    """The DNS names and addresses the kit CA must be able to certify: the IdP's leaf and the
    vendor hosts of the registry's proxy."""
    from . import clouds

    return sorted({*LEAF_DNS, *clouds.vendor_hosts()}), list(LEAF_IPS)


def _permitted_subtrees() -> list[x509.GeneralName]:
    dns, ips = _names_needed()
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    return names + [x509.IPAddress(ipaddress.ip_network(ip)) for ip in ips]  # one address each


def _ca_covers_needed_names(ca_cert: Path) -> bool:
    """False only for a name-constrained CA that cannot certify a name the kit needs now (a
    platform added a vendor host since): the CA is then made anew. A CA from before constraints
    existed covers everything and is kept until ``wif reset``."""
    try:
        cert = x509.load_pem_x509_certificate(ca_cert.read_bytes())
        constraints = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except (x509.ExtensionNotFound, OSError, ValueError):
        # Unconstrained, or unreadable: an unreadable CA is reported where it is used (signing the
        # leaf names the file and the next step), never silently replaced.
        return True
    allowed = {
        str(n.value).lower() for n in constraints.permitted_subtrees or [] if isinstance(n, x509.DNSName)
    }
    return set(_names_needed()[0]) <= allowed


def _write_ca(files: KitTLS) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wif-notebook"),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
        ]
    )
    cert = build_certificate(
        key.public_key(),
        key,
        name,
        lifetime=datetime.timedelta(days=CA_DAYS),
        ca=True,
        permitted=_permitted_subtrees(),
    )
    write_private(files.ca_key, _key_pem(key))
    write_private(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM))


def _write_leaf(
    files: KitTLS, cert_path: Path, key_path: Path, dns: Sequence[str], ips: Sequence[str] = ()
) -> None:
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.ca_key} is not the kit CA's EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build_certificate(
        key.public_key(),
        ca_key,
        dns[0],
        lifetime=datetime.timedelta(days=LEAF_DAYS),
        issuer=ca_cert,
        dns=dns,
        ips=ips,
    )
    write_private(key_path, _key_pem(key))
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))


ROOTS_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


def public_roots_pem() -> str:
    """The root certificates a client trusts without the kit: the bundle the environment already
    names (``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE``, e.g. a company CA), else certifi's, else the
    system's. The kit bundle adds its CA to these, so nothing trusted before stops being trusted."""
    for name in ROOTS_VARIABLES:
        named = os.environ.get(name)
        if named and os.path.isfile(named) and Path(named).parent.name != TLS_DIR:  # not a kit bundle
            with contextlib.suppress(OSError, UnicodeDecodeError):
                return Path(named).read_text()
    try:
        import certifi

        return Path(certifi.where()).read_text()
    except (ImportError, OSError):
        pass
    verify = ssl.get_default_verify_paths()
    for candidate in (verify.cafile, verify.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            return Path(candidate).read_text()
    # A hashed certificate directory only: the roots the default context loaded from it.
    context = ssl.create_default_context()
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in context.get_ca_certs(binary_form=True))


def ca_bundle(state: StateDir) -> Path:
    """The PEM bundle (public roots + kit CA) for ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``."""
    files = ensure(state)
    if not files.bundle.exists():
        try:
            with _locked(files.dir):
                if not files.bundle.exists():
                    write_private(files.bundle, public_roots_pem() + files.ca_cert.read_text())
        except OSError as exc:
            raise StateError(
                f"cannot write the CA bundle {files.bundle}: {exc}",
                hint="check the free space and permissions of the state directory",
            ) from exc
    return files.bundle


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The leaf alone: clients hold the kit CA as a trust anchor, so no chain is sent.
    context.load_cert_chain(cert, key)
    return context


def server_context(state: StateDir) -> ssl.SSLContext:
    """The IdP's TLS context: the kit CA's ``localhost`` leaf, TLS 1.2 or later."""
    files = ensure(state)
    return _server_context(files.cert, files.key)


def host_context(state: StateDir, hostnames: Sequence[str]) -> ssl.SSLContext:
    """A TLS context for fixed cloud host names an SDK calls (``login.microsoftonline.com``, ...),
    with a leaf for exactly those names signed by the kit CA: what a loopback proxy that answers for
    them presents, so a client trusting the kit CA (``wif env``) accepts it. Leaves are kept in
    ``tls/hosts/`` (0600 keys) and follow the CA through ``wif reset``."""
    names = sorted({h.lower().rstrip(".") for h in hostnames})
    if not names or any(not h or "/" in h or h.startswith(".") for h in names):
        raise ValueError(f"host names must be plain DNS names, got {hostnames!r}")
    files = ensure(state)
    stem = names[0] if len(names) == 1 else f"{names[0]}+{len(names) - 1}"
    folder = state.subdir(Path(TLS_DIR) / "hosts")
    cert, key = folder / f"{stem}.pem", folder / f"{stem}-key.pem"
    try:
        with _locked(files.dir):
            current = _leaf_fresh(cert, key, files.ca_cert) and _leaf_names(cert) == names
            if not current:
                _write_leaf(files, cert, key, names)
    except (OSError, ValueError) as exc:
        raise StateError(
            f"cannot issue a kit certificate for {', '.join(names)} in {folder}: {exc}",
            hint="check the permissions of the state directory, or `wif reset` to start afresh",
        ) from exc
    return _server_context(cert, key)


def _leaf_names(cert: Path) -> list[str]:
    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    return sorted(
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    )


_client_contexts: dict[tuple[str, int], ssl.SSLContext] = {}
_client_lock = threading.Lock()


def client_context(state: StateDir | None = None) -> ssl.SSLContext:
    """Verify as the system does (its roots, host names) and also trust the kit CA of ``state``.

    Without ``state``, the default state directory's CA (``WIF_STATE_DIR``), without creating
    anything; before the CA exists this is the default context. Contexts are cached per CA file
    version: loading the system store costs milliseconds, a request should not pay it.
    """
    ca: Path | None = (state.path if state is not None else default_state_path()) / TLS_DIR / "ca.pem"
    try:
        stamp = (str(ca), ca.stat().st_mtime_ns) if ca is not None else ("", 0)
    except OSError:
        ca, stamp = None, ("", 0)
    with _client_lock:
        context = _client_contexts.get(stamp)
        if context is None:
            context = ssl.create_default_context()
            if ca is not None:
                context.load_verify_locations(cafile=str(ca))
            _client_contexts[stamp] = context
    return context
