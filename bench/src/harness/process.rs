//! Child processes that are stopped on every path, and Ctrl-C.
//!
//! A [`Process`] owns one child: dropping it before the child exited stops the child (SIGTERM
//! with a grace period for brokers, SIGKILL for client processes) and waits for it, so an error
//! or a panic anywhere in a run leaves nothing running. One thread per child waits for its exit
//! (`waitid` with `WNOWAIT`, then reaps it under a lock that signals also take), so a signal
//! never reaches a reaped, possibly reused, pid and waiting needs no polling.
//!
//! [`Interrupts`] turns SIGINT and SIGTERM into a stop: every live child gets SIGTERM (brokers
//! stop cleanly, clients end), the waits in progress return, and the run fails with
//! "interrupted", unwinding through the guards that remove the data directories. A second
//! signal exits at once.

use std::io::{self, Read};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use signal_hook::consts::{SIGINT, SIGTERM};

/// How a process still running is stopped when its [`Process`] is dropped.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// SIGTERM, then SIGKILL if it has not exited within `grace` (a broker's clean stop).
    Term { grace: Duration },
    /// SIGKILL at once (a client process whose figures are lost anyway).
    Kill,
}

/// What the exit waiter and the signal senders share.
#[derive(Debug)]
struct Shared {
    pid: libc::pid_t,
    /// Set, under the lock, once the child is reaped: from then on its pid may name another
    /// process, so no signal may be sent to it.
    reaped: Mutex<bool>,
}

impl Shared {
    fn signal(&self, signal: i32) {
        let reaped = lock(&self.reaped);
        if !*reaped {
            // SAFETY: kill(2) on our own child, which is not reaped while we hold the lock, so
            // its pid is still its own.
            unsafe { libc::kill(self.pid, signal) };
        }
    }
}

/// Every child not yet dropped, for [`Interrupts`].
static LIVE: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());
/// Set by the first SIGINT or SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// A lock whose holder panicked is still a lock: the data it guards is a flag or a list of
/// weak pointers, never left half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One child process, stopped and waited for when dropped.
#[derive(Debug)]
pub struct Process {
    name: String,
    shared: Arc<Shared>,
    exited: Receiver<io::Result<ExitStatus>>,
    status: Option<ExitStatus>,
    stop: Stop,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
}

impl Process {
    /// Starts `command` as `name` (for messages). Its piped stdout and stderr can be taken with
    /// [`take_stdout`](Self::take_stdout) and [`take_stderr`](Self::take_stderr).
    pub fn spawn(name: impl Into<String>, command: &mut Command, stop: Stop) -> Result<Process> {
        let name = name.into();
        let mut child = command
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("start {name}"))?;
        let pid = libc::pid_t::try_from(child.id()).expect("pids fit pid_t");
        let shared = Arc::new(Shared {
            pid,
            reaped: Mutex::new(false),
        });
        lock(&LIVE).push(Arc::downgrade(&shared));
        // A signal that came between the spawn and the line above missed this child.
        if interrupted() {
            shared.signal(SIGTERM);
        }
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let (tx, exited) = mpsc::channel();
        let waiter = shared.clone();
        std::thread::spawn(move || {
            let status = reap(&waiter, &mut child);
            let _ = tx.send(status);
        });
        Ok(Process {
            name,
            shared,
            exited,
            status: None,
            stop,
            stdout,
            stderr,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id (its `/proc/PID`, while this `Process` is alive: it is reaped only
    /// by the waiter, after it exited).
    pub fn pid(&self) -> u32 {
        u32::try_from(self.shared.pid).expect("pids are positive")
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.stderr.take()
    }

    /// The exit status once the child exited; `None` if it still runs at `deadline`.
    pub fn wait_until(&mut self, deadline: Instant) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.exited.recv_timeout(left) {
            Ok(status) => {
                let status = status.with_context(|| format!("wait for {}", self.name))?;
                self.status = Some(status);
                Ok(Some(status))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => bail!("the waiter of {} is gone", self.name),
        }
    }

    /// Sends `signal` to the child unless it was reaped.
    pub fn signal(&self, signal: i32) {
        self.shared.signal(signal);
    }

    /// Stops the child as its [`Stop`] says and waits for it.
    fn stop_and_wait(&mut self) {
        if let Stop::Term { grace } = self.stop {
            self.signal(SIGTERM);
            if matches!(self.wait_until(Instant::now() + grace), Ok(Some(_))) {
                return;
            }
            eprintln!("{} did not stop within {grace:?}; killing it", self.name);
        }
        self.signal(libc::SIGKILL);
        // SIGKILL cannot be caught: the wait ends (the waiter thread reaps it).
        let _ = self.wait_until(Instant::now() + Duration::from_secs(3600));
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.stop_and_wait();
        }
        lock(&LIVE).retain(|live| {
            live.upgrade()
                .is_some_and(|s| !Arc::ptr_eq(&s, &self.shared))
        });
    }
}

/// Waits until `child` exits, then reaps it under `shared`'s lock.
fn reap(shared: &Shared, child: &mut Child) -> io::Result<ExitStatus> {
    wait_exited(shared.pid);
    let mut reaped = lock(&shared.reaped);
    let status = child.wait();
    *reaped = true;
    status
}

/// Blocks until process `pid` (our child) has exited, leaving it a zombie (`WNOWAIT`): its pid
/// stays its own until it is reaped.
fn wait_exited(pid: libc::pid_t) {
    loop {
        // SAFETY: waitid(2) with a zeroed siginfo_t the kernel fills; no memory is shared.
        let (result, errno) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let result = libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            );
            (result, io::Error::last_os_error().raw_os_error())
        };
        // EINTR: again. Any other failure (ECHILD cannot happen for our own unreaped child)
        // leaves the reap to `Child::wait`, which blocks as well.
        if result == 0 || errno != Some(libc::EINTR) {
            return;
        }
    }
}

