//! Progress through the long phases of a run (reading both ends, applying), as a
//! [`ProgressObserver`] shows it to a [`Reconciler`](crate::Reconciler). On a terminal it is a
//! line on stderr, redrawn every 120 ms (a log writer on the same terminal clears it first:
//! [`is_active`], [`CLEAR_LINE`]). Anywhere else (a pod's log, a CI job) it is a `progress`
//! log line (`tracing`, info) at most every [`LOG_EVERY`], with done/total, the rate and the
//! time left, so that `kubectl logs -f` is never silent for minutes.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use scim_diff::{ObservedState, Plan};

use crate::{Observer, Phase, ScimClient, Source};

/// Whether a progress line is on screen (log lines clear it first).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The escape sequence that returns to the start of the line and clears it.
pub const CLEAR_LINE: &str = "\r\x1b[2K";

/// Whether a progress line is being drawn now.
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// stderr that first clears a progress line on screen, so that a log line written through it
/// never lands in the middle of one (the line is redrawn on its next tick): the writer of a
/// log subscriber on the same terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClearingStderr;

impl Write for ClearingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        if is_active() {
            err.write_all(CLEAR_LINE.as_bytes())?;
        }
        err.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// How often a run that is not on a terminal logs its progress.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// How a run shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// Not at all.
    Off,
    /// A line on a terminal, redrawn.
    Terminal,
    /// A log line at most this often.
    LogLines(Duration),
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

/// What to do once the plan is made, before the first write (e.g. print it).
pub type OnPlanned = Box<dyn Fn(&Plan, &ObservedState) + Send + Sync>;

/// An [`Observer`] that shows progress while reading (requests so far, both ends) and applying
/// (writes against the plan's size), and hands the plan to a callback before the first
/// write.
pub struct ProgressObserver {
    style: ProgressStyle,
    scim: ScimClient,
    /// The source, when it sends requests (the ACTIVATE API, a SCIM directory).
    source: Option<Source>,
    current: tokio::sync::Mutex<Option<Progress>>,
    on_planned: Option<OnPlanned>,
}

impl ProgressObserver {
    /// Progress in `style`, counting the requests of `scim` and of `source` when it sends
    /// any (the ACTIVATE API, ACTIVATE's SCIM API or another SCIM directory).
    pub fn new(style: ProgressStyle, scim: ScimClient, source: Option<&Source>) -> Self {
        Self {
            style,
            scim,
            source: source.filter(|s| s.stats().is_some()).cloned(),
            current: tokio::sync::Mutex::new(None),
            on_planned: None,
        }
    }

    /// Calls `f` with the plan once it is made (for a dry run and a refused plan too).
    pub fn on_planned(mut self, f: OnPlanned) -> Self {
        self.on_planned = Some(f);
        self
    }
}

/// The requests both ends have answered so far.
fn reading_requests(scim: &ScimClient, source: Option<&Source>) -> u64 {
    let source = source.and_then(Source::stats).map_or(0, |s| s.requests);
    scim.stats().requests + source
}

#[async_trait::async_trait]
impl Observer for ProgressObserver {
    async fn phase_started(&self, phase: Phase) {
        let progress = match phase {
            Phase::Reading => {
                let (scim, source) = (self.scim.clone(), self.source.clone());
                Progress::start(
                    self.style,
                    "reading ACTIVATE and the target",
                    None,
                    move || reading_requests(&scim, source.as_ref()),
                )
            }
            Phase::Applying { operations } => {
                let scim = self.scim.clone();
                let writes_before = scim.stats().writes();
                Progress::start(self.style, "applying", Some(operations as u64), move || {
                    scim.stats().writes().saturating_sub(writes_before)
                })
            }
        };
        *self.current.lock().await = Some(progress);
    }

    async fn phase_finished(&self, _phase: Phase) {
        if let Some(progress) = self.current.lock().await.take() {
            progress.finish().await;
        }
    }

    async fn planned(&self, plan: &Plan, observed: &ObservedState) {
        if let Some(f) = &self.on_planned {
            f(plan, observed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reading_counts_the_requests_of_a_scim_directory_source_too() {
        use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        let client = |path: &str| {
            ScimClient::builder(&format!("{}/{path}", server.uri()))
                .bearer_token("tok".into())
                .build()
                .unwrap()
        };
        let (target, directory) = (client("target"), client("directory"));
        let source = Source::ScimDirectory(crate::directory::ScimDirectory::new(directory));
        let observer = ProgressObserver::new(ProgressStyle::Off, target.clone(), Some(&source));
        let Some(Source::ScimDirectory(held)) = &observer.source else {
            panic!("the directory source is kept for counting");
        };
        let _ = held.client().users().get("someone").await;
        let _ = target.users().get("someone").await;
        assert_eq!(reading_requests(&target, observer.source.as_ref()), 2);
        // a file source sends nothing, and is not kept
        let file = Source::ExportFile {
            path: "org.json".into(),
            max_bytes: 1,
        };
        let observer = ProgressObserver::new(ProgressStyle::Off, target.clone(), Some(&file));
        assert!(observer.source.is_none());
    }

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
