"""The guard's pieces that need no Redis or database: where a request comes from,
credentials, and the fields of a refusal."""

from __future__ import annotations

import ipaddress

from bizra_node.api.guard import _normalise, client_address, hop_address, rate_limit_headers
from bizra_node.security import Policy

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


def test_the_peer_is_the_client_without_trusted_proxies() -> None:
    assert client_address("1.2.3.4", "9.9.9.9", ()) == "1.2.3.4"
    assert client_address("1.2.3.4", "9.9.9.9", PROXIES) == "1.2.3.4"  # peer not a proxy


def test_forwarded_for_is_read_from_the_right_past_trusted_hops() -> None:
    assert client_address("10.0.0.1", "6.6.6.6, 5.5.5.5, 10.1.1.1", PROXIES) == "5.5.5.5"
    assert client_address("10.0.0.1", "10.0.0.9", PROXIES) == "10.0.0.9"  # all trusted
    assert client_address("10.0.0.1", "garbage, 10.0.0.2", PROXIES) == "10.0.0.1"
    assert client_address("10.0.0.1", "", PROXIES) == "10.0.0.1"
    assert client_address("fd00::1", "[2001:db8::1]", PROXIES) == "2001:db8::1"
    long = ",".join(["7.7.7.7"] * 10_000)
    assert client_address("10.0.0.1", long, PROXIES) == "7.7.7.7"


def test_every_forwarded_for_line_is_read_in_order() -> None:
    """A client's own line comes first, its proxy's last: the proxy's is believed."""
    lines = ["1.1.1.1", "5.5.5.5"]  # forged by the client, then appended by the proxy
    assert client_address("10.0.0.1", lines, PROXIES) == "5.5.5.5"
    assert client_address("10.0.0.1", ["6.6.6.6, 1.1.1.1", "5.5.5.5, 10.0.0.7"],
                          PROXIES) == "5.5.5.5"
    assert client_address("10.0.0.1", ["5.5.5.5", ""], PROXIES) == "5.5.5.5"
    assert client_address("10.0.0.1", [], PROXIES) == "10.0.0.1"
    many = ["7.7.7.7"] * 5_000 + ["8.8.8.8"]
    assert client_address("10.0.0.1", many, PROXIES) == "8.8.8.8"


def test_forwarded_for_elements_empty_ports_brackets_and_garbage() -> None:
    assert client_address("10.0.0.1", "5.5.5.5,,", PROXIES) == "5.5.5.5"
    assert client_address("10.0.0.1", " , 5.5.5.5 , ,10.0.0.2,", PROXIES) == "5.5.5.5"
    assert client_address("10.0.0.1", ",,,", PROXIES) == "10.0.0.1"
    assert client_address("10.0.0.1", "5.5.5.5:4711", PROXIES) == "5.5.5.5"
    assert client_address("10.0.0.1", "[2001:db8::1]:443, 10.0.0.3:80", PROXIES) == \
        "2001:db8::1"
    assert client_address("10.0.0.1", "2001:db8::2", PROXIES) == "2001:db8::2"
    assert client_address("10.0.0.1:5000", "5.5.5.5", PROXIES) == "5.5.5.5"  # peer w/ port
    assert client_address("[fd00::1]:5000", "5.5.5.5", PROXIES) == "5.5.5.5"
    for garbage in ("unknown", "[2001:db8::1", "[2001:db8::1]x", "1.2.3.4:5:6",
                    "999.1.1.1", "_hidden", "\x00\xff", "[]", ":", "[[::1]]", "1.2.3.4/8",
                    "é" * 1000):
        assert client_address("10.0.0.1", f"{garbage}, 10.0.0.2", PROXIES) == "10.0.0.1", \
            garbage
        assert client_address("10.0.0.1", ["5.5.5.5", garbage], PROXIES) == "10.0.0.1"
    # garbage left of the client's address is never reached
    assert client_address("10.0.0.1", "unknown, 5.5.5.5", PROXIES) == "5.5.5.5"
    assert client_address("garbage", "5.5.5.5", PROXIES) == "garbage"  # an odd peer


def test_hop_address() -> None:
    assert str(hop_address(" 1.2.3.4 ")) == "1.2.3.4"
    assert str(hop_address("1.2.3.4:80")) == "1.2.3.4"
    assert str(hop_address("[::1]")) == "::1"
    assert str(hop_address("[::1]:80")) == "::1"
    assert str(hop_address("fe80::1%eth0")) == "fe80::1%eth0"
    assert hop_address("") is None and hop_address("   ") is None
    assert hop_address("example.com") is None and hop_address("example.com:80") is None


def test_ipv6_callers_are_counted_by_their_64() -> None:
    assert _normalise("1.2.3.4") == "1.2.3.4"
    assert _normalise("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert _normalise("[2001:db8:1:2:bbbb::9]") == "2001:db8:1:2::/64"
    assert _normalise("::ffff:1.2.3.4") == "1.2.3.4"
    assert _normalise("fe80::1%eth0") == "fe80::/64"
    assert _normalise("not:an:address") == "not:an:address"


def test_refusal_fields_follow_the_draft() -> None:
    fields = dict(rate_limit_headers(Policy("anonymous", 10.0, 50), 0.2))
    assert fields == {"retry-after": "1", "ratelimit-policy": '"anonymous";q=50;w=5',
                      "ratelimit": '"anonymous";r=0;t=1'}
    assert dict(rate_limit_headers(Policy("key", 1.0, 5), 3.2))["retry-after"] == "4"
