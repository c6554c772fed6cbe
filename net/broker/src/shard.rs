//! One shard: a thread with its own io_uring, its own connections and the partitions it owns.
//!
//! - **Connections.** Every shard accepts on the broker's one listening socket (a duplicate of
//!   it) and gives each connection it accepts to the shard with the fewest connections, through
//!   that shard's inbox when it is another one; a connection's shard receives through
//!   io_uring, cuts frames, and answers in request order (`connection.rs`).
//! - **Partitions.** A partition belongs to one shard ([`owner_of`]); only that shard touches
//!   its log. A request is split into one part per partition; each part runs on its owner,
//!   through the owner's inbox (a channel and an eventfd the owner's ring waits on) when that
//!   is another shard, and its result comes back the same way. The request's response is built
//!   once every part is back (`Job`).
//! - **Long polls.** A fetch part with nothing to send waits on its owner until data arrives,
//!   the deadline passes, or the request as a whole has `min_bytes` from other parts; at most
//!   `fetch_purgatory_max_partitions` wait on a shard, and one more is answered at once. A
//!   fetch read on a connection whose earlier fetches still wait releases them (answers go
//!   out in request order: their waits would hold it up too). A follower's fetcher relies on
//!   it to send a partition's fetch at once while its long poll of the others is out.
//! - **Stop.** The shard stops accepting, answers what waits, writes what it owes (for at most
//!   `shutdown_grace`), and closes its logs cleanly so the next start skips recovery.

mod groups;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use ringlog_engine::{LeaderEpoch, Offset, Timestamp};
use ringlog_replication::controller::Partition;
use ringlog_replication::partition::{FetchId, FollowerFetchAnswer};
use ringlog_replication::{KafkaError, TopicId, TopicPartition};

use super::bus::{AgentMsg, JobKey, ReplyTo, Route, ShardMsg, Shared, owner_of};
use super::connection::{Connection, FlushState, OutPiece, ReceiveError};
use super::frontend::{self, ListenerKind, Pending, Step};
use super::group::{Coordinator, Loader};
use super::offsets::OFFSETS_TOPIC;
use super::ops::{FetchOutcome, LeaderAnswer, PartOp, PartResult};
use super::partition::{Effects, ServedPartition};
use super::ring::{Op, Ring, Token};

/// Whether `dir` already names `topic_id` as its topic. A directory naming another id holds an
/// older topic of the same name (deleted and created again while this broker was down): it is
/// renamed `<topic>-<partition>.<old id>-stray`, as strays are, and the partition starts empty.
/// One whose file cannot be read is set aside too: its owner cannot be told. A directory that
/// cannot be set aside is an error: the partition is not opened over another topic's records.
fn set_aside_another_topics_dir(
    dir: &std::path::Path,
    tp: &TopicPartition,
    id: TopicId,
) -> Result<bool, ringlog_engine::Error> {
    if id.is_zero() {
        return Ok(false);
    }
    let found = super::partition_metadata::read(dir);
    let old = match &found {
        Ok(Some(found)) if *found == id => return Ok(true),
        Ok(None) => return Ok(false),
        Ok(Some(found)) => found.to_string(),
        Err(_) => "unreadable".to_string(),
    };
    let stray = dir.with_file_name(format!("{tp}.{old}-stray"));
    std::fs::rename(dir, &stray)
        .map_err(|error| ringlog_engine::Error::io("set aside", dir, error))?;
    tracing::warn!(
        partition = %tp,
        topic_id = %id,
        ?found,
        moved_to = %stray.display(),
        "partition directory of another topic of the same name (deleted and created again while \
         this broker was down): set aside, the new topic's replica starts empty"
    );
    Ok(false)
}

/// How often partitions are ticked (produce timeouts, time-based rolls and flushes).
const TICK_INTERVAL: Duration = Duration::from_millis(100);
/// How often the group coordinators' members and committed offsets are exported.
const GROUP_METRICS_INTERVAL: Duration = Duration::from_secs(5);
/// How often retention runs over the shard's partitions.
const RETENTION_INTERVAL: Duration = Duration::from_secs(30);

/// A request waiting for its parts.
#[derive(Debug)]
struct Job {
    /// What the frontend keeps of the request for its answer.
    pending: Pending,
    results: Vec<Option<PartResult>>,
    owners: Vec<usize>,
    remaining: usize,
    min_bytes: u64,
    bytes: u64,
    released: bool,
}

/// An answer held back until `at`, after which its connection closes: a failed
/// authentication's (`frontend::sasl`). At most one per connection: the connection reads
/// nothing after the request it answers.
#[derive(Debug)]
struct DelayedAnswer {
    at: Instant,
    job: JobKey,
    pieces: Vec<OutPiece>,
}

/// A fetch part waiting for data on its owner.
#[derive(Debug)]
struct ParkedFetch {
    reply: ReplyTo,
    topic_partition: TopicPartition,
    offset: Offset,
    max_bytes: u64,
    deadline: Instant,
    /// A consumer reads below the high watermark; a follower up to the log end.
    reader: Reader,
}

/// Who a fetch reads for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reader {
    Consumer {
        current_leader_epoch: Option<LeaderEpoch>,
    },
    Follower,
}

/// One shard. See the module docs.
pub(crate) struct Shard {
    index: usize,
    shared: Arc<Shared>,
    ring: Ring,
    /// The listening sockets every shard accepts on (duplicates), by index, and the protocol
    /// each speaks.
    listeners: Vec<(ListenerKind, std::net::TcpListener)>,
    accepting: bool,
    conns: Vec<Option<Connection>>,
    free_slots: Vec<u32>,
    next_generation: u32,
    /// Connections closed with operations still in flight: freed once those complete.
    dying: Vec<u32>,
    inbox: Receiver<ShardMsg>,
    wake_buffer: Box<[u8; 8]>,
    partitions: BTreeMap<TopicPartition, ServedPartition<Route>>,
    /// The group coordinators of the `__consumer_offsets` partitions led here, loaded when
    /// the leadership comes (or on first use) and dropped when it goes.
    coordinators: BTreeMap<TopicPartition, Coordinator<ReplyTo>>,
    /// The coordinators being loaded, a step at a time: their replay so far and its start.
    loading: BTreeMap<TopicPartition, (Loader, Instant)>,
    /// The group series this shard exported last (see `groups::export_group_metrics`).
    exported_group_offsets: BTreeSet<(String, String, u32)>,
    exported_groups: BTreeSet<String>,
    next_group_metrics: Instant,
    /// Admin requests the agent is carrying out: what their answer needs.
    admin_waiting: HashMap<JobKey, Pending>,
    parked: Vec<ParkedFetch>,
    /// Failed authentications' answers, waiting for their delay to pass.
    delayed: Vec<DelayedAnswer>,
    jobs: HashMap<JobKey, Job>,
    next_tick: Instant,
    next_retention: Instant,
    stopping: Option<Instant>,
}

