"""The URI policy for untrusted records: schemes, internal addresses in every spelling, hosts
that resolve inward, redirects, byte caps and timeouts. Only 127.0.0.1 is ever contacted."""

import io
import ipaddress
import socket

import pytest
from drawreason.inputs import uri_policy
from drawreason.inputs.media import InputRejected, MediaConfig, read_bytes
from drawreason.inputs.uri_policy import UriPolicy, address_kind, fetch_http, scheme_of
from drawreason.schemas.config import ConfigError, build_config
from PIL import Image

from tests.media_server import MediaServer, Route


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def no_connect(monkeypatch):
    """Fails the test if anything is connected to or looked up in DNS."""

    def connect(infos, policy):
        raise AssertionError(f"connected to {[i[4] for i in infos]}")

    def lookup(host, port):
        raise AssertionError(f"DNS lookup of {host}")

    monkeypatch.setattr(uri_policy, "connect_checked", connect)
    monkeypatch.setattr(uri_policy, "lookup_name", lookup)


@pytest.fixture
def connections(monkeypatch):
    """The socket addresses the fetch connects to, in order (the real connect still runs)."""
    seen: list[tuple] = []
    real = uri_policy.connect_checked

    def spy(infos, policy):
        seen.append(infos[0][4][:2])
        return real(infos, policy)

    monkeypatch.setattr(uri_policy, "connect_checked", spy)
    return seen


def _stub_dns(monkeypatch, table: dict[str, list[str]]) -> list[str]:
    """DNS answers from `table`; returns the list of looked-up names."""
    asked: list[str] = []

    def lookup(host, port):
        asked.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "stub: unknown name")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in table[host]
        ]

    monkeypatch.setattr(uri_policy, "lookup_name", lookup)
    return asked


# --- schemes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "scheme"),
    [
        ("file:///etc/passwd", "file"),
        ("FILE:///etc/passwd", "file"),
        ("file:etc/passwd", "file"),
        ("ftp://example.com/a.png", "ftp"),
        ("data:image/png;base64,iVBORw0KGgo=", "data"),
        ("gopher://example.com/", "gopher"),
        ("jar:file:///x.zip!/a.png", "jar"),
    ],
)
def test_schemes_outside_the_policy_are_unsafe_and_named(tmp_path, no_connect, ref, scheme):
    with pytest.raises(InputRejected) as info:
        read_bytes(str(tmp_path), ref)
    assert info.value.reason == "unsafe_path"
    assert f"the {scheme}: scheme is not allowed" in info.value.detail


def test_the_schemes_key_narrows_what_records_may_use(tmp_path, no_connect):
    (tmp_path / "a.png").write_bytes(b"png")
    media = MediaConfig(schemes=("gs",))
    for ref in ("http://example.com/a.png", "https://example.com/a.png", "s3://b/a.png"):
        with pytest.raises(InputRejected) as info:
            read_bytes(str(tmp_path), ref, media)
        assert info.value.reason == "unsafe_path" and "scheme is not allowed" in info.value.detail
    assert read_bytes(str(tmp_path), "a.png", media) == b"png"  # relative paths always work
    with pytest.raises(ConfigError, match="media.*file.*not supported"):
        build_config(MediaConfig, {"schemes": ["file"]}, "media")
    with pytest.raises(ConfigError, match="allow_hosts entry"):
        build_config(MediaConfig, {"allow_hosts": ["http://x/"]}, "media")


def test_scheme_of_keeps_paths_and_drive_letters_as_paths():
    assert scheme_of("img/a.png") == "" and scheme_of("C:/x.png") == ""
    assert scheme_of("HTTPS://x/") == "https" and scheme_of("data:,x") == "data"


