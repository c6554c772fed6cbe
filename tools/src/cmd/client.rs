//! What the client commands share: `--bootstrap`, TLS (`--tls-ca`, `--tls-cert`, `--tls-key`)
//! and the SASL login (`--sasl-mechanism`, `--sasl-username`, `--sasl-password`), the tokio
//! runtime each builds in its `run`,
//! the connection, flags parsed the same way everywhere (`--acks`, `--config k=v`), client
//! errors as one line, the topic argument, a topic's partitions, and polling until idle.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ringlog_client::{
    Acks, Client, ClientConfig, ClientError, ClientSasl, ClientTls, Consumer, ConsumerRecord,
    SaslMechanism, TopicPartition,
};
use ringlog_wire::ErrorCode;
use tokio::time::Instant;

/// Where the cluster is; flattened into every client command.
#[derive(clap::Args, Debug, Clone)]
pub(super) struct Bootstrap {
    /// Brokers to learn the cluster from: `host:port[,host:port...]`.
    #[arg(
        long = "bootstrap",
        value_name = "ADDR[,ADDR...]",
        env = "RINGLOG_BOOTSTRAP",
        default_value = "127.0.0.1:9095",
        value_delimiter = ',',
        global = true
    )]
    pub addresses: Vec<String>,
    /// TLS to the brokers (their THIN_SSL listeners), trusting the CA certificates of this PEM
    /// file.
    #[arg(long, value_name = "FILE", env = "RINGLOG_TLS_CA", global = true)]
    pub tls_ca: Option<PathBuf>,
    /// With --tls-ca: this client's certificate (PEM), for listeners that require one; the
    /// file may hold the key too.
    #[arg(
        long,
        value_name = "FILE",
        env = "RINGLOG_TLS_CERT",
        requires = "tls_ca",
        global = true
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert, if not in its file.
    #[arg(
        long,
        value_name = "FILE",
        env = "RINGLOG_TLS_KEY",
        requires = "tls_cert",
        global = true
    )]
    pub tls_key: Option<PathBuf>,
    /// The SASL mechanism to log in with, when --sasl-username is given (the brokers'
    /// THIN_SASL_PLAINTEXT or THIN_SASL_SSL listeners): SCRAM-SHA-256, SCRAM-SHA-512, or PLAIN
    /// (which sends the password itself: use it with TLS only).
    #[arg(
        long,
        value_name = "MECHANISM",
        env = "RINGLOG_SASL_MECHANISM",
        default_value = "SCRAM-SHA-512",
        value_parser = parse_mechanism,
        global = true
    )]
    pub sasl_mechanism: SaslMechanism,
    /// Log in as this user (SASL) on every connection; needs --sasl-password.
    #[arg(
        long,
        value_name = "USER",
        env = "RINGLOG_SASL_USERNAME",
        requires = "sasl_password",
        global = true
    )]
    pub sasl_username: Option<String>,
    /// The user's password. Prefer RINGLOG_SASL_PASSWORD: an argument shows in `ps` and in
    /// the shell's history. Never printed.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "RINGLOG_SASL_PASSWORD",
        hide_env_values = true,
        requires = "sasl_username",
        global = true
    )]
    pub sasl_password: Option<Secret>,
}

/// A secret from the command line or the environment: its `Debug` hides it, so no log line or
/// error holds it.
#[derive(Clone)]
pub(super) struct Secret(String);

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(text.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(hidden)")
    }
}

/// `--sasl-mechanism`: a SASL name, in any case.
fn parse_mechanism(value: &str) -> Result<SaslMechanism, String> {
    SaslMechanism::from_name(&value.to_ascii_uppercase()).ok_or_else(|| {
        format!(
            "{value:?} is not a SASL mechanism ringlog speaks: SCRAM-SHA-256, SCRAM-SHA-512, PLAIN"
        )
    })
}

impl Bootstrap {
    /// The client's SASL login, if --sasl-username is given (clap asks for the password with
    /// it).
    fn sasl(&self) -> Option<ClientSasl> {
        let username = self.sasl_username.as_ref()?;
        let password = self.sasl_password.as_ref().map_or("", |secret| &secret.0);
        Some(ClientSasl::new(self.sasl_mechanism, username, password))
    }

    /// The client's TLS, if --tls-ca is given.
    pub(super) fn tls(&self) -> Result<Option<ClientTls>> {
        let Some(ca) = &self.tls_ca else {
            return Ok(None);
        };
        let identity = self
            .tls_cert
            .as_deref()
            .map(|certificate| (certificate, self.tls_key.as_deref().unwrap_or(certificate)));
        Ok(Some(ClientTls::from_pem_files(ca, identity).map_err(flat)?))
    }
}