impl Shard {
    pub(crate) fn new(
        index: usize,
        shared: Arc<Shared>,
        listeners: Vec<(ListenerKind, std::net::TcpListener)>,
        inbox: Receiver<ShardMsg>,
    ) -> io::Result<Shard> {
        let shard = Shard {
            index,
            shared,
            ring: Ring::new()?,
            listeners,
            accepting: true,
            conns: Vec::new(),
            free_slots: Vec::new(),
            next_generation: 1,
            dying: Vec::new(),
            inbox,
            wake_buffer: Box::new([0; 8]),
            partitions: BTreeMap::new(),
            coordinators: BTreeMap::new(),
            loading: BTreeMap::new(),
            exported_group_offsets: BTreeSet::new(),
            exported_groups: BTreeSet::new(),
            next_group_metrics: Instant::now(),
            admin_waiting: HashMap::new(),
            parked: Vec::new(),
            delayed: Vec::new(),
            jobs: HashMap::new(),
            next_tick: Instant::now(),
            next_retention: Instant::now() + RETENTION_INTERVAL,
            stopping: None,
        };
        Ok(shard)
    }

    /// Opens (recovering if needed) a partition this broker holds, as the controller's state
    /// of it first arrives. Its replica takes a role once that state is applied.
    fn open_partition(
        &mut self,
        topic_partition: &TopicPartition,
    ) -> Result<(), ringlog_engine::Error> {
        let (dir, topic_config, topic_id) = {
            let catalog = self.shared.catalog();
            let dir = catalog.partition_dir(topic_partition);
            let topic_id = catalog
                .topic(&topic_partition.topic)
                .map_or(TopicId::ZERO, |topic| topic.id);
            (
                dir,
                self.shared.topic_config(&catalog, &topic_partition.topic),
                topic_id,
            )
        };
        let owned = set_aside_another_topics_dir(&dir, topic_partition, topic_id)?;
        let config = &self.shared.options.config;
        let partition = ServedPartition::open(
            self.shared.options.node_id,
            topic_partition.clone(),
            &dir,
            config.log_config(&topic_config),
            config.leader_config(&topic_config),
            config.follower_config(),
        )?;
        if !topic_id.is_zero() && !owned {
            super::partition_metadata::write(&dir, topic_id)?;
        }
        super::metrics_hooks::io_backend(partition.log().io_backend_name());
        let report = partition.log().recovery_report();
        // An empty log (a new one) has no clean-shutdown marker either: nothing to report.
        if !report.clean_shutdown && (report.bytes_scanned > 0 || !report.truncations.is_empty()) {
            tracing::info!(partition = %topic_partition, ?report, "recovered after an unclean shutdown");
        }
        self.partitions.insert(topic_partition.clone(), partition);
        Ok(())
    }

    /// Runs until stopped.
    pub(crate) fn run(mut self) -> io::Result<()> {
        self.arm_accepts()?;
        self.arm_wake()?;
        loop {
            let timeout = self
                .next_deadline()
                .saturating_duration_since(Instant::now());
            self.ring
                .submit_and_wait(Some(timeout.max(Duration::from_millis(1))))?;
            for (token, result) in self.ring.completions() {
                self.on_completion(token, result)?;
            }
            self.on_time();
            if self.finished() {
                break;
            }
        }
        self.drain_ring();
        self.close_partitions();
        Ok(())
    }

