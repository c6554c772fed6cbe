//! `ringlog user` and `ringlog acl` as real processes against a real `ringlog broker` on
//! 127.0.0.1 (port 0), over the thin protocol: SCRAM credentials set from a password file or
//! stdin, listed without salts or keys, deleted per mechanism or whole; ACLs added, listed by
//! filters, removed; refusals named by their Kafka code; everything still there after the
//! broker is killed and started again, and no password anywhere in its data. Every run has a
//! deadline, and every process is killed when its test ends, whatever happens.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

mod support;

use serde_json::{Value, json};
use support::CliOutput;

/// Longest a broker may take to start.
const DEADLINE: Duration = Duration::from_secs(60);

/// A broker process on `dir`, killed on drop.
struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
}

impl BrokerProcess {
    fn start(dir: &Path) -> BrokerProcess {
        let mut command = support::local_broker_command(dir, "");
        let (child, lines) = support::spawn_with_lines(&mut command);
        let mut broker = BrokerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = lines
            .recv_timeout(DEADLINE)
            .expect("the broker reports its address");
        broker.addr = support::listener_address(&line, "THIN")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        broker
    }

    /// `ringlog args...` against this broker, `input` on its stdin.
    fn run(&self, args: &[&str], input: &str) -> CliOutput {
        support::cli(
            args,
            input,
            &[("RINGLOG_BOOTSTRAP", &self.addr.to_string())],
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let stdout = self.run(args, "").ok();
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: not JSON: {stdout}"))
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `dir`, read whole.
fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(std::fs::read(&path).unwrap());
        }
    }
    found
}

#[test]
fn users_are_set_listed_and_deleted_and_outlive_a_restart_without_their_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("alice.password");
    std::fs::write(&password_file, "alice-s3cret-pw\n").unwrap();
    let password_file = password_file.to_str().unwrap();
    let broker = BrokerProcess::start(dir.path());

    let out = broker
        .run(
            &["user", "create", "alice", "--password-file", password_file],
            "",
        )
        .ok();
    assert_eq!(
        out,
        "set the SCRAM-SHA-512 credential of user alice (8192 iterations)\n"
    );
    let args = [
        "user",
        "create",
        "alice",
        "--mechanism",
        "scram-sha-256",
        "--iterations",
        "4096",
        "--password-file",
        "-",
    ];
    broker.run(&args, "bob-s3cret-pw\n").ok();
    let args = ["user", "create", "bob", "--password-file", "-"];
    broker.run(&args, "bob-s3cret-pw\n").ok();
    assert_eq!(
        broker.run(&["user", "list"], "").ok(),
        "alice SCRAM-SHA-256:4096 SCRAM-SHA-512:8192\nbob SCRAM-SHA-512:8192\n"
    );

    // Refused before anything is sent: an empty password, iterations out of Kafka's bounds.
    let empty = broker.run(&["user", "create", "carol", "--password-file", "-"], "\n");
    empty.fails_naming("empty");
    let args = [
        "user",
        "create",
        "carol",
        "--iterations",
        "100",
        "--password-file",
        "-",
    ];
    let few = broker.run(&args, "pw\n");
    assert_eq!(few.code, Some(2), "{}", few.stderr);
    // Refused by the broker: a credential the user does not have.
    let args = ["user", "delete", "bob", "--mechanism", "SCRAM-SHA-256"];
    broker.run(&args, "").fails_naming("RESOURCE_NOT_FOUND");
    broker
        .run(&["user", "delete", "nobody"], "")
        .fails_naming("RESOURCE_NOT_FOUND");

    // Killed and started again: the credentials are in the controller's log.
    drop(broker);
    let broker = BrokerProcess::start(dir.path());
    let listed = broker.json(&["user", "list", "--json"]);
    assert_eq!(
        listed,
        json!({"users": [
            {"name": "alice", "credentials": [
                {"mechanism": "SCRAM-SHA-256", "iterations": 4096},
                {"mechanism": "SCRAM-SHA-512", "iterations": 8192},
            ]},
            {"name": "bob", "credentials": [{"mechanism": "SCRAM-SHA-512", "iterations": 8192}]},
        ]})
    );
    // The passwords never reached the broker.
    for contents in files(&dir.path().join("data")) {
        for password in ["alice-s3cret-pw", "bob-s3cret-pw"] {
            let found = contents
                .windows(password.len())
                .any(|w| w == password.as_bytes());
            assert!(!found, "{password} is in the broker's data");
        }
    }

    let out = broker
        .run(
            &["user", "delete", "alice", "--mechanism", "SCRAM-SHA-512"],
            "",
        )
        .ok();
    assert_eq!(out, "deleted the SCRAM-SHA-512 credential of user alice\n");
    let out = broker.run(&["user", "delete", "bob"], "").ok();
    assert_eq!(out, "deleted the SCRAM-SHA-512 credential of user bob\n");
    assert_eq!(
        broker.run(&["user", "list"], "").ok(),
        "alice SCRAM-SHA-256:4096\n"
    );
}