/// The topic of a command about one topic: an argument (`ringlog perf consume TOPIC`), as
/// `produce TOPIC` and `consume TOPIC` take it. `--topic TOPIC`, how the perf and verifiable
/// commands took it before, is still accepted but not listed, so scripts keep working.
#[derive(clap::Args, Debug, Clone)]
pub(super) struct TopicArg {
    /// The topic.
    // Required, so the help shows `<TOPIC>` as `consume`'s does; clap lets a required
    // argument be missing when one it conflicts with is present, here `--topic`.
    #[arg(
        value_name = "TOPIC",
        required = true,
        conflicts_with = "former_topic_option"
    )]
    topic: Option<String>,
    #[arg(
        long = "topic",
        id = "former_topic_option",
        value_name = "TOPIC",
        hide = true
    )]
    former: Option<String>,
}

impl TopicArg {
    /// The topic, however it was given.
    pub(super) fn name(&self) -> &str {
        self.topic
            .as_deref()
            .or(self.former.as_deref())
            .expect("clap requires the topic argument or --topic")
    }
}

/// The runtime a command runs on: one thread. A client command is one flow of requests, and
/// on a thread of its own it leaves the other cores to the broker (measured: `perf produce`
/// of 100 B records 1.6 M/s on a two-thread runtime, 1.8 M/s on one, with the broker on the
/// same 2-core machine).
pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")
}

/// A runtime with `threads` worker threads, for commands that run several flows at once
/// (`perf produce --producers K`).
pub(super) fn runtime_with_threads(threads: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("start the tokio runtime")
}

/// A client that has learned the brokers from `bootstrap`.
pub(super) async fn connect(bootstrap: &Bootstrap) -> Result<Client> {
    let config = ClientConfig {
        bootstrap: bootstrap.addresses.clone(),
        tls: bootstrap.tls()?,
        sasl: bootstrap.sasl(),
        ..ClientConfig::default()
    };
    // The client's error already names every address it tried.
    Client::connect(config).await.map_err(flat)
}

/// A [`ClientError`] whose chain ends with it. Its message already carries its cause's text
/// (`connect to ADDR: Connection refused`), so `{:#}` in `main` would print the cause twice.
#[derive(Debug)]
pub(super) struct ClientFailure(pub ClientError);

impl fmt::Display for ClientFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ClientFailure {}

/// `error` as an [`anyhow::Error`] printed on one line.
pub(super) fn flat(error: ClientError) -> anyhow::Error {
    anyhow::Error::new(ClientFailure(error))
}

/// The Kafka name of what failed: the broker's code, or the client-side code Kafka uses
/// (NETWORK_EXCEPTION, REQUEST_TIMED_OUT). A delivery timeout is named by the error of its
/// last attempt when there was one (acks=all refused with NOT_ENOUGH_REPLICAS until the
/// timeout is NOT_ENOUGH_REPLICAS); `UNKNOWN` when Kafka has no name for it.
pub(super) fn error_name(error: &ClientError) -> String {
    let code = match error {
        ClientError::DeliveryTimeout {
            last_error: Some(last),
            ..
        } => return error_name(last),
        ClientError::DeliveryTimeout {
            last_error: None, ..
        } => Some(ErrorCode::REQUEST_TIMED_OUT),
        other => other.error_code(),
    };
    match code {
        Some(code) => code
            .name()
            .map_or_else(|| code.0.to_string(), str::to_string),
        None => "UNKNOWN".to_string(),
    }
}

/// `--acks`: `0`, `1`, or `all` (also `-1`, Kafka's spelling).
pub(super) fn parse_acks(value: &str) -> Result<Acks, String> {
    match value {
        "0" => Ok(Acks::None),
        "1" => Ok(Acks::Leader),
        "all" | "-1" => Ok(Acks::All),
        _ => Err(format!("{value:?} is not 0, 1 or all")),
    }
}

/// The name `--acks` takes for `acks`, for reports.
pub(super) fn acks_name(acks: Acks) -> &'static str {
    match acks {
        Acks::None => "0",
        Acks::Leader => "1",
        Acks::All => "all",
    }
}

/// `--config key=value`.
pub(super) fn parse_key_value(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{value:?} is not key=value")),
    }
}

/// `count` and `noun`, singular for one: `1 partition`, `3 partitions` (regular nouns).
pub(super) fn counted(count: u64, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        count => format!("{count} {noun}s"),
    }
}

