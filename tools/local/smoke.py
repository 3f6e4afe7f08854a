"""End-to-end smoke check of a running `make run` (reads .local/stack.json or --state-file):
it mails the service address over SMTP and waits for the acknowledgement in SES's sent mail
and on the outbox page, and for the ticket's META item in DynamoDB.

    .venv/ministack/bin/python tools/local/smoke.py [--state-file PATH] [--subject S]
"""

import argparse
import json
import re
import secrets
import smtplib
import sys
import time
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--state-file", default=str(REPO / ".local" / "stack.json"))
    p.add_argument("--subject", default="Internet mati di Dinas Kesehatan")
    p.add_argument("--timeout", type=float, default=30)
    args = p.parse_args()
    s = json.loads(Path(args.state_file).read_text())
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    ddb = boto3.client("dynamodb", endpoint_url=s["endpoint"], region_name=s["region"],
                       aws_access_key_id="test", aws_secret_access_key="test")

    requester = f"warga.{secrets.token_hex(3)}@example.org"
    m = EmailMessage()
    m["From"] = f"Siti Rahma <{requester}>"
    m["To"] = s["smtp"]["address"]
    m["Subject"] = args.subject
    m["Date"] = formatdate(localtime=True)
    m["Message-ID"] = make_msgid(domain="example.org")
    m.set_content("Selamat pagi,\n\nSejak pukul 08.00 internet di kantor kami mati total.\nMohon dibantu.\n\nSiti")
    t = time.time()
    with smtplib.SMTP(s["smtp"]["host"], s["smtp"]["port"], timeout=30) as c:
        c.send_message(m)
        try:
            c.send_message(m, to_addrs=[f"someone.else@{s['service_address'].rpartition('@')[2]}"])
            print("FAIL: a recipient other than the service address was accepted")
            return 1
        except smtplib.SMTPRecipientsRefused as e:
            assert next(iter(e.recipients.values()))[0] == 550
    print(f"sent from {requester}; other recipients get 550")

    ack = None
    while time.time() - t < args.timeout and ack is None:
        with opener.open(s["ses_messages_url"], timeout=10) as r:
            sent = [x for acc in json.load(r)["messages"].values() for x in acc]
        ack = next((x for x in sent if requester in " ".join(x.get("To") or [])), None)
        time.sleep(0.2)
    if ack is None:
        print(f"FAIL: no mail to {requester} after {args.timeout:.0f}s; see {s['ministack_log']} and the "
              f"CloudWatch log groups {list(s['log_groups'].values())}")
        return 1
    print(f"acknowledgement after {time.time() - t:.2f}s: {ack['Subject']}")
    number = re.search(r"\[#([A-Z]+-\d{4}-\d+)\]", ack["Subject"])
    if not number:
        print("FAIL: no ticket number in the subject")
        return 1
    key = {"pk": {"S": f"T#{number.group(1)}"}, "sk": {"S": "META"}}
    item = ddb.get_item(TableName=s["table_name"], Key=key).get("Item")
    print(f"DynamoDB {key['pk']['S']}/META: {'present' if item else 'MISSING'}")
    with opener.open(s["outbox_url"], timeout=10) as r:
        on_page = number.group(1) in r.read().decode()
    print(f"outbox page lists it: {on_page}")
    return 0 if item and on_page else 1


if __name__ == "__main__":
    sys.exit(main())
