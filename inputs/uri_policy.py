"""Which media references an input record may use, and an http(s) fetch that refuses internal
addresses (on every redirect hop) and stops at a byte cap and its timeouts."""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit

from drawreason.inputs.rejection import InputRejected

SUPPORTED_SCHEMES = ("gs", "s3", "https", "http")
HTTP_SCHEMES = ("https", "http")
MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
CHUNK_BYTES = 1 << 16
# A scheme has two or more characters, so `C:/x` stays a (refused) absolute Windows path.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
# Ranges `allow_private` opens: RFC 1918, carrier-grade NAT (RFC 6598) and IPv6 unique local.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class UriPolicy:
    """What the media references of a record may point at, and how much of it is read.

    schemes: the URI schemes a record may use besides relative paths (a subset of
      SUPPORTED_SCHEMES); anything else (file:, ftp:, data:, ...) is rejected `unsafe_path`.
    allow_hosts: host names, IP addresses or networks (CIDR) an http(s) reference may reach
      even though they are internal (loopback, link-local, private, ...).
    allow_private: let http(s) reach private ranges (PRIVATE_NETWORKS); loopback, link-local,
      unspecified, multicast and reserved addresses still need `allow_hosts`.
    max_bytes: the most bytes read for one image or video, from any scheme.
    connect_timeout_s, read_timeout_s: per connection attempt, and per socket read.
    """

    schemes: tuple[str, ...] = SUPPORTED_SCHEMES
    allow_hosts: tuple[str, ...] = ()
    allow_private: bool = False
    max_bytes: int = 256 << 20
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        unknown = [s for s in self.schemes if s not in SUPPORTED_SCHEMES]
        if unknown:
            raise ValueError(
                f"schemes {unknown} are not supported; choose from {list(SUPPORTED_SCHEMES)}"
            )
        for entry in self.allow_hosts:
            _parse_allowed(entry)
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {self.max_bytes}")
        for key in ("connect_timeout_s", "read_timeout_s"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} must be > 0, got {getattr(self, key)}")

    def allows(self, host: str, address: Address) -> bool:
        """True if `host` (as the URL spells it, lower case) at `address` may be fetched."""
        kind = address_kind(address)
        if kind is None:
            return True
        if kind == "private" and self.allow_private:
            return True
        for entry in map(_parse_allowed, self.allow_hosts):
            if isinstance(entry, str) and entry == host:
                return True
            if not isinstance(entry, str) and _plain(address) in entry:
                return True
        return False


def _parse_allowed(entry: str) -> str | ipaddress.IPv4Network | ipaddress.IPv6Network:
    text = entry.strip().lower().rstrip(".")
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    if not _HOST_NAME.match(text):
        raise ValueError(f"allow_hosts entry {entry!r} is not a host name, address or network")
    return text


def _plain(address: Address) -> Address:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_kind(address: Address) -> str | None:
    """Why an address is internal (`loopback`, `link-local`, `private`, `unspecified`,
    `multicast`, `reserved`), or None for a public address."""
    address = _plain(address)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if any(address in network for network in PRIVATE_NETWORKS):
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def scheme_of(ref: str) -> str:
    """The lower-case URI scheme of a reference, "" for a path."""
    match = _SCHEME.match(ref)
    return match.group(1).lower() if match else ""


def check_scheme(ref: str, policy: UriPolicy, what: str = "") -> str:
    """The scheme of a record's media reference ("" for a relative path); `what` names the
    reference in the detail (default: the reference itself).

    Raises InputRejected(`unsafe_path`) naming the scheme when the policy does not allow it.
    """
    scheme = scheme_of(ref)
    if scheme and scheme not in policy.schemes:
        allowed = ", ".join(f"{s}://" for s in policy.schemes)
        raise InputRejected(
            "unsafe_path",
            f"{what or _short(ref)}: the {scheme}: scheme is not allowed (relative paths and "
            f"{allowed or 'nothing else'} are)",
        )
    return scheme


def _short(ref: str, limit: int = 120) -> str:
    """A reference cut for a detail (data: URIs can be megabytes long)."""
    return ref if len(ref) <= limit else ref[:limit] + "..."


class Target(NamedTuple):
    """One http(s) request: where to connect and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str


def _target(url: str, policy: UriPolicy, what: str) -> Target:
    scheme = check_scheme(url, policy, what)
    if scheme not in HTTP_SCHEMES:
        raise InputRejected("unsafe_path", f"{what}: a redirect may only lead to http(s)")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise InputRejected("unsafe_path", f"{what}: not a valid URL ({exc})") from exc
    if not parts.hostname:
        raise InputRejected("unsafe_path", f"{what}: no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, parts.hostname.rstrip("."), port, path)


AddrInfo = tuple[int, int, int, str, tuple]


def parse_numeric(host: str, port: int) -> list[AddrInfo]:
    """The address of a numeric host in any spelling the system accepts (`127.1`,
    `2130706433`, `0x7f000001`, `::ffff:127.0.0.1`); raises socket.gaierror for a name."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)


