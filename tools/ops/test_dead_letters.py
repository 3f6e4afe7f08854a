"""Tests of the dead-letter tool: with fake SQS and Lambda, and once against MiniStack (a
real queue and a real function that the replay invokes).
    .venv/ministack/bin/python -B -m unittest discover -s tools/ops -p 'test_*.py'
"""

import io
import json
import sys
import time
import unittest
import uuid
import zipfile
from pathlib import Path

import dead_letters

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))

ARN = "arn:aws:lambda:ap-southeast-3:000000000000:function:loket-EmailIntakeFunction-X"

SES_EVENT = {"Records": [{"eventSource": "aws:ses", "ses": {
    "mail": {"messageId": "abc123", "source": "sari@dinkes.example.go.id",
             "commonHeaders": {"from": ["Sari <sari@dinkes.example.go.id>"], "subject": "Internet mati"}},
    "receipt": {}}}]}


def record(payload: object, answer: object, function: str = ARN) -> str:
    return json.dumps({"requestContext": {"functionArn": function, "condition": "RetriesExhausted"},
                       "requestPayload": payload, "responsePayload": answer})


class FakeSqs:
    def __init__(self, bodies: list[str]):
        self.messages = {f"m{i}": {"Body": b, "visible": True} for i, b in enumerate(bodies)}
        self.deleted: list[str] = []

    def receive_message(self, QueueUrl, MaxNumberOfMessages, WaitTimeSeconds, VisibilityTimeout):  # noqa: N803
        out = []
        for mid, m in self.messages.items():
            if m["visible"] and len(out) < MaxNumberOfMessages:
                m["visible"] = False
                out.append({"MessageId": mid, "ReceiptHandle": f"r-{mid}", "Body": m["Body"]})
        return {"Messages": out}

    def change_message_visibility(self, QueueUrl, ReceiptHandle, VisibilityTimeout):  # noqa: N803
        self.messages[ReceiptHandle.removeprefix("r-")]["visible"] = VisibilityTimeout == 0

    def delete_message(self, QueueUrl, ReceiptHandle):  # noqa: N803
        mid = ReceiptHandle.removeprefix("r-")
        del self.messages[mid]
        self.deleted.append(mid)


class FakeLambda:
    def __init__(self, refuse: bool = False):
        self.invoked: list[tuple[str, object]] = []
        self.refuse = refuse

    def invoke(self, FunctionName, InvocationType, Payload):  # noqa: N803
        if self.refuse:
            raise RuntimeError("AccessDeniedException")
        assert InvocationType == "Event"
        self.invoked.append((FunctionName, json.loads(Payload)))
        return {"StatusCode": 202}


