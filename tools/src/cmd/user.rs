//! `ringlog user`: users' SCRAM credentials, through the client's `Admin` (what
//! `kafka-configs.sh --entity-type users --alter --add-config SCRAM-SHA-512=[...]` does).
//!
//! - `create NAME [--mechanism SCRAM-SHA-512] [--iterations 8192] --password-file F`: sets
//!   (or replaces) the user's credential for the mechanism. The password is the file's first
//!   line (`-`: stdin), never an argument (it would stay in the shell's history and in `ps`).
//!   It is salted here, with 32 random bytes and PBKDF2 of the mechanism's HMAC; only the
//!   salted password goes to the broker, which keeps what RFC 5802 has a server keep.
//! - `delete NAME [--mechanism M]`: one mechanism's credential, or every one the user has.
//! - `list [--json]`: every user with a credential: its mechanisms and iterations (never a
//!   salt or a key).
//!
//! Iterations: 8192 by default, twice Kafka's floor of 4096 (Kafka's tools take 4096 when none
//! is given). What the broker keeps (StoredKey) lets whoever steals it test password guesses
//! offline at one PBKDF2 each, so more iterations cost such an attacker more; a login costs
//! the broker one PBKDF2 too: at 8192, about 3 ms of a core for SHA-256 and 5 to 7 ms for
//! SHA-512 on this project's 2-core machine (OpenSSL's PBKDF2, measured through Python's
//! hashlib: 1.4 and 2.2 ms at 4096, 5.6 and 12 ms at 16384), which a login can afford and a
//! guessing attacker feels. Kafka's ceiling is 16384.
//!
//! Credentials are stored, not enforced yet: no listener authenticates with them.

use std::io::Read;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use ringlog_client::{Client, ScramUser};
use ringlog_security::scram::{MAX_ITERATIONS, MIN_ITERATIONS, Mechanism};
use serde::Serialize;

use super::client::{Bootstrap, connect, flat, runtime};

/// The iterations of a credential set without `--iterations`.
pub(crate) const ITERATIONS_DEFAULT: u32 = 8192;
const _: () = assert!(MIN_ITERATIONS <= ITERATIONS_DEFAULT && ITERATIONS_DEFAULT <= MAX_ITERATIONS);

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Set a user's SCRAM credential (replacing one of the same mechanism).
    Create(CreateArgs),
    /// Delete a user's SCRAM credential: one mechanism's, or every one.
    Delete {
        name: String,
        /// Only this mechanism's credential [default: every one the user has].
        #[arg(long, value_parser = parse_mechanism)]
        mechanism: Option<Mechanism>,
    },
    /// List every user with a SCRAM credential.
    List {
        /// Print one JSON object instead of one user per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    name: String,
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, default_value = "SCRAM-SHA-512", value_parser = parse_mechanism)]
    mechanism: Mechanism,
    /// PBKDF2 iterations, 4096 to 16384 (Kafka's bounds).
    #[arg(long, default_value_t = ITERATIONS_DEFAULT,
          value_parser = clap::value_parser!(u32).range(i64::from(MIN_ITERATIONS)..=i64::from(MAX_ITERATIONS)))]
    iterations: u32,
    /// A file whose first line is the password; `-` reads it from stdin.
    #[arg(long, value_name = "FILE")]
    password_file: String,
}

fn parse_mechanism(name: &str) -> Result<Mechanism, String> {
    Mechanism::from_name(&name.to_ascii_uppercase())
        .ok_or_else(|| format!("{name:?} is not SCRAM-SHA-256 or SCRAM-SHA-512"))
}

/// `user list --json`.
#[derive(Serialize, Debug)]
struct Listing {
    users: Vec<UserReport>,
}

#[derive(Serialize, Debug)]
struct UserReport {
    name: String,
    credentials: Vec<CredentialReport>,
}

#[derive(Serialize, Debug)]
struct CredentialReport {
    mechanism: &'static str,
    iterations: u32,
}

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(async {
        let client = connect(&args.bootstrap).await?;
        match args.command {
            Command::Create(create) => create_user(&client, create).await,
            Command::Delete { name, mechanism } => delete_user(&client, &name, mechanism).await,
            Command::List { json } => list(&client, json).await,
        }
    })
}

async fn create_user(client: &Client, args: CreateArgs) -> Result<()> {
    let password = read_password(&args.password_file)?;
    client
        .admin()
        .set_scram_credential(
            &args.name,
            args.mechanism,
            password.as_bytes(),
            args.iterations,
        )
        .await
        .map_err(flat)?;
    println!(
        "set the {} credential of user {} ({} iterations)",
        args.mechanism.name(),
        args.name,
        args.iterations
    );
    Ok(())
}

/// The first line of `path` (`-`: stdin), without its line end; an empty one is refused.
fn read_password(path: &str) -> Result<String> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("read the password from stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("read the password file {path}"))?;
    }
    let password = text.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        bail!("the password ({path}'s first line) is empty");
    }
    Ok(password)
}

async fn delete_user(client: &Client, name: &str, mechanism: Option<Mechanism>) -> Result<()> {
    let admin = client.admin();
    let mechanisms = match mechanism {
        Some(mechanism) => vec![mechanism],
        None => {
            let users = admin.scram_users().await.map_err(flat)?;
            let Some(user) = users.into_iter().find(|u| u.name == name) else {
                bail!("user {name} has no SCRAM credential (RESOURCE_NOT_FOUND)");
            };
            user.credentials.into_iter().map(|(m, _)| m).collect()
        }
    };
    for mechanism in mechanisms {
        admin
            .delete_scram_credential(name, mechanism)
            .await
            .map_err(flat)?;
        println!("deleted the {} credential of user {name}", mechanism.name());
    }
    Ok(())
}

async fn list(client: &Client, json: bool) -> Result<()> {
    let users: Vec<ScramUser> = client.admin().scram_users().await.map_err(flat)?;
    if json {
        let listing = Listing {
            users: users
                .into_iter()
                .map(|user| UserReport {
                    name: user.name,
                    credentials: user
                        .credentials
                        .into_iter()
                        .map(|(mechanism, iterations)| CredentialReport {
                            mechanism: mechanism.name(),
                            iterations,
                        })
                        .collect(),
                })
                .collect(),
        };
        println!("{}", serde_json::to_string(&listing)?);
        return Ok(());
    }
    for user in users {
        let credentials: Vec<String> = user
            .credentials
            .iter()
            .map(|(mechanism, iterations)| format!("{}:{iterations}", mechanism.name()))
            .collect();
        println!("{} {}", user.name, credentials.join(" "));
    }
    Ok(())
}
