"""The classroom network as the harness's web pages see it: which address to serve on.

The touch and crowd pages are opened by devices in the room, so their servers listen on the
one address that reaches those devices, never on every interface.
"""

from __future__ import annotations

import ipaddress
import socket


def lan_address(peer: str) -> str:
    """The local IP address this computer uses to reach ``peer`` (a host name or IP).

    Connecting a UDP socket only asks the routing table; no packet is sent. Raises OSError
    when ``peer`` cannot be resolved or no route leads to it.
    """
    infos = socket.getaddrinfo(peer, 9, type=socket.SOCK_DGRAM)
    family, _type, _proto, _name, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect(sockaddr)
        return str(probe.getsockname()[0])


def check_bind_host(host: str, reaches: str) -> int:
    """The address family of ``host``, an IP of this computer that reaches ``reaches``.

    Refuses host names and the wildcard (every interface): a page for the room is served on
    the room's network only (see ``lan_address``).
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"bind_host must be an IP address of this host, got {host!r}") from None
    if ip.is_unspecified:
        raise ValueError(f"refusing to listen on every interface ({host}); bind to the address "
                         f"that reaches {reaches} (see classcert.lan.lan_address())")
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def base_url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