class WithFakes(unittest.TestCase):
    def test_list_describes_each_record_and_changes_nothing(self):
        sqs = FakeSqs([record(SES_EVENT, {"errorType": "Retryable", "errorMessage": "store unavailable"}),
                       record({"source": "aws.events", "time": "2026-12-07T01:00:00Z"},
                              {"__type": "TooManyRequestsException"}),
                       "not json"])
        lam, out = FakeLambda(), io.StringIO()
        counts = dead_letters.run(sqs, lam, "q", replay=False, out=out)
        self.assertEqual(counts, {"listed": 3, "replayed": 0, "failed": 0, "unknown": 1})
        self.assertEqual(lam.invoked, [])
        self.assertTrue(all(m["visible"] for m in sqs.messages.values()), "every record visible again")
        text = out.getvalue()
        self.assertIn("loket-EmailIntakeFunction-X: mail abc123 from Sari <sari@dinkes.example.go.id>", text)
        self.assertIn("'Internet mati'", text)
        self.assertIn("Retryable: store unavailable", text)
        self.assertIn("scheduled run at 2026-12-07T01:00:00Z", text)
        self.assertIn("throttled", text)
        self.assertIn("not a failed invocation", text)

    def test_replay_invokes_each_event_and_removes_only_those_records(self):
        sqs = FakeSqs([record(SES_EVENT, {"errorType": "Retryable"}), "{\"other\": 1}"])
        lam = FakeLambda()
        counts = dead_letters.run(sqs, lam, "q", replay=True, out=io.StringIO())
        self.assertEqual(counts, {"listed": 2, "replayed": 1, "failed": 0, "unknown": 1})
        self.assertEqual(lam.invoked, [(ARN, SES_EVENT)])
        self.assertEqual(sqs.deleted, ["m0"])
        self.assertEqual(list(sqs.messages), ["m1"])

    def test_a_refused_invoke_keeps_the_record_and_fails_the_command(self):
        sqs = FakeSqs([record(SES_EVENT, {"errorType": "Retryable"})])
        out = io.StringIO()
        counts = dead_letters.run(sqs, FakeLambda(refuse=True), "q", replay=True, out=out)
        self.assertEqual(counts["failed"], 1)
        self.assertEqual(sqs.deleted, [])
        self.assertTrue(sqs.messages["m0"]["visible"])
        self.assertIn("not replayed (AccessDeniedException)", out.getvalue())

    def test_parse_refuses_what_is_not_a_failure_record(self):
        for body in ["", "[]", "{}", json.dumps({"requestPayload": {}}),
                     json.dumps({"requestContext": {"functionArn": 7}, "requestPayload": {}})]:
            self.assertIsNone(dead_letters.parse(body), body)


class AgainstMiniStack(unittest.TestCase):
    """A record in a real queue; the replay invokes a real (Python) function in MiniStack."""

    @classmethod
    def setUpClass(cls):
        import loket_local

        cls.ms = loket_local.MiniStack(loket_local.free_port(),
                                       loket_local.LOCAL / "run" / f"ops-{uuid.uuid4().hex[:8]}",
                                       echo_warnings=False)
        cls.ms.start()
        try:
            cls.ms.wait_ready()
        except BaseException:
            cls.ms.stop()
            raise
        cls.aws = loket_local.Aws(cls.ms.endpoint)

    @classmethod
    def tearDownClass(cls):
        cls.ms.stop()

    def test_replay_invokes_the_function_with_its_event(self):
        sqs, lam, logs = self.aws("sqs"), self.aws("lambda"), self.aws("logs")
        url = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("handler.py", "import json\n"
                                     "def handle(event, context):\n"
                                     "    print('REPLAYED ' + json.dumps(event, sort_keys=True))\n")
        fn = lam.create_function(FunctionName="intake", Runtime="python3.12", Handler="handler.handle",
                                 Role="arn:aws:iam::000000000000:role/x", Code={"ZipFile": code.getvalue()})
        sqs.send_message(QueueUrl=url, MessageBody=record(SES_EVENT, {"errorType": "Retryable"},
                                                          function=fn["FunctionArn"]))

        out = io.StringIO()
        listed = dead_letters.run(sqs, lam, url, replay=False, out=out)
        self.assertEqual(listed["listed"], 1, out.getvalue())
        self.assertIn("mail abc123", out.getvalue())
        replayed = dead_letters.run(sqs, lam, url, replay=True, out=out)
        self.assertEqual(replayed, {"listed": 1, "replayed": 1, "failed": 0, "unknown": 0}, out.getvalue())

        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attrs["ApproximateNumberOfMessages"], "0")
        self.assertEqual(attrs["ApproximateNumberOfMessagesNotVisible"], "0")
        want = "REPLAYED " + json.dumps(SES_EVENT, sort_keys=True)
        deadline = time.monotonic() + 30
        seen: list[str] = []
        while time.monotonic() < deadline:
            try:
                seen = [e["message"] for e in logs.filter_log_events(logGroupName="/aws/lambda/intake")["events"]]
            except logs.exceptions.ResourceNotFoundException:
                seen = []
            if any(want in line for line in seen):
                return
            time.sleep(0.5)
        self.fail(f"the function did not log the replayed event; its log: {seen}")


if __name__ == "__main__":
    unittest.main()
