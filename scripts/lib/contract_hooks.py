"""Strategies for the formats the OpenAPI document defines beyond JSON Schema's (see its info.description), so the
contract fuzz run (scripts/lib/contract.sh) generates values of those formats, as a client reading the document would.
"""
import ipaddress

import schemathesis
from hypothesis import strategies as st


def _network(version):
    bits = 32 if version == 4 else 128
    cls = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    return st.builds(lambda address, length: str(cls((address, length), strict=False)),
                     st.integers(0, 2**bits - 1), st.integers(0, bits))


_addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
_networks = st.one_of(_network(4), _network(6))

schemathesis.openapi.format("ip-address", _addresses)
schemathesis.openapi.format("ip-network", _networks)
schemathesis.openapi.format("ip-interface", st.one_of(
    _addresses,
    st.builds(lambda a, n: f"{a}/{n}", st.ip_addresses(v=4), st.integers(0, 32)),
    st.builds(lambda a, n: f"{a}/{n}", st.ip_addresses(v=6), st.integers(0, 128)),
))
schemathesis.openapi.format("ip-network-or-id", st.one_of(
    _networks, st.from_regex(r"\Apfx_[0-9A-HJKMNP-TV-Z]{26}\Z")))
