"""lab_resolve.py PORT NAME: a resolver over a raw UDP socket that follows CNAMEs (a reference)."""

import random
import socket
import struct
import sys

TIMEOUT = 2.0  # seconds to wait for each reply
TYPE_A, TYPE_CNAME, CLASS_IN = 1, 5, 1
MAX_NAMES = 8  # a longer chain of aliases (or a loop of them) is given up


def build_query(query_id: int, name: str) -> bytes:
    """Header (RD set, one question), the name in labels, QTYPE A, QCLASS IN."""
    header = struct.pack("!6H", query_id, 0x0100, 1, 0, 0, 0)
    qname = b""
    for label in name.split("."):
        raw = label.encode("ascii")
        qname += bytes([len(raw)]) + raw
    return header + qname + b"\x00" + struct.pack("!HH", TYPE_A, CLASS_IN)


def read_name(message: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` and the offset just after it, following compression pointers."""
    labels, after = [], None
    for _ in range(128):  # a loop of pointers must not hang the program
        length = message[offset]
        if length >= 0xC0:  # a pointer: the name goes on at the offset in its 14 low bits
            if after is None:
                after = offset + 2
            offset = struct.unpack("!H", message[offset : offset + 2])[0] & 0x3FFF
        elif length == 0:
            return ".".join(labels), (offset + 1 if after is None else after)
        else:
            labels.append(message[offset + 1 : offset + 1 + length].decode("ascii"))
            offset += 1 + length
    raise ValueError("a loop of compression pointers")


def ask(sock: socket.socket, server: tuple[str, int], name: str) -> tuple[int, list[tuple]]:
    """Send one query for ``name``; the reply's RCODE and its answers as (owner, type, data)."""
    query_id = random.randrange(0x10000)
    sock.sendto(build_query(query_id, name), server)
    while True:
        reply, _ = sock.recvfrom(512)  # a DNS reply over UDP without EDNS: at most 512 bytes
        if len(reply) >= 12 and struct.unpack("!H", reply[:2])[0] == query_id:
            break  # a reply with another ID answers someone else (or is forged): skip it
    _, flags, qdcount, ancount, _, _ = struct.unpack("!6H", reply[:12])
    offset = 12
    for _ in range(qdcount):  # the question, repeated: skip it
        _, offset = read_name(reply, offset)
        offset += 4
    answers = []
    for _ in range(ancount):
        owner, offset = read_name(reply, offset)
        rtype, _, _, rdlength = struct.unpack("!HHIH", reply[offset : offset + 10])
        start = offset + 10
        if rtype == TYPE_A:
            answers.append((owner.lower(), rtype, socket.inet_ntoa(reply[start : start + 4])))
        elif rtype == TYPE_CNAME:  # its data is a name, compressed like any other
            answers.append((owner.lower(), rtype, read_name(reply, start)[0].lower()))
        offset = start + rdlength
    return flags & 0xF, answers


def main() -> None:
    port, name = int(sys.argv[1]), sys.argv[2].rstrip(".").lower()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        seen = {name}
        while True:
            try:
                rcode, answers = ask(sock, ("127.0.0.1", port), name)
            except TimeoutError:
                print("no reply from the name server")
                return
            if rcode != 0:
                print(f"{name}: error, RCODE {rcode}")
                return
            asked = name
            while aliases := [d for o, t, d in answers if o == name and t == TYPE_CNAME]:
                print(f"{name} is an alias for {aliases[0]}")
                name = aliases[0]
                if name in seen or len(seen) >= MAX_NAMES:
                    print(f"{name}: too many aliases")
                    return
                seen.add(name)
            addresses = [d for o, t, d in answers if o == name and t == TYPE_A]
            for address in addresses:
                print(f"{name} has address {address}")
            if addresses:
                return
            if name == asked:  # no alias led anywhere new: the name has no address
                print(f"{name} has no address")
                return
            # the reply ended at an alias whose address it did not carry: ask for it


if __name__ == "__main__":
    main()