    /// Waits (a bounded time) until no receive or poll of a closed connection is still in
    /// flight, so no buffer is freed while the kernel may still write into it.
    fn drain_ring(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.dying.is_empty() && Instant::now() < deadline {
            if self
                .ring
                .submit_and_wait(Some(Duration::from_millis(10)))
                .is_err()
            {
                break;
            }
            for (token, result) in self.ring.completions() {
                match token.op {
                    Op::Recv | Op::PollOut => {
                        if let Some(conn) = self.conns[token.slot as usize].as_mut() {
                            match token.op {
                                Op::Recv => conn.recv_in_flight = false,
                                _ => conn.poll_in_flight = false,
                            }
                        }
                        let _ = result;
                    }
                    Op::Accept if result >= 0 => {
                        // SAFETY: a successful accept returns a descriptor we now own; close it.
                        drop(unsafe { TcpStream::from_raw_fd(result) });
                    }
                    _ => {}
                }
            }
            for slot in self.dying.clone() {
                self.close(slot);
            }
        }
        if !self.dying.is_empty() {
            // The kernel did not finish in time: leak those buffers rather than free memory
            // it may still write.
            for slot in std::mem::take(&mut self.dying) {
                std::mem::forget(self.conns[slot as usize].take());
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        if !self.loading.is_empty() {
            // A coordinator is loading: its next step runs as soon as the ring is served.
            return Instant::now();
        }
        let parked = self.parked.iter().map(|p| p.deadline);
        let delayed = self.delayed.iter().map(|d| d.at);
        let mut deadline = parked.chain(delayed).fold(self.next_tick, Instant::min);
        if let Some(groups) = self
            .coordinators
            .values()
            .filter_map(Coordinator::next_deadline)
            .min()
        {
            deadline = deadline.min(groups);
        }
        if let Some(since) = self.stopping {
            deadline = deadline.min(since + self.shared.options.shutdown_grace);
        }
        deadline
    }

    fn on_completion(&mut self, token: Token, result: i32) -> io::Result<()> {
        match token.op {
            Op::Accept => self.on_accept(token.slot, result),
            Op::Wake => self.on_wake(),
            Op::Recv => {
                self.on_recv(token, result);
                Ok(())
            }
            Op::PollOut => {
                self.on_writable(token);
                Ok(())
            }
        }
    }

    // ---- connections ----

    /// Accepts on every listener; a token's slot is the listener's index.
    fn arm_accepts(&mut self) -> io::Result<()> {
        for listener in 0..self.listeners.len() {
            self.arm_accept(listener as u32)?;
        }
        Ok(())
    }

    fn arm_accept(&mut self, listener: u32) -> io::Result<()> {
        let token = Token {
            op: Op::Accept,
            slot: listener,
            generation: 0,
        };
        let fd = self.listeners[listener as usize].1.as_raw_fd();
        self.ring.accept(fd, token)
    }

    fn on_accept(&mut self, listener: u32, result: i32) -> io::Result<()> {
        if result >= 0 {
            // SAFETY: a successful accept returns a fresh descriptor that we now own.
            let stream = unsafe { TcpStream::from_raw_fd(result) };
            self.assign(stream, self.listeners[listener as usize].0);
        } else if -result == libc::EINVAL {
            // The socket no longer listens: a stopping shard took every shard's sockets out
            // of LISTEN (see `begin_stop`). Accepting again would fail at once, forever.
            tracing::debug!(shard = self.index, "listener closed: no more accepts on it");
            return Ok(());
        } else if self.accepting {
            let error = io::Error::from_raw_os_error(-result);
            tracing::warn!(%error, shard = self.index, "accept failed");
        }
        if self.accepting {
            self.arm_accept(listener)?;
        }
        Ok(())
    }

    /// Gives a connection just accepted to the shard with the fewest connections (this one on
    /// a tie). The kernel hands each connection of the one listening socket to whichever
    /// shard's accept is waiting, and a shard that is awake takes a whole burst from the
    /// backlog: left to it, 64 connections opened at once landed 64 to 0 on two shards.
    fn assign(&mut self, stream: TcpStream, kind: ListenerKind) {
        use std::sync::atomic::Ordering;
        let count = self.shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
        if count > self.shared.options.max_connections || self.stopping.is_some() {
            self.shared.connections.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!(
                max = self.shared.options.max_connections,
                "connection refused: max_connections reached or stopping"
            );
            return;
        }
        let loads = &self.shared.shard_connections;
        let mut target = self.index;
        for (index, load) in loads.iter().enumerate() {
            if load.load(Ordering::Relaxed) < loads[target].load(Ordering::Relaxed) {
                target = index;
            }
        }
        // Counted at once, so the next accept (on any shard) sees it before it arrives.
        loads[target].fetch_add(1, Ordering::Relaxed);
        if target == self.index {
            self.admit(stream, kind);
        } else {
            let adopt = ShardMsg::Adopt { stream, kind };
            self.shared.inboxes[target].send(adopt);
        }
    }

    /// Serves a connection assigned to this shard (already counted, see [`Self::assign`]).
    fn admit(&mut self, stream: TcpStream, kind: ListenerKind) {
        if self.stopping.is_some() {
            self.uncount_connection();
            return;
        }
        let Ok(peer) = stream.peer_addr() else {
            self.uncount_connection();
            return;
        };
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let tls = match (kind.tls, &self.shared.tls) {
            (true, Some(tls)) => Some(tls.config()),
            (true, None) => unreachable!("a TLS listener is bound only with a TLS config"),
            (false, _) => None,
        };
        let kernel_tls = self.shared.tls.as_ref().is_some_and(|t| t.kernel_offload());
        let conn = match Connection::new(stream, peer, generation, kind, tls, kernel_tls) {
            Ok(conn) => conn,
            Err(error) => {
                self.uncount_connection();
                tracing::warn!(%error, "cannot set up connection");
                return;
            }
        };
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.conns[slot as usize] = Some(conn);
                slot
            }
            None => {
                self.conns.push(Some(conn));
                (self.conns.len() - 1) as u32
            }
        };
        super::metrics_hooks::connection_opened();
        self.arm_recv(slot);
    }

    /// A connection of this shard is gone (or never started): it no longer counts.
    fn uncount_connection(&self) {
        use std::sync::atomic::Ordering;
        self.shared.connections.fetch_sub(1, Ordering::Relaxed);
        self.shared.shard_connections[self.index].fetch_sub(1, Ordering::Relaxed);
    }

    fn conn_mut(&mut self, slot: u32, generation: u32) -> Option<&mut Connection> {
        self.conns
            .get_mut(slot as usize)?
            .as_mut()
            .filter(|c| c.generation == generation)
    }

    /// Receives on the connection again, unless it is closing or holds as many requests (or
    /// bytes of them) as it may: reading resumes once responses drain.
    fn arm_recv(&mut self, slot: u32) {
        let max_inflight = self.shared.options.max_inflight_requests_per_connection;
        let max_frame = self.shared.options.max_frame_bytes as usize;
        let Some(conn) = self.conns[slot as usize].as_mut() else {
            return;
        };
        let full = conn.in_flight() >= max_inflight || conn.owed_bytes() >= max_frame;
        if conn.recv_in_flight || conn.closing || conn.close_when_written || full {
            return;
        }
        let token = Token {
            op: Op::Recv,
            slot,
            generation: conn.generation,
        };
        let fd = conn.fd();
        conn.recv_in_flight = true;
        // SAFETY: the receive buffer is a boxed slice owned by the connection, which is only
        // freed once `recv_in_flight` is false again (the completion was reaped).
        if let Err(error) = unsafe { self.ring.recv(fd, &mut conn.recv_buffer, token) } {
            conn.recv_in_flight = false;
            tracing::warn!(%error, "cannot arm receive");
            self.close(slot);
        }
    }