def lookup_name(host: str, port: int) -> list[AddrInfo]:
    """The addresses DNS (or /etc/hosts) gives a host name."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def checked_addresses(target: Target, policy: UriPolicy, what: str) -> list[AddrInfo]:
    """The resolved addresses of a target's host, each checked against the policy; the fetch
    connects to these, so a second lookup (DNS rebinding) cannot swap in another address.

    Raises InputRejected: `unsafe_path` if any address is internal and not allowed (all of
    them are checked: a name may resolve to a public and a private address),
    `media_unreachable` if the name does not resolve.
    """
    try:
        infos = parse_numeric(target.host, target.port)
    except socket.gaierror:
        try:
            infos = lookup_name(target.host, target.port)
        except (socket.gaierror, UnicodeError) as exc:
            raise InputRejected(
                "media_unreachable", f"{what}: cannot resolve {target.host}: {exc}"
            ) from exc
    if not infos:
        raise InputRejected("media_unreachable", f"{what}: {target.host} has no address")
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not policy.allows(target.host.lower(), address):
            raise InputRejected(
                "unsafe_path",
                f"{what}: host {target.host} is {address} ({address_kind(address)}); records "
                "may not reach internal addresses unless media.allow_hosts (or "
                "media.allow_private) allows them",
            )
    return infos


def connect_checked(infos: list[AddrInfo], policy: UriPolicy) -> socket.socket:
    """A socket connected to the first reachable of the checked addresses."""
    error: OSError = OSError("no address")
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(policy.connect_timeout_s)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.settimeout(policy.read_timeout_s)
        return sock
    raise error


def _request(
    target: Target, infos: list[AddrInfo], policy: UriPolicy
) -> http.client.HTTPConnection:
    sock = connect_checked(infos, policy)
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        # The certificate is checked against the host name, the socket is the checked address.
        context = ssl.create_default_context()
        conn = http.client.HTTPSConnection(target.host, target.port, context=context)
        try:
            conn.sock = context.wrap_socket(sock, server_hostname=target.host)
        except OSError:
            sock.close()
            raise
    else:
        conn = http.client.HTTPConnection(target.host, target.port)
        conn.sock = sock
    conn.request("GET", target.path, headers={"Accept-Encoding": "identity"})
    return conn


def fetch_http(url: str, policy: UriPolicy) -> bytes:
    """The body of an http(s) URL, following at most MAX_REDIRECTS redirects; every hop's host
    is resolved and checked before anything connects to it.

    Raises InputRejected: `unsafe_path` (a scheme or an internal address the policy refuses,
    on any hop), `media_missing` (an HTTP error status), `media_unreachable` (no answer,
    too many redirects), `media_too_large` (over policy.max_bytes, announced or read).
    """
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        what = _short(url) if hop == 0 else f"{_short(url)} (redirected to {_short(current)})"
        target = _target(current, policy, what)
        infos = checked_addresses(target, policy, what)
        conn = None
        try:
            conn = _request(target, infos, policy)
            response = conn.getresponse()
            location = response.getheader("Location")
            if response.status in REDIRECT_STATUSES and location:
                current = urljoin(current, location.strip())
                continue
            if not 200 <= response.status < 300:
                raise InputRejected("media_missing", f"{what}: HTTP {response.status}")
            return _read_capped(response, policy.max_bytes, what)
        except (OSError, http.client.HTTPException) as exc:
            raise InputRejected(
                "media_unreachable", f"{what}: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            if conn is not None:
                conn.close()
    raise InputRejected("media_unreachable", f"{_short(url)}: more than {MAX_REDIRECTS} redirects")


def _read_capped(response: http.client.HTTPResponse, max_bytes: int, what: str) -> bytes:
    announced = response.getheader("Content-Length", "")
    if announced.strip().isdigit() and int(announced) > max_bytes:
        raise InputRejected(
            "media_too_large", f"{what}: announces {int(announced)} bytes, over {max_bytes}"
        )
    chunks: list[bytes] = []
    total = 0
    while chunk := response.read(CHUNK_BYTES):
        total += len(chunk)
        if total > max_bytes:
            raise InputRejected("media_too_large", f"{what}: over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