# --- addresses, checked before connecting --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local"),
        ("https://169.254.169.254/", "169.254.169.254", "link-local"),
        ("http://[fe80::1]/a.png", "fe80::1", "link-local"),
        ("http://10.1.2.3/a.png", "10.1.2.3", "private"),
        ("http://172.16.0.1/a.png", "172.16.0.1", "private"),
        ("http://192.168.1.1/a.png", "192.168.1.1", "private"),
        ("http://100.100.100.200/", "100.100.100.200", "private"),  # a metadata service on CGNAT
        ("http://[fd12:3456::1]/a.png", "fd12:3456::1", "private"),
        ("http://127.0.0.1/a.png", "127.0.0.1", "loopback"),
        ("http://127.1/a.png", "127.0.0.1", "loopback"),
        ("http://[::1]/a.png", "::1", "loopback"),
        ("http://0.0.0.0/a.png", "0.0.0.0", "unspecified"),
        ("http://0/a.png", "0.0.0.0", "unspecified"),
        ("http://[::]/a.png", "::", "unspecified"),
        ("http://2130706433/a.png", "127.0.0.1", "loopback"),  # decimal
        ("http://0x7f000001/a.png", "127.0.0.1", "loopback"),  # hex
        ("http://017700000001/a.png", "127.0.0.1", "loopback"),  # octal
        ("http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254", "link-local"),
        ("http://[::ffff:127.0.0.1]/a.png", "::ffff:7f00:1", "loopback"),  # IPv4-mapped
        ("http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe", "link-local"),
        ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe", "link-local"),  # NAT64
        ("http://224.0.0.1/a.png", "224.0.0.1", "multicast"),
        ("http://240.0.0.1/a.png", "240.0.0.1", "reserved"),
        ("http://user:pw@10.0.0.1:8080/a.png", "10.0.0.1", "private"),
    ],
)
def test_internal_addresses_are_refused_without_connecting(no_connect, url, address, kind):
    with pytest.raises(InputRejected) as info:
        fetch_http(url, UriPolicy())
    assert info.value.reason == "unsafe_path"
    assert f"is {address} ({kind})" in info.value.detail


def test_public_addresses_are_not_internal():
    for text in ("93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"):
        assert address_kind(ipaddress.ip_address(text)) is None, text


def test_a_host_name_is_judged_by_every_address_it_resolves_to(monkeypatch, no_connect):
    asked = _stub_dns(
        monkeypatch,
        {
            "images.example.com": ["10.0.0.7"],
            "mixed.example.com": ["93.184.215.14", "169.254.169.254"],
            "localhost.example.com": ["::1"],
        },
    )
    for host, detail in (
        ("images.example.com", "is 10.0.0.7 (private)"),
        ("mixed.example.com", "is 169.254.169.254 (link-local)"),
        ("localhost.example.com", "is ::1 (loopback)"),
    ):
        with pytest.raises(InputRejected) as info:
            read_bytes("data", f"https://{host}/a.png")
        assert info.value.reason == "unsafe_path" and detail in info.value.detail, host
    assert asked == ["images.example.com", "mixed.example.com", "localhost.example.com"]
    with pytest.raises(InputRejected) as info:
        read_bytes("data", "https://nowhere.example.com/a.png")
    assert info.value.reason == "media_unreachable"


def test_allow_private_opens_private_ranges_only():
    policy = UriPolicy(allow_private=True)
    assert policy.allows("h", ipaddress.ip_address("10.0.0.1"))
    assert policy.allows("h", ipaddress.ip_address("fd00::1"))
    for text in ("127.0.0.1", "169.254.169.254", "0.0.0.0", "::ffff:127.0.0.1", "224.0.0.1"):
        assert not policy.allows("h", ipaddress.ip_address(text)), text
    assert not UriPolicy().allows("h", ipaddress.ip_address("10.0.0.1"))


def test_allow_hosts_takes_names_addresses_and_networks():
    policy = UriPolicy(allow_hosts=("Images.Corp.Internal.", "10.2.0.0/16", "[fe80::5]"))
    assert policy.allows("images.corp.internal", ipaddress.ip_address("10.9.9.9"))
    assert policy.allows("other", ipaddress.ip_address("10.2.3.4"))
    assert policy.allows("other", ipaddress.ip_address("::ffff:10.2.3.4"))
    assert policy.allows("other", ipaddress.ip_address("fe80::5"))
    assert not policy.allows("other", ipaddress.ip_address("10.3.0.1"))
    assert not policy.allows("images.corp.internal.evil.com", ipaddress.ip_address("10.3.0.1"))


# --- real fetches from a loopback server ---------------------------------------------------------


def test_loopback_is_refused_by_default_and_fetched_when_allowed(connections):
    png = _png()
    with MediaServer({"/a.png": Route(png)}) as server:
        with pytest.raises(InputRejected) as info:
            read_bytes("data", f"{server.base_url}/a.png")
        assert info.value.reason == "unsafe_path" and "(loopback)" in info.value.detail
        assert server.requests == [] and connections == []
        allowed = MediaConfig(allow_hosts=("127.0.0.1",))
        assert read_bytes("data", f"{server.base_url}/a.png", allowed) == png
        assert connections == [("127.0.0.1", server.port)]


