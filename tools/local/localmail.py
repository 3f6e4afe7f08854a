"""Local stand-in for SES inbound mail: a small asyncio SMTP server and the SES receipt event.

Standard library only (Python 3.11+). `loket_local.py` wires it to MiniStack: every accepted
message is stored at s3://<mail bucket>/<prefix><SES message id> and the intake function is
invoked asynchronously with `ses_receipt_event(...)`, the way the SES receipt rule
(S3Action, then LambdaAction) does it in AWS.
"""

from __future__ import annotations

import asyncio
import email.header
import email.utils
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable

# SES accepts inbound messages up to 40 MB (headers and body).
MAX_MESSAGE_BYTES = 40 * 1024 * 1024
MAX_RECIPIENTS = 50  # SES: at most 50 recipients per message
MAX_LINE = 1024 * 1024
IDLE_TIMEOUT = 300.0


# ---------------------------------------------------------------------------------------
# Addresses


def bare_address(arg: str) -> str:
    """`<a@b>` or `a@b` (with optional ESMTP parameters after it) -> `a@b`; `<>` -> ``."""
    arg = arg.strip()
    if arg.startswith("<"):
        end = arg.find(">")
        return arg[1:end].strip() if end > 0 else arg[1:].strip()
    return arg.split(" ", 1)[0].strip()


def esmtp_params(arg: str) -> dict[str, str]:
    """The ESMTP parameters after the path: `<a@b> SIZE=123 BODY=8BITMIME` -> {SIZE: 123, ...}."""
    rest = arg[arg.find(">") + 1 :] if ">" in arg else ""
    params = {}
    for part in rest.split():
        key, _, value = part.partition("=")
        params[key.upper()] = value
    return params


class RecipientPolicy:
    """Which recipients SES would take: the service address and its +tag addresses
    (`layanan+anything@domain`), case-insensitively."""

    def __init__(self, service_address: str):
        local, _, domain = service_address.partition("@")
        if not local or not domain:
            raise ValueError(f"not an address: {service_address!r}")
        self.service_address = service_address
        self.local = local.lower()
        self.domain = domain.lower()

    def accepts(self, address: str) -> bool:
        local, at, domain = address.rpartition("@")
        if not at or domain.lower() != self.domain:
            return False
        local = local.lower()
        return local == self.local or local.startswith(self.local + "+")


# ---------------------------------------------------------------------------------------
# The SES receipt event