    fn on_recv(&mut self, token: Token, result: i32) {
        let Some(conn) = self.conns[token.slot as usize].as_mut() else {
            return;
        };
        debug_assert_eq!(conn.generation, token.generation);
        conn.recv_in_flight = false;
        if conn.closing || result <= 0 {
            if result == -libc::EIO && conn.kernel_tls() {
                // The kernel's TLS fails a plain receive on any record but application data.
                tracing::debug!(peer = %conn.peer, "TLS: an alert or a post-handshake message under the kernel's TLS: closing");
            }
            self.close(token.slot);
            return;
        }
        let received = result as usize;
        super::metrics_hooks::bytes_in(received as u64);
        if let Err(error) = conn.receive(received) {
            match error {
                ReceiveError::Closed => tracing::debug!(peer = %conn.peer, "TLS session closed"),
                ReceiveError::Tls(_) | ReceiveError::KernelTls(_) => {
                    tracing::info!(peer = %conn.peer, %error, "closing connection");
                }
            }
            self.close(token.slot);
            return;
        }
        // TLS may have records of its own to send (its handshake).
        if conn.has_output() {
            self.flush(token.slot);
        }
        self.read_requests(token.slot);
        self.arm_recv(token.slot);
    }

    /// Cuts and handles the whole frames received, up to the in-flight limit.
    fn read_requests(&mut self, slot: u32) {
        let max_inflight = self.shared.options.max_inflight_requests_per_connection;
        let max_frame = self.shared.options.max_frame_bytes;
        loop {
            let Some(conn) = self.conns[slot as usize].as_mut() else {
                return;
            };
            // Reading pauses while the requests owed hold a whole frame's worth of bytes: a
            // connection holds at most about two frames however many it pipelines.
            let full = conn.in_flight() >= max_inflight || conn.owed_bytes() >= max_frame as usize;
            if conn.closing || conn.close_when_written || full {
                return;
            }
            let read = match frontend::read_request(
                &mut conn.frontend,
                &self.shared,
                &mut conn.received,
                max_frame,
            ) {
                Ok(Some(read)) => read,
                Ok(None) => return,
                Err(error) => {
                    tracing::info!(peer = %conn.peer, %error, "closing connection: a request that cannot be served");
                    self.close(slot);
                    return;
                }
            };
            let seq = conn.owe(read.bytes);
            let job = JobKey {
                slot,
                generation: conn.generation,
                seq,
            };
            self.handle(job, read.step);
        }
    }

    /// Writes what the connection has ready; waits for writability when the socket is full.
    fn flush(&mut self, slot: u32) {
        let Some(conn) = self.conns[slot as usize].as_mut() else {
            return;
        };
        match conn.flush() {
            Ok((FlushState::Done, written)) => {
                super::metrics_hooks::bytes_out(written);
                if conn.written_out() {
                    self.close(slot);
                    return;
                }
                // Reading may have paused at the in-flight limit: resume.
                self.read_requests(slot);
                self.arm_recv(slot);
            }
            Ok((FlushState::Blocked, written)) => {
                super::metrics_hooks::bytes_out(written);
                if !conn.poll_in_flight {
                    conn.poll_in_flight = true;
                    let token = Token {
                        op: Op::PollOut,
                        slot,
                        generation: conn.generation,
                    };
                    let fd = conn.fd();
                    if self.ring.poll_out(fd, token).is_err() {
                        self.close(slot);
                    }
                }
            }
            Err(error) => {
                tracing::info!(peer = %conn.peer, %error, "closing connection: write failed");
                self.close(slot);
            }
        }
    }

    fn on_writable(&mut self, token: Token) {
        let Some(conn) = self.conns[token.slot as usize].as_mut() else {
            return;
        };
        conn.poll_in_flight = false;
        if conn.closing {
            self.close(token.slot);
            return;
        }
        self.flush(token.slot);
    }

    /// Closes a connection: its socket is shut down at once, and its slot is freed once no
    /// operation of the ring still points into its buffers.
    fn close(&mut self, slot: u32) {
        let Some(conn) = self.conns[slot as usize].as_mut() else {
            return;
        };
        if !conn.closing {
            conn.closing = true;
            // SAFETY: plain syscall on the connection's own descriptor; it makes operations
            // still in flight on it complete.
            unsafe { libc::shutdown(conn.fd(), libc::SHUT_RDWR) };
            self.jobs.retain(|key, _| key.slot != slot);
            self.delayed.retain(|answer| answer.job.slot != slot);
        }
        if conn.recv_in_flight || conn.poll_in_flight {
            if !self.dying.contains(&slot) {
                self.dying.push(slot);
            }
            return;
        }
        self.conns[slot as usize] = None;
        self.free_slots.push(slot);
        super::metrics_hooks::connection_closed();
        self.dying.retain(|&s| s != slot);
        self.uncount_connection();
    }

    // ---- requests ----

    /// Puts a whole response in the connection's place for `job` and writes what is ready.
    fn fulfil(&mut self, job: JobKey, pieces: Vec<OutPiece>) {
        if let Some(conn) = self.conn_mut(job.slot, job.generation) {
            conn.fulfil(job.seq, pieces);
            self.flush(job.slot);
        }
    }

    /// Carries out what the frontend decided for a request read on this shard.
    fn handle(&mut self, job_key: JobKey, step: Step) {
        match step {
            Step::Answer(pieces) => self.fulfil(job_key, pieces),
            Step::AnswerAndClose { pieces, delay } => {
                if let Some(conn) = self.conn_mut(job_key.slot, job_key.generation) {
                    conn.close_when_written = true;
                }
                if delay.is_zero() || self.stopping.is_some() {
                    self.fulfil(job_key, pieces);
                } else {
                    let at = Instant::now() + delay;
                    let job = job_key;
                    self.delayed.push(DelayedAnswer { at, job, pieces });
                }
            }
            Step::Admin(pending, op) => {
                self.admin_waiting.insert(job_key, pending);
                self.shared.to_agent(AgentMsg::Admin {
                    shard: self.index,
                    job: job_key,
                    op,
                });
            }
            Step::Parts {
                pending,
                parts,
                min_bytes,
            } => {
                let shards = self.shared.options.shards;
                let job = Job {
                    pending,
                    results: parts.iter().map(|_| None).collect(),
                    owners: parts.iter().map(|(tp, _)| owner_of(tp, shards)).collect(),
                    remaining: parts.len(),
                    min_bytes,
                    bytes: 0,
                    released: false,
                };
                if job.pending.is_fetch() {
                    self.release_fetches_ahead(job_key);
                }
                self.start_job(job_key, job, parts);
            }
        }
    }

