//! `ringlog acl`: Kafka's ACL bindings, through the client's `Admin` (what `kafka-acls.sh`
//! does).
//!
//! - `add --allow|--deny --principal User:alice --operation read --topic T [--prefixed]
//!   [--host H]`: one binding; the resource is `--topic`, `--group`, `--transactional-id` or
//!   `--cluster`; `--prefixed` makes the name a prefix; the host is `*` (any) by default.
//! - `remove [filters]`: every binding the filters match (at least one filter: there is no
//!   way to remove every binding by accident); prints what it removed.
//! - `list [filters] [--json]`: the bindings the filters match, every one without filters.
//!
//! Filters are the same flags, each optional: `--allow`/`--deny`, `--principal`,
//! `--operation`, `--host`, a resource (`--topic T` names the literal `T`; with `--prefixed`,
//! the prefix `T`; with `--match`, every binding that applies to topic `T`: the literal, the
//! wildcard `*` and every prefix of it).
//!
//! ACLs are stored, not enforced yet: no request is checked against them.

use anyhow::{Result, bail};
use clap::{Subcommand, ValueEnum};
use ringlog_client::Client;
use ringlog_security::acl::{
    AccessEntry, AclBinding, AclFilter, CLUSTER_NAME, Operation, PatternType, Permission,
    ResourcePattern, ResourceType, WILDCARD,
};
use serde::Serialize;

use super::client::{Bootstrap, connect, counted, flat, runtime};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Add a binding.
    Add(AddArgs),
    /// Remove every binding the filters match.
    Remove {
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// List the bindings the filters match (every one without filters).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Print one JSON object instead of one binding per line.
        #[arg(long)]
        json: bool,
    },
}

/// The resource of a binding or a filter.
#[derive(clap::Args, Debug, Default)]
#[group(multiple = false)]
struct ResourceArgs {
    /// A topic (with --prefixed: every topic whose name starts with it; `*`: every topic).
    #[arg(long)]
    topic: Option<String>,
    /// A consumer group.
    #[arg(long)]
    group: Option<String>,
    /// A transactional id.
    #[arg(long)]
    transactional_id: Option<String>,
    /// The cluster itself.
    #[arg(long)]
    cluster: bool,
}

impl ResourceArgs {
    fn named(&self) -> Option<(ResourceType, String)> {
        if let Some(topic) = &self.topic {
            return Some((ResourceType::Topic, topic.clone()));
        }
        if let Some(group) = &self.group {
            return Some((ResourceType::Group, group.clone()));
        }
        if let Some(id) = &self.transactional_id {
            return Some((ResourceType::TransactionalId, id.clone()));
        }
        self.cluster
            .then(|| (ResourceType::Cluster, CLUSTER_NAME.to_string()))
    }
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("permission").required(true)))]
#[command(group(clap::ArgGroup::new("resource").required(true).args(["topic", "group", "transactional_id", "cluster"])))]
struct AddArgs {
    /// Allow the operation.
    #[arg(long, group = "permission")]
    allow: bool,
    /// Deny the operation (a deny wins over any allow).
    #[arg(long, group = "permission")]
    deny: bool,
    /// Who: `User:NAME`, or `User:*` for every user.
    #[arg(long)]
    principal: String,
    /// What may or may not be done.
    #[arg(long, value_enum)]
    operation: OperationArg,
    /// From which client address [default: any, `*`].
    #[arg(long, default_value = WILDCARD)]
    host: String,
    #[command(flatten)]
    resource: ResourceArgs,
    /// The resource name is a prefix: every resource whose name starts with it.
    #[arg(long)]
    prefixed: bool,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("filter_permission").multiple(false)))]
#[command(group(clap::ArgGroup::new("pattern").multiple(false)))]
struct FilterArgs {
    /// Only bindings that allow.
    #[arg(long, group = "filter_permission")]
    allow: bool,
    /// Only bindings that deny.
    #[arg(long, group = "filter_permission")]
    deny: bool,
    /// Only this principal's bindings (`User:alice`).
    #[arg(long)]
    principal: Option<String>,
    /// Only bindings of this operation.
    #[arg(long, value_enum)]
    operation: Option<OperationArg>,
    /// Only bindings of this host.
    #[arg(long)]
    host: Option<String>,
    #[command(flatten)]
    resource: ResourceArgs,
    /// The resource name is a prefix binding's.
    #[arg(long, group = "pattern")]
    prefixed: bool,
    /// Every binding that applies to the resource named: literal, wildcard and prefixes.
    #[arg(long = "match", group = "pattern")]
    matching: bool,
}

/// Operations as the command line names them.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum OperationArg {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    CreateTokens,
    DescribeTokens,
}

impl OperationArg {
    fn operation(self) -> Operation {
        match self {
            OperationArg::All => Operation::All,
            OperationArg::Read => Operation::Read,
            OperationArg::Write => Operation::Write,
            OperationArg::Create => Operation::Create,
            OperationArg::Delete => Operation::Delete,
            OperationArg::Alter => Operation::Alter,
            OperationArg::Describe => Operation::Describe,
            OperationArg::ClusterAction => Operation::ClusterAction,
            OperationArg::DescribeConfigs => Operation::DescribeConfigs,
            OperationArg::AlterConfigs => Operation::AlterConfigs,
            OperationArg::IdempotentWrite => Operation::IdempotentWrite,
            OperationArg::CreateTokens => Operation::CreateTokens,
            OperationArg::DescribeTokens => Operation::DescribeTokens,
        }
    }
}

