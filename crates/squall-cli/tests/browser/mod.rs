//! The browser tests' harness: headless Chromium (Debian's `chromium`)
//! driven through Debian's `chromium-driver` with the `fantoccini`
//! WebDriver client, as a person uses the web UI: pages opened by URL,
//! elements found by CSS selector and clicked, text typed, screenshots
//! saved and checked not to be blank. Also what `ui_local.rs` and
//! `ui_cluster.rs` both need: the live word count's settings, the
//! components' emitted counts as the page shows them, the check that API
//! routes refuse a missing or wrong token.
//!
//! fantoccini is async; [`Browser`] runs each command to completion on a
//! runtime of its own, so that the tests read as a sequence of steps.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver`
//! (`scripts/setup.sh` installs them) the tests fail saying so, unless
//! `SQUALL_SKIP_BROWSER=1`.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
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

/// `examples/word-count-live.yaml`, and its `--set` arguments for a run
/// that writes under `dir`: Shakespeare, 3000 lines/s, until killed.
pub fn word_count_live(dir: &Path) -> (PathBuf, Vec<String>) {
    let (checkpoints, output) = (dir.join("checkpoints"), dir.join("out"));
    std::fs::create_dir_all(&output).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/word-count-live.yaml");
    let sets = [
        format!("input={}", crate::support::corpus().display()),
        format!("checkpoint_dir={}", checkpoints.display()),
        format!("output={}", output.display()),
        "rate_per_sec=3000".to_string(),
    ];
    (example, sets.into_iter().flat_map(|s| ["--set".to_string(), s]).collect())
}

/// Asserts that each `(method, path)` of `base` answers 401 without a
/// token and with a wrong one.
pub fn assert_token_required(
    http: &reqwest::blocking::Client,
    base: &str,
    routes: &[(String, String)],
) {
    for (method, path) in routes {
        for bad in [None, Some("wrong")] {
            let mut r = http.request(method.parse().unwrap(), format!("{base}{path}"));
            if let Some(t) = bad {
                r = r.bearer_auth(t);
            }
            let status = r.send().unwrap().status();
            assert_eq!(status.as_u16(), 401, "{method} {path} with token {bad:?}");
        }
    }
}

