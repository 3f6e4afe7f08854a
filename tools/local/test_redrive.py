"""Tests of the launcher's dead-letter redrive (`ThrottleRedrive`), with fake SQS and Lambda.
    .venv/ministack/bin/python -m unittest discover -s tools/local -p 'test_*.py'
"""

import contextlib
import io
import json
import unittest

import loket_local

ARN = "arn:aws:lambda:ap-southeast-3:000000000000:function:email-intake"


class FakeQueue:
    """An SQS queue with visibility timeouts on a clock the test moves."""

    def __init__(self):
        self.now = 0.0
        self.messages: dict[str, dict] = {}  # receipt -> {"body", "visible_at"}
        self.seq = 0

    def put(self, body: dict) -> None:
        self.seq += 1
        self.messages[f"r{self.seq}"] = {"body": json.dumps(body), "visible_at": self.now}

    def receive_message(self, QueueUrl, MaxNumberOfMessages, WaitTimeSeconds, VisibilityTimeout):  # noqa: N803
        out = []
        for receipt, m in self.messages.items():
            if m["visible_at"] <= self.now and len(out) < MaxNumberOfMessages:
                m["visible_at"] = self.now + VisibilityTimeout
                out.append({"MessageId": f"id-{receipt}", "ReceiptHandle": receipt, "Body": m["body"]})
        return {"Messages": out}

    def change_message_visibility(self, QueueUrl, ReceiptHandle, VisibilityTimeout):  # noqa: N803
        self.messages[ReceiptHandle]["visible_at"] = self.now + VisibilityTimeout

    def delete_message(self, QueueUrl, ReceiptHandle):  # noqa: N803
        raise AssertionError("the redrive must not delete: MiniStack's DeleteMessage can lose "
                             "a dead-lettered event appended at the same moment")

    def visible(self) -> list[str]:
        """The messages a receive now, or within the next 12 hours, would return."""
        return [r for r, m in self.messages.items() if m["visible_at"] < self.now + 43200]


class FakeLambda:
    """Records invocations; each fails into the queue while `failing` says so."""

    def __init__(self, queue: FakeQueue):
        self.queue, self.invoked, self.failing = queue, [], True

    def invoke(self, FunctionName, InvocationType, Payload):  # noqa: N803
        self.invoked.append(json.loads(Payload))
        if self.failing:
            self.queue.put(failure(json.loads(Payload), {"errorType": "Retryable", "errorMessage": "claim held"}))


def failure(payload: dict, answer: dict) -> dict:
    return {"requestContext": {"functionArn": ARN, "condition": "RetriesExhausted"},
            "requestPayload": payload, "responsePayload": answer}


THROTTLE = {"__type": "TooManyRequestsException", "message": "Rate exceeded"}


class RedriveTest(unittest.TestCase):
    def setUp(self):
        self.queue = FakeQueue()
        self.lam = FakeLambda(self.queue)
        self.redrive = loket_local.ThrottleRedrive(aws=None, queue_url="q")
        self.err = io.StringIO()

    def poll(self, at: float) -> None:
        self.queue.now = at
        with contextlib.redirect_stderr(self.err):
            self.redrive.poll_once(self.queue, self.lam)

    def test_a_throttled_event_is_invoked_again_at_once(self):
        self.lam.failing = False
        self.queue.put(failure({"n": 1}, THROTTLE))
        self.poll(0)
        self.assertEqual(self.lam.invoked, [{"n": 1}])
        self.assertEqual(self.queue.visible(), [], "hidden for 12 hours, not deleted")
        self.assertEqual(self.err.getvalue(), "")
        # When it comes back it is hidden again, not invoked a second time.
        self.poll(43201)
        self.assertEqual(self.lam.invoked, [{"n": 1}])
        self.assertEqual(self.queue.visible(), [])

    def test_a_failed_event_is_retried_after_a_minute_twice_then_left_and_printed(self):
        self.queue.put(failure({"n": 2}, {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"}))
        self.poll(0)
        self.assertEqual(self.lam.invoked, [], "not at once: AWS waits about a minute")
        self.assertIn("Sandbox.Timedout", self.err.getvalue())
        self.poll(30)
        self.assertEqual(self.lam.invoked, [])
        self.poll(61)
        self.assertEqual(len(self.lam.invoked), 1)
        # It failed again (the fake put it back): a second retry a minute later.
        self.poll(62)
        self.assertEqual(len(self.lam.invoked), 1)
        self.poll(123)
        self.assertEqual(len(self.lam.invoked), 2)
        # A third failure: left in the queue for people, said so, not invoked again.
        for at in (124, 190, 400, 4000):
            self.poll(at)
        self.assertEqual(len(self.lam.invoked), 2)
        self.assertEqual(len(self.queue.messages), 3, "two invoked again (kept hidden), one left for people")
        self.poll(50000)
        self.assertEqual(len(self.lam.invoked), 2, "nothing is invoked again when it comes back")
        self.assertIn("failed 3 times", self.err.getvalue())
        self.assertIn("left in the queue", self.err.getvalue())

    def test_a_message_that_is_not_an_event_is_left_and_said_once(self):
        self.queue.messages["junk"] = {"body": "not json", "visible_at": 0}
        self.poll(0)
        self.poll(61)
        self.assertEqual(self.lam.invoked, [])
        self.assertEqual(self.err.getvalue().count("not a failed event"), 1)
        self.assertIn("junk", self.queue.messages)

    def test_a_failed_event_that_then_succeeds_leaves_the_queue(self):
        self.queue.put(failure({"n": 3}, {"errorType": "Retryable", "errorMessage": "claim held"}))
        self.lam.failing = False
        self.poll(0)
        self.poll(61)
        self.assertEqual(self.lam.invoked, [{"n": 3}])
        self.assertEqual(self.queue.visible(), [])


if __name__ == "__main__":
    unittest.main()
