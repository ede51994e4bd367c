//! A progress line on stderr for the long phases (reading both ends, applying), only when
//! stderr is a terminal and neither the output nor the logs are JSON. Text log lines clear it
//! before they print (see [`crate::logging`]), and it is redrawn on the next tick.

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

/// Whether this run may draw progress at all.
pub fn wanted(config: &Config) -> bool {
    config.opts.output == OutputFormat::Text
        && !crate::logging::use_json(config.opts.log_format)
        && std::io::stderr().is_terminal()
}

/// One phase's progress line; [`Progress::finish`] removes it.
pub struct Progress {
    done: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing `label` with `position()` (and `total`, when known) every 120 ms; a
    /// no-op when `enabled` is false.
    pub fn start(
        enabled: bool,
        label: &'static str,
        total: Option<u64>,
        position: impl Fn() -> u64 + Send + 'static,
    ) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        if !enabled {
            return Progress { done, task: None };
        }
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
            ACTIVE.store(false, Ordering::Relaxed);
            draw("");
        }
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
        let p = Progress::start(false, "x", None, || 0);
        assert!(p.task.is_none());
        p.finish().await;
        assert!(!is_active());
    }
}