/// A headless Chromium session.
pub struct Browser {
    driver: Child,
    client: Option<Client>,
    runtime: tokio::runtime::Runtime,
    /// Where screenshots go.
    pub shots: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium `width` x `height`.
    pub fn start(shots: &Path, width: u32, height: u32) -> Browser {
        let port = crate::support::free_port();
        let log = std::fs::File::create(shots.join("chromedriver.log")).unwrap();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--verbose")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("chromedriver starts");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", "--remote-debugging-pipe",
                         format!("--window-size={width},{height}")],
            },
        });
        let Value::Object(caps) = caps else { unreachable!() };
        let url = format!("http://127.0.0.1:{port}");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let start = Instant::now();
        // chromedriver listens a moment after it starts.
        let client = loop {
            let connected = runtime.block_on(
                ClientBuilder::new(connector.clone()).capabilities(caps.clone()).connect(&url),
            );
            match connected {
                Ok(c) => break c,
                Err(e) if start.elapsed() < Duration::from_secs(30) => {
                    eprintln!("chromedriver not ready: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        Browser { driver, client: Some(client), runtime, shots: shots.to_path_buf() }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Runs one WebDriver command to its end.
    fn run<T, E: std::fmt::Display>(&self, what: &str, f: impl Future<Output = Result<T, E>>) -> T {
        self.runtime.block_on(f).unwrap_or_else(|e| panic!("WebDriver {what}: {e}"))
    }

    /// Opens `url`.
    pub fn open(&self, url: &str) {
        self.run("open", self.client().goto(url));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.run("execute", self.client().execute(script, args))
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
    fn find(&self, css: &str) -> Element {
        self.wait_for(&format!("an element {css}"), || self.count(css) > 0);
        self.run(&format!("find {css}"), self.client().find(Locator::Css(css)))
    }

    /// Runs `act` on the first element matching `css`; again on the new one
    /// when the page drew it anew in between (the pages redraw every 2 s).
    fn on_element<F, Fut>(&self, css: &str, act: F)
    where
        F: Fn(Element) -> Fut,
        Fut: Future<Output = Result<(), CmdError>>,
    {
        let start = Instant::now();
        loop {
            match self.runtime.block_on(act(self.find(css))) {
                Ok(()) => return,
                Err(e) if e.is_stale_element_reference() && start.elapsed() < PATIENCE => {}
                Err(e) => panic!("WebDriver, on {css}: {e}"),
            }
        }
    }

    /// Clicks the first element matching `css`, as a person would (it
    /// must be visible and enabled).
    pub fn click(&self, css: &str) {
        self.on_element(css, |e| async move { e.click().await });
    }

    /// Replaces the text of the input matching `css` with `text`.
    pub fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, |e| async move {
            e.clear().await?;
            e.send_keys(text).await
        });
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

    /// Saves a screenshot of the whole page as `{name}.png` in
    /// [`Browser::shots`] and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        // The window as tall as the page: the whole page, no empty space.
        let (width, height) = self.run("window size", self.client().get_window_size());
        let page = self
            .js(
                "return document.body.scrollHeight + window.outerHeight - window.innerHeight",
                vec![],
            )
            .as_u64()
            .unwrap_or(height);
        let wanted = page.clamp(600, 4000);
        if wanted != height {
            self.run("resize", self.client().set_window_size(width as u32, wanted as u32));
            // The page lays itself out again at the new size.
            self.js(
                "return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))",
                vec![],
            );
        }
        let png = self.run("screenshot", self.client().screenshot());
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

    /// The emitted count of `component` in the topology page's component
    /// table (0 before it shows).
    pub fn emitted(&self, component: &str) -> u64 {
        let css = format!("[data-testid=component-row][data-id={component}] td.emitted");
        self.attrs(&css, "data-value").first().and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

impl Browser {
    /// The numbers in attribute `data-value` of the elements matching
    /// `css` (those without a number left out).
    pub fn values(&self, css: &str) -> Vec<f64> {
        self.attrs(css, "data-value").iter().filter_map(|v| v.parse().ok()).collect()
    }

    /// Waits until the topology page shows what a run measures besides its
    /// counts, with values: each bolt's execute latency (p50 <= p99 <=
    /// p99.9, the last above 0: a sink's median can be under a µs) and its
    /// chart, the longest barrier alignment of
    /// completed checkpoints, the RSS and CPU time of every worker, and the
    /// generator's own metric (`generator_passes`, one per task).
    pub fn wait_for_measures(&self, bolts: &[&str], workers: usize) {
        for bolt in bolts {
            let row = format!("[data-testid=component-row][data-id={bolt}]");
            self.wait_for(&format!("the execute latency of {bolt}"), || {
                let q: Vec<f64> = ["p50", "p99", "p999"]
                    .iter()
                    .filter_map(|q| self.values(&format!("{row} td.execute-{q}")).first().copied())
                    .collect();
                q.len() == 3 && q[2] > 0.0 && q[0] <= q[1] && q[1] <= q[2]
            });
        }
        self.wait_for("the execute latency chart", || {
            self.count("[data-testid=execute-chart] canvas") == 1
        });
        self.wait_for("the alignment of completed checkpoints", || {
            let completed = "[data-testid=checkpoint-row][data-status=completed] td.alignment";
            let shown = self.values(completed);
            !shown.is_empty() && shown.len() == self.count(completed)
        });
        self.wait_for("every worker's memory and CPU time", || {
            let (rss, cpu) = (
                self.values("[data-testid=worker-row] td.rss"),
                self.values("[data-testid=worker-row] td.cpu-time"),
            );
            rss.len() == workers
                && cpu.len() == workers
                && rss.iter().all(|b| *b > 1e6)
                && cpu.iter().all(|s| *s > 0.0)
        });
        self.wait_for("the generator's passes, a metric of its own", || {
            let passes = self.values("[data-testid=user-metric-row][data-name=generator_passes]");
            !passes.is_empty() && passes.iter().all(|p| *p >= 0.0)
        });
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
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
