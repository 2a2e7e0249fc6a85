//! The browser tests' harness: headless Chromium (Debian's `chromium`)
//! driven through Debian's `chromium-driver` over WebDriver (a few
//! commands over HTTP, here with reqwest), as a person uses the web UI:
//! pages opened by URL, elements found by CSS selector and clicked, text
//! typed, screenshots saved and checked not to be blank.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver`
//! (`scripts/setup.sh` installs them) the tests fail saying so, unless
//! `SQUALL_SKIP_BROWSER=1`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a condition on the page may take.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// Whether the browser tests can run here; `false` (after saying why)
/// only with `SQUALL_SKIP_BROWSER=1`, else a missing browser fails.
pub fn available() -> bool {
    let missing: Vec<&str> =
        [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "{} missing: run scripts/setup.sh (Debian's chromium and chromium-driver)",
        missing.join(", ")
    );
    if std::env::var("SQUALL_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("skipped: {why}");
        return false;
    }
    panic!("{why}; SQUALL_SKIP_BROWSER=1 skips the browser tests");
}

/// Where a test keeps its screenshots: `{target}/tmp/ui-tests/{test}/`.
pub fn output_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-tests").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A headless Chromium session.
pub struct Browser {
    driver: Child,
    url: String,
    session: String,
    http: reqwest::blocking::Client,
    /// Where screenshots go.
    pub shots: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium `width` x `height`.
    pub fn start(shots: &Path, width: u32, height: u32) -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log = std::fs::File::create(shots.join("chromedriver.log")).unwrap();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--verbose")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http =
            reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let start = Instant::now();
        while http.get(format!("{url}/status")).send().is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", "--remote-debugging-pipe",
                         format!("--window-size={width},{height}")],
            },
        }}});
        let answer: Value =
            http.post(format!("{url}/session")).json(&caps).send().unwrap().json().unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_string();
        Browser { driver, url, session, http, shots: shots.to_path_buf() }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.url, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().unwrap().json().unwrap();
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    /// Opens `url`.
    pub fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The number of elements matching `css`.
    pub fn count(&self, css: &str) -> usize {
        self.js("return document.querySelectorAll(arguments[0]).length", vec![json!(css)])
            .as_u64()
            .unwrap_or(0) as usize
    }

    /// The text of the first element matching `css` (empty when none).
    pub fn text(&self, css: &str) -> String {
        let v = self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''",
            vec![json!(css)],
        );
        v.as_str().unwrap_or_default().to_string()
    }

    /// The attribute `attr` of every element matching `css`.
    pub fn attrs(&self, css: &str, attr: &str) -> Vec<String> {
        let v = self.js(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.getAttribute(arguments[1]) || '')",
            vec![json!(css), json!(attr)],
        );
        v.as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap_or_default().to_string()).collect())
            .unwrap_or_default()
    }

    /// The first element matching `css` (waits for it).
    fn find(&self, css: &str) -> String {
        self.wait_for(&format!("an element {css}"), || self.count(css) > 0);
        let v = self.call(
            reqwest::Method::POST,
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_string()
    }

    /// Clicks the first element matching `css`, as a person would (it
    /// must be visible and enabled).
    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Replaces the text of the input matching `css` with `text`.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({})));
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Waits until `done`, failing after [`PATIENCE`] with a screenshot.
    pub fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > PATIENCE {
                let shot = self.screenshot(&format!(
                    "timeout-{}",
                    what.replace(|c: char| !c.is_alphanumeric(), "-")
                ));
                panic!("timed out waiting for {what} (screenshot {})", shot.display());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Saves a screenshot as `{name}.png` in [`Browser::shots`]; checks it
    /// is not blank (not nearly one colour) and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        // The window as tall as the page: the whole page, no empty space.
        let rect = self.call(reqwest::Method::GET, "/window/rect", None);
        let (width, height) =
            (rect["width"].as_u64().unwrap_or(1400), rect["height"].as_u64().unwrap_or(900));
        let page = self
            .js(
                "return document.body.scrollHeight + window.outerHeight - window.innerHeight",
                vec![],
            )
            .as_u64()
            .unwrap_or(height);
        let wanted = page.clamp(600, 4000);
        if wanted != height {
            self.call(
                reqwest::Method::POST,
                "/window/rect",
                Some(json!({ "width": width, "height": wanted })),
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None);
        let png = base64_decode(b64.as_str().unwrap());
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap();
        path
    }

    /// As [`Browser::screenshot`], and checks the picture is not blank.
    pub fn screenshot_checked(&self, name: &str) -> PathBuf {
        let path = self.screenshot(name);
        let (colours, share) = colour_spread(&std::fs::read(&path).unwrap());
        assert!(
            colours >= 16 && share < 0.97,
            "{} looks blank: {colours} colours, the commonest on {:.1}% of the pixels",
            path.display(),
            share * 100.0
        );
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.url, self.session)).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// (distinct colours, share of the pixels in the commonest one) of a PNG.
pub fn colour_spread(png_bytes: &[u8]) -> (usize, f64) {
    let decoder = png::Decoder::new(png_bytes);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    let mut counts = std::collections::HashMap::new();
    let pixels = &buf[..info.buffer_size()];
    for px in pixels.chunks(step) {
        *counts.entry(px[..3.min(step)].to_vec()).or_insert(0usize) += 1;
    }
    let total = pixels.len() / step;
    let top = counts.values().copied().max().unwrap_or(0);
    (counts.len(), top as f64 / total.max(1) as f64)
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