impl AddArgs {
    fn binding(&self) -> AclBinding {
        let (resource_type, name) = self.resource.named().expect("clap requires a resource");
        AclBinding {
            pattern: ResourcePattern {
                resource_type,
                name,
                pattern_type: if self.prefixed {
                    PatternType::Prefixed
                } else {
                    PatternType::Literal
                },
            },
            entry: AccessEntry {
                principal: self.principal.clone(),
                host: self.host.clone(),
                operation: self.operation.operation(),
                permission: if self.deny {
                    Permission::Deny
                } else {
                    Permission::Allow
                },
            },
        }
    }
}

impl FilterArgs {
    /// Whether no flag narrows the filter: it matches every binding.
    fn is_empty(&self) -> bool {
        !self.allow
            && !self.deny
            && self.principal.is_none()
            && self.operation.is_none()
            && self.host.is_none()
            && self.resource.named().is_none()
            && !self.prefixed
            && !self.matching
    }

    fn filter(&self) -> AclFilter {
        let named = self.resource.named();
        let pattern_type = match (&named, self.prefixed, self.matching) {
            (_, true, _) => PatternType::Prefixed,
            (_, _, true) => PatternType::Match,
            (Some(_), false, false) => PatternType::Literal,
            (None, false, false) => PatternType::Any,
        };
        let (resource_type, name) = match named {
            Some((resource_type, name)) => (resource_type, Some(name)),
            None => (ResourceType::Any, None),
        };
        AclFilter {
            resource_type,
            name,
            pattern_type,
            principal: self.principal.clone(),
            host: self.host.clone(),
            operation: self
                .operation
                .map_or(Operation::Any, OperationArg::operation),
            permission: match (self.allow, self.deny) {
                (true, _) => Permission::Allow,
                (_, true) => Permission::Deny,
                _ => Permission::Any,
            },
        }
    }
}

/// `acl list --json`.
#[derive(Serialize, Debug)]
struct Listing {
    acls: Vec<BindingReport>,
}

#[derive(Serialize, Debug)]
struct BindingReport {
    resource_type: String,
    name: String,
    pattern_type: String,
    principal: String,
    host: String,
    operation: String,
    permission: String,
}

/// Kafka's name of an enum value (`TRANSACTIONAL_ID`, `CLUSTER_ACTION`).
fn kafka_name(value: &impl std::fmt::Debug) -> String {
    let mut name = String::new();
    for (i, c) in format!("{value:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

fn report(binding: &AclBinding) -> BindingReport {
    BindingReport {
        resource_type: kafka_name(&binding.pattern.resource_type),
        name: binding.pattern.name.clone(),
        pattern_type: kafka_name(&binding.pattern.pattern_type),
        principal: binding.entry.principal.clone(),
        host: binding.entry.host.clone(),
        operation: kafka_name(&binding.entry.operation),
        permission: kafka_name(&binding.entry.permission),
    }
}

/// One binding as a line: `ALLOW User:alice READ TOPIC orders (LITERAL) from *`.
fn line(binding: &AclBinding) -> String {
    let r = report(binding);
    format!(
        "{} {} {} {} {} ({}) from {}",
        r.permission, r.principal, r.operation, r.resource_type, r.name, r.pattern_type, r.host
    )
}

pub(crate) fn run(args: Args) -> Result<()> {
    runtime()?.block_on(async {
        let client = connect(&args.bootstrap).await?;
        match args.command {
            Command::Add(add) => {
                let binding = add.binding();
                client
                    .admin()
                    .create_acls(std::slice::from_ref(&binding))
                    .await
                    .map_err(flat)?;
                println!("added {}", line(&binding));
                Ok(())
            }
            Command::Remove { filter } => remove(&client, &filter).await,
            Command::List { filter, json } => list(&client, &filter, json).await,
        }
    })
}

async fn remove(client: &Client, filter: &FilterArgs) -> Result<()> {
    if filter.is_empty() {
        bail!(
            "acl remove needs at least one filter (--principal, --topic, --operation, ...): \
             it removes every binding the filters match"
        );
    }
    let removed = client
        .admin()
        .delete_acls(&filter.filter())
        .await
        .map_err(flat)?;
    for binding in &removed {
        println!("removed {}", line(binding));
    }
    println!("removed {}", counted(removed.len() as u64, "acl"));
    Ok(())
}

async fn list(client: &Client, filter: &FilterArgs, json: bool) -> Result<()> {
    let bindings = client
        .admin()
        .describe_acls(&filter.filter())
        .await
        .map_err(flat)?;
    if json {
        let listing = Listing {
            acls: bindings.iter().map(report).collect(),
        };
        println!("{}", serde_json::to_string(&listing)?);
        return Ok(());
    }
    for binding in &bindings {
        println!("{}", line(binding));
    }
    Ok(())
}
