//! Live progress of a running topology on stderr: tuples in, tuples out and
//! the current rate in, redrawn about every 200 ms. Only drawn when stderr
//! is a terminal.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use squall::runtime::MetricsSnapshot;

/// How often the numbers are refreshed.
pub const INTERVAL: Duration = Duration::from_millis(200);

/// The window over which the current rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// A spinner line on stderr, or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Recent (time, tuples in) samples, oldest first.
    samples: VecDeque<(Instant, u64)>,
}

impl Progress {
    /// A spinner if `show` and stderr is a terminal; otherwise does nothing.
    pub fn new(show: bool) -> Self {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.green} [{elapsed_precise}] {msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress { bar, samples: VecDeque::new() }
    }

    /// Shows the latest numbers.
    pub fn update(&mut self, metrics: &MetricsSnapshot) {
        let Some(bar) = &self.bar else { return };
        let now = Instant::now();
        let tuples_in = metrics.spout_emitted();
        self.samples.push_back((now, tuples_in));
        while self.samples.len() > 2
            && now.duration_since(self.samples[0].0) > RATE_WINDOW + INTERVAL
        {
            self.samples.pop_front();
        }
        let (t0, n0) = self.samples[0];
        let secs = now.duration_since(t0).as_secs_f64();
        let rate = if secs > 0.0 { (tuples_in - n0) as f64 / secs } else { 0.0 };
        bar.set_message(format!(
            "in {}  out {}  {} tuples/s",
            HumanCount(tuples_in),
            HumanCount(metrics.sink_executed()),
            HumanCount(rate as u64),
        ));
    }

    /// Removes the spinner for good and prints `message` on stderr.
    pub fn stop_with(&mut self, message: &str) {
        self.clear();
        self.bar = None;
        eprintln!("{message}");
    }

    /// Removes the spinner line.
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
