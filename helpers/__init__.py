"""The course's helpers: run the servers a lesson needs, record what they do, draw it.

Importing ``helpers`` is cheap: every public name is loaded from its module on
first use (``helpers.serve`` imports ``helpers.servers`` only then), so the first
cell of a notebook does not pay for aiosmtpd or dnslib it may never need.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # architectures
    "ARCHITECTURES": "architectures",
    "DELAY": "architectures",
    "asyncio_server": "architectures",
    "one_at_a_time": "architectures",
    "selectors_server": "architectures",
    "serve_client": "architectures",
    "socketserver_server": "architectures",
    "thread_per_client": "architectures",
    # concurrency
    "ConcurrencyResult": "concurrency",
    "check_concurrency": "concurrency",
    "concurrency_table": "concurrency",
    # dnswire
    "DNSWireError": "dnswire",
    "build_query": "dnswire",
    "decode_name": "dnswire",
    "encode_name": "dnswire",
    "parse_header": "dnswire",
    "parse_message": "dnswire",
    "record_text": "dnswire",
    "reverse_pointer": "dnswire",
    # doctor
    "doctor": "envcheck",
    # events
    "Event": "events",
    "EventLog": "events",
    "route_logger": "events",
    # exercises
    "Case": "exercises",
    "CheckResult": "exercises",
    "Exercise": "exercises",
    "Mistake": "exercises",
    "check": "exercises",
    # framing
    "DelimitedDecoder": "framing",
    "FramingError": "framing",
    "PrefixedDecoder": "framing",
    "frame_delimited": "framing",
    "frame_prefixed": "framing",
    "unframe_delimited": "framing",
    "unframe_prefixed": "framing",
    # guard
    "NetworkGuardError": "guard",
    "disable_guard": "guard",
    "enable_guard": "guard",
    # hexviews
    "HexView": "hexviews",
    "hexview": "hexviews",
    # layers
    "LAYERS": "layers",
    "Layer": "layers",
    "layer_named": "layers",
    "layers_table": "layers",
    # lookups
    "course_gethostbyaddr": "lookups",
    "course_gethostbyname": "lookups",
    "course_resolver": "lookups",
    "resolve": "lookups",
    "send_query": "lookups",
    # mailbox_store
    "MailStore": "mailbox_store",
    "ReceivedMail": "mailbox_store",
    # mailsink
    "Faults": "mailsink",
    "MailSink": "mailsink",
    "start_mail_sink": "mailsink",
    # nameserver
    "COURSE_ZONE": "nameserver",
    "NameServer": "nameserver",
    "start_name_server": "nameserver",
    # packets
    "Encapsulation": "packets",
    "Field": "packets",
    "TCPFlag": "packets",
    "dissect": "packets",
    "encapsulate": "packets",
    "ethernet_frame": "packets",
    "internet_checksum": "packets",
    "ipv4_packet": "packets",
    "tcp_segment": "packets",
    "udp_datagram": "packets",
    # reverse_client
    "ask_reverse": "reverse_client",
    # sequence
    "RecordedSocket": "sequence",
    "SequenceDiagram": "sequence",
    "sequence_diagram": "sequence",
    # servers
    "BackgroundServer": "servers",
    "ServerStopped": "servers",
    "UNIX_SOCKETS": "servers",
    "register_server": "servers",
    "running_servers": "servers",
    "serve": "servers",
    "serve_datagrams": "servers",
    "serve_each": "servers",
    "serve_unix": "servers",
    "stop_all": "servers",
    "stop_server": "servers",
    # smtp_route
    "CourseSMTP": "smtp_route",
    # smtp_transcript
    "SessionTranscript": "smtp_transcript",
    # tables
    "Table": "tables",
    # text
    "reverse_text": "text",
    "reverse_utf8": "text",
    "split_clusters": "text",
    # tls_ca
    "course_ca_pem": "tls_ca",
    # udp
    "LossPattern": "udp",
    "PingStats": "udp",
    "ping_stats": "udp",
    # widgets_01
    "encapsulation_table": "widgets_01",
    "encapsulation_widget": "widgets_01",
    "layer_card": "widgets_01",
    "layer_explorer": "widgets_01",
    # widgets_02
    "reverse_widget": "widgets_02",
    # widgets_04
    "lookup_widget": "widgets_04",
    # widgets_05
    "compose_widget": "widgets_05",
    "mailbox_viewer": "widgets_05",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"helpers.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