    /// Sends each part of `job` to its owner; the response is built when all are back.
    fn start_job(&mut self, key: JobKey, job: Job, parts: Vec<(TopicPartition, PartOp)>) {
        let owners = job.owners.clone();
        self.jobs.insert(key, job);
        if parts.is_empty() {
            self.finish_job(key);
            return;
        }
        // Every other shard's parts go out before this shard's run: a local part may meet the
        // request's `min_bytes` at once and release the job, and each shard must have its
        // parts before it hears of that (its inbox keeps order), or a part arriving after the
        // release waits out the whole long poll.
        let mut local = Vec::new();
        for (part, ((topic_partition, op), owner)) in parts.into_iter().zip(owners).enumerate() {
            let reply = ReplyTo {
                shard: self.index,
                job: key,
                part,
            };
            if owner == self.index {
                local.push((reply, topic_partition, op));
            } else {
                self.shared.inboxes[owner].send(ShardMsg::Op {
                    reply,
                    topic_partition,
                    op,
                });
            }
        }
        for (reply, topic_partition, op) in local {
            self.run_op(reply, topic_partition, op);
        }
    }

    /// A part's result arrived (from this shard or another).
    fn on_done(&mut self, reply: ReplyTo, result: PartResult) {
        let Some(job) = self.jobs.get_mut(&reply.job) else {
            return; // its connection closed meanwhile
        };
        if let PartResult::Fetch(fetch) = &result {
            job.bytes += fetch.bytes;
        }
        if job.results[reply.part].replace(result).is_none() {
            job.remaining -= 1;
        }
        if job.remaining == 0 {
            self.finish_job(reply.job);
        } else if !job.released && job.min_bytes > 0 && job.bytes >= job.min_bytes {
            self.release_job(reply.job);
        }
    }

    /// A fetch `key` arrived behind fetches of the same connection that still wait. Answers
    /// go out in request order, so their long polls would hold this one up as well (a
    /// follower's fetch of a partition the waiting ones do not hold, most of all): they are
    /// answered now, with what they have.
    fn release_fetches_ahead(&mut self, key: JobKey) {
        let Some(conn) = self.conn_mut(key.slot, key.generation) else {
            return;
        };
        let ahead: Vec<JobKey> = conn
            .unanswered()
            .take_while(|&seq| seq < key.seq)
            .map(|seq| JobKey { seq, ..key })
            .collect();
        for job in ahead {
            let waits = self
                .jobs
                .get(&job)
                .is_some_and(|j| j.pending.is_fetch() && !j.released);
            if waits {
                self.release_job(job);
            }
        }
    }

    /// Answers the waiting fetch parts of job `key` now, on every shard that holds one.
    fn release_job(&mut self, key: JobKey) {
        let Some(job) = self.jobs.get_mut(&key) else {
            return;
        };
        job.released = true;
        let mut owners = job.owners.clone();
        owners.sort_unstable();
        owners.dedup();
        for owner in owners {
            if owner == self.index {
                self.release(self.index, key);
            } else {
                let release = ShardMsg::Release {
                    shard: self.index,
                    job: key,
                };
                self.shared.inboxes[owner].send(release);
            }
        }
    }

    fn finish_job(&mut self, key: JobKey) {
        let Some(job) = self.jobs.remove(&key) else {
            return;
        };
        let results = job
            .results
            .into_iter()
            .map(|r| r.expect("every part answered"))
            .collect();
        let pieces = frontend::finish(job.pending, results);
        self.fulfil(key, pieces);
    }

    // ---- partitions (on their owner) ----

    fn deliver(&mut self, reply: ReplyTo, result: PartResult) {
        if reply.shard == self.index {
            self.on_done(reply, result);
        } else {
            self.shared.inboxes[reply.shard].send(ShardMsg::Done { reply, result });
        }
    }

    /// Why this shard cannot serve `topic_partition`: the topic exists but this broker does
    /// not hold the partition (or has not opened it yet), or it does not exist.
    fn not_served(&self, topic_partition: &TopicPartition) -> KafkaError {
        if self.shared.catalog().contains(topic_partition) {
            KafkaError::NotLeaderOrFollower
        } else {
            KafkaError::UnknownTopicOrPartition
        }
    }

