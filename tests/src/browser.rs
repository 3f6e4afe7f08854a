//! A real browser for end-to-end tests: Debian's `chromium`, headless, driven through
//! `chromedriver` (WebDriver) with `fantoccini`. Screenshots go to
//! `target/browser-artifacts/<test>/` and stay there after the test.
//!
//! `LOKET_CHROMIUM` and `LOKET_CHROMEDRIVER` override where the two programs are; without
//! them `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's packages `chromium` and
//! `chromium-driver`, which `make test` installs when it can) are used.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

pub struct Browser {
    pub client: Client,
    driver: Child,
    artifacts: PathBuf,
    profile: PathBuf,
    shots: u32,
}

fn program(var: &str, default: &str, package: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found: install Debian's `{package}` package (`apt-get install chromium chromium-driver`; \
         `make test` does this when it can) or set {var}",
        path.display()
    );
    path
}

impl Browser {
    /// A fresh headless Chromium with an empty profile; `test` names the artifacts folder.
    pub async fn start(test: &str) -> Browser {
        let chromium = program("LOKET_CHROMIUM", "/usr/bin/chromium", "chromium");
        let chromedriver = program("LOKET_CHROMEDRIVER", "/usr/bin/chromedriver", "chromium-driver");
        let port = crate::free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not listen within 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(crate::unique_name("loket-chromium"));
        let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-artifacts").join(test);
        std::fs::create_dir_all(&artifacts).expect("artifacts folder");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1100,1400", "--lang=id-ID",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("a Chromium session through chromedriver: {e}"));
        Browser { client, driver, artifacts, profile, shots: 0 }
    }

    /// Saves a screenshot of the page as `<n>-<name>.png` and returns its path.
    pub async fn shot(&mut self, name: &str) -> PathBuf {
        self.shots += 1;
        let path = self.artifacts.join(format!("{:02}-{name}.png", self.shots));
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("field {css}: {e}"));
        field.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub async fn select(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("select {css}: {e}"));
        field.select_by_value(value).await.unwrap_or_else(|e| panic!("choose {value} in {css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("find {css}: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("find {css}: {e}"));
        element.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("current URL").to_string()
    }

    /// Stops the driver and the Chromium it started (fantoccini's own `close` waits for
    /// every clone of the client to go, which a test holding elements may never do).
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // chromedriver and the Chromium it started share the process group.
        // `kill -TERM -- -<pgid>`: without `--`, procps reads `-<pgid>` as an option.
        let group = format!("-{}", self.driver.id());
        let signal = |sig: &str| {
            Command::new("kill")
                .args([sig, "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        signal("-TERM");
        let _ = self.driver.wait();
        // Chromium's own processes outlive the driver by a moment, writing to the profile
        // as they go: the profile is removed once the whole group is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while signal("-0") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        signal("-KILL");
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.driver.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}