#[test]
fn acls_are_added_listed_by_filters_removed_and_outlive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path());
    let add = |args: &[&str]| {
        let mut all = vec!["acl", "add"];
        all.extend_from_slice(args);
        broker.run(&all, "")
    };
    let out = add(&[
        "--allow",
        "--principal",
        "User:alice",
        "--operation",
        "read",
        "--topic",
        "orders",
    ])
    .ok();
    assert_eq!(
        out,
        "added ALLOW User:alice READ TOPIC orders (LITERAL) from *\n"
    );
    let args = [
        "--deny",
        "--principal",
        "User:bob",
        "--operation",
        "write",
        "--topic",
        "ord",
        "--prefixed",
        "--host",
        "10.0.0.7",
    ];
    add(&args).ok();
    let args = [
        "--allow",
        "--principal",
        "User:*",
        "--operation",
        "describe",
        "--group",
        "g",
    ];
    add(&args).ok();
    let args = [
        "--allow",
        "--principal",
        "User:ops",
        "--operation",
        "alter",
        "--cluster",
    ];
    add(&args).ok();
    // Refused by the broker: a principal that is not TYPE:NAME.
    add(&[
        "--allow",
        "--principal",
        "alice",
        "--operation",
        "read",
        "--topic",
        "t",
    ])
    .fails_naming("INVALID_REQUEST");

    assert_eq!(
        broker.run(&["acl", "list"], "").ok(),
        "DENY User:bob WRITE TOPIC ord (PREFIXED) from 10.0.0.7\n\
         ALLOW User:alice READ TOPIC orders (LITERAL) from *\n\
         ALLOW User:* DESCRIBE GROUP g (LITERAL) from *\n\
         ALLOW User:ops ALTER CLUSTER kafka-cluster (LITERAL) from *\n"
    );
    // What applies to topic `orders`: the literal and the prefix.
    let applies = broker.json(&["acl", "list", "--topic", "orders", "--match", "--json"]);
    let names: Vec<&str> = applies["acls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|acl| acl["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ord", "orders"]);
    assert_eq!(
        broker.run(&["acl", "list", "--deny"], "").ok(),
        "DENY User:bob WRITE TOPIC ord (PREFIXED) from 10.0.0.7\n"
    );

    // Killed and started again.
    drop(broker);
    let broker = BrokerProcess::start(dir.path());
    broker
        .run(&["acl", "remove"], "")
        .fails_naming("at least one filter");
    let out = broker
        .run(&["acl", "remove", "--principal", "User:bob"], "")
        .ok();
    assert_eq!(
        out,
        "removed DENY User:bob WRITE TOPIC ord (PREFIXED) from 10.0.0.7\nremoved 1 acl\n"
    );
    let out = broker
        .run(&["acl", "remove", "--topic", "nothing"], "")
        .ok();
    assert_eq!(out, "removed 0 acls\n");
    let listed = broker.json(&["acl", "list", "--json"]);
    assert_eq!(listed["acls"].as_array().unwrap().len(), 3, "{listed}");
}