/// Whether SIGINT or SIGTERM asked the run to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails with "interrupted" once a signal asked the run to stop.
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// SIGINT and SIGTERM handling for the length of a run (see the module's doc).
pub struct Interrupts {
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

impl Interrupts {
    pub fn install() -> Result<Interrupts> {
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .context("install signal handlers")?;
        let handle = signals.handle();
        let thread = std::thread::spawn(move || {
            for signal in signals.forever() {
                if INTERRUPTED.swap(true, Ordering::SeqCst) {
                    eprintln!("ringlog bench: stopping now");
                    std::process::exit(128 + signal);
                }
                eprintln!("ringlog bench: interrupted; stopping the brokers and clients");
                let live: Vec<Arc<Shared>> = lock(&LIVE).iter().filter_map(Weak::upgrade).collect();
                for child in live {
                    child.signal(SIGTERM);
                }
            }
        });
        Ok(Interrupts {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A client process (`ringlog topic ...`, `ringlog perf ...`) whose stdout and stderr are
/// collected.
pub struct ClientRun {
    process: Process,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

impl ClientRun {
    /// Starts `command` with its stdout and stderr piped.
    pub fn start(name: impl Into<String>, command: &mut Command) -> Result<ClientRun> {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut process = Process::spawn(name, command, Stop::Kill)?;
        let stdout = read_all(process.take_stdout().expect("piped"));
        let stderr = read_all(process.take_stderr().expect("piped"));
        Ok(ClientRun {
            process,
            stdout,
            stderr,
        })
    }

    /// Waits for the process to exit, killing it at `deadline`, and returns its stdout. Fails
    /// naming its stderr when it failed or had to be killed.
    pub fn finish(mut self, deadline: Instant) -> Result<String> {
        let status = self.process.wait_until(deadline)?;
        let name = self.process.name().to_string();
        if status.is_none() {
            drop(self.process);
        }
        let stdout = self.stdout.join().unwrap_or_default();
        let stderr = self.stderr.join().unwrap_or_default();
        check_interrupted()?;
        match status {
            Some(status) if status.success() => Ok(stdout),
            Some(status) => bail!("{name} failed ({status}): {}", last_lines(&stderr, 10)),
            None => bail!(
                "{name} did not finish in time and was killed: {}",
                last_lines(&stderr, 10)
            ),
        }
    }
}

/// Reads `from` to its end on a thread of its own (so a child never blocks on a full pipe).
fn read_all(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The last `n` lines of `text`, joined with " | ", for one-line error messages.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = lines.len().saturating_sub(n);
    if lines.is_empty() {
        return "(nothing on stderr)".to_string();
    }
    lines[from..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_client_returns_its_stdout() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2"]);
        let run = ClientRun::start("sh", &mut command).unwrap();
        let stdout = run
            .finish(Instant::now() + Duration::from_secs(30))
            .unwrap();
        assert_eq!(stdout, "out\n");
    }

    #[test]
    fn a_failed_client_is_an_error_naming_its_stderr() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo 'no such topic' >&2; exit 3"]);
        let run = ClientRun::start("topic", &mut command).unwrap();
        let error = run
            .finish(Instant::now() + Duration::from_secs(30))
            .unwrap_err()
            .to_string();
        assert!(error.contains("topic failed"), "{error}");
        assert!(error.contains("no such topic"), "{error}");
    }

    #[test]
    fn a_client_past_its_deadline_is_killed() {
        let mut command = Command::new("sleep");
        command.arg("600");
        let started = Instant::now();
        let run = ClientRun::start("sleep", &mut command).unwrap();
        let error = run
            .finish(Instant::now() + Duration::from_millis(100))
            .unwrap_err()
            .to_string();
        assert!(error.contains("did not finish in time"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn dropping_a_process_stops_it_with_sigterm_first() {
        let mut command = Command::new("sleep");
        command.arg("600");
        let process = Process::spawn(
            "sleep",
            &mut command,
            Stop::Term {
                grace: Duration::from_secs(30),
            },
        )
        .unwrap();
        let pid = process.shared.pid;
        let started = Instant::now();
        drop(process);
        assert!(started.elapsed() < Duration::from_secs(30));
        // Reaped: no such process any more.
        // SAFETY: kill(2) with signal 0 only checks that the pid exists.
        let exists = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!exists, "pid {pid} still exists");
    }

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(last_lines("", 2), "(nothing on stderr)");
    }
}
