"""The hosts file, read as data: which addresses a local name stands for, without DNS.

The network guard judges ``localhost`` and this machine's own name by the
addresses the hosts file gives them (in a container the machine's own name is
usually a network address, not loopback), and never asks DNS.
"""

from __future__ import annotations


def parse_hosts(text: str) -> dict[str, tuple[str, ...]]:
    r"""A hosts file as ``{name: addresses}``, names lower-cased, addresses in file order.

    >>> parse_hosts("127.0.0.1 localhost vm  # this machine\n172.17.0.2 vm\n")
    {'localhost': ('127.0.0.1',), 'vm': ('127.0.0.1', '172.17.0.2')}
    """
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        address, names = fields[0], fields[1:]
        for name in names:
            listed = table.setdefault(name.lower(), [])
            if address not in listed:
                listed.append(address)
    return {name: tuple(addresses) for name, addresses in table.items()}
