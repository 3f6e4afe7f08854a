//! The locally deployed stack, as `make run` runs it, for end-to-end tests: the launcher
//! (`tools/local/loket_local.py up`) starts MiniStack, deploys `infra/template.yaml` with
//! the real function binaries and plays SES inbound over SMTP; its state file says where
//! everything is. Also: a real SMTP client, dev staff tokens, and waiting with a limit.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The host binaries `make test` builds before running the tests.
pub fn binaries() -> PathBuf {
    let dir = std::env::var_os("LOKET_BINARIES").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("test binary path");
        exe.parent().and_then(Path::parent).expect("target/debug").to_path_buf()
    });
    for bin in ["email-intake", "form-intake", "sla-check", "transitions"] {
        assert!(
            dir.join(bin).is_file(),
            "{} missing: run `make test` (it builds the functions first)",
            dir.join(bin).display()
        );
    }
    dir
}

pub struct Launcher {
    child: Child,
    pub state: Value,
    pub state_file: PathBuf,
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

pub fn python() -> PathBuf {
    root().join(".venv/ministack/bin/python")
}

pub fn start() -> Launcher {
    start_for("pangkalpinang")
}

pub fn start_for(agency: &str) -> Launcher {
    // A directory (and state file) of its own: tests may run launchers side by side.
    let dir = std::env::temp_dir().join(crate::unique_name(&format!("loket-e2e-{agency}")));
    std::fs::create_dir_all(&dir).expect("dir");
    let state_file = dir.join("stack.json");
    let child = Command::new(python())
        .current_dir(root())
        .args(["tools/local/loket_local.py", "up", "--port", "0", "--smtp-port", "0", "--web-port", "0", "--quiet"])
        .args(["--stack-name", "loket-e2e", "--agency", agency, "--exit-with-parent", "--binaries"])
        .arg(binaries())
        .arg("--state-file")
        .arg(&state_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the launcher");
    let started = Instant::now();
    let mut launcher = Launcher { child, state: Value::Null, state_file };
    loop {
        if let Ok(text) = std::fs::read_to_string(&launcher.state_file)
            && let Ok(state) = serde_json::from_str::<Value>(&text)
        {
            launcher.state = state;
            return launcher;
        }
        assert!(launcher.child.try_wait().expect("poll").is_none(), "the launcher stopped before it was ready");
        assert!(started.elapsed() < Duration::from_secs(240), "the local stack was not ready within 240 s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn expect_code(reader: &mut BufReader<TcpStream>, code: &str) {
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("SMTP reply");
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    }
}

/// A real SMTP conversation with the local listener that plays SES inbound.
pub fn send_mail(host: &str, port: u64, from: &str, to: &str, message: &str) {
    let stream = TcpStream::connect((host, u16::try_from(port).expect("port"))).expect("connect to SMTP");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    expect_code(&mut reader, "220");
    for (command, code) in [
        ("EHLO dinkes.test".to_string(), "250"),
        (format!("MAIL FROM:<{from}>"), "250"),
        (format!("RCPT TO:<{to}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        writer.write_all(format!("{command}\r\n").as_bytes()).expect("send");
        expect_code(&mut reader, code);
    }
    writer.write_all(message.replace('\n', "\r\n").as_bytes()).expect("data");
    writer.write_all(b"\r\n.\r\n").expect("end of data");
    expect_code(&mut reader, "250");
    writer.write_all(b"QUIT\r\n").expect("quit");
}

pub fn token(launcher: &Launcher, who: &str) -> String {
    let out = Command::new(python())
        .current_dir(root())
        .args(["tools/local/loket_local.py", "token", who, "--state-file"])
        .arg(&launcher.state_file)
        .output()
        .expect("token");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default().to_string()
}

pub fn wait_for<T>(what: &str, seconds: u64, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(started.elapsed() < Duration::from_secs(seconds), "{what} did not happen within {seconds} s");
        std::thread::sleep(Duration::from_millis(500));
    }
}