/// The topic's partitions, or just `only` (checked to exist). Fails at once, naming the code,
/// when the topic does not exist (the producer and consumer would retry until their timeouts).
pub(super) async fn partitions(
    client: &Client,
    topic: &str,
    only: Option<u32>,
) -> Result<Vec<TopicPartition>> {
    let descriptions = client
        .admin()
        .describe_topics(&[topic])
        .await
        .map_err(flat)?;
    let count = descriptions
        .first()
        .map_or(0, |description| description.partitions.len() as u32);
    match only {
        Some(partition) if partition >= count => {
            bail!(
                "{topic}-{partition}: the topic has {}",
                counted(count.into(), "partition")
            )
        }
        Some(partition) => Ok(vec![TopicPartition::new(topic, partition)]),
        None => Ok((0..count).map(|p| TopicPartition::new(topic, p)).collect()),
    }
}

/// Polls a consumer until no record came for `idle`. For a group member, idle time counts from
/// its last rebalance too: joining (the broker's initial rebalance delay, 3 s by default, and
/// waiting for the other members) is not idleness.
#[derive(Debug)]
pub(super) struct IdlePolls {
    idle: Duration,
    last_record: Instant,
    /// The member id and generation a group member held after the last poll.
    generation: Option<(String, i32)>,
}

impl IdlePolls {
    /// Idle time counts from now.
    pub(super) fn new(idle: Duration) -> IdlePolls {
        IdlePolls {
            idle,
            last_record: Instant::now(),
            generation: None,
        }
    }

    /// The records of the next poll that returns some; `None` once `idle` passed without one.
    pub(super) async fn next(
        &mut self,
        consumer: &Consumer,
    ) -> Result<Option<Vec<ConsumerRecord>>> {
        loop {
            let left = self.idle.saturating_sub(self.last_record.elapsed());
            if left.is_zero() {
                return Ok(None);
            }
            let records = consumer.poll(left).await.map_err(flat)?;
            let generation = consumer.group_member().await;
            if generation.is_some() && generation != self.generation {
                self.generation = generation;
                self.last_record = Instant::now();
            }
            if !records.is_empty() {
                self.last_record = Instant::now();
                return Ok(Some(records));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_take_kafka_spellings() {
        assert_eq!(parse_acks("0"), Ok(Acks::None));
        assert_eq!(parse_acks("1"), Ok(Acks::Leader));
        assert_eq!(parse_acks("all"), Ok(Acks::All));
        assert_eq!(parse_acks("-1"), Ok(Acks::All));
        assert!(parse_acks("2").is_err());
    }

    #[test]
    fn acks_names_parse_back() {
        for acks in [Acks::None, Acks::Leader, Acks::All] {
            assert_eq!(parse_acks(acks_name(acks)), Ok(acks));
        }
    }

    #[test]
    fn a_client_error_with_a_source_prints_it_once() {
        let source = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let error = ClientError::Connect {
            address: "127.0.0.1:1".into(),
            source: std::sync::Arc::new(source),
        };
        let printed = format!("{:#}", flat(error));
        assert_eq!(printed.matches("refused").count(), 1, "{printed}");
        assert!(printed.starts_with("connect to 127.0.0.1:1: "), "{printed}");
    }

    #[test]
    fn sasl_mechanisms_take_their_names_in_any_case_and_passwords_hide() {
        assert_eq!(
            parse_mechanism("scram-sha-256"),
            Ok(SaslMechanism::Scram(
                ringlog_security::scram::Mechanism::ScramSha256
            ))
        );
        assert_eq!(parse_mechanism("PLAIN"), Ok(SaslMechanism::Plain));
        assert!(
            parse_mechanism("GSSAPI")
                .unwrap_err()
                .contains("SCRAM-SHA-512")
        );
        let secret: Secret = "hunter2".parse().unwrap();
        assert_eq!(format!("{secret:?}"), "(hidden)");
    }

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_key_value("retention_ms=a=b"),
            Ok(("retention_ms".into(), "a=b".into()))
        );
        assert_eq!(parse_key_value("k="), Ok(("k".into(), String::new())));
        assert!(parse_key_value("=v").is_err());
        assert!(parse_key_value("k").is_err());
    }

    #[test]
    fn a_delivery_timeout_is_named_by_its_last_error() {
        let topic_partition = TopicPartition::new("t", 0);
        let refused = ClientError::DeliveryTimeout {
            topic_partition: topic_partition.clone(),
            delivery_timeout: Duration::from_secs(1),
            attempts: 3,
            last_error: Some(Box::new(ClientError::Broker {
                context: "produce to t-0".into(),
                code: ErrorCode::NOT_ENOUGH_REPLICAS,
                message: None,
            })),
        };
        assert_eq!(error_name(&refused), "NOT_ENOUGH_REPLICAS");
        let never_sent = ClientError::DeliveryTimeout {
            topic_partition,
            delivery_timeout: Duration::from_secs(1),
            attempts: 0,
            last_error: None,
        };
        assert_eq!(error_name(&never_sent), "REQUEST_TIMED_OUT");
        assert_eq!(error_name(&ClientError::Closed), "UNKNOWN");
    }
}
