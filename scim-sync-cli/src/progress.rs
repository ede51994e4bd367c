//! Progress through the long phases (reading both ends, applying). On a terminal (text output
//! and text logs) it is a line on stderr, redrawn every 120 ms; text log lines clear it before
//! they print (see [`crate::logging`]). Anywhere else (a pod's log, a CI job) it is a
//! `progress` log line at most every [`LOG_EVERY`], with done/total, the rate and the time
//! left, so that `kubectl logs -f` is never silent for minutes.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::{Config, OutputFormat};

/// Whether a progress line is on screen (log lines clear it first).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The escape sequence that returns to the start of the line and clears it.
pub const CLEAR_LINE: &str = "\r\x1b[2K";

/// Whether a progress line is being drawn now.
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// How often a run that is not on a terminal logs its progress.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// How a run shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// Not at all (the demo's passes, tests).
    Off,
    /// A line on a terminal, redrawn.
    Terminal,
    /// A log line at most this often.
    LogLines(Duration),
}

/// How this run shows progress: a line on a terminal, log lines anywhere else.
pub fn wanted(config: &Config) -> ProgressStyle {
    let terminal = config.opts.output == OutputFormat::Text
        && !crate::logging::use_json(config.opts.log_format)
        && std::io::stderr().is_terminal();
    if terminal {
        ProgressStyle::Terminal
    } else {
        ProgressStyle::LogLines(LOG_EVERY)
    }
}

/// One phase's progress line; [`Progress::finish`] removes it.
pub struct Progress {
    done: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts showing `label` with `position()` (and `total`, when known) in `style`.
    pub fn start(
        style: ProgressStyle,
        label: &'static str,
        total: Option<u64>,
        position: impl Fn() -> u64 + Send + 'static,
    ) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let every = match style {
            ProgressStyle::Off => return Progress { done, task: None },
            ProgressStyle::LogLines(every) => every,
            ProgressStyle::Terminal => return Self::draw_on_terminal(done, label, total, position),
        };
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                ticks.tick().await;
                log_line(label, position(), total, started.elapsed());
            }
        });
        Progress {
            done,
            task: Some(task),
        }
    }

    fn draw_on_terminal(
        done: Arc<AtomicBool>,
        label: &'static str,
        total: Option<u64>,
        position: impl Fn() -> u64 + Send + 'static,
    ) -> Progress {
        let flag = Arc::clone(&done);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let frames = ['|', '/', '-', '\\'];
            let mut tick = 0usize;
            while !flag.load(Ordering::Relaxed) {
                let line = render(
                    frames[tick % frames.len()],
                    label,
                    position(),
                    total,
                    started,
                );
                ACTIVE.store(true, Ordering::Relaxed);
                draw(&line);
                tick += 1;
                tokio::time::sleep(Duration::from_millis(120)).await;
            }
        });
        Progress {
            done,
            task: Some(task),
        }
    }

    /// Stops drawing and clears the line.
    pub async fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(task) = self.task.take() {
            // the task only draws between sleeps: aborting it never cuts a line in half
            task.abort();
            let _ = task.await;
            if ACTIVE.swap(false, Ordering::Relaxed) {
                draw("");
            }
        }
    }
}

/// One `progress` log line: done (and total), the rate so far and, with a total, the time left.
fn log_line(label: &'static str, done: u64, total: Option<u64>, elapsed: Duration) {
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let rate = (rate * 10.0).round() / 10.0;
    match total {
        Some(total) => {
            let left = total.saturating_sub(done);
            let eta_s = (rate > 0.0).then(|| (left as f64 / rate).ceil() as u64);
            tracing::info!(
                phase = label,
                done,
                total,
                per_second = rate,
                eta_s,
                "progress"
            );
        }
        None => tracing::info!(
            phase = label,
            requests = done,
            per_second = rate,
            "progress"
        ),
    }
}

/// Replaces the current line of stderr with `line`.
fn draw(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{CLEAR_LINE}{line}");
    let _ = err.flush();
}

fn render(frame: char, label: &str, position: u64, total: Option<u64>, started: Instant) -> String {
    let secs = started.elapsed().as_secs();
    match total {
        Some(total) if total > 0 => {
            let width = 30u64;
            let filled = (position.min(total) * width / total) as usize;
            format!(
                "{frame} {label} [{}{}] {position}/{total}  {secs}s",
                "#".repeat(filled),
                ".".repeat(width as usize - filled)
            )
        }
        _ => format!("{frame} {label}: {position} requests  {secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_bar_or_a_counter() {
        let now = Instant::now();
        let bar = render('|', "applying", 15, Some(30), now);
        assert!(
            bar.starts_with("| applying [###############...............] 15/30"),
            "{bar}"
        );
        assert!(render('/', "reading", 7, None, now).contains("reading: 7 requests"));
    }

    #[tokio::test]
    async fn a_disabled_progress_draws_nothing() {
        let p = Progress::start(ProgressStyle::Off, "x", None, || 0);
        assert!(p.task.is_none());
        p.finish().await;
        assert!(!is_active());
    }

    #[tokio::test(start_paused = true)]
    async fn log_lines_come_at_the_interval_and_stop_when_finished() {
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Arc::clone(&calls);
        let p = Progress::start(
            ProgressStyle::LogLines(Duration::from_secs(10)),
            "applying",
            Some(100),
            move || counted.fetch_add(1, Ordering::Relaxed),
        );
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert_eq!(
            calls.load(Ordering::Relaxed),
            0,
            "none before the first interval"
        );
        tokio::time::sleep(Duration::from_secs(22)).await;
        assert_eq!(calls.load(Ordering::Relaxed), 3, "one per interval");
        p.finish().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(calls.load(Ordering::Relaxed), 3, "none after the phase");
        assert!(!is_active(), "no terminal line was drawn");
    }
}
