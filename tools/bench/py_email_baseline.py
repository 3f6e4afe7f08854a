#!/usr/bin/env python3
"""Baseline for the intake benchmark: Python's standard `email` library parsing the same
corpus files and doing the same header checks as Loket's classifier (loop header, From,
multipart/report type, Auto-Submitted, X-Autoreply/X-Autorespond, Precedence, List-Id,
List-Unsubscribe, In-Reply-To/References, subject patterns). One core, in memory.
Prints `py_parse_classify_mb_per_s` and `py_parse_classify_messages_per_s`."""

import email
import email.policy
import os
import sys
import time

OOO = ("out of office", "automatic reply", "auto reply", "autoreply", "sedang cuti", "di luar kantor", "balasan otomatis")


def classify(msg):
    if msg.get("X-Loket-Ticket") is not None:
        return "loop"
    sender = (msg.get("From") or "").lower()
    ctype = msg.get_content_type()
    if ctype == "multipart/report" and msg.get_param("report-type") in ("delivery-status", "feedback-report"):
        return "bounce"
    if "mailer-daemon" in sender or "postmaster" in sender:
        return "bounce"
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return "auto_reply"
    if msg.get("X-Autoreply") is not None or msg.get("X-Autorespond") is not None:
        return "auto_reply"
    precedence = (msg.get("Precedence") or "").strip().lower()
    subject = str(msg.get("Subject") or "").lower()
    if precedence == "auto_reply" or any(p in subject for p in OOO):
        return "auto_reply"
    if msg.get("List-Id") is not None or msg.get("List-Unsubscribe") is not None or precedence in ("bulk", "list", "junk"):
        return "list_or_bulk"
    if msg.get("In-Reply-To") or msg.get("References") or subject.startswith("re:"):
        return "reply"
    return "new_request"


def main():
    corpus = os.environ.get("LOKET_MAIL_CORPUS") or os.path.join(os.path.dirname(__file__), "../../../shared/mail-corpus")
    with open(os.path.join(corpus, "manifest.tsv"), encoding="utf-8") as f:
        paths = [line.split("\t")[0] for line in f.read().splitlines()[1:]]
    messages = []
    for p in paths:
        with open(os.path.join(corpus, p), "rb") as f:
            messages.append(f.read())
    total = sum(len(m) for m in messages)
    rounds, errors = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < 3 or rounds < 1:
        for raw in messages:
            try:
                classify(email.message_from_bytes(raw, policy=email.policy.default))
            except Exception:  # a malformed message must not stop the baseline
                errors += 1
        rounds += 1
    secs = time.perf_counter() - start
    print(f"py_parse_classify_mb_per_s {total * rounds / secs / 1e6:.2f}")
    print(f"py_parse_classify_messages_per_s {len(messages) * rounds / secs:.0f}")
    print(f"py_errors {errors // rounds}")


if __name__ == "__main__":
    sys.exit(main())
