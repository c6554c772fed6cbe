//! A cluster of real `ringlog broker` processes on 127.0.0.1 for the fault tests: every
//! broker a controller voter, each reached (by clients and by other brokers' followers)
//! through its own fault-injecting TCP proxy, so a test can cut a broker off the network
//! without touching the process. Every process is killed and every proxy stopped when the
//! cluster is dropped, whatever happens.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const DEADLINE: Duration = Duration::from_secs(120);

pub(crate) const SIGKILL: i32 = 9;
pub(crate) const SIGTERM: i32 = 15;
pub(crate) const SIGCONT: i32 = 18;
pub(crate) const SIGSTOP: i32 = 19;

/// `ringlog broker` on ephemeral ports (both listeners and metrics), one shard, its data under
/// `dir` and `toml` as its config file (the flags' keys aside).
pub(crate) fn local_broker_command(dir: &Path, toml: &str) -> Command {
    local_broker_command_on(dir, toml, "PLAINTEXT://127.0.0.1:0,THIN://127.0.0.1:0")
}

/// [`local_broker_command`] with `listeners` (`SSL://127.0.0.1:0,THIN_SSL://127.0.0.1:0`).
pub(crate) fn local_broker_command_on(dir: &Path, toml: &str, listeners: &str) -> Command {
    let config = dir.join("broker.toml");
    std::fs::write(&config, toml).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringlog"));
    command
        .args([
            "broker",
            "--listeners",
            listeners,
            "--metrics-listen",
            "127.0.0.1:0",
            "--shards",
            "1",
            "--config",
        ])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"));
    command
}

/// Starts `command` (a `ringlog broker ...`) with its stdout piped and read on a thread to its
/// end, so the broker never writes to a closed or full pipe: the receiver yields each line.
pub(crate) fn spawn_with_lines(
    command: &mut Command,
) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ringlog broker");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    (child, rx)
}

/// The address of listener `name` (`PLAINTEXT`, `THIN`) in a broker's first line,
/// `listening on NAME://ADDR, ...`; `None` when the line names no such listener.
pub(crate) fn listener_address(line: &str, name: &str) -> Option<SocketAddr> {
    line.trim()
        .strip_prefix("listening on ")?
        .split(", ")
        .find_map(|listener| listener.strip_prefix(name)?.strip_prefix("://"))?
        .parse()
        .ok()
}

/// The address in a broker's second line, `metrics on http://ADDR/metrics`.
pub(crate) fn metrics_address(line: &str) -> Option<SocketAddr> {
    line.trim()
        .strip_prefix("metrics on http://")?
        .strip_suffix("/metrics")?
        .parse()
        .ok()
}

/// What a `ringlog` command ([`cli`]) left: its exit code and output.
pub(crate) struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Asserts a success; stdout.
    pub(crate) fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        self.stdout
    }

    /// Asserts a failure reported on one `error:` line naming `code`, with no panic.
    pub(crate) fn fails_naming(self, code: &str) {
        assert_eq!(self.code, Some(1), "stdout: {}", self.stdout);
        let last = self.stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "stderr: {}", self.stderr);
        assert!(last.contains(code), "stderr: {}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "stderr: {}", self.stderr);
        assert!(
            !self.stderr.contains("backtrace"),
            "stderr: {}",
            self.stderr
        );
    }
}

