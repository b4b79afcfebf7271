//! Watching a server while it is loaded: the resident memory of all its
//! processes (sampled every 50 ms and summed; Postfix is a process tree
//! whose members come and go) and the moment the last message reached its
//! destination (the Maildir or the sink).

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::servers::descendants;

const PERIOD: Duration = Duration::from_millis(50);

/// Where delivered messages are counted.
#[derive(Clone)]
pub enum Destination {
    /// Files in a Maildir `new/` folder.
    Maildir(PathBuf),
    /// smtp-sink's message counter, minus its value at the start.
    Sink(Arc<AtomicUsize>, usize),
    /// Nothing is delivered (handshakes, sinks).
    None,
}

impl Destination {
    pub fn count(&self) -> usize {
        match self {
            Destination::Maildir(p) => fs::read_dir(p).map(|d| d.count()).unwrap_or(0),
            Destination::Sink(c, base) => c.load(Ordering::Relaxed).saturating_sub(*base),
            Destination::None => 0,
        }
    }
}

/// What the watcher saw.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// The largest sum of RSS over the server's processes.
    pub peak_rss_kb: u64,
    /// The largest sum of PSS (shared pages split between their users).
    pub peak_pss_kb: u64,
    /// When `target` messages had arrived, from the start of the load.
    pub delivered_at: Option<Duration>,
    /// Delivered when the watch ended, and when that was.
    pub delivered: usize,
    pub ended_at: Duration,
}

pub struct Watch {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    target: Arc<AtomicUsize>,
    handle: JoinHandle<Watched>,
}

/// RSS and PSS (kB) of one process, 0 once it is gone.
fn rss_pss_kb(pid: u32) -> (u64, u64) {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"))
}

impl Watch {
    /// Starts watching the processes under `root` (the engine, or Postfix's
    /// master) and `dest`, from `start`, expecting `expect` deliveries.
    pub fn start(root: u32, dest: Destination, start: Instant, expect: usize) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let target = Arc::new(AtomicUsize::new(expect.max(1)));
        let (s, d, t) = (stop.clone(), done.clone(), target.clone());
        let handle = std::thread::spawn(move || {
            let mut w = Watched::default();
            loop {
                let (rss, pss) = descendants(root)
                    .into_iter()
                    .map(rss_pss_kb)
                    .fold((0, 0), |(r, p), (r1, p1)| (r + r1, p + p1));
                w.peak_rss_kb = w.peak_rss_kb.max(rss);
                w.peak_pss_kb = w.peak_pss_kb.max(pss);
                if s.load(Ordering::Relaxed) && w.delivered_at.is_none() {
                    w.delivered = dest.count();
                    w.ended_at = start.elapsed();
                    return w;
                }
                if w.delivered_at.is_none() {
                    w.delivered = dest.count();
                    w.ended_at = start.elapsed();
                    if w.delivered >= t.load(Ordering::Relaxed) {
                        w.delivered_at = Some(start.elapsed());
                        d.store(true, Ordering::Relaxed);
                    }
                }
                if s.load(Ordering::Relaxed) {
                    return w;
                }
                std::thread::sleep(PERIOD);
            }
        });
        Watch {
            stop,
            done,
            target,
            handle,
        }
    }

    /// Once the load is over: waits (at most `drain`) until `target`
    /// messages (those actually accepted) have been delivered, then stops.
    pub fn finish(self, target: Option<usize>, drain: Duration) -> Watched {
        if let Some(t) = target {
            self.target.store(t.max(1), Ordering::Relaxed);
            let deadline = Instant::now() + drain;
            while Instant::now() < deadline && !self.done.load(Ordering::Relaxed) {
                std::thread::sleep(PERIOD);
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}
