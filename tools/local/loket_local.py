#!/usr/bin/env python3
"""Loket on a local cloud: `make run` starts this.

    .venv/ministack/bin/python tools/local/loket_local.py up [--port N] [--smtp-port N]
        [--web-port N] [--state-file PATH] [--agency ID] [--exit-with-parent]
    .venv/ministack/bin/python tools/local/loket_local.py send [--from ADDR] [--subject S] [--body B]

`up`:
  1. starts MiniStack (the pinned emulator in .venv/ministack) on 127.0.0.1, state under .local/;
  2. builds every function of infra/template.yaml for the host (`cargo build`, debug), zips each
     `bootstrap` and uploads it to a code bucket under a content-hashed key;
  3. deploys infra/template.yaml with CloudFormation (the SAM transform runs in MiniStack), with
     Target=local and each CodeUri pointing at its zip;
  4. re-applies what MiniStack's CloudFormation drops (TTL, PITR, SSE, bucket lifecycle, reserved
     concurrency, DLQ / on-failure destination) and verifies the service address in SES;
  5. plays SES inbound: an SMTP listener stores each message for the service address in the mail
     bucket under raw/<id> and invokes the intake function asynchronously with an SES event;
  6. serves an outbox page of the mail SES sent (and /outbox.json);
  7. prints where everything is, writes it as JSON to the state file, and stops everything on
     Ctrl-C, SIGTERM, or (with --exit-with-parent) when its parent process dies.

Needs the MiniStack venv (boto3, botocore, aws-sam-translator); everything else is stdlib.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import concurrent.futures
import ctypes
import hashlib
import html
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from datetime import datetime, timezone
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))
import dead_letters  # noqa: E402
import localmail  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / ".local"
TEMPLATE = REPO / "infra" / "template.yaml"
AGENCIES_DIR = REPO / "shared" / "domain" / "agencies"
MINISTACK_BIN = REPO / ".venv" / "ministack" / "bin" / "ministack"
REGION = "ap-southeast-3"
ACCOUNT = "000000000000"
CODE_BUCKET = "loket-local-code"
HOST = "127.0.0.1"
# If an agency profile cannot be read, these are the known service addresses.
KNOWN_SERVICE_ADDRESSES = {
    "pangkalpinang": "layanan@kominfo.pangkalpinangkota.go.id",
    "gorontalo": "layanan@kominfotik.gorontaloprov.go.id",
}

# MiniStack's own settings and anything that would point the functions (which inherit
# MiniStack's whole environment) somewhere else: never passed through from the caller.
SCRUBBED_ENV_PREFIXES = ("AWS_", "MINISTACK_", "LOCALSTACK_")
SCRUBBED_ENV = {"SMTP_HOST", "GATEWAY_PORT", "EDGE_PORT", "BIND_HOST", "PERSIST_STATE", "S3_PERSIST",
                "S3_DATA_DIR", "STATE_DIR", "TMPDIR", "LAMBDA_EXECUTOR", "IOT_MTLS_ENABLED", "LOG_LEVEL"}

T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"[loket-local {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Fatal(Exception):
    pass


class Stop(BaseException):
    """Raised by the signal handlers during start-up (SIGINT, SIGTERM, parent gone)."""


# ---------------------------------------------------------------------------------------
# Ports


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is free
        try:
            s.bind((HOST, port))
            return True
        except OSError:
            return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def listen(port: int | None, default: int, what: str) -> socket.socket:
    """A listening socket on 127.0.0.1: the given port (0 = any free one), else the default
    port if it is free, else any free port."""
    candidates = [port] if port is not None else [default, 0]
    last = None
    for p in candidates:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, p))
            s.listen(64)
            if port is None and p == 0:
                say(f"{what}: port {default} is busy, using {s.getsockname()[1]}")
            return s
        except OSError as e:
            s.close()
            last = e
    raise Fatal(f"{what}: cannot listen on {HOST}:{port}: {last}")


# ---------------------------------------------------------------------------------------
# Template and functions


def load_template() -> dict:
    # SAM's loader knows the CloudFormation short forms (!Ref, !Sub, !GetAtt, !If, ...).
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text(encoding="utf-8"))


def template_functions(template: dict) -> dict[str, str]:
    """{logical id: cargo binary} for every AWS::Serverless::Function."""
    out = {}
    for logical, res in (template.get("Resources") or {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        if not binary:
            raise Fatal(f"{logical}: no Metadata.BuildProperties.Binary in {TEMPLATE.relative_to(REPO)}")
        out[logical] = binary
    if not out:
        raise Fatal(f"no AWS::Serverless::Function in {TEMPLATE.relative_to(REPO)}")
    return out


def cargo_packages(binaries: set[str]) -> dict[str, str]:
    """{binary: workspace package that has it}."""
    try:
        meta = json.loads(subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
            cwd=REPO, check=True, capture_output=True).stdout)
    except FileNotFoundError:
        raise Fatal("cargo is not on PATH (install Rust with rustup)")
    except subprocess.CalledProcessError as e:
        raise Fatal(f"cargo metadata failed:\n{e.stderr.decode(errors='replace')}")
    out = {}
    for pkg in meta["packages"]:
        for target in pkg["targets"]:
            if "bin" in target["kind"] and target["name"] in binaries:
                out[target["name"]] = pkg["name"]
    missing = binaries - out.keys()
    if missing:
        raise Fatal(f"no workspace package has the binaries {sorted(missing)}")
    return out


def cargo_build(binaries: set[str]) -> dict[str, Path]:
    """Builds the binaries for the host (debug) in one cargo run; {binary: executable}."""
    packages = cargo_packages(binaries)
    cmd = ["cargo", "build", "--locked", "--message-format=json-render-diagnostics"]
    for pkg in sorted(set(packages.values())):
        cmd += ["-p", pkg]
    for b in sorted(binaries):
        cmd += ["--bin", b]
    say("building: " + " ".join(cmd[:3] + cmd[4:]))
    t = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    exes: dict[str, Path] = {}
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
                name = msg["target"]["name"]
                if name in binaries and "bin" in msg["target"]["kind"]:
                    exes[name] = Path(msg["executable"])
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
    if rc != 0:
        raise Fatal(f"cargo build failed (exit {rc})")
    missing = binaries - exes.keys()
    if missing:
        raise Fatal(f"cargo built no executable for {sorted(missing)}")
    say(f"built {', '.join(sorted(binaries))} in {time.monotonic() - t:.1f}s")
    return exes


def prebuilt(directory: Path, binaries: set[str]) -> dict[str, Path]:
    """Host binaries built already (e.g. by `cargo test`), instead of running cargo."""
    exes = {b: directory / b for b in binaries}
    missing = sorted(b for b, exe in exes.items() if not exe.is_file())
    if missing:
        raise Fatal(f"no prebuilt binaries {missing} in {directory} (build them, or drop --binaries)")
    say(f"using prebuilt {', '.join(sorted(binaries))} from {directory}")
    return exes


def package(binary: str, exe: Path, strip: bool) -> tuple[Path, str]:
    """Zips the executable as `bootstrap` (mode 0755, at the root, fixed timestamp), with
    debug info stripped (symbols kept, for backtraces). Cached under .local/build/ by the
    executable's size and mtime. Returns (zip path, sha256)."""
    out = LOCAL / "build" / binary
    out.mkdir(parents=True, exist_ok=True)
    st = exe.stat()
    stamp = {"exe": str(exe), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "strip": strip}
    stamp_file, zip_path = out / "stamp.json", out / "bootstrap.zip"
    try:
        cached = json.loads(stamp_file.read_text())
        if cached.get("source") == stamp and zip_path.exists():
            return zip_path, cached["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    t = time.monotonic()
    staged = out / f"bootstrap.{os.getpid()}"  # private names: two launchers may package at once
    staged.unlink(missing_ok=True)
    tool = shutil.which("objcopy") if strip else None
    if tool:
        subprocess.run([tool, "--strip-debug", str(exe), str(staged)], check=True)
    else:
        shutil.copyfile(exe, staged)
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3  # unix, so the mode bits count
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    tmp = out / f"bootstrap.zip.{os.getpid()}.tmp"
    with zipfile.ZipFile(tmp, "w") as z, open(staged, "rb") as f:
        with z.open(info, "w", force_zip64=staged.stat().st_size >= 0xFFFFFFFF) as dst:
            shutil.copyfileobj(f, dst, 1 << 20)
    tmp.replace(zip_path)
    staged.unlink(missing_ok=True)
    sha = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    stamp_tmp = out / f"stamp.json.{os.getpid()}.tmp"
    stamp_tmp.write_text(json.dumps({"source": stamp, "sha256": sha}))
    stamp_tmp.replace(stamp_file)
    say(f"packaged {binary}: {zip_path.stat().st_size / 1e6:.1f} MB zip "
        f"({st.st_size / 1e6:.0f} MB binary{', debug info stripped' if tool else ''}) "
        f"in {time.monotonic() - t:.1f}s")
    return zip_path, sha


# ---------------------------------------------------------------------------------------
# MiniStack


class MiniStack:
    def __init__(self, port: int, run_dir: Path, echo_warnings: bool):
        self.port = port
        self.endpoint = f"http://{HOST}:{port}"
        self.run_dir = run_dir
        self.log_path = LOCAL / f"ministack-{port}.log"
        self.echo_warnings = echo_warnings
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        if not MINISTACK_BIN.exists():
            raise Fatal(f"MiniStack is not installed at {MINISTACK_BIN.relative_to(REPO)}: run `make venv`")
        # Leftovers of launchers that were killed (their pid is gone), and this port's.
        for old in self.run_dir.parent.glob("*"):
            try:
                pid = int((old / "launcher.pid").read_text())
                alive = Path(f"/proc/{pid}").exists()
            except (OSError, ValueError):
                # No pid yet: another launcher may be creating it right now.
                try:
                    alive = time.time() - old.stat().st_mtime < 120
                except OSError:
                    alive = False
            if old == self.run_dir or not alive:
                shutil.rmtree(old, ignore_errors=True)
        (self.run_dir / "tmp").mkdir(parents=True)
        (self.run_dir / "state").mkdir(parents=True)
        (self.run_dir / "launcher.pid").write_text(str(os.getpid()))
        # Keep the logs of the last few runs only (other ports make other names).
        logs = sorted(LOCAL.glob("ministack-*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old_log in logs[5:]:
            old_log.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(SCRUBBED_ENV_PREFIXES) and k not in SCRUBBED_ENV}
        env.update({
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": HOST,
            # Without it (cryptography installed) an IoT MQTT/TLS listener binds 0.0.0.0:8883.
            "IOT_MTLS_ENABLED": "0",
            # Functions are spawned with this endpoint; without it they would call real AWS.
            "AWS_ENDPOINT_URL": self.endpoint,
            "MINISTACK_REGION": REGION,
            "MINISTACK_ACCOUNT_ID": ACCOUNT,
            # Code cache ($TMPDIR/ministack-provided-code-<port>) and the Cognito key
            # (STATE_DIR) stay inside the repo's .local/, one directory per run.
            "TMPDIR": str(self.run_dir / "tmp"),
            "STATE_DIR": str(self.run_dir / "state"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        })

        def child_setup() -> None:
            # Die with the launcher even if it is SIGKILLed (Linux).
            try:
                ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            except Exception:
                pass

        self.proc = subprocess.Popen(
            [str(MINISTACK_BIN)], cwd=self.run_dir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher only; it stops MiniStack itself
            preexec_fn=child_setup if sys.platform == "linux" else None)
        self._reader = threading.Thread(target=self._pump, name="ministack-log", daemon=True)
        self._reader.start()

    _RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\w+) \[([^\]]*)\] (.*)$")

    def _pump(self) -> None:
        """MiniStack's output -> .local/ministack.log; its warnings and errors also to the
        console (function output comes from CloudWatch Logs, see LogTail)."""
        assert self.proc is not None and self.proc.stdout is not None
        echo = False
        with open(self.log_path, "wb") as log:
            for raw in iter(self.proc.stdout.readline, b""):
                log.write(raw)
                log.flush()
                if not self.echo_warnings:
                    continue
                line = raw.decode("utf-8", "replace").rstrip("\n")
                m = self._RECORD.match(line)
                if m:
                    level, name, message = m.groups()
                    echo = level in ("WARNING", "ERROR", "CRITICAL")
                    if echo:
                        print(f"  [ministack] {level} [{name}] {message}", flush=True)
                elif echo and line.strip():
                    print(f"  [ministack]   {line}", flush=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise Fatal(f"MiniStack exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with opener.open(f"{self.endpoint}/_ministack/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise Fatal(f"MiniStack not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def descendants(self) -> list[int]:
        """Pids of MiniStack's child processes (function bootstraps and the like), from /proc."""
        if self.proc is None:
            return []
        children: dict[int, list[int]] = collections.defaultdict(list)
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children[ppid].append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
        out, todo = [], [self.proc.pid]
        while todo:
            for c in children.get(todo.pop(), []):
                out.append(c)
                todo.append(c)
        return out

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        kids = self.descendants() if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.terminate()  # graceful: MiniStack stops its function processes
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                say("MiniStack did not stop in time; killing it")
                self.proc.kill()
                self.proc.wait()
        # Its process group (the session it leads) and any child that escaped it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._reader is not None:
            self._reader.join(timeout=2)
        shutil.rmtree(self.run_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# AWS clients, deploy, post-deploy


class Aws:
    def __init__(self, endpoint: str):
        import boto3
        from botocore.config import Config

        self.endpoint = endpoint
        self.session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                             region_name=REGION)
        self.config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                             read_timeout=120, proxies={})
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str):
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(service, endpoint_url=self.endpoint,
                                                             config=self.config)
            return self._clients[service]


def upload_code(aws: Aws, zips: dict[str, tuple[Path, str]]) -> dict[str, dict]:
    """{binary: {Bucket, Key}} after uploading each zip under a content-hashed key."""
    s3 = aws("s3")
    try:
        s3.create_bucket(Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    out = {}
    for binary, (path, sha) in zips.items():
        key = f"functions/{binary}/{sha[:16]}.zip"
        try:
            s3.head_object(Bucket=CODE_BUCKET, Key=key)
        except s3.exceptions.ClientError:
            with open(path, "rb") as f:
                s3.put_object(Bucket=CODE_BUCKET, Key=key, Body=f)
        out[binary] = {"Bucket": CODE_BUCKET, "Key": key}
    return out


def agency_service_address(agency: str) -> tuple[str, str]:
    """(service address, time zone) from shared/domain/agencies/<id>.toml."""
    try:
        profile = tomllib.loads((AGENCIES_DIR / f"{agency}.toml").read_text(encoding="utf-8"))
        return profile["service_address"], profile.get("time_zone", "Asia/Jakarta")
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        if agency in KNOWN_SERVICE_ADDRESSES:
            return KNOWN_SERVICE_ADDRESSES[agency], "Asia/Jakarta"
        known = sorted(p.stem for p in AGENCIES_DIR.glob("*.toml")) or sorted(KNOWN_SERVICE_ADDRESSES)
        raise Fatal(f"unknown agency {agency!r} (known: {', '.join(known)})")


def publish_once(path: Path, content: bytes) -> bytes:
    """Writes `content` to `path` (0600) unless it exists, atomically: a temporary file
    hard-linked into place, so a concurrent launcher reads a whole file or none, and the
    first one written wins. Returns what `path` holds."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


def host_architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def deploy(aws: Aws, stack: str, template: dict, code: dict[str, dict], functions: dict[str, str],
           params: dict[str, str]) -> dict:
    """CreateStack (UpdateStack if the stack exists) of the template with each CodeUri
    replaced by its uploaded zip; returns the stack description."""
    body = json.loads(json.dumps(template))  # deep copy
    for logical, binary in functions.items():
        body["Resources"][logical].setdefault("Properties", {})["CodeUri"] = dict(code[binary])
    declared = body.get("Parameters") or {}
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items() if k in declared]
    cfn = aws("cloudformation")
    args = dict(StackName=stack, TemplateBody=json.dumps(body, separators=(",", ":")), Parameters=parameters,
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
    try:
        existing = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except cfn.exceptions.ClientError:
        existing = None
    if existing and existing != "ROLLBACK_COMPLETE":
        try:
            cfn.update_stack(**args)
            say(f"updating stack {stack}")
        except cfn.exceptions.ClientError as e:
            if "No updates are to be performed" not in str(e):
                raise
            say(f"stack {stack} is up to date")
    else:
        if existing == "ROLLBACK_COMPLETE":
            cfn.delete_stack(StackName=stack)
        cfn.create_stack(**args)
        say(f"creating stack {stack}")
    deadline = time.monotonic() + 300
    while True:
        desc = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        status = desc["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise Fatal(f"stack {stack} still {status} after 300 s")
        time.sleep(0.2)
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        failed = [f"  {e['LogicalResourceId']} ({e['ResourceType']}): {e['ResourceStatus']} "
                  f"{e.get('ResourceStatusReason', '')}"
                  for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
                  if "FAILED" in e["ResourceStatus"]]
        raise Fatal(f"stack {stack}: {status} {desc.get('StackStatusReason', '')}\n" + "\n".join(failed))
    return desc


class Resolver:
    """Just enough of CloudFormation's intrinsics to read the properties that MiniStack's
    CloudFormation drops: Ref, GetAtt (Arn and a few others), If, Sub, Select, Split, Join,
    Equals/Not/And/Or conditions."""

    def __init__(self, aws: Aws, template: dict, params: dict[str, str], physical: dict[str, tuple[str, str]]):
        self.aws, self.template, self.physical = aws, template, physical
        self.params = {k: str(v.get("Default", "")) for k, v in (template.get("Parameters") or {}).items()}
        self.params.update({k: v for k, v in params.items() if k in self.params})
        self.params.update({"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                            "AWS::URLSuffix": "amazonaws.com"})

    def condition(self, name: str) -> bool:
        return bool(self.value((self.template.get("Conditions") or {})[name]))

    def ref(self, name: str):
        if name in self.params:
            return self.params[name]
        if name in self.physical:
            return self.physical[name][1]
        raise KeyError(f"Ref {name}")

    def getatt(self, name: str, attr: str) -> str:
        rtype, phys = self.physical[name]
        if attr == "Arn":
            if rtype == "AWS::SQS::Queue":
                return self.aws("sqs").get_queue_attributes(QueueUrl=phys, AttributeNames=["QueueArn"])[
                    "Attributes"]["QueueArn"]
            if rtype in ("AWS::SNS::Topic",):
                return phys
            if rtype == "AWS::Lambda::Function":
                return self.aws("lambda").get_function_configuration(FunctionName=phys)["FunctionArn"]
            if rtype == "AWS::DynamoDB::Table":
                return self.aws("dynamodb").describe_table(TableName=phys)["Table"]["TableArn"]
            if rtype == "AWS::S3::Bucket":
                return f"arn:aws:s3:::{phys}"
        if attr == "QueueName" and rtype == "AWS::SQS::Queue":
            return phys.rstrip("/").rsplit("/", 1)[-1]
        raise KeyError(f"GetAtt {name}.{attr}")

    def value(self, v):
        if isinstance(v, list):
            return [x for x in (self.value(i) for i in v) if x is not _NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                return _NO_VALUE if a == "AWS::NoValue" else self.ref(a)
            if k == "Fn::GetAtt":
                name, attr = a if isinstance(a, list) else a.split(".", 1)
                return self.getatt(name, attr)
            if k == "Fn::If":
                return self.value(a[1] if self.condition(a[0]) else a[2])
            if k == "Fn::Equals":
                return str(self.value(a[0])) == str(self.value(a[1]))
            if k == "Fn::Not":
                return not self.value(a[0])
            if k == "Fn::And":
                return all(self.value(x) for x in a)
            if k == "Fn::Or":
                return any(self.value(x) for x in a)
            if k == "Condition":
                return self.condition(a)
            if k == "Fn::Select":
                return self.value(a[1])[int(self.value(a[0]))]
            if k == "Fn::Split":
                return str(self.value(a[1])).split(a[0])
            if k == "Fn::Join":
                return a[0].join(str(x) for x in self.value(a[1]))
            if k == "Fn::Sub":
                text, extra = (a, {}) if isinstance(a, str) else (a[0], {n: self.value(x) for n, x in a[1].items()})

                def sub(m):
                    key = m.group(1)
                    if key in extra:
                        return str(extra[key])
                    if "." in key:
                        return self.getatt(*key.split(".", 1))
                    return str(self.ref(key))

                return re.sub(r"\$\{([^}!]+)\}", sub, text)
        return {k: x for k, x in ((k, self.value(x)) for k, x in v.items()) if x is not _NO_VALUE}


_NO_VALUE = object()


def lifecycle_rules(rules: list[dict]) -> list[dict]:
    """CloudFormation LifecycleConfiguration.Rules -> the S3 API shape."""
    out = []
    for r in rules:
        rule: dict = {"ID": r.get("Id", f"rule-{len(out)}"), "Status": r.get("Status", "Enabled")}
        if "Prefix" in r:
            rule["Filter"] = {"Prefix": r["Prefix"]}
        else:
            rule["Filter"] = {"Prefix": ""}
        if "ExpirationInDays" in r:
            rule["Expiration"] = {"Days": int(r["ExpirationInDays"])}
        if "ExpirationDate" in r:
            rule["Expiration"] = {"Date": r["ExpirationDate"]}
        transitions = list(r.get("Transitions") or [])
        if "Transition" in r:
            transitions.append(r["Transition"])
        if transitions:
            rule["Transitions"] = [
                {"StorageClass": t["StorageClass"], **({"Days": int(t["TransitionInDays"])}
                                                      if "TransitionInDays" in t else {"Date": t["TransitionDate"]})}
                for t in transitions]
        if "NoncurrentVersionExpirationInDays" in r:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(r["NoncurrentVersionExpirationInDays"])}
        if "AbortIncompleteMultipartUpload" in r:
            rule["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
        out.append(rule)
    return out


def post_deploy(aws: Aws, stack: str, template: dict, params: dict[str, str], service_address: str) -> list[str]:
    """Re-applies what MiniStack's CloudFormation drops; returns what was done."""
    cfn, done = aws("cloudformation"), []
    physical = {r["LogicalResourceId"]: (r["ResourceType"], r["PhysicalResourceId"])
                for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]}
    res = Resolver(aws, template, params, physical)
    globals_fn = ((template.get("Globals") or {}).get("Function") or {})
    ddb, s3, lam, ses = aws("dynamodb"), aws("s3"), aws("lambda"), aws("ses")

    def warn(what: str, e: Exception) -> None:
        say(f"warning: {what}: {e}")

    for logical, resource in (template.get("Resources") or {}).items():
        if logical not in physical:
            continue  # condition false locally (e.g. the SES receipt rule)
        rtype, phys = physical[logical]
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::DynamoDB::Table":
            ttl = res.value(props.get("TimeToLiveSpecification") or {})
            if ttl.get("Enabled") in (True, "true") and ttl.get("AttributeName"):
                cur = ddb.describe_time_to_live(TableName=phys)["TimeToLiveDescription"]
                if cur.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                    ddb.update_time_to_live(TableName=phys, TimeToLiveSpecification={
                        "Enabled": True, "AttributeName": ttl["AttributeName"]})
                    done.append(f"{logical}: TTL on {ttl['AttributeName']}")
            pitr = res.value(props.get("PointInTimeRecoverySpecification") or {})
            if pitr.get("PointInTimeRecoveryEnabled") in (True, "true"):
                cur = ddb.describe_continuous_backups(TableName=phys)["ContinuousBackupsDescription"]
                if (cur.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus") != "ENABLED":
                    ddb.update_continuous_backups(TableName=phys, PointInTimeRecoverySpecification={
                        "PointInTimeRecoveryEnabled": True})
                    done.append(f"{logical}: point-in-time recovery")
            sse = res.value(props.get("SSESpecification") or {})
            if sse.get("SSEEnabled") in (True, "true"):
                table = ddb.describe_table(TableName=phys)["Table"]
                if (table.get("SSEDescription") or {}).get("Status") not in ("ENABLED", "ENABLING"):
                    try:
                        spec = {"Enabled": True}
                        if sse.get("SSEType"):
                            spec["SSEType"] = sse["SSEType"]
                        ddb.update_table(TableName=phys, SSESpecification=spec)
                        done.append(f"{logical}: SSE")
                    except Exception as e:
                        warn(f"{logical}: SSE (no local effect anyway)", e)
        elif resource["Type"] == "AWS::S3::Bucket":
            rules = (res.value(props.get("LifecycleConfiguration") or {})).get("Rules")
            if rules:
                try:
                    s3.get_bucket_lifecycle_configuration(Bucket=phys)
                except s3.exceptions.ClientError:
                    s3.put_bucket_lifecycle_configuration(
                        Bucket=phys, LifecycleConfiguration={"Rules": lifecycle_rules(rules)})
                    done.append(f"{logical}: lifecycle ({len(rules)} rules)")
        elif resource["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            merged = {**globals_fn, **props} if resource["Type"] == "AWS::Serverless::Function" else props
            conc = merged.get("ReservedConcurrentExecutions")
            if conc is not None:
                conc = int(res.value(conc))
                cur = lam.get_function_concurrency(FunctionName=phys).get("ReservedConcurrentExecutions")
                if cur != conc:
                    lam.put_function_concurrency(FunctionName=phys, ReservedConcurrentExecutions=conc)
                    done.append(f"{logical}: reserved concurrency {conc}")
            dlq = merged.get("DeadLetterQueue") or merged.get("DeadLetterConfig")
            if dlq:
                dlq = res.value(dlq)
                arn = dlq.get("TargetArn")
                cfg = lam.get_function_configuration(FunctionName=phys)
                if arn and (cfg.get("DeadLetterConfig") or {}).get("TargetArn") != arn:
                    lam.update_function_configuration(FunctionName=phys, DeadLetterConfig={"TargetArn": arn})
                    lam.get_waiter("function_updated_v2").wait(FunctionName=phys,
                                                               WaiterConfig={"Delay": 1, "MaxAttempts": 30})
                    done.append(f"{logical}: dead-letter queue")
            eic = merged.get("EventInvokeConfig")
            if eic and resource["Type"] == "AWS::Serverless::Function":
                eic = res.value(eic)
                configs = lam.list_function_event_invoke_configs(FunctionName=phys).get(
                    "FunctionEventInvokeConfigs", [])
                want = {k: eic[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds") if k in eic}
                dest = {}
                for kind in ("OnFailure", "OnSuccess"):
                    d = (eic.get("DestinationConfig") or {}).get(kind)
                    if d and d.get("Destination"):
                        dest[kind] = {"Destination": d["Destination"]}
                have = configs[0] if configs else {}
                have_failure = ((have.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
                if not configs or (dest.get("OnFailure") and have_failure != dest["OnFailure"]["Destination"]):
                    lam.put_function_event_invoke_config(FunctionName=phys, Qualifier="$LATEST", **want,
                                                         **({"DestinationConfig": dest} if dest else {}))
                    done.append(f"{logical}: async retries / on-failure destination")
    # SES: the service address (and its domain, for the +tag addresses) may send.
    domain = service_address.rpartition("@")[2]
    ses.verify_email_identity(EmailAddress=service_address)
    ses.verify_domain_identity(Domain=domain)
    status = ses.get_identity_verification_attributes(Identities=[service_address, domain])[
        "VerificationAttributes"]
    if any((status.get(i) or {}).get("VerificationStatus") != "Success" for i in (service_address, domain)):
        say(f"warning: SES verification status: {status}")
    done.append(f"SES: verified {service_address} and {domain}")
    return done


def receipt_route(template: dict) -> tuple[str, str, str]:
    """(function logical id, bucket logical id, object key prefix) of the SES receipt rule
    in the template (S3Action then LambdaAction); defaults to EmailIntakeFunction,
    MailBucket, raw/."""
    fn, bucket, prefix = "EmailIntakeFunction", "MailBucket", "raw/"
    for res in (template.get("Resources") or {}).values():
        if res.get("Type") != "AWS::SES::ReceiptRule":
            continue
        for action in ((res.get("Properties") or {}).get("Rule") or {}).get("Actions") or []:
            if "S3Action" in action:
                b = action["S3Action"].get("BucketName")
                if isinstance(b, dict) and "Ref" in b:
                    bucket = b["Ref"]
                prefix = action["S3Action"].get("ObjectKeyPrefix", "")
            if "LambdaAction" in action:
                arn = action["LambdaAction"].get("FunctionArn")
                if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                    g = arn["Fn::GetAtt"]
                    fn = g[0] if isinstance(g, list) else g.split(".", 1)[0]
    return fn, bucket, prefix


# ---------------------------------------------------------------------------------------
# SES inbound (SMTP) and the outbox page


class Inbound:
    """Stores each accepted message as SES would and invokes the intake function."""

    def __init__(self, aws: Aws, bucket: str, prefix: str, function: str, function_arn: str):
        self.aws, self.bucket, self.prefix, self.function, self.function_arn = aws, bucket, prefix, function, function_arn
        self.log: collections.deque = collections.deque(maxlen=200)

    async def deliver(self, env: localmail.Envelope, data: bytes) -> str:
        return await asyncio.to_thread(self._deliver, env, data)

    def _deliver(self, env: localmail.Envelope, data: bytes) -> str:
        started = datetime.now(timezone.utc)
        t = time.monotonic()
        ses_id = localmail.new_ses_message_id()
        raw = localmail.trace_headers(ses_id=ses_id, mail_from=env.mail_from or "", helo=env.helo, peer=env.peer,
                                      recipients=env.rcpt_to, when=started, host="inbound-smtp.loket.local") + data
        key = f"{self.prefix}{ses_id}"
        self.aws("s3").put_object(Bucket=self.bucket, Key=key, Body=raw)
        event = localmail.ses_receipt_event(
            ses_id=ses_id, raw=raw, mail_from=env.mail_from or "", recipients=env.rcpt_to,
            function_arn=self.function_arn, received_at=started,
            processing_ms=int((time.monotonic() - t) * 1000))
        r = self.aws("lambda").invoke(FunctionName=self.function, InvocationType="Event",
                                      Payload=json.dumps(event).encode())
        if r.get("StatusCode") != 202:
            raise RuntimeError(f"invoke {self.function}: status {r.get('StatusCode')}")
        subject = event["Records"][0]["ses"]["mail"]["commonHeaders"].get("subject", "")
        self.log.appendleft({"sesMessageId": ses_id, "from": env.mail_from, "to": list(env.rcpt_to),
                             "subject": subject, "bytes": len(raw), "s3": f"s3://{self.bucket}/{key}",
                             "time": started.timestamp()})
        say(f"mail in: {env.mail_from or '<>'} -> {', '.join(env.rcpt_to)} \"{subject}\" "
            f"stored at s3://{self.bucket}/{key}, {self.function} invoked (Event)")
        return ses_id


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class DevIssuer:
    """A dev OpenID issuer for the HTTP API's JWT authorizer (template parameters JwtIssuer and
    JwtAudience): discovery and JWKS on the web port under /_local/oidc, RS256, the key kept in
    .local/oidc-key.pem. Tokens: `loket_local.py token <staff id or email>`."""

    PATH = "/_local/oidc"
    KEY_FILE = LOCAL / "oidc-key.pem"

    def __init__(self, issuer: str, audience: str):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.issuer, self.audience = issuer, audience
        try:
            self.key = serialization.load_pem_private_key(self.KEY_FILE.read_bytes(), password=None)
        except (OSError, ValueError):
            fresh = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = fresh.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
            # Whichever launcher published first, all use that key (tokens are signed from the file).
            self.key = serialization.load_pem_private_key(publish_once(self.KEY_FILE, pem), password=None)
        numbers = self.key.public_key().public_numbers()
        self.n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        self.e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        self.kid = hashlib.sha256(self.n).hexdigest()[:16]
        self._codes: dict[str, dict] = {}
        self._codes_lock = threading.Lock()

    CODE_SECONDS = 60

    def authorize(self, query: dict[str, str], claims: dict, callback: str) -> str:
        """An authorization code for `claims` (OAuth 2.0 code with PKCE, S256 only); where to
        send the browser. Raises ValueError for a request Cognito would refuse."""
        if query.get("response_type") != "code":
            raise ValueError("response_type must be code")
        if query.get("redirect_uri") != callback:
            raise ValueError(f"redirect_uri must be {callback}")
        challenge = query.get("code_challenge", "")
        if query.get("code_challenge_method") != "S256" or len(challenge) < 43:
            raise ValueError("a code_challenge with code_challenge_method S256 is required")
        code = secrets.token_urlsafe(24)
        with self._codes_lock:
            now = time.time()
            self._codes = {c: v for c, v in self._codes.items() if v["until"] > now}
            self._codes[code] = {"claims": claims, "challenge": challenge, "redirect_uri": callback,
                                 "client_id": query.get("client_id", ""), "until": now + self.CODE_SECONDS}
        state = {"state": query["state"]} if query.get("state") else {}
        return f"{callback}?{urllib.parse.urlencode({'code': code, **state})}"

    def token(self, form: dict[str, str]) -> tuple[int, dict]:
        """The token endpoint: a code (once, within a minute) and its PKCE verifier -> ID token."""
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._codes_lock:
            entry = self._codes.pop(form.get("code", ""), None)
        if entry is None or entry["until"] < time.time():
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        if (b64url(hashlib.sha256(verifier.encode()).digest()) != entry["challenge"]
                or form.get("redirect_uri") != entry["redirect_uri"]
                or form.get("client_id") != entry["client_id"]):
            return 400, {"error": "invalid_grant"}
        return 200, {"id_token": self.mint(entry["claims"], ttl=3600), "token_type": "Bearer", "expires_in": 3600}

    def discovery(self) -> dict:
        base = self.issuer[: -len(self.PATH)]
        return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks.json",
                "authorization_endpoint": f"{base}/_local/login", "token_endpoint": f"{base}/_local/token",
                "id_token_signing_alg_values_supported": ["RS256"], "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"], "subject_types_supported": ["public"]}

    def jwks(self) -> dict:
        return {"keys": [{"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                          "n": b64url(self.n), "e": b64url(self.e)}]}

    def mint(self, claims: dict, ttl: int = 8 * 3600) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        body = {"iss": self.issuer, "aud": self.audience, "iat": now, "nbf": now - 5, "exp": now + ttl,
                "token_use": "id", **claims}
        head = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(body).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(sig)}"


def staff_claims(agency: str, who: str | None) -> dict:
    """JWT claims of a staff member of the agency profile (by id or email; default the first):
    sub, email, name and cognito:groups = their roles, as Cognito would issue them."""
    profile = tomllib.loads((AGENCIES_DIR / f"{agency}.toml").read_text(encoding="utf-8"))
    staff = profile.get("staff") or []
    if who is None and staff:
        member = staff[0]
    else:
        member = next((m for m in staff if who in (m.get("id"), m.get("email"))), None)
    if member is None:
        if who and "@" in who:  # someone outside the directory: no roles
            return {"sub": who, "email": who, "name": who, "cognito:groups": []}
        known = ", ".join(f"{m.get('id')} ({'/'.join(m.get('roles', []))})" for m in staff)
        raise Fatal(f"no staff member {who!r} in {agency}; known: {known}")
    return {"sub": member.get("id") or member["email"], "email": member["email"],
            "name": member.get("name", member["email"]), "cognito:groups": list(member.get("roles", []))}


def dev_login_page(agency: str, query: str) -> str:
    """The local stand-in for Cognito's hosted sign-in: pick a staff member of the agency
    profile; the launcher sends the browser back to the console's sign-in hop with a code,
    which the hop trades (with its PKCE verifier) for that person's dev token, exactly as
    with Cognito. `query` is the authorization request, carried on each link."""
    profile = tomllib.loads((AGENCIES_DIR / f"{agency}.toml").read_text(encoding="utf-8"))
    q = f"?{query}" if query else ""

    def row(m: dict) -> str:
        href = "/_local/login/" + urllib.parse.quote(m.get("id") or m["email"]) + q
        roles = ", ".join(m.get("roles", []))
        return (f'<li><a href="{html.escape(href)}">{html.escape(m.get("name", m["email"]))}</a> '
                f'({html.escape(roles)})</li>')

    rows = "".join(row(m) for m in profile.get("staff") or [])
    return ("<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\"><title>Masuk (lokal)</title></head>"
            "<body><h1>Masuk sebagai petugas (lokal)</h1><p>Pengganti halaman masuk Cognito untuk "
            f"<code>make run</code>. Pilih petugas:</p><ul>{rows}</ul></body></html>")


class Outbox:
    """The web port: the outbox page and JSON, and (once the stack has an HTTP API) every
    other path proxied to that API, so that PublicBaseUrl links in mail work."""

    RESERVED = ("/outbox", "/outbox/", "/outbox.json", "/inbox.json")
    LOCAL_PREFIX = "/_local/"  # the launcher's own paths (the dev OpenID issuer), never proxied
    HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                  "transfer-encoding", "upgrade", "host", "content-length"}

    def __init__(self, endpoint: str, tz: str, inbound: Inbound | None, info: dict, api_id: str | None = None,
                 issuer: DevIssuer | None = None):
        # inbound and api_id are set once the stack is deployed; the issuer answers before that
        # (the JWT authorizer may fetch the discovery document at any time).
        self.endpoint, self.inbound, self.info, self.api_id, self.issuer = endpoint, inbound, info, api_id, issuer
        try:
            from zoneinfo import ZoneInfo

            self.tz = ZoneInfo(tz)
        except Exception:
            self.tz = timezone.utc
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def messages(self) -> list[dict]:
        with self.opener.open(f"{self.endpoint}/_ministack/ses/messages", timeout=10) as r:
            data = json.load(r)
        out = []
        for account, msgs in (data.get("messages") or {}).items():
            for m in msgs:
                out.append({**m, "Account": account})
        out.sort(key=lambda m: m.get("Timestamp") or 0, reverse=True)
        return out

    def when(self, ts) -> str:
        try:
            return datetime.fromtimestamp(float(ts), self.tz).strftime("%Y-%m-%d %H:%M:%S %Z")
        except (TypeError, ValueError):
            return str(ts)

    def page(self) -> str:
        e = html.escape
        try:
            msgs, error = self.messages(), None
        except Exception as ex:  # MiniStack gone or busy: say so on the page
            msgs, error = [], str(ex)
        rows = []
        for m in msgs:
            to = ", ".join(str(t) for t in (m.get("To") or []))
            rows.append(
                "<article><header>"
                f"<h3>{e(str(m.get('Subject') or '(tanpa subjek)'))}</h3>"
                f"<p><b>Kepada:</b> {e(to)}<br><b>Dari:</b> {e(str(m.get('Source') or ''))}<br>"
                f"<b>Waktu:</b> {e(self.when(m.get('Timestamp')))}<br>"
                f"<b>MessageId:</b> <code>{e(str(m.get('MessageId') or ''))}</code> "
                f"<small>({e(str(m.get('Type') or ''))})</small></p></header>"
                f"<pre>{e(str(m.get('BodyText') or ''))}</pre></article>")
        inbound = []
        for m in list(self.inbound.log if self.inbound else []):
            inbound.append(
                f"<tr><td>{e(self.when(m['time']))}</td><td>{e(m['from'] or '<>')}</td>"
                f"<td>{e(', '.join(m['to']))}</td><td>{e(m['subject'])}</td>"
                f"<td><code>{e(m['s3'])}</code></td></tr>")
        info = self.info
        return f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Kotak keluar SES lokal - Loket</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}}
article{{border:1px solid #ccc;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}}
pre{{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}} table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ddd;padding:.25rem;text-align:left;font-size:.9rem}} h3{{margin:.3rem 0}}</style></head>
<body><h1>Kotak keluar (surat yang dikirim SES)</h1>
<p>Awan lokal Loket: instansi <b>{e(info['agency_id'])}</b>, alamat layanan
<code>{e(info['service_address'])}</code>. Kirim surat lewat SMTP ke <code>{e(info['smtp'])}</code>.
Halaman ini dimuat ulang tiap 5 detik. <a href="/outbox.json">JSON</a></p>
{f'<p><b>Galat:</b> {e(error)}</p>' if error else ''}
<h2>Surat keluar ({len(msgs)})</h2>
{''.join(rows) or '<p>Belum ada surat keluar.</p>'}
<h2>Surat masuk lewat SMTP ({len(inbound)})</h2>
<table><tr><th>Waktu</th><th>Pengirim</th><th>Penerima</th><th>Subjek</th><th>Objek S3</th></tr>
{''.join(inbound) or '<tr><td colspan="5">Belum ada surat masuk.</td></tr>'}</table>
</body></html>"""

    def serve(self, sock: socket.socket) -> ThreadingHTTPServer:
        outbox = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, code: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                path = self.path.split("?", 1)[0]
                if path.startswith(Outbox.LOCAL_PREFIX):
                    self.local(path)
                elif outbox.api_id and path not in Outbox.RESERVED:
                    self.proxy()
                elif path == "/":
                    self._send(302, b"", "text/plain", {"Location": "/outbox"})
                elif path in ("/outbox", "/outbox/"):
                    self._send(200, outbox.page().encode(), "text/html; charset=utf-8")
                elif path == "/outbox.json":
                    try:
                        body = {"messages": outbox.messages()}
                        code = 200
                    except Exception as ex:
                        body, code = {"error": str(ex)}, 502
                    self._send(code, json.dumps(body, ensure_ascii=False, indent=1).encode(),
                               "application/json; charset=utf-8")
                elif path == "/inbox.json":
                    self._send(200, json.dumps({"messages": list(outbox.inbound.log if outbox.inbound else [])},
                                               ensure_ascii=False,
                                               indent=1).encode(), "application/json; charset=utf-8")
                else:
                    self.other()

            do_HEAD = do_GET

            def log_message(self, *args):
                pass

            def local(self, path: str) -> None:
                iss = outbox.issuer
                if iss and path == f"{DevIssuer.PATH}/.well-known/openid-configuration":
                    self._send(200, json.dumps(iss.discovery()).encode(), "application/json")
                elif iss and path == f"{DevIssuer.PATH}/jwks.json":
                    self._send(200, json.dumps(iss.jwks()).encode(), "application/json")
                elif iss and path == "/_local/login":
                    query = self.path.split("?", 1)[1] if "?" in self.path else ""
                    self._send(200, dev_login_page(outbox.info["agency_id"], query).encode(),
                               "text/html; charset=utf-8", {"Content-Security-Policy": "default-src 'none'; base-uri 'none'"})
                elif iss and path.startswith("/_local/login/"):
                    who = urllib.parse.unquote(path[len("/_local/login/"):])
                    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                    base = iss.issuer[: -len(DevIssuer.PATH)]
                    try:
                        where = iss.authorize(query, staff_claims(outbox.info["agency_id"], who), f"{base}/konsol/masuk")
                    except Fatal as ex:
                        self._send(404, f"{ex}\n".encode(), "text/plain; charset=utf-8")
                        return
                    except ValueError as ex:
                        self._send(400, f"invalid_request: {ex}\n".encode(), "text/plain; charset=utf-8")
                        return
                    self._send(303, b"", "text/plain", {"Location": where})
                else:
                    self._send(404, b"not found\n", "text/plain")

            def proxy(self) -> None:
                """Forwards the request to the HTTP API on MiniStack
                (<endpoint>/_aws/execute-api/<apiId><path>)."""
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in Outbox.HOP_BY_HOP}
                headers.update({"X-Forwarded-For": self.client_address[0], "X-Forwarded-Proto": "http",
                                "X-Forwarded-Host": self.headers.get("Host", "")})
                target = urllib.parse.urlsplit(outbox.endpoint)
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                try:
                    conn.request(self.command, f"/_aws/execute-api/{outbox.api_id}{self.path}", body=body,
                                 headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    self.send_response(r.status, r.reason)
                    for k, v in r.getheaders():
                        if k.lower() not in Outbox.HOP_BY_HOP and k.lower() not in ("date", "server"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                except OSError as ex:
                    self._send(502, f"HTTP API unreachable: {ex}\n".encode(), "text/plain; charset=utf-8")
                finally:
                    conn.close()

            def other(self) -> None:
                if self.command == "POST" and self.path.split("?", 1)[0] == "/_local/token" and outbox.issuer:
                    length = int(self.headers.get("Content-Length") or 0)
                    form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode("utf-8", "replace")))
                    code, body = outbox.issuer.token(form)
                    self._send(code, json.dumps(body).encode(), "application/json")
                elif outbox.api_id and not self.path.startswith(Outbox.LOCAL_PREFIX):
                    self.proxy()
                else:
                    self._send(404, "Belum ada HTTP API di stack ini (not found). Kotak keluar: /outbox\n".encode(),
                               "text/plain; charset=utf-8")

            do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = other

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        server = Server(sock.getsockname(), Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = sock  # bound (and listening) before the deploy, to hold the port
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25}, name="outbox",
                         daemon=True).start()
        return server


class ThrottleRedrive:
    """Gives asynchronous events the retries AWS would. Two things MiniStack does
    differently: when a function is at its reserved concurrency, AWS keeps an async event
    and retries it for up to six hours (MaximumEventAgeInSeconds; only function errors
    count against MaximumRetryAttempts), where MiniStack counts each throttle as a failed
    attempt and sends the event to the dead-letter queue after two quick retries; and
    AWS spaces the retries of a function error about one and two minutes apart, where
    MiniStack waits one and two seconds (so a retry meets the 60-second claim lease of
    the attempt that failed, and fails again).

    This watches the queue: an event whose last answer was a throttle is invoked again at
    once; an event that failed is invoked again after RETRY_AFTER seconds, up to
    MAX_RETRIES times, as AWS would have; after that it stays in the queue for people.
    Every failure is printed (stderr), with its error.

    It never deletes a message: a message it has invoked again is hidden for the longest
    visibility SQS allows (and again whenever it comes back). MiniStack's DeleteMessage
    rebuilds the queue's message list without a lock while the emulator's async-failure
    path appends dead-lettered events to the same list from another thread, so a delete
    racing an append lost the appended event: an accepted mail that never became a
    ticket, with nothing in the queue (seen in 2 of 7 load runs before this)."""

    RETRY_AFTER = 60
    MAX_RETRIES = 2
    HIDDEN = 43200  # SQS's maximum visibility timeout, 12 hours

    def __init__(self, aws: Aws, queue_url: str):
        self.aws, self.queue_url = aws, queue_url
        self.stop = threading.Event()
        self.redriven = 0
        self.retried: dict[str, int] = {}  # event -> failed events invoked again
        self.waiting: set[str] = set()  # failed events waiting for their retry
        self.done: set[str] = set()  # SQS message ids already invoked again, kept hidden

    def start(self) -> None:
        threading.Thread(target=self._run, name="throttle-redrive", daemon=True).start()

    def _run(self) -> None:
        sqs, lam = self.aws("sqs"), self.aws("lambda")
        while not self.stop.is_set():
            try:
                self.poll_once(sqs, lam)
            except Exception:  # noqa: BLE001 - the emulator is stopping or busy; try again
                self.stop.wait(2)

    def poll_once(self, sqs, lam) -> None:
        """One receive from the queue, and what each message calls for."""
        got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  VisibilityTimeout=60)
        for m in got.get("Messages") or []:
            self._handle(sqs, lam, m)

    def _hide(self, sqs, m: dict, seconds: int) -> None:
        sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"],
                                      VisibilityTimeout=seconds)

    def _handle(self, sqs, lam, m: dict) -> None:
        if m.get("MessageId") in self.done:
            self._hide(sqs, m, self.HIDDEN)
            return
        failure = dead_letters.parse(m["Body"])
        if failure is None:
            # Not an event this can invoke again: left in the queue for people, said once.
            print(f"[loket-local] dead-letter: a message that is not a failed event ({m['Body'][:200]}); "
                  "left in the queue", file=sys.stderr, flush=True)
            self._hide(sqs, m, self.HIDDEN)
            return
        throttled, name = failure.throttled, failure.name
        key = hashlib.sha256(json.dumps(failure.payload, sort_keys=True).encode()).hexdigest()
        if not throttled and key not in self.waiting:
            what = failure.error
            tries = self.retried.get(key, 0)
            if tries >= self.MAX_RETRIES:
                print(f"[loket-local] dead-letter: {name} failed {tries + 1} times ({what}); left in the queue",
                      file=sys.stderr, flush=True)
                self._hide(sqs, m, self.HIDDEN)
                return
            print(f"[loket-local] dead-letter: {name} failed ({what}); invoked again in {self.RETRY_AFTER} s, "
                  "as AWS retries", file=sys.stderr, flush=True)
            self.waiting.add(key)
            self._hide(sqs, m, self.RETRY_AFTER)
            return
        try:
            lam.invoke(FunctionName=failure.function, InvocationType="Event",
                       Payload=json.dumps(failure.payload).encode())
        except Exception:  # noqa: BLE001 - keep the message; it comes back after the timeout
            return
        self.done.add(m["MessageId"])
        self._hide(sqs, m, self.HIDDEN)
        if not throttled:
            self.waiting.discard(key)
            self.retried[key] = self.retried.get(key, 0) + 1
        self.redriven += 1


class LogTail:
    """Prints the functions' CloudWatch Logs as they come (every trigger: SES, schedule, API),
    without the START/END/REPORT lines unless the run failed."""

    def __init__(self, aws: Aws, groups: dict[str, str]):
        self.aws, self.groups = aws, groups
        self.stop = threading.Event()
        self.since = {g: int(time.time() * 1000) - 60_000 for g in groups.values()}
        self.seen: dict[str, dict] = {g: {} for g in groups.values()}  # event key -> timestamp

    def start(self) -> None:
        threading.Thread(target=self._run, name="log-tail", daemon=True).start()

    def _run(self) -> None:
        logs = self.aws("logs")
        while not self.stop.wait(1.0):
            for label, group in self.groups.items():
                try:
                    kwargs = {"logGroupName": group, "startTime": self.since[group]}
                    events = []
                    while True:
                        page = logs.filter_log_events(**kwargs)
                        events += page.get("events", [])
                        if not page.get("nextToken"):
                            break
                        kwargs["nextToken"] = page["nextToken"]
                except Exception:
                    continue  # no log group until the first run
                for e in sorted(events, key=lambda e: (e["timestamp"], e.get("ingestionTime", 0))):
                    key = e.get("eventId") or (e["timestamp"], e["logStreamName"], e["message"])
                    if key in self.seen[group]:
                        continue
                    self.seen[group][key] = e["timestamp"]
                    self.since[group] = max(self.since[group], e["timestamp"])
                    for line in e["message"].rstrip("\n").splitlines():
                        if line.startswith(("START RequestId", "END RequestId", "REPORT RequestId")):
                            continue
                        print(f"  [λ {label}] {line}", flush=True)
                # Only events at the newest timestamp can come again (startTime is inclusive).
                self.seen[group] = {k: t for k, t in self.seen[group].items() if t >= self.since[group]}


# ---------------------------------------------------------------------------------------
# up


def write_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(path)


def cmd_up(args: argparse.Namespace) -> int:
    LOCAL.mkdir(exist_ok=True)
    state_file = Path(args.state_file).resolve() if args.state_file else LOCAL / "stack.json"
    stopping = {"why": None}
    original_parent = os.getppid()

    def on_signal(signum, _frame):
        stopping["why"] = signal.Signals(signum).name
        raise Stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if args.exit_with_parent:
        def watch_parent():
            while True:
                time.sleep(1)
                if os.getppid() != original_parent:
                    say(f"parent process {original_parent} is gone; stopping")
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
        threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()

    ms: MiniStack | None = None
    web: ThreadingHTTPServer | None = None
    state_written = False
    try:
        try:
            other = json.loads(state_file.read_text()).get("launcher_pid")
            if other and other != os.getpid() and Path(f"/proc/{other}").exists():
                raise Fatal(f"another launcher (pid {other}) is running with {state_file}; stop it, "
                            "or give this one its own --state-file")
        except (OSError, ValueError):
            pass
        ms_port = args.port if args.port is not None else (4566 if port_free(4566) else free_port())
        if args.port == 0:
            ms_port = free_port()
        elif not port_free(ms_port):
            raise Fatal(f"port {ms_port} is in use (MiniStack)")
        smtp_sock = listen(args.smtp_port, 2525, "SMTP")
        web_sock = listen(args.web_port, 8025, "outbox")
        smtp_port, web_port = smtp_sock.getsockname()[1], web_sock.getsockname()[1]

        service_address, tz = agency_service_address(args.agency)
        template = load_template()
        functions = template_functions(template)

        ms = MiniStack(ms_port, LOCAL / "run" / str(ms_port), echo_warnings=not args.quiet)
        ms.start()
        say(f"MiniStack starting on {ms.endpoint} (log: {ms.log_path.relative_to(REPO)})")

        public_base = f"http://{HOST}:{web_port}"
        declared = template.get("Parameters") or {}
        issuer = DevIssuer(public_base + DevIssuer.PATH,
                           str((declared.get("JwtAudience") or {}).get("Default") or "loket-local"))
        outbox = Outbox(ms.endpoint, tz, None, {"agency_id": args.agency, "service_address": service_address,
                                                 "smtp": f"{HOST}:{smtp_port}"}, issuer=issuer)
        web = outbox.serve(web_sock)  # serves the issuer from now on, the outbox once deployed

        if args.binaries:
            exes = prebuilt(Path(args.binaries), set(functions.values()))
        else:
            exes = cargo_build(set(functions.values()))  # while MiniStack starts
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # objcopy and zlib run in parallel
            futures = {b: pool.submit(package, b, exe, not args.no_strip) for b, exe in exes.items()}
            zips = {b: f.result() for b, f in futures.items()}
        ms.wait_ready()
        say("MiniStack ready")

        aws = Aws(ms.endpoint)
        t = time.monotonic()
        code = upload_code(aws, zips)
        say(f"uploaded {len(code)} function zip(s) to s3://{CODE_BUCKET}/ in {time.monotonic() - t:.1f}s")
        params = {
            "Target": "local",
            "Architecture": host_architecture(),
            "AgencyId": args.agency,
            "ServiceAddress": service_address,
            "PublicBaseUrl": public_base,
            "JwtIssuer": issuer.issuer,
            "JwtAudience": issuer.audience,
        }
        for kv in args.parameter or []:
            k, _, v = kv.partition("=")
            params[k] = v
        t = time.monotonic()
        desc = deploy(aws, args.stack_name, template, code, functions, params)
        say(f"stack {args.stack_name}: {desc['StackStatus']} in {time.monotonic() - t:.1f}s")
        t = time.monotonic()
        for line in post_deploy(aws, args.stack_name, template, params, service_address):
            say(f"post-deploy: {line}")
        say(f"post-deploy done in {time.monotonic() - t:.1f}s")

        outputs = {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs") or []}
        resources = {r["LogicalResourceId"]: r for r in
                     aws("cloudformation").list_stack_resources(StackName=args.stack_name)["StackResourceSummaries"]}
        fn_logical, bucket_logical, prefix = receipt_route(template)
        intake = resources[fn_logical]["PhysicalResourceId"]
        mail_bucket = resources[bucket_logical]["PhysicalResourceId"]
        intake_arn = aws("lambda").get_function_configuration(FunctionName=intake)["FunctionArn"]
        apis = [r for r in resources.values()
                if r["ResourceType"] in ("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi")]
        http_apis = [{"logical_id": r["LogicalResourceId"], "api_id": r["PhysicalResourceId"],
                      "url": f"{ms.endpoint}/_aws/execute-api/{r['PhysicalResourceId']}/",
                      "host_url": f"http://{r['PhysicalResourceId']}.execute-api.localhost:{ms_port}/"}
                     for r in apis]

        inbound = Inbound(aws, mail_bucket, prefix, intake, intake_arn)
        local, _, domain = service_address.partition("@")
        state = {
            "launcher_pid": os.getpid(),
            "ministack_pid": ms.proc.pid if ms.proc else None,
            "endpoint": ms.endpoint,
            "region": REGION,
            "account": ACCOUNT,
            "credentials": {"aws_access_key_id": "test", "aws_secret_access_key": "test"},
            "ministack_log": str(ms.log_path),
            "stack_name": args.stack_name,
            "agency_id": args.agency,
            "service_address": service_address,
            "smtp": {"host": HOST, "port": smtp_port, "address": service_address,
                     "plus_address_example": f"{local}+tag@{domain}"},
            "outbox_url": f"http://{HOST}:{web_port}/outbox",
            "outbox_json_url": f"http://{HOST}:{web_port}/outbox.json",
            "inbox_json_url": f"http://{HOST}:{web_port}/inbox.json",
            "ses_messages_url": f"{ms.endpoint}/_ministack/ses/messages",
            "public_base_url": public_base,
            "http_apis": http_apis,
            "jwt": {"issuer": issuer.issuer, "audience": issuer.audience, "key_file": str(DevIssuer.KEY_FILE),
                    "token_command": "tools/local/loket_local.py token <staff id or email>"},
            "table_name": outputs.get("TableName") or resources.get("Table", {}).get("PhysicalResourceId"),
            "mail_bucket": mail_bucket,
            "raw_prefix": prefix,
            "intake_function": intake,
            "intake_function_arn": intake_arn,
            "functions": {lid: resources[lid]["PhysicalResourceId"] for lid in functions if lid in resources},
            "log_groups": {lid: f"/aws/lambda/{resources[lid]['PhysicalResourceId']}"
                           for lid in functions if lid in resources},
            "dead_letter_queue_url": outputs.get("DeadLetterQueueUrl"),
            "code_bucket": CODE_BUCKET,
            "outputs": outputs,
            "ready_after_seconds": round(time.monotonic() - T0, 2),
        }

        async def serve() -> int:
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()

            def request_stop(name: str) -> None:
                stopping["why"] = name
                stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, request_stop, sig.name)
            smtp = localmail.SmtpServer(localmail.RecipientPolicy(service_address), inbound.deliver,
                                        log=lambda m: say(m))
            await smtp.start(smtp_sock)
            outbox.inbound = inbound
            outbox.api_id = http_apis[0]["api_id"] if len(http_apis) == 1 else None
            write_state(state_file, state)
            nonlocal state_written
            state_written = True
            print_summary(state, state_file)

            async def watch_ministack():
                while not stop.is_set():
                    if ms.proc.poll() is not None:
                        say(f"MiniStack exited unexpectedly ({ms.proc.returncode}):\n{ms.log_tail()}")
                        request_stop("ministack-exit")
                        return
                    await asyncio.sleep(0.5)

            tail = None
            if not args.quiet:
                tail = LogTail(aws, {binary: f"/aws/lambda/{state['functions'][lid]}"
                                     for lid, binary in functions.items() if lid in state["functions"]})
                tail.start()
            redrive = None
            if state.get("dead_letter_queue_url"):
                redrive = ThrottleRedrive(aws, state["dead_letter_queue_url"])
                redrive.start()
            watcher = asyncio.create_task(watch_ministack())
            await stop.wait()
            watcher.cancel()
            if redrive is not None:
                redrive.stop.set()
            if tail is not None:
                tail.stop.set()
            say(f"stopping ({stopping['why']})")
            await smtp.close()
            return 1 if stopping["why"] == "ministack-exit" else 0

        return asyncio.run(serve())
    except Stop:
        say(f"stopping ({stopping['why']})")
        return 0
    except Fatal as e:
        say(f"error: {e}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # don't interrupt the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if web is not None:
            web.shutdown()
            web.server_close()
        if ms is not None:
            ms.stop()
            say("MiniStack stopped")
        if state_written:
            try:
                if json.loads(state_file.read_text()).get("launcher_pid") == os.getpid():
                    state_file.unlink()
            except (OSError, ValueError):
                pass


def print_summary(s: dict, state_file: Path) -> None:
    smtp = s["smtp"]
    try:
        shown_state = state_file.relative_to(REPO)
    except ValueError:
        shown_state = state_file
    snippet = (
        "python3 -c 'import smtplib; from email.message import EmailMessage; m = EmailMessage(); "
        f"m[\"From\"] = \"Budi <budi@example.org>\"; m[\"To\"] = \"{smtp['address']}\"; "
        "m[\"Subject\"] = \"Internet mati di Dinas Kesehatan\"; "
        "m.set_content(\"Sejak pagi internet di kantor kami mati.\"); "
        f"smtplib.SMTP(\"{smtp['host']}\", {smtp['port']}).send_message(m)'")
    apis = "\n".join(f"    {a['logical_id']}: {a['url']}  (or {a['host_url']})" for a in s["http_apis"]) \
        or "    (none yet: the stack has no HTTP API; the web form, status page and console will be there)"
    if len(s["http_apis"]) == 1:
        apis += (f"\n    also at {s['public_base_url']}/ (PublicBaseUrl: the web port proxies it)"
                 f"\n    JWT issuer {s['jwt']['issuer']} (audience {s['jwt']['audience']}); a staff token:"
                 f"\n      TOKEN=$(.venv/ministack/bin/python tools/local/loket_local.py token rina)"
                 f"\n      curl -H \"Authorization: Bearer $TOKEN\" {s['public_base_url']}/api/staff/me")
    print(f"""
================================================================================
 Loket local cloud is up ({s['ready_after_seconds']}s). Ctrl-C stops everything.
--------------------------------------------------------------------------------
 MiniStack endpoint  {s['endpoint']}   (region {s['region']}, keys test/test)
                     AWS_ENDPOINT_URL={s['endpoint']} AWS_REGION={s['region']} \\
                     AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws ...
 Agency              {s['agency_id']}
 Mail in (SMTP)      {smtp['host']}:{smtp['port']}  ->  write to {smtp['address']}
                     (or {smtp['plus_address_example']}; other recipients get 550)
 Web form            {s['public_base_url']}/   (status pages: the link in each acknowledgement)
 Staff console       {s['public_base_url']}/konsol   (dev sign-in: pick a staff member)
 Outbox (SES sent)   {s['outbox_url']}   JSON: {s['outbox_json_url']}
 HTTP API
{apis}
 Stack               {s['stack_name']}
 Table               {s['table_name']}
 Mail bucket         {s['mail_bucket']}  (raw MIME under {s['raw_prefix']})
 Intake function     {s['intake_function']}  (logs: /aws/lambda/{s['intake_function']})
 Dead-letter queue   {s['dead_letter_queue_url']}
 MiniStack log       {s['ministack_log']}
 State (JSON)        {shown_state}
--------------------------------------------------------------------------------
 Send a test mail:
   {snippet}
   swaks --server {smtp['host']}:{smtp['port']} --from budi@example.org --to {smtp['address']} \\
     --header 'Subject: Internet mati di Dinas Kesehatan' --body 'Sejak pagi internet mati.'
   .venv/ministack/bin/python tools/local/loket_local.py send --subject 'Internet mati di Dinas Kesehatan'
================================================================================
""", flush=True)


# ---------------------------------------------------------------------------------------
# send


def cmd_send(args: argparse.Namespace) -> int:
    state_file = Path(args.state_file).resolve() if args.state_file else LOCAL / "stack.json"
    try:
        state = json.loads(state_file.read_text())
    except OSError:
        print(f"no {state_file}: is `make run` running?", file=sys.stderr)
        return 1
    msg = EmailMessage()
    msg["From"] = args.from_
    msg["To"] = args.to or state["smtp"]["address"]
    msg["Subject"] = args.subject
    msg["Date"] = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg["Message-ID"] = f"<{secrets.token_hex(12)}@{args.from_.rpartition('@')[2].rstrip('>') or 'example.org'}>"
    msg.set_content(args.body)
    with smtplib.SMTP(state["smtp"]["host"], state["smtp"]["port"], timeout=30) as smtp:
        smtp.send_message(msg)
    print(f"sent \"{args.subject}\" from {args.from_} to {msg['To']}; outbox: {state['outbox_url']}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Prints a JWT from the dev issuer for a staff member of the running stack's agency."""
    state_file = Path(args.state_file).resolve() if args.state_file else LOCAL / "stack.json"
    try:
        state = json.loads(state_file.read_text())
    except OSError:
        print(f"no {state_file}: is `make run` running?", file=sys.stderr)
        return 1
    try:
        claims = staff_claims(state["agency_id"], args.who)
    except Fatal as e:
        print(e, file=sys.stderr)
        return 1
    if args.groups is not None:
        claims["cognito:groups"] = [g for g in args.groups.split(",") if g]
    issuer = DevIssuer(state["jwt"]["issuer"], state["jwt"]["audience"])
    print(issuer.mint(claims, args.ttl))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start MiniStack, build, deploy, serve SMTP and the outbox")
    up.add_argument("--port", type=int, help="MiniStack port (default 4566 if free, else a free one; 0 = any)")
    up.add_argument("--smtp-port", type=int, help="SMTP port (default 2525; 0 = any free)")
    up.add_argument("--web-port", type=int, help="outbox web port (default 8025; 0 = any free)")
    up.add_argument("--state-file", help="where to write the JSON description (default .local/stack.json)")
    up.add_argument("--agency", default="pangkalpinang", help="agency profile id (default pangkalpinang)")
    up.add_argument("--stack-name", default="loket")
    up.add_argument("--parameter", action="append", metavar="KEY=VALUE", help="override a template parameter")
    up.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process dies")
    up.add_argument("--no-strip", action="store_true", help="upload binaries with their debug info")
    up.add_argument("--binaries", metavar="DIR", help="use host binaries already built in DIR instead of running cargo")
    up.add_argument("--quiet", action="store_true", help="don't echo function logs and MiniStack warnings to the console")
    send = sub.add_parser("send", help="send a test mail to the running stack's SMTP listener")
    send.add_argument("--from", dest="from_", default="Budi Santoso <budi.santoso@example.org>")
    send.add_argument("--to", help="default: the service address")
    send.add_argument("--subject", default="Internet mati di Dinas Kesehatan")
    send.add_argument("--body", default="Selamat pagi,\n\nSejak pagi internet di kantor Dinas Kesehatan mati.\n"
                                        "Mohon bantuannya.\n\nBudi")
    send.add_argument("--state-file")
    token = sub.add_parser("token", help="print a staff JWT for the running stack's HTTP API")
    token.add_argument("who", nargs="?", help="staff id or email from the agency profile (default: the first)")
    token.add_argument("--groups", help="comma-separated groups instead of the profile's roles")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="seconds (default 8 h)")
    token.add_argument("--state-file")
    args = p.parse_args(argv)
    return {"up": cmd_up, "send": cmd_send, "token": cmd_token}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
