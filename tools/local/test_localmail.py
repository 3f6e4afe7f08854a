"""Tests of the local SES inbound (SMTP server, SES event). Run:
    .venv/ministack/bin/python -m unittest discover -s tools/local -p 'test_*.py'
"""

import asyncio
import smtplib
import socket
import threading
import unittest
from datetime import datetime, timezone
from email.message import EmailMessage

import localmail

SERVICE = "layanan@kominfo.pangkalpinangkota.go.id"


class EventShape(unittest.TestCase):
    RAW = (b"Return-Path: <budi@example.org>\r\n"
           b"From: =?utf-8?q?Budi_S=C3=A1ntoso?= <budi@example.org>\r\n"
           b"To: Layanan <layanan@kominfo.pangkalpinangkota.go.id>\r\n"
           b"Subject: Internet mati di\r\n Dinas Kesehatan\r\n"
           b"Message-ID: <abc@example.org>\r\n"
           b"Date: Mon, 23 Nov 2026 09:00:00 +0700\r\n"
           b"\r\nbody\r\n")

    def event(self, raw=RAW):
        return localmail.ses_receipt_event(
            ses_id="x" * 40, raw=raw, mail_from="budi@example.org", recipients=[SERVICE],
            function_arn="arn:aws:lambda:ap-southeast-3:000000000000:function:f",
            received_at=datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))

    def test_shape(self):
        rec = self.event()["Records"][0]
        self.assertEqual(rec["eventSource"], "aws:ses")
        mail, receipt = rec["ses"]["mail"], rec["ses"]["receipt"]
        self.assertEqual(mail["messageId"], "x" * 40)
        self.assertEqual(mail["timestamp"], "2026-11-23T02:00:00.000Z")
        self.assertEqual(mail["destination"], [SERVICE])
        self.assertEqual(mail["headers"][3], {"name": "Subject", "value": "Internet mati di Dinas Kesehatan"})
        common = mail["commonHeaders"]
        self.assertEqual(common["from"], ["Budi Sántoso <budi@example.org>"])
        self.assertEqual(common["to"], [f"Layanan <{SERVICE}>"])
        self.assertEqual(common["subject"], "Internet mati di Dinas Kesehatan")
        self.assertEqual(common["messageId"], "<abc@example.org>")
        for v in ("spamVerdict", "virusVerdict", "spfVerdict", "dkimVerdict", "dmarcVerdict"):
            self.assertEqual(receipt[v], {"status": "PASS"})
        self.assertEqual(receipt["action"]["type"], "Lambda")
        self.assertEqual(receipt["recipients"], [SERVICE])

    def test_no_to_header(self):
        common = self.event(b"From: a@b.c\r\nSubject: s\r\n\r\nx")["Records"][0]["ses"]["mail"]["commonHeaders"]
        self.assertNotIn("to", common)
        self.assertEqual(common["from"], ["a@b.c"])

    def test_no_from_header(self):
        common = self.event(b"Subject: s\r\n\r\nx")["Records"][0]["ses"]["mail"]["commonHeaders"]
        self.assertEqual(common["from"], [])

    def test_policy(self):
        p = localmail.RecipientPolicy(SERVICE)
        self.assertTrue(p.accepts(SERVICE))
        self.assertTrue(p.accepts("Layanan+T-123.abc@KOMINFO.pangkalpinangkota.go.id"))
        self.assertFalse(p.accepts("admin@kominfo.pangkalpinangkota.go.id"))
        self.assertFalse(p.accepts("layananx@kominfo.pangkalpinangkota.go.id"))
        self.assertFalse(p.accepts("layanan@example.org"))


class Smtp(unittest.TestCase):
    def setUp(self):
        self.got = []
        self.loop = asyncio.new_event_loop()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        self.port = sock.getsockname()[1]

        async def deliver(env, data):
            self.got.append((env.mail_from, list(env.rcpt_to), data))
            return "q1"

        self.server = localmail.SmtpServer(localmail.RecipientPolicy(SERVICE), deliver, max_bytes=100_000)
        self.loop.run_until_complete(self.server.start(sock))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def tearDown(self):
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def test_send_and_reject(self):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "budi@example.org", SERVICE, "hi"
        msg.set_content(".leading dot\nline 2\n")
        with smtplib.SMTP("127.0.0.1", self.port) as s:
            refused = s.send_message(msg, to_addrs=[SERVICE, "other@example.org"])
            self.assertIn("other@example.org", refused)
            self.assertEqual(refused["other@example.org"][0], 550)
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                s.send_message(msg, to_addrs=["nobody@example.org"])
            s.send_message(msg, from_addr="", to_addrs=["layanan+x@kominfo.pangkalpinangkota.go.id"])
        self.assertEqual(len(self.got), 2)
        self.assertEqual(self.got[0][1], [SERVICE])
        self.assertIn(b"\r\n.leading dot\r\n", self.got[0][2])
        self.assertEqual(self.got[1][0], "")

    def test_too_big(self):
        big = b"Subject: x\r\n\r\n" + b"y" * 200_000
        with smtplib.SMTP("127.0.0.1", self.port) as s:
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:  # MAIL FROM ... SIZE=
                s.sendmail("a@b.c", [SERVICE], big)
            self.assertEqual(cm.exception.smtp_code, 552)
        with smtplib.SMTP("127.0.0.1", self.port) as s:
            s.ehlo()
            del s.esmtp_features["size"]  # no SIZE= hint: refused after DATA
            with self.assertRaises(smtplib.SMTPDataError) as cm:
                s.sendmail("a@b.c", [SERVICE], big)
            self.assertEqual(cm.exception.smtp_code, 552)
        self.assertEqual(self.got, [])


if __name__ == "__main__":
    unittest.main()
