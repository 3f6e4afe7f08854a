"""The dead-letter queue, for operators: what failed, and replaying it after the fix.

When an email-intake invocation (a mail from SES) has failed its retries, Lambda's
on-failure destination puts a record in the stack's dead-letter queue (the
DeadLetterDepthAlarm then mails the operators). The record holds the event itself and the
raw mail stays in S3, so nothing is lost; this tool shows the records and, once the cause
is fixed, invokes the function again with each event and removes the record. (Any other
function given the same destination is replayed the same way.)

Replaying is safe: email intake keeps one outcome per SES message id, so a mail that was
handled after all is told its first outcome, not handled twice.

    .venv/tools/bin/python tools/ops/dead_letters.py --stack loket list
    .venv/tools/bin/python tools/ops/dead_letters.py --stack loket replay
    .venv/tools/bin/python tools/ops/dead_letters.py --queue-url https://sqs... list

(`make dead-letters STACK=loket [REPLAY=1]` runs the same.) AWS credentials and region come
from the usual places (AWS_PROFILE, AWS_REGION, ...); AWS_ENDPOINT_URL points it at a local
cloud instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass

# How long a listed record stays hidden from other readers while this tool looks at it.
LOOK_SECONDS = 30


@dataclass
class Failure:
    """One dead-lettered invocation: the function, its event and its last answer."""

    function: str  # the function's ARN
    payload: object  # the event, as the function received it
    answer: object  # the last response payload (the error, or a throttle)

    @property
    def name(self) -> str:
        return self.function.rsplit(":", 1)[-1]

    @property
    def throttled(self) -> bool:
        return isinstance(self.answer, dict) and self.answer.get("__type") == "TooManyRequestsException"

    @property
    def error(self) -> str:
        a = self.answer if isinstance(self.answer, dict) else {"errorMessage": str(self.answer)}
        kind = a.get("errorType") or a.get("__type") or "?"
        text = str(a.get("errorMessage") or a.get("message") or "")
        return f"{kind}: {text[:300]}" if text else kind

    def describe(self) -> str:
        """What the event was about, in a line: the mail for an SES event."""
        p = self.payload if isinstance(self.payload, dict) else {}
        records = p.get("Records") if isinstance(p.get("Records"), list) else []
        mails = []
        for r in records:
            mail = ((r or {}).get("ses") or {}).get("mail") or {}
            headers = mail.get("commonHeaders") or {}
            sender = ", ".join(headers.get("from") or []) or mail.get("source") or "?"
            mails.append(f"mail {mail.get('messageId', '?')} from {sender}: {headers.get('subject', '')!r}")
        if mails:
            return "; ".join(mails)
        if p.get("source") == "aws.events" or p.get("detail-type") == "Scheduled Event":
            return f"scheduled run at {p.get('time', '?')}"
        return json.dumps(self.payload)[:200]


def parse(body: str) -> Failure | None:
    """A record of Lambda's on-failure destination, or None for anything else."""
    try:
        record = json.loads(body)
    except ValueError:
        return None
    if not isinstance(record, dict) or "requestPayload" not in record:
        return None
    function = (record.get("requestContext") or {}).get("functionArn")
    if not isinstance(function, str) or not function:
        return None
    return Failure(function=function, payload=record["requestPayload"], answer=record.get("responsePayload") or {})


def queue_url(cfn, stack: str) -> str:
    """The stack's DeadLetterQueueUrl output."""
    outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs") or []
    for o in outputs:
        if o.get("OutputKey") == "DeadLetterQueueUrl":
            return o["OutputValue"]
    raise SystemExit(f"stack {stack} has no DeadLetterQueueUrl output")


def take_all(sqs, url: str) -> list[dict]:
    """Every message now visible in the queue, each hidden for LOOK_SECONDS while we look."""
    taken: dict[str, dict] = {}
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  VisibilityTimeout=LOOK_SECONDS).get("Messages") or []
        fresh = [m for m in got if m["MessageId"] not in taken]
        if not fresh:
            return list(taken.values())
        for m in fresh:
            taken[m["MessageId"]] = m


def release(sqs, url: str, m: dict) -> None:
    """Visible again at once, for the next reader."""
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)


def run(sqs, lam, url: str, replay: bool, out=sys.stdout) -> dict[str, int]:
    """Lists the queue; with `replay`, invokes each failed event again and removes its record.
    Returns counts: listed, replayed, failed (the invoke itself was refused), unknown."""
    counts = {"listed": 0, "replayed": 0, "failed": 0, "unknown": 0}
    for m in take_all(sqs, url):
        counts["listed"] += 1
        failure = parse(m["Body"])
        if failure is None:
            counts["unknown"] += 1
            print(f"{m['MessageId']}: not a failed invocation, left in the queue: {m['Body'][:200]}", file=out)
            release(sqs, url, m)
            continue
        why = "throttled" if failure.throttled else failure.error
        print(f"{m['MessageId']}: {failure.name}: {failure.describe()}\n    last answer: {why}", file=out)
        if not replay:
            release(sqs, url, m)
            continue
        try:
            answer = lam.invoke(FunctionName=failure.function, InvocationType="Event",
                                Payload=json.dumps(failure.payload).encode())
            status = answer.get("StatusCode")
            if status != 202:
                raise RuntimeError(f"status {status}")
        except Exception as e:  # noqa: BLE001 - said, counted, and the record stays
            counts["failed"] += 1
            print(f"    not replayed ({e}); the record stays in the queue", file=out)
            release(sqs, url, m)
            continue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        counts["replayed"] += 1
        print("    replayed (invoked again; the record is removed)", file=out)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="the CloudFormation stack (its DeadLetterQueueUrl output)")
    where.add_argument("--queue-url", help="the dead-letter queue's URL")
    ap.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                    help="the stack's region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's)")
    ap.add_argument("command", choices=["list", "replay"])
    args = ap.parse_args(argv)

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.session.Session(region_name=args.region)
        url = args.queue_url or queue_url(session.client("cloudformation"), args.stack)
        counts = run(session.client("sqs"), session.client("lambda"), url, replay=args.command == "replay")
    except (BotoCoreError, ClientError) as e:
        print(f"dead_letters: {e}", file=sys.stderr)
        return 2
    print(f"{counts['listed']} in the queue; {counts['replayed']} replayed, {counts['failed']} refused, "
          f"{counts['unknown']} not failed invocations")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