_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_ses_message_id() -> str:
    """An id shaped like the ones SES inbound gives (40 lower-case letters and digits);
    it is also the S3 object name under the raw prefix."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(40))


def iso_millis(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def header_block(raw: bytes) -> bytes:
    """The header section of a message (up to the first empty line)."""
    m = re.search(rb"\r?\n\r?\n", raw)
    return raw[: m.start()] if m else raw


def raw_headers(raw: bytes) -> list[tuple[str, str]]:
    """Headers in order, unfolded, values trimmed and not decoded (as SES lists them)."""
    out: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n", header_block(raw)):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and out:
            name, value = out[-1]
            out[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            continue  # not a header line (e.g. an mbox "From " line): SES skips it too
        out.append((name.strip().decode("utf-8", "replace"), value.strip().decode("utf-8", "replace")))
    return out


def _decoded(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # malformed encoded words: keep the raw text
        return value


def _addresses(values: list[str]) -> list[str]:
    """Address header values -> ["Name <a@b>", "c@d"] with decoded display names."""
    out = []
    for name, addr in email.utils.getaddresses(values):
        if not addr:
            continue
        name = _decoded(name)
        out.append(f"{name} <{addr}>" if name else addr)
    return out


def common_headers(headers: list[tuple[str, str]], return_path: str) -> dict:
    """SES `commonHeaders`: `from` always (possibly empty), `to`/`cc` only when present."""

    def all_of(name: str) -> list[str]:
        return [v for n, v in headers if n.lower() == name]

    def first(name: str) -> str | None:
        values = all_of(name)
        return values[0] if values else None

    common: dict = {}
    if return_path:
        common["returnPath"] = return_path
    common["from"] = _addresses(all_of("from"))
    if first("date") is not None:
        common["date"] = first("date")
    for name in ("to", "cc", "bcc", "reply-to"):
        if all_of(name):
            key = {"reply-to": "replyTo"}.get(name, name)
            common[key] = _addresses(all_of(name))
    if first("sender") is not None:
        common["sender"] = _addresses(all_of("sender"))
    if first("message-id") is not None:
        common["messageId"] = first("message-id")
    if first("subject") is not None:
        common["subject"] = _decoded(first("subject"))
    return common


def ses_receipt_event(
    *,
    ses_id: str,
    raw: bytes,
    mail_from: str,
    recipients: list[str],
    function_arn: str,
    received_at: datetime,
    processing_ms: int = 0,
) -> dict:
    """The event the SES LambdaAction sends for a message already stored by the S3Action.
    Verdicts are all PASS (this local inbound does not scan)."""
    headers = raw_headers(raw)
    stamp = iso_millis(received_at)
    passed = {"status": "PASS"}
    return {
        "Records": [
            {
                "eventSource": "aws:ses",
                "eventVersion": "1.0",
                "ses": {
                    "mail": {
                        "timestamp": stamp,
                        "source": mail_from,
                        "messageId": ses_id,
                        "destination": list(recipients),
                        "headersTruncated": False,
                        "headers": [{"name": n, "value": v} for n, v in headers],
                        "commonHeaders": common_headers(headers, mail_from),
                    },
                    "receipt": {
                        "timestamp": stamp,
                        "processingTimeMillis": processing_ms,
                        "recipients": list(recipients),
                        "spamVerdict": dict(passed),
                        "virusVerdict": dict(passed),
                        "spfVerdict": dict(passed),
                        "dkimVerdict": dict(passed),
                        "dmarcVerdict": dict(passed),
                        "action": {"type": "Lambda", "functionArn": function_arn, "invocationType": "Event"},
                    },
                }
            }
        ]
    }


def trace_headers(*, ses_id: str, mail_from: str, helo: str, peer: str, recipients: list[str], when: datetime,
                  host: str) -> bytes:
    """What the receiving side puts in front of the message before storing it, like SES:
    Return-Path (the envelope sender; `<>` for bounces), a Received line and the scan verdicts."""
    rcpt = recipients[0] if len(recipients) == 1 else None
    received = (f"Received: from {helo or 'unknown'} ({peer})\r\n by {host} with SMTP id {ses_id}"
                + (f"\r\n for {rcpt}" if rcpt else "")
                + f";\r\n {email.utils.format_datetime(when.astimezone(timezone.utc))}\r\n")
    return (f"Return-Path: <{mail_from}>\r\n" + received
            + "X-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n").encode("utf-8", "replace")


# ---------------------------------------------------------------------------------------
# The SMTP server


@dataclass
class Envelope:
    helo: str = ""
    peer: str = ""
    mail_from: str | None = None
    rcpt_to: list[str] = field(default_factory=list)
    size_hint: int = 0


class Rejected(Exception):
    """Raised by a delivery callback to answer with an SMTP error (code, text)."""

    def __init__(self, code: int, text: str):
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text


# deliver(envelope, data) -> the queue id to report; may raise Rejected; any other
# exception becomes a 451 (the client should try again later).
Deliver = Callable[[Envelope, bytes], Awaitable[str]]


class SmtpServer:
    """A small RFC 5321 receiver: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, VRFY, HELP, QUIT,
    with PIPELINING, SIZE, 8BITMIME and SMTPUTF8. No TLS and no AUTH (loopback only)."""

    def __init__(self, policy: RecipientPolicy, deliver: Deliver, *, hostname: str = "inbound-smtp.loket.local",
                 max_bytes: int = MAX_MESSAGE_BYTES, log: Callable[[str], None] = print):
        self.policy, self.deliver, self.hostname, self.max_bytes, self.log = policy, deliver, hostname, max_bytes, log
        self.server: asyncio.base_events.Server | None = None

    async def start(self, sock) -> None:
        """Serve on an already bound listening socket."""
        self.server = await asyncio.start_server(self._session, sock=sock, limit=MAX_LINE)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        env = Envelope(peer=peer[0] if peer else "unknown")

        async def reply(code: int, text: str | list[str]) -> None:
            lines = [text] if isinstance(text, str) else text
            for i, line in enumerate(lines):
                sep = "-" if i < len(lines) - 1 else " "
                writer.write(f"{code}{sep}{line}\r\n".encode())
            await writer.drain()

        try:
            await reply(220, f"{self.hostname} ESMTP Loket local SES inbound")
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
                except (asyncio.LimitOverrunError, ValueError):
                    await reply(500, "5.5.2 Line too long")
                    return
                except asyncio.TimeoutError:
                    await reply(421, "4.4.2 Idle timeout, closing connection")
                    return
                if not line:
                    return
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                verb, _, arg = text.partition(" ")
                verb = verb.upper()
                if verb in ("EHLO", "HELO"):
                    env = Envelope(helo=arg.strip(), peer=env.peer)
                    if verb == "HELO":
                        await reply(250, self.hostname)
                    else:
                        await reply(250, [self.hostname, "PIPELINING", f"SIZE {self.max_bytes}", "8BITMIME",
                                          "SMTPUTF8", "ENHANCEDSTATUSCODES", "HELP"])
                elif verb == "MAIL":
                    if not arg.upper().startswith("FROM:"):
                        await reply(501, "5.5.4 Syntax: MAIL FROM:<address>")
                    elif env.mail_from is not None:
                        await reply(503, "5.5.1 Sender already given")
                    else:
                        path = arg[5:]
                        size = esmtp_params(path).get("SIZE", "0")
                        if size.isdigit() and int(size) > self.max_bytes:
                            await reply(552, "5.3.4 Message too big")
                        else:
                            env.mail_from = bare_address(path)
                            env.size_hint = int(size) if size.isdigit() else 0
                            await reply(250, "2.1.0 Ok")
                elif verb == "RCPT":
                    if env.mail_from is None:
                        await reply(503, "5.5.1 Need MAIL command first")
                    elif not arg.upper().startswith("TO:"):
                        await reply(501, "5.5.4 Syntax: RCPT TO:<address>")
                    else:
                        addr = bare_address(arg[3:])
                        if not self.policy.accepts(addr):
                            await reply(550, f"5.1.1 <{addr}>: Recipient address rejected: only "
                                             f"{self.policy.service_address} (and its +tag addresses) receive mail here")
                        elif len(env.rcpt_to) >= MAX_RECIPIENTS:
                            await reply(452, "4.5.3 Too many recipients")
                        else:
                            if addr not in env.rcpt_to:
                                env.rcpt_to.append(addr)
                            await reply(250, "2.1.5 Ok")
                elif verb == "DATA":
                    if env.mail_from is None:
                        await reply(503, "5.5.1 Need MAIL command first")
                    elif not env.rcpt_to:
                        await reply(554, "5.5.1 No valid recipients")
                    else:
                        await reply(354, "End data with <CR><LF>.<CR><LF>")
                        data, too_big = await self._read_data(reader)
                        if data is None:
                            return
                        if too_big:
                            await reply(552, "5.3.4 Message too big")
                        else:
                            try:
                                queue_id = await self.deliver(env, data)
                                await reply(250, f"2.0.0 Ok: queued as {queue_id}")
                            except Rejected as e:
                                await reply(e.code, e.text)
                            except Exception as e:  # storage or invoke failed: the client retries
                                self.log(f"[smtp] delivery failed: {e!r}")
                                await reply(451, "4.3.0 Temporary failure, try again later")
                        env = Envelope(helo=env.helo, peer=env.peer)
                elif verb == "RSET":
                    env = Envelope(helo=env.helo, peer=env.peer)
                    await reply(250, "2.0.0 Ok")
                elif verb == "NOOP":
                    await reply(250, "2.0.0 Ok")
                elif verb == "VRFY":
                    await reply(252, "2.5.2 Cannot VRFY user, but will accept message")
                elif verb == "HELP":
                    await reply(214, "2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP VRFY QUIT")
                elif verb == "QUIT":
                    await reply(221, "2.0.0 Bye")
                    return
                elif verb in ("STARTTLS", "AUTH"):
                    await reply(502, "5.5.1 Not available on the local inbound (plain loopback SMTP)")
                else:
                    await reply(500, "5.5.2 Command not recognized")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except Exception:
                pass

    async def _read_data(self, reader: asyncio.StreamReader) -> tuple[bytes | None, bool]:
        """Reads the DATA section up to the lone dot, undoing dot-stuffing. Returns
        (None, _) on a dropped connection, (data, True) when it exceeded the size limit."""
        chunks: list[bytes] = []
        size, too_big = 0, False
        while True:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), IDLE_TIMEOUT)
            except asyncio.LimitOverrunError as e:  # an enormous line: take it in pieces
                line = await reader.readexactly(e.consumed)
            except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                return None, False
            if line in (b".\r\n", b".\n"):
                return b"".join(chunks), too_big
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size > self.max_bytes:
                too_big = True
                chunks.clear()
            elif not too_big:
                chunks.append(line)