    fn run_op(&mut self, reply: ReplyTo, topic_partition: TopicPartition, op: PartOp) {
        let now = self.shared.now();
        let Some(partition) = self.partitions.get_mut(&topic_partition) else {
            let error = self.not_served(&topic_partition);
            if topic_partition.topic == OFFSETS_TOPIC
                && error == KafkaError::UnknownTopicOrPartition
            {
                self.shared.to_agent(AgentMsg::CreateOffsetsTopic);
            }
            self.deliver(reply, PartResult::refused(&op, error));
            return;
        };
        match op {
            PartOp::Produce {
                records,
                acks,
                timeout,
            } => {
                let effects = partition.produce(records, acks, timeout, now, Route::Part(reply));
                self.carry_out(&topic_partition, effects);
            }
            PartOp::Fetch {
                offset,
                max_bytes,
                deadline,
                current_leader_epoch,
            } => {
                let reader = Reader::Consumer {
                    current_leader_epoch,
                };
                let outcome = partition.fetch(offset, max_bytes, current_leader_epoch);
                let fetch = ParkedFetch {
                    reply,
                    topic_partition,
                    offset,
                    max_bytes,
                    deadline,
                    reader,
                };
                self.answer_or_park(fetch, outcome);
            }
            PartOp::FollowerFetch {
                replica,
                request,
                max_bytes,
                deadline,
            } => {
                let mut effects = partition.follower_fetch(replica, request, now);
                let answer = effects.fetch_answer.take();
                tracing::trace!(partition = %topic_partition, %replica, ?request, ?answer, "follower fetch");
                let outcome = match answer {
                    Some(FollowerFetchAnswer::Records { fetch_offset, .. }) => Some((
                        fetch_offset,
                        partition.fetch_for_follower(fetch_offset, max_bytes),
                    )),
                    Some(FollowerFetchAnswer::Diverging {
                        diverging,
                        high_watermark,
                    }) => {
                        let outcome = FetchOutcome {
                            high_watermark: Some(high_watermark),
                            log_start_offset: Some(partition.log().log_start_offset()),
                            log_end_offset: Some(partition.log().log_end_offset()),
                            diverging_epoch: Some(diverging),
                            ..FetchOutcome::default()
                        };
                        self.deliver(reply, PartResult::Fetch(outcome));
                        None
                    }
                    Some(FollowerFetchAnswer::Refused(error)) => {
                        let error = error.kafka_error();
                        self.deliver(reply, PartResult::Fetch(FetchOutcome::refused(error)));
                        None
                    }
                    None => {
                        let error = KafkaError::NotLeaderOrFollower;
                        self.deliver(reply, PartResult::Fetch(FetchOutcome::refused(error)));
                        None
                    }
                };
                // The follower's progress may have moved the high watermark first.
                self.carry_out(&topic_partition, effects);
                if let Some((offset, outcome)) = outcome {
                    let fetch = ParkedFetch {
                        reply,
                        topic_partition,
                        offset,
                        max_bytes,
                        deadline,
                        reader: Reader::Follower,
                    };
                    self.answer_or_park(fetch, outcome);
                }
            }
            PartOp::ListOffsets {
                spec,
                current_leader_epoch,
            } => {
                let result = partition.list_offsets(spec, current_leader_epoch);
                self.deliver(reply, result);
            }
            PartOp::OffsetForLeaderEpoch {
                leader_epoch,
                current_leader_epoch,
            } => {
                let result = partition.end_offset_for_epoch(current_leader_epoch, leader_epoch);
                self.deliver(reply, result);
            }
            PartOp::DeleteRecords { offset, timeout } => {
                let start_before = partition.log().log_start_offset();
                let route = Route::Part(reply);
                let effects = partition.delete_records(offset, timeout, now, route);
                let moved = partition.log().log_start_offset() > start_before;
                self.carry_out(&topic_partition, effects);
                if moved {
                    // Followers learn the new start from their next answer and report theirs
                    // in the fetch after it, which the delete's answer waits for: answer their
                    // long polls now rather than at their deadline.
                    self.answer_parked_followers_now(&topic_partition);
                }
            }
            PartOp::CommitOffsets { commits, member } => {
                self.commit_offsets(reply, topic_partition, commits, member)
            }
            PartOp::FetchOffsets { group, topics } => {
                let result = self.fetch_offsets(&topic_partition, &group, topics);
                self.deliver(reply, PartResult::Offsets(result));
            }
            PartOp::Group(op) => self.run_group_op(reply, topic_partition, op),
        }
    }

    /// Sends a fetch's outcome, or parks the fetch until data, its deadline or a release.
    /// With `fetch_purgatory_max_partitions` parked already it is answered now, with nothing:
    /// what Kafka answers a fetch it cannot wait for, and the fetcher asks again.
    fn answer_or_park(&mut self, fetch: ParkedFetch, outcome: FetchOutcome) {
        // A part of this shard's own request that the request's other parts already released
        // (its `min_bytes` met) does not wait: nothing would wake it before its deadline.
        let released = fetch.reply.shard == self.index
            && self
                .jobs
                .get(&fetch.reply.job)
                .is_some_and(|job| job.released);
        let waits = outcome.bytes == 0
            && outcome.error.is_none()
            && !released
            && fetch.deadline > Instant::now()
            && self.stopping.is_none();
        let room = self.parked.len() < self.shared.options.fetch_purgatory_max_partitions;
        if waits && room {
            self.parked.push(fetch);
        } else {
            if waits {
                tracing::debug!(
                    shard = self.index,
                    partition = %fetch.topic_partition,
                    parked = self.parked.len(),
                    "fetch purgatory full: answering the fetch now"
                );
            }
            self.deliver(fetch.reply, PartResult::Fetch(outcome));
        }
    }

    /// Carries out what a partition's step left for the shard: produce answers, fetches to
    /// the leader and ISR proposals through the agent, waiting fetches that may have data.
    fn carry_out(&mut self, topic_partition: &TopicPartition, effects: Effects<Route>) {
        let Effects {
            answers,
            delete_answers,
            fetch_answer,
            send_fetches,
            isr_proposals,
            progressed,
        } = effects;
        debug_assert!(
            fetch_answer.is_none(),
            "fetch answers are taken by the fetch"
        );
        self.on_produce_answers(topic_partition, answers);
        for (route, outcome) in delete_answers {
            match route {
                Route::Part(reply) => self.deliver(reply, PartResult::DeleteRecords(outcome)),
                other => unreachable!("a DeleteRecords answer routed to {other:?}"),
            }
        }
        for (fetch_id, leader, request) in send_fetches {
            self.shared.to_agent(AgentMsg::Fetch {
                topic_partition: topic_partition.clone(),
                fetch_id,
                leader,
                request,
            });
        }
        for proposal in isr_proposals {
            self.shared.to_agent(AgentMsg::ProposeIsr {
                topic_partition: topic_partition.clone(),
                proposal,
            });
        }
        if progressed {
            self.wake_parked(topic_partition);
        }
    }

    /// The controller's new state of a partition this broker holds: opened on first sight,
    /// then the replica takes the role the state gives it.
    fn apply_partition_state(&mut self, topic_partition: TopicPartition, state: Partition) {
        if !self.partitions.contains_key(&topic_partition)
            && let Err(error) = self.open_partition(&topic_partition)
        {
            tracing::error!(partition = %topic_partition, %error, "cannot open partition");
            return;
        }
        let now = self.shared.now();
        let partition = self
            .partitions
            .get_mut(&topic_partition)
            .expect("opened above");
        tracing::debug!(
            partition = %topic_partition,
            leader = ?state.leader(),
            leader_epoch = state.leader_epoch().0,
            isr = ?state.isr(),
            log_end_offset = partition.log().log_end_offset().0,
            "partition state"
        );
        let effects = partition.apply_state(state, now);
        super::metrics_hooks::partition(partition);
        self.carry_out(&topic_partition, effects);
        if !self.partitions[&topic_partition].is_leader() {
            // Waiting consumer fetches learn the leader moved; so do a coordinator's members.
            self.answer_parked_now(&topic_partition);
            self.unload_coordinator(&topic_partition);
        } else if topic_partition.topic == OFFSETS_TOPIC {
            // The groups of the partition come here: their coordinator loads at once, as
            // Kafka's does, so members find it ready rather than waiting on its replay.
            self.start_loading(&topic_partition);
        }
    }