def test_a_redirect_to_an_internal_address_is_refused_before_it_is_followed(connections):
    routes = {
        "/r": Route(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}),
        "/hex": Route(status=301, headers={"Location": "http://0xa9fea9fe/"}),
        "/file": Route(status=307, headers={"Location": "file:///etc/passwd"}),
        "/hop": Route(status=302, headers={"Location": "/a.png"}),
        "/loop": Route(status=302, headers={"Location": "/loop"}),
        "/a.png": Route(_png()),
    }
    media = MediaConfig(allow_hosts=("127.0.0.1",))
    with MediaServer(routes) as server:
        for path, detail in (
            ("/r", "is 169.254.169.254 (link-local)"),
            ("/hex", "is 169.254.169.254 (link-local)"),
            ("/file", "the file: scheme is not allowed"),
        ):
            with pytest.raises(InputRejected) as info:
                read_bytes("data", server.base_url + path, media)
            assert info.value.reason == "unsafe_path", path
            assert "redirected to" in info.value.detail and detail in info.value.detail, path
        assert read_bytes("data", f"{server.base_url}/hop", media) == routes["/a.png"].body
        with pytest.raises(InputRejected) as info:
            read_bytes("data", f"{server.base_url}/loop", media)
        assert info.value.reason == "media_unreachable" and "redirects" in info.value.detail
    # Nothing but the loopback server was ever connected to.
    assert set(connections) == {("127.0.0.1", server.port)}
    assert [path for path, _ in server.requests[:5]] == ["/r", "/hex", "/file", "/hop", "/a.png"]


def test_the_fetch_connects_to_the_address_it_checked(monkeypatch, connections):
    """A name is resolved once per hop and the connection goes to that answer (no second
    lookup a rebinding DNS server could answer differently); Host keeps the name."""
    asked = _stub_dns(monkeypatch, {"images.test": ["127.0.0.1"]})
    png = _png()
    with MediaServer({"/a.png": Route(png)}) as server:
        media = MediaConfig(allow_hosts=("images.test",))
        assert read_bytes("data", f"http://images.test:{server.port}/a.png", media) == png
    assert asked == ["images.test"]
    assert connections == [("127.0.0.1", server.port)]
    assert server.requests == [("/a.png", f"images.test:{server.port}")]


def test_downloads_stop_at_max_bytes():
    body = bytes(5000)
    routes = {
        "/announced": Route(body),
        "/streamed": Route(body, length=False),
        "/fits": Route(body[:1000], length=False),
        "/gone": Route(b"no", status=404),
    }
    media = MediaConfig(allow_hosts=("127.0.0.1",), max_bytes=1000)
    with MediaServer(routes) as server:
        with pytest.raises(InputRejected) as info:
            read_bytes("data", f"{server.base_url}/announced", media)
        assert info.value.reason == "media_too_large"
        assert "announces 5000 bytes" in info.value.detail
        with pytest.raises(InputRejected) as info:
            read_bytes("data", f"{server.base_url}/streamed", media)
        assert info.value.reason == "media_too_large" and "over 1000 bytes" in info.value.detail
        assert read_bytes("data", f"{server.base_url}/fits", media) == body[:1000]
        with pytest.raises(InputRejected) as info:
            read_bytes("data", f"{server.base_url}/gone", media)
        assert info.value.reason == "media_missing" and "HTTP 404" in info.value.detail


def test_a_slow_server_hits_the_read_timeout():
    media = MediaConfig(allow_hosts=("127.0.0.1",), read_timeout_s=0.2)
    with MediaServer({"/slow": Route(b"x", delay_s=1.0)}) as server:
        with pytest.raises(InputRejected) as info:
            read_bytes("data", f"{server.base_url}/slow", media)
    assert info.value.reason == "media_unreachable" and "timed out" in info.value.detail


def test_local_and_remote_root_reads_stop_at_max_bytes(tmp_path):
    (tmp_path / "big.png").write_bytes(bytes(11))
    (tmp_path / "ok.png").write_bytes(bytes(10))
    media = MediaConfig(max_bytes=10)
    assert read_bytes(str(tmp_path), "ok.png", media) == bytes(10)
    with pytest.raises(InputRejected) as info:
        read_bytes(str(tmp_path), "big.png", media)
    assert info.value.reason == "media_too_large"


def test_relative_paths_under_an_http_root_follow_the_policy(no_connect):
    with pytest.raises(InputRejected) as info:
        read_bytes("http://169.254.169.254/data", "a.png")
    assert info.value.reason == "unsafe_path" and "(link-local)" in info.value.detail
    with pytest.raises(InputRejected) as info:
        read_bytes("https://images.example.com/data", "../a.png")
    assert info.value.reason == "unsafe_path" and "leaves the dataset folder" in info.value.detail
