"""Tests of the launcher's web port (outbox page and the HTTP API proxy), against stub servers.
    .venv/ministack/bin/python -m unittest discover -s tools/local -p 'test_*.py'
"""

import collections
import json
import socket
import threading
import unittest
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import loket_local


class StubMiniStack(BaseHTTPRequestHandler):
    """Answers /_ministack/ses/messages and echoes anything under /_aws/execute-api/."""

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/_ministack/ses/messages"):
            body = json.dumps({"messages": {"000000000000": [
                {"MessageId": "old", "To": ["a@b.c"], "Subject": "lama", "BodyText": "x", "Timestamp": 1.0},
                {"MessageId": "new", "To": ["<script>@b.c"], "Subject": "<b>baru</b>", "BodyText": "y & z",
                 "Timestamp": 2.0}]}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.echo()

    def echo(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.dumps({"method": self.command, "path": self.path,
                           "body": self.rfile.read(n).decode() if n else "",
                           "xfh": self.headers.get("X-Forwarded-Host")}).encode()
        self.send_response(201)
        self.send_header("Set-Cookie", "a=1; Path=/")
        self.send_header("Set-Cookie", "b=2; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = echo

    def log_message(self, *a):
        pass


class Web(unittest.TestCase):
    def start(self, api_id):
        self.stub = ThreadingHTTPServer(("127.0.0.1", 0), StubMiniStack)
        threading.Thread(target=self.stub.serve_forever, daemon=True).start()
        inbound = type("I", (), {"log": collections.deque()})()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        self.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.web = loket_local.Outbox(f"http://127.0.0.1:{self.stub.server_address[1]}", "Asia/Jakarta", inbound,
                                      {"agency_id": "x", "service_address": "a@b", "smtp": "h:1"},
                                      api_id=api_id).serve(sock)

    def tearDown(self):
        self.web.shutdown()
        self.web.server_close()
        self.stub.shutdown()
        self.stub.server_close()

    def test_outbox_newest_first_and_escaped(self):
        self.start(None)
        msgs = json.load(urllib.request.urlopen(self.base + "/outbox.json"))["messages"]
        self.assertEqual([m["MessageId"] for m in msgs], ["new", "old"])
        page = urllib.request.urlopen(self.base + "/outbox").read().decode()
        self.assertIn("&lt;b&gt;baru&lt;/b&gt;", page)
        self.assertIn("&lt;script&gt;@b.c", page)
        self.assertIn("y &amp; z", page)
        self.assertLess(page.index("<code>new</code>"), page.index("<code>old</code>"))
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(self.base + "/status/1")
        self.assertEqual(cm.exception.code, 404)

    def test_proxy_to_http_api(self):
        self.start("abc123")
        r = urllib.request.urlopen(urllib.request.Request(self.base + "/form?x=1", data=b"k=v", method="POST"))
        self.assertEqual(r.status, 201)
        self.assertEqual(r.headers.get_all("Set-Cookie"), ["a=1; Path=/", "b=2; Path=/"])
        got = json.load(r)
        self.assertEqual(got["path"], "/_aws/execute-api/abc123/form?x=1")
        self.assertEqual(got["body"], "k=v")
        self.assertEqual(got["xfh"], self.base.removeprefix("http://"))
        # The launcher's own pages stay its own.
        self.assertEqual(len(json.load(urllib.request.urlopen(self.base + "/outbox.json"))["messages"]), 2)



class Issuer(unittest.TestCase):
    def test_token_verifies_against_jwks(self):
        import base64
        import tempfile
        from pathlib import Path

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        with tempfile.TemporaryDirectory() as d:
            old = loket_local.DevIssuer.KEY_FILE
            loket_local.DevIssuer.KEY_FILE = Path(d) / "k.pem"
            try:
                iss = loket_local.DevIssuer("http://127.0.0.1:1/_local/oidc", "loket-local")
                again = loket_local.DevIssuer(iss.issuer, iss.audience)  # same key from the file
            finally:
                loket_local.DevIssuer.KEY_FILE = old
        self.assertEqual(iss.kid, again.kid)
        claims = loket_local.staff_claims("pangkalpinang", "rina")
        self.assertEqual(claims["cognito:groups"], ["helpdesk"])
        token = iss.mint(claims, 60)
        head, body, sig = token.split(".")
        dec = lambda p: base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))  # noqa: E731
        payload = json.loads(dec(body))
        self.assertEqual((payload["iss"], payload["aud"], payload["email"]),
                         (iss.issuer, "loket-local", "rina@staf.example.go.id"))
        jwk = iss.jwks()["keys"][0]
        self.assertEqual(json.loads(dec(head))["kid"], jwk["kid"])
        pub = rsa.RSAPublicNumbers(int.from_bytes(dec(jwk["e"]), "big"),
                                   int.from_bytes(dec(jwk["n"]), "big")).public_key()
        pub.verify(dec(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class SignIn(unittest.TestCase):
    """The dev sign-in as the console's script drives it: authorization code with PKCE."""

    def setUp(self):
        import tempfile
        from pathlib import Path

        self.tmp = tempfile.TemporaryDirectory()
        self.old_key = loket_local.DevIssuer.KEY_FILE
        loket_local.DevIssuer.KEY_FILE = Path(self.tmp.name) / "k.pem"
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        self.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        issuer = loket_local.DevIssuer(f"{self.base}/_local/oidc", "loket-local")
        self.web = loket_local.Outbox("http://127.0.0.1:9", "Asia/Jakarta", None,
                                      {"agency_id": "pangkalpinang", "service_address": "a@b", "smtp": "h:1"},
                                      issuer=issuer).serve(sock)
        self.opener = urllib.request.build_opener(NoRedirect, urllib.request.ProxyHandler({}))

    def tearDown(self):
        self.web.shutdown()
        self.web.server_close()
        loket_local.DevIssuer.KEY_FILE = self.old_key
        self.tmp.cleanup()

    def authorize(self, verifier: str, **extra) -> dict:
        import base64
        import hashlib
        import urllib.parse

        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {"client_id": "loket-local", "response_type": "code", "scope": "openid email",
                 "redirect_uri": f"{self.base}/konsol/masuk", "state": "s-1", "code_challenge": challenge,
                 "code_challenge_method": "S256", **extra}
        page = self.opener.open(f"{self.base}/_local/login?{urllib.parse.urlencode(query)}").read().decode()
        link = f"/_local/login/rina?{urllib.parse.urlencode(query)}"
        self.assertIn(link.replace("&", "&amp;"), page, "each person's link carries the request")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            self.opener.open(self.base + link)
        self.assertEqual(cm.exception.code, 303)
        where = urllib.parse.urlsplit(cm.exception.headers["Location"])
        self.assertEqual(f"{where.scheme}://{where.netloc}{where.path}", f"{self.base}/konsol/masuk")
        back = dict(urllib.parse.parse_qsl(where.query))
        self.assertEqual(back["state"], "s-1")
        self.assertNotIn("id_token", cm.exception.headers["Location"])
        return back

    def token(self, code: str, verifier: str) -> tuple[int, dict]:
        import urllib.parse

        form = urllib.parse.urlencode({"grant_type": "authorization_code", "client_id": "loket-local",
                                       "redirect_uri": f"{self.base}/konsol/masuk", "code": code,
                                       "code_verifier": verifier}).encode()
        try:
            with self.opener.open(urllib.request.Request(f"{self.base}/_local/token", data=form)) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def test_the_code_and_its_verifier_give_the_persons_token_once(self):
        import base64

        verifier = "v" * 50
        code = self.authorize(verifier)["code"]
        status, body = self.token(code, verifier)
        self.assertEqual(status, 200, body)
        payload = body["id_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        self.assertEqual((claims["email"], claims["cognito:groups"]), ("rina@staf.example.go.id", ["helpdesk"]))
        self.assertEqual(self.token(code, verifier), (400, {"error": "invalid_grant"}), "a code works once")

    def test_a_wrong_verifier_gets_nothing(self):
        code = self.authorize("v" * 50)["code"]
        self.assertEqual(self.token(code, "w" * 50), (400, {"error": "invalid_grant"}))

    def test_a_request_without_a_challenge_is_refused(self):
        import urllib.parse

        query = urllib.parse.urlencode({"response_type": "code", "redirect_uri": f"{self.base}/konsol/masuk"})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            self.opener.open(f"{self.base}/_local/login/rina?{query}")
        self.assertEqual(cm.exception.code, 400)


if __name__ == "__main__":
    unittest.main()