    /// The leader answered this follower's fetch.
    fn on_fetch_answer(
        &mut self,
        topic_partition: TopicPartition,
        fetch_id: FetchId,
        answer: LeaderAnswer,
    ) {
        let now = self.shared.now();
        let Some(partition) = self.partitions.get_mut(&topic_partition) else {
            return;
        };
        let effects = partition.fetch_response(fetch_id, answer, now);
        self.carry_out(&topic_partition, effects);
    }

    fn on_isr_rejected(&mut self, topic_partition: TopicPartition) {
        let Some(partition) = self.partitions.get_mut(&topic_partition) else {
            return;
        };
        let effects = partition.isr_rejected();
        self.carry_out(&topic_partition, effects);
    }

    /// Closes a partition of a deleted topic and deletes its directory. Its waiting
    /// requests learn the partition is gone.
    fn delete_partition(&mut self, topic_partition: &TopicPartition) {
        let waiting: Vec<ParkedFetch> = self
            .parked
            .extract_if(.., |p| &p.topic_partition == topic_partition)
            .collect();
        for fetch in waiting {
            let result =
                PartResult::Fetch(FetchOutcome::refused(KafkaError::UnknownTopicOrPartition));
            self.deliver(fetch.reply, result);
        }
        let dir = self.shared.catalog().partition_dir(topic_partition);
        self.unload_coordinator(topic_partition);
        if let Some(mut partition) = self.partitions.remove(topic_partition) {
            let effects = partition.abandon(KafkaError::UnknownTopicOrPartition);
            self.carry_out(topic_partition, effects);
            drop(partition);
        }
        super::metrics_hooks::partition_gone(topic_partition);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => tracing::info!(partition = %topic_partition, "deleted"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::error!(dir = %dir.display(), %error, "cannot delete partition directory");
            }
        }
    }

    /// Closes an open partition and opens it again with its topic's current config, then
    /// applies the controller's state it had. Produces waiting on it are answered
    /// NOT_LEADER_OR_FOLLOWER (retriable: the client sends them again).
    fn reopen_partition(&mut self, topic_partition: &TopicPartition) {
        let Some(mut partition) = self.partitions.remove(topic_partition) else {
            return;
        };
        let effects = partition.abandon(KafkaError::NotLeaderOrFollower);
        self.carry_out(topic_partition, effects);
        let state = partition.state().cloned();
        if let Err(error) = partition.close() {
            tracing::error!(partition = %topic_partition, %error, "closing the log to reconfigure failed");
        }
        if let Err(error) = self.open_partition(topic_partition) {
            tracing::error!(partition = %topic_partition, %error, "reopening the log failed");
            self.answer_parked_now(topic_partition);
            return;
        }
        if let Some(state) = state {
            self.apply_partition_state(topic_partition.clone(), state);
        }
        self.answer_parked_now(topic_partition);
    }

    /// Answers the fetches waiting on `topic_partition` that now have data.
    fn wake_parked(&mut self, topic_partition: &TopicPartition) {
        self.answer_parked_on(topic_partition, false);
    }

    /// Answers every fetch waiting on `topic_partition` now, data or not.
    fn answer_parked_now(&mut self, topic_partition: &TopicPartition) {
        self.answer_parked_on(topic_partition, true);
    }

    /// Answers the follower fetches waiting on `topic_partition` now, data or not.
    fn answer_parked_followers_now(&mut self, topic_partition: &TopicPartition) {
        let waiting: Vec<ParkedFetch> = self
            .parked
            .extract_if(.., |p| {
                &p.topic_partition == topic_partition && p.reader == Reader::Follower
            })
            .collect();
        for fetch in waiting {
            self.answer_parked(fetch, true);
        }
    }

    fn answer_parked_on(&mut self, topic_partition: &TopicPartition, now: bool) {
        let waiting: Vec<ParkedFetch> = self
            .parked
            .extract_if(.., |p| &p.topic_partition == topic_partition)
            .collect();
        for fetch in waiting {
            self.answer_parked(fetch, now);
        }
    }

    /// Answers a waiting fetch if it has data or `now` says so; parks it again otherwise.
    fn answer_parked(&mut self, fetch: ParkedFetch, now: bool) {
        let outcome = match self.partitions.get(&fetch.topic_partition) {
            Some(partition) => match fetch.reader {
                Reader::Consumer {
                    current_leader_epoch,
                } => partition.fetch(fetch.offset, fetch.max_bytes, current_leader_epoch),
                Reader::Follower => partition.fetch_for_follower(fetch.offset, fetch.max_bytes),
            },
            None => FetchOutcome::refused(self.not_served(&fetch.topic_partition)),
        };
        if now {
            self.deliver(fetch.reply, PartResult::Fetch(outcome));
        } else {
            // Back in the purgatory if it still has nothing, and there is room: the fetches
            // read while its partition was being looked at may have taken its place.
            self.answer_or_park(fetch, outcome);
        }
    }

    /// The request as a whole (job `job` of shard `shard`) has its bytes: its parts waiting
    /// here answer now.
    fn release(&mut self, shard: usize, job: JobKey) {
        let released: Vec<ParkedFetch> = self
            .parked
            .extract_if(.., |p| p.reply.shard == shard && p.reply.job == job)
            .collect();
        for fetch in released {
            self.answer_parked(fetch, true);
        }
    }

    // ---- inbox, time, stop ----

    fn arm_wake(&mut self) -> io::Result<()> {
        let token = Token {
            op: Op::Wake,
            slot: 0,
            generation: 0,
        };
        let fd = self.shared.inboxes[self.index].eventfd();
        // SAFETY: the wake buffer is a box owned by the shard, which outlives the ring.
        unsafe { self.ring.read_eventfd(fd, &mut self.wake_buffer, token) }
    }

    fn on_wake(&mut self) -> io::Result<()> {
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                ShardMsg::Op {
                    reply,
                    topic_partition,
                    op,
                } => self.run_op(reply, topic_partition, op),
                ShardMsg::Done { reply, result } => self.on_done(reply, result),
                ShardMsg::Release { shard, job } => self.release(shard, job),
                ShardMsg::PartitionState {
                    topic_partition,
                    partition,
                } => self.apply_partition_state(topic_partition, partition),
                ShardMsg::FetchAnswer {
                    topic_partition,
                    fetch_id,
                    answer,
                } => self.on_fetch_answer(topic_partition, fetch_id, answer),
                ShardMsg::IsrRejected { topic_partition } => self.on_isr_rejected(topic_partition),
                ShardMsg::Delete { topic_partition } => self.delete_partition(&topic_partition),
                ShardMsg::Reconfigure { topic_partition } => {
                    self.reopen_partition(&topic_partition)
                }
                ShardMsg::AdminDone { job, outcome } => {
                    if let Some(pending) = self.admin_waiting.remove(&job) {
                        let pieces = frontend::finish_admin(pending, outcome);
                        self.fulfil(job, pieces);
                    }
                }
                ShardMsg::Adopt { stream, kind } => self.admit(stream, kind),
                ShardMsg::Stop => self.begin_stop(),
            }
        }
        self.arm_wake()
    }

    fn on_time(&mut self) {
        let now = Instant::now();
        let expired: Vec<ParkedFetch> = self.parked.extract_if(.., |p| p.deadline <= now).collect();
        for fetch in expired {
            self.answer_parked(fetch, true);
        }
        let due: Vec<DelayedAnswer> = self.delayed.extract_if(.., |d| d.at <= now).collect();
        for answer in due {
            self.fulfil(answer.job, answer.pieces);
        }
        self.load_coordinators();
        self.tick_coordinators(now);
        if now >= self.next_tick {
            self.next_tick = now + TICK_INTERVAL;
            self.tick_partitions();
        }
        if now >= self.next_group_metrics {
            self.next_group_metrics = now + GROUP_METRICS_INTERVAL;
            self.export_group_metrics();
        }
        if now >= self.next_retention {
            self.next_retention = now + RETENTION_INTERVAL;
            self.apply_retention();
        }
        for slot in self.dying.clone() {
            self.close(slot);
        }
    }

    fn tick_partitions(&mut self) {
        let now = self.shared.now();
        let mut due = Vec::new();
        for (topic_partition, partition) in self.partitions.iter_mut() {
            due.push((topic_partition.clone(), partition.tick(now)));
            if let Err(error) = partition.log().tick() {
                tracing::error!(partition = %partition.topic_partition(), %error, "log tick failed");
            }
            super::metrics_hooks::partition(partition);
        }
        for (topic_partition, effects) in due {
            self.carry_out(&topic_partition, effects);
        }
    }

    /// Deletes the segments past each partition's `retention_ms` / `retention_bytes` (whole
    /// segments below the high watermark).
    /// Retention, and the expiry of idle idempotent producers (`producer_id_expiration_ms`).
    fn apply_retention(&mut self) {
        let now = Timestamp::now();
        let expiration = self.shared.options.config.producer_id_expiration;
        for (topic_partition, partition) in &self.partitions {
            let expired = partition.log().expire_producers(now, expiration);
            if expired > 0 {
                tracing::info!(partition = %topic_partition, producers = expired, "idle idempotent producers expired");
            }
            if topic_partition.topic == OFFSETS_TOPIC {
                // Never by time or size, whatever its config says (a cluster created before
                // the topic had its own config has the broker's defaults there): a live
                // group's last commit may be the oldest record. The group coordinator expires
                // stale offsets itself.
                continue;
            }
            match partition.log().apply_retention(now) {
                Ok(outcome) if outcome.segments_deleted > 0 => {
                    tracing::info!(partition = %topic_partition, ?outcome, "retention deleted segments");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(partition = %topic_partition, %error, "retention failed");
                }
            }
        }
    }

    /// Stops accepting and answers every waiting fetch; the loop ends once everything owed
    /// is written or `shutdown_grace` passed.
    fn begin_stop(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(Instant::now());
        self.accepting = false;
        // Take the listening sockets out of LISTEN now: an accept still armed in a ring holds
        // a socket open until the kernel tears the ring down, after the process let go of
        // it, and a broker started right after on the same port would find it in use. Once
        // shut down it no longer listens, and the armed accepts complete with an error. Every
        // shard shares the sockets and every shard is stopping, so whichever shard gets here
        // first does it for all.
        for (_, listener) in &self.listeners {
            let shut = socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Both);
            if let Err(error) = shut {
                tracing::debug!(%error, shard = self.index, "shutting down a listening socket");
            }
        }
        let waiting: Vec<ParkedFetch> = std::mem::take(&mut self.parked);
        for fetch in waiting {
            self.answer_parked(fetch, true);
        }
        for answer in std::mem::take(&mut self.delayed) {
            self.fulfil(answer.job, answer.pieces);
        }
    }

    fn finished(&mut self) -> bool {
        let Some(since) = self.stopping else {
            return false;
        };
        let drained = self.jobs.is_empty()
            && self
                .conns
                .iter()
                .flatten()
                .all(|c| c.in_flight() == 0 && !c.has_output());
        if drained || since.elapsed() >= self.shared.options.shutdown_grace {
            for slot in 0..self.conns.len() as u32 {
                self.close(slot);
            }
            return true;
        }
        false
    }

    /// Closes every log cleanly, so the next start needs no recovery.
    fn close_partitions(&mut self) {
        for (topic_partition, partition) in std::mem::take(&mut self.partitions) {
            if let Err(error) = partition.close() {
                tracing::error!(partition = %topic_partition, %error, "closing the log failed");
            }
        }
    }
}