/// Runs `ringlog args...` with `input` on stdin and `env` set, killing it if it outlives
/// [`DEADLINE`]. Output goes to files, so a full pipe never blocks it.
pub(crate) fn cli(args: &[&str], input: &str, env: &[(&str, &str)]) -> CliOutput {
    let scratch = tempfile::tempdir().unwrap();
    let out_path = scratch.path().join("stdout");
    let err_path = scratch.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start ringlog");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    // Closing stdin (the drop at the end of the thread) is the end of input.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "ringlog {args:?} ran longer than {DEADLINE:?}; stderr: {}",
                read(&err_path)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    writer.join().unwrap();
    CliOutput {
        code: status.code(),
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// The value of the metric line that starts with `series` (a name and its labels) on the
/// metrics endpoint at `metrics`; 0 when there is none.
pub(crate) fn metric(metrics: SocketAddr, series: &str) -> f64 {
    let mut stream = TcpStream::connect(metrics).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// A port nothing listens on right now, and no connection can take before a broker binds it
/// (`ringlog_ports`).
pub(crate) fn free_addr() -> SocketAddr {
    ringlog_ports::free_addr().unwrap()
}

/// A TCP proxy in front of one broker. While cut, it refuses new connections and has closed
/// every open one: the broker is unreachable, as behind a failed link.
pub(crate) struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub(crate) fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            cut: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
            open: Arc::new(Mutex::new(Vec::new())),
        };
        let (cut, stop, open) = (proxy.cut.clone(), proxy.stop.clone(), proxy.open.clone());
        std::thread::spawn(move || {
            // Blocks in accept; dropping the proxy wakes it with a connection of its own.
            for client in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { return };
                if cut.load(Ordering::Relaxed) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let mut open = open.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                pump(client.try_clone().unwrap(), server.try_clone().unwrap());
                pump(server, client);
            }
        });
        proxy
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts the link: open connections are closed, new ones refused.
    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn heal(&self) {
        self.cut.store(false, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies `from` into `to` until either end closes.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// One broker: its addresses, its proxy, its process while it runs.
pub(crate) struct Node {
    pub id: u32,
    pub listen: SocketAddr,
    /// The Kafka listener, reached directly (no proxy): bound to port 0 at every start (no
    /// port picked ahead that another socket could take first), learnt from the broker's
    /// first line.
    pub kafka: SocketAddr,
    pub controller: SocketAddr,
    pub metrics: SocketAddr,
    pub proxy: Proxy,
    pub data_dir: PathBuf,
    pub child: Option<Child>,
    /// Stopped with SIGSTOP: left out of the bootstrap list, as a client would soon learn.
    pub paused: bool,
}

/// One cluster at a time per test binary: their timeouts are tuned for a machine they do not
/// share with other clusters (a 2-core runner would otherwise run dozens of brokers at once).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub(crate) struct Cluster {
    _turn: std::sync::MutexGuard<'static, ()>,
    _dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
    voters: String,
    /// Extra broker config lines (TOML) every broker starts with.
    extra_config: String,
}

impl Cluster {
    /// `n` brokers, all voters, started and registered. `extra_config` is TOML added to each
    /// broker's config file.
    pub(crate) fn start(n: u32, extra_config: &str) -> Cluster {
        // A test that failed while holding the turn poisons the lock; the turn is still free.
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = tempfile::tempdir().unwrap();
        let nodes: Vec<Node> = (1..=n)
            .map(|id| {
                let listen = free_addr();
                Node {
                    id,
                    listen,
                    kafka: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    controller: free_addr(),
                    metrics: free_addr(),
                    proxy: Proxy::start(listen),
                    data_dir: dir.path().join(format!("broker-{id}")),
                    child: None,
                    paused: false,
                }
            })
            .collect();
        let voters: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}@{}", n.id, n.controller))
            .collect();
        let mut cluster = Cluster {
            _turn: turn,
            _dir: dir,
            nodes,
            voters: voters.join(","),
            extra_config: extra_config.to_string(),
        };
        let ready: Vec<_> = (1..=n).map(|id| cluster.spawn(id)).collect();
        for (id, wait) in (1..=n).zip(ready) {
            cluster.wait_serving(id, wait);
        }
        cluster
    }

    /// Waits for broker `id`, started with `ready`, to serve, and learns its Kafka address.
    /// A broker that exits before it serves (its picked ports were taken meanwhile: another
    /// process's ephemeral port, or the listening sockets of a process just killed, which
    /// outlive it briefly) is started again, a few times.
    fn wait_serving(&mut self, id: u32, mut ready: std::sync::mpsc::Receiver<SocketAddr>) {
        for attempt in 1.. {
            match ready.recv_timeout(DEADLINE) {
                Ok(kafka) => {
                    self.node_mut(id).kafka = kafka;
                    return;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) if attempt < 10 => {
                    if let Some(mut child) = self.node_mut(id).child.take() {
                        let _ = child.wait();
                    }
                    std::thread::sleep(Duration::from_millis(300));
                    ready = self.spawn(id);
                }
                Err(error) => panic!("broker {id} does not register and serve: {error}"),
            }
        }
    }

    fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize - 1]
    }

    fn node_mut(&mut self, id: u32) -> &mut Node {
        &mut self.nodes[id as usize - 1]
    }

    /// Starts broker `id`; the receiver yields its Kafka listener's address once it prints
    /// `listening on`.
    fn spawn(&mut self, id: u32) -> std::sync::mpsc::Receiver<SocketAddr> {
        let voters = self.voters.clone();
        let extra = self.extra_config.clone();
        let node = self.node_mut(id);
        std::fs::create_dir_all(&node.data_dir).unwrap();
        let config = node.data_dir.join("broker.toml");
        let text = format!(
            "node_id = {}\nlisteners = \"PLAINTEXT://127.0.0.1:0,THIN://{}\"\n\
             advertised_listeners = \"THIN://{}\"\nmetrics_listen = \"{}\"\n\
             data_dir = \"{}\"\nshards = 1\ncontroller_quorum_voters = \"{voters}\"\n{extra}\n",
            node.id,
            node.listen,
            node.proxy.addr(),
            node.metrics,
            node.data_dir.join("data").display(),
        );
        std::fs::write(&config, text).unwrap();
        let (child, lines) = spawn_with_lines(
            Command::new(env!("CARGO_BIN_EXE_ringlog"))
                .args(["broker", "--config"])
                .arg(&config),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let kafka = lines.recv().ok();
            if let Some(kafka) = kafka.and_then(|line| listener_address(&line, "PLAINTEXT")) {
                let _ = tx.send(kafka);
            }
        });
        node.child = Some(child);
        rx
    }

    /// Every broker's client address (through its proxy), comma-separated.
    pub(crate) fn bootstrap(&self) -> String {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| n.proxy.addr().to_string())
            .collect();
        addrs.join(",")
    }

    /// The client addresses of the brokers that run, comma-separated.
    pub(crate) fn bootstrap_running(&self) -> String {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some() && !n.paused)
            .map(|n| n.proxy.addr().to_string())
            .collect();
        addrs.join(",")
    }

    /// The Kafka listeners of the brokers that run, comma-separated.
    pub(crate) fn kafka_bootstrap(&self) -> String {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some() && !n.paused)
            .map(|n| n.kafka.to_string())
            .collect();
        addrs.join(",")
    }

    pub(crate) fn signal(&mut self, id: u32, signal: i32) {
        match signal {
            SIGSTOP => self.node_mut(id).paused = true,
            SIGCONT => self.node_mut(id).paused = false,
            _ => {}
        }
        let child = self.node(id).child.as_ref().expect("running");
        // SAFETY: plain syscall on our own child's pid.
        unsafe { libc::kill(child.id() as i32, signal) };
    }

    /// kill -9 broker `id` and reap it.
    pub(crate) fn kill(&mut self, id: u32) {
        self.signal(id, SIGKILL);
        let mut child = self.node_mut(id).child.take().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM broker `id` (a controlled shutdown) and wait for it to exit.
    pub(crate) fn stop(&mut self, id: u32) {
        self.signal(id, SIGTERM);
        let mut child = self.node_mut(id).child.take().unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "broker {id} stopped with {status}");
                return;
            }
            assert!(started.elapsed() < DEADLINE, "broker {id} did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts broker `id` again from its data directory and waits until it serves.
    pub(crate) fn restart(&mut self, id: u32) {
        let ready = self.spawn(id);
        self.wait_serving(id, ready);
    }

    pub(crate) fn proxy(&self, id: u32) -> &Proxy {
        &self.node(id).proxy
    }

    /// `ringlog ARGS` against the running brokers.
    pub(crate) fn ringlog(&self, args: &[&str]) -> Output {
        ringlog(args, &self.bootstrap_running())
    }

    /// `topic describe --json` of partition `partition` of `topic`.
    pub(crate) fn describe(&self, topic: &str, partition: usize) -> Value {
        let output = self.ringlog(&["topic", "describe", topic, "--json"]);
        assert!(
            output.status.success(),
            "describe failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let value: Value = serde_json::from_slice(&output.stdout).unwrap();
        value["partitions"][partition].clone()
    }

    /// Waits until partition `partition` of `topic` satisfies `done` (as `topic describe`
    /// reports it).
    pub(crate) fn wait_for(
        &self,
        topic: &str,
        partition: usize,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let output = self.ringlog(&["topic", "describe", topic, "--json"]);
            if output.status.success() {
                let value: Value = serde_json::from_slice(&output.stdout).unwrap();
                let partition = &value["partitions"][partition];
                if done(partition) {
                    return partition.clone();
                }
            }
            assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A metric's value on broker `id`, summed over its labels.
    pub(crate) fn metric(&self, id: u32, name: &str) -> f64 {
        let text = http_get(self.node(id).metrics, "/metrics");
        text.lines()
            .filter(|line| line.starts_with(name))
            .filter(|line| {
                let rest = &line[name.len()..];
                rest.starts_with(' ') || rest.starts_with('{')
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                // A stopped process must be continued to die of SIGKILL promptly.
                // SAFETY: plain syscalls on our own child's pid.
                unsafe { libc::kill(child.id() as i32, SIGCONT) };
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// `ringlog ARGS` with `RINGLOG_BOOTSTRAP` set, bounded in time.
pub(crate) fn ringlog(args: &[&str], bootstrap: &str) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(args)
        .env("RINGLOG_BOOTSTRAP", bootstrap)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            // SAFETY: plain syscall on our own child's pid.
            unsafe { libc::kill(pid, SIGKILL) };
            panic!("ringlog {args:?} did not finish in {DEADLINE:?}");
        }
    }
}

/// The body of `GET path` from an HTTP server.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// Reads a whole file.
pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}
