//! The values of the SASL keys: the mechanisms a SASL listener offers
//! (`sasl_enabled_mechanisms`) and the users written into a new cluster's metadata
//! (`sasl_bootstrap_users`), parsed and rendered back.

use std::fmt;

use ringlog_security::scram::{MAX_ITERATIONS, MIN_ITERATIONS, Mechanism};

/// A SASL mechanism a SASL listener may offer (`sasl_enabled_mechanisms`), or the brokers log
/// in to each other with (`inter_broker_sasl_mechanism`).
pub use ringlog_security::sasl::SaslMechanism;

/// A password in the config (`inter_broker_sasl_password`): its `Debug` hides it, so a
/// config printed whole never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }

    /// The password itself: for logging in and for rendering the config file, never for a
    /// log line.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "(hidden)"
        })
    }
}

/// What `sasl_enabled_mechanisms` takes.
pub(super) const MECHANISMS_ALLOWED: &str = "a comma-separated list of PLAIN, SCRAM-SHA-256, \
     SCRAM-SHA-512, at least one, each once, like \"SCRAM-SHA-256,SCRAM-SHA-512\"";

/// Parses `sasl_enabled_mechanisms`: `NAME,NAME,...`.
pub(super) fn parse_mechanisms(text: &str) -> Result<Vec<SaslMechanism>, String> {
    let mut mechanisms = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let mechanism = SaslMechanism::from_name(name).ok_or_else(|| {
            let why = match name {
                "GSSAPI" | "OAUTHBEARER" => "not served by ringlog",
                _ => "not a SASL mechanism ringlog knows",
            };
            format!("{MECHANISMS_ALLOWED} ({name:?} is {why})")
        })?;
        if mechanisms.contains(&mechanism) {
            return Err(format!("{MECHANISMS_ALLOWED} ({name} is named twice)"));
        }
        mechanisms.push(mechanism);
    }
    if mechanisms.is_empty() {
        return Err(format!("{MECHANISMS_ALLOWED} (none is named)"));
    }
    Ok(mechanisms)
}

/// Renders `sasl_enabled_mechanisms` as it is parsed.
pub(super) fn render_mechanisms(mechanisms: &[SaslMechanism]) -> String {
    let names: Vec<&str> = mechanisms.iter().map(|m| m.name()).collect();
    names.join(",")
}

/// The PBKDF2 iterations of a bootstrap user's credential when it names none (Kafka's
/// `kafka-storage format --add-scram` default).
pub const BOOTSTRAP_ITERATIONS_DEFAULT: u32 = 4096;

/// A user whose SCRAM credential the broker writes into a new cluster's metadata
/// (`sasl_bootstrap_users`): Kafka's `kafka-storage format --add-scram` in a config key.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapUser {
    pub mechanism: Mechanism,
    pub name: String,
    /// Salted into a credential at start; never logged, never described.
    pub password: String,
    pub iterations: u32,
}

impl fmt::Debug for BootstrapUser {
    /// The password is left out: logs never hold it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapUser")
            .field("mechanism", &self.mechanism)
            .field("name", &self.name)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// What one entry of `sasl_bootstrap_users` takes.
pub(super) const BOOTSTRAP_USER_ALLOWED: &str = "a list of Kafka's --add-scram entries, \
     MECHANISM=[name=NAME,password=PASSWORD(,iterations=N)], like \
     [\"SCRAM-SHA-512=[name=admin,password=admin-secret]\"]; a value may be in double quotes \
     (it then may hold , and ]) and holds no double quote";

impl std::str::FromStr for BootstrapUser {
    /// What is wrong with it (without the password).
    type Err = String;

    fn from_str(text: &str) -> Result<BootstrapUser, String> {
        let (mechanism, rest) = text
            .split_once("=[")
            .ok_or_else(|| "expected MECHANISM=[name=...,password=...]".to_string())?;
        let mechanism = Mechanism::from_name(mechanism.trim())
            .ok_or_else(|| format!("{mechanism:?} is not SCRAM-SHA-256 or SCRAM-SHA-512"))?;
        let body = rest
            .strip_suffix(']')
            .ok_or_else(|| "expected a ] at the end".to_string())?;
        let (mut name, mut password, mut iterations) = (None, None, None);
        for (key, value) in fields(body)? {
            let slot = match key {
                "name" => &mut name,
                "password" => &mut password,
                "iterations" => &mut iterations,
                "salt" | "saltedpassword" => {
                    return Err(format!(
                        "{key}: a salted password is not taken yet; give the password"
                    ));
                }
                other => return Err(format!("unknown field {other:?}")),
            };
            if slot.replace(value).is_some() {
                return Err(format!("{key} is given twice"));
            }
        }
        let name = name.filter(|n| !n.is_empty()).ok_or("no name")?;
        let password = password.filter(|p| !p.is_empty()).ok_or("no password")?;
        let iterations = match iterations {
            None => BOOTSTRAP_ITERATIONS_DEFAULT,
            Some(text) => text
                .parse()
                .ok()
                .filter(|n| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(n))
                .ok_or_else(|| {
                    format!(
                        "iterations {text:?} is not between {MIN_ITERATIONS} and {MAX_ITERATIONS}"
                    )
                })?,
        };
        Ok(BootstrapUser {
            mechanism,
            name,
            password,
            iterations,
        })
    }
}

/// `key=value` pairs separated by commas; a value in double quotes may hold `,` and `]`.
fn fields(mut body: &str) -> Result<Vec<(&str, String)>, String> {
    let mut fields = Vec::new();
    while !body.is_empty() {
        // Not quoted: it may be a password.
        let (key, rest) = body
            .split_once('=')
            .ok_or_else(|| "a field is not key=value".to_string())?;
        let (value, rest) = match rest.strip_prefix('"') {
            Some(quoted) => {
                let (value, rest) = quoted
                    .split_once('"')
                    .ok_or_else(|| format!("{key}: the closing double quote is missing"))?;
                let rest = match rest.strip_prefix(',') {
                    Some(rest) => rest,
                    None if rest.is_empty() => rest,
                    None => return Err(format!("{key}: expected a , after its quoted value")),
                };
                (value, rest)
            }
            None => rest.split_once(',').unwrap_or((rest, "")),
        };
        if value.contains('"') {
            return Err(format!("{key}: a value holds no double quote"));
        }
        fields.push((key.trim(), value.to_string()));
        body = rest;
    }
    Ok(fields)
}

impl fmt::Display for BootstrapUser {
    /// Kafka's `--add-scram` form, password included (what the config file holds): for
    /// rendering the config, never for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}=[name=\"{}\",password=\"{}\",iterations={}]",
            self.mechanism.name(),
            self.name,
            self.password,
            self.iterations
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_hidden_from_debug() {
        let password = Password::new("broker-secret");
        assert_eq!(format!("{password:?}"), "(hidden)");
        assert_eq!(password.reveal(), "broker-secret");
        assert_eq!(format!("{:?}", Password::default()), "\"\"");
    }

    #[test]
    fn mechanisms_parse_in_order_and_render_back() {
        let parsed = parse_mechanisms("SCRAM-SHA-512, PLAIN").unwrap();
        assert_eq!(
            parsed,
            [
                SaslMechanism::Scram(Mechanism::ScramSha512),
                SaslMechanism::Plain
            ]
        );
        assert_eq!(render_mechanisms(&parsed), "SCRAM-SHA-512,PLAIN");
        for (text, why) in [
            ("", "none is named"),
            ("GSSAPI", "not served by ringlog"),
            ("scram-sha-256", "not a SASL mechanism ringlog knows"),
            ("PLAIN,PLAIN", "PLAIN is named twice"),
        ] {
            let error = parse_mechanisms(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn bootstrap_users_take_kafkas_add_scram_form() {
        let user: BootstrapUser = "SCRAM-SHA-512=[name=admin,password=admin-secret]"
            .parse()
            .unwrap();
        assert_eq!(user.mechanism, Mechanism::ScramSha512);
        assert_eq!(user.name, "admin");
        assert_eq!(user.password, "admin-secret");
        assert_eq!(user.iterations, BOOTSTRAP_ITERATIONS_DEFAULT);
        assert!(!format!("{user:?}").contains("admin-secret"));
        assert_eq!(user.to_string().parse::<BootstrapUser>().unwrap(), user);

        let quoted: BootstrapUser =
            "SCRAM-SHA-256=[name=\"a,b\",password=\"p]w,=x\",iterations=8192]"
                .parse()
                .unwrap();
        assert_eq!(
            (quoted.name.as_str(), quoted.password.as_str()),
            ("a,b", "p]w,=x")
        );
        assert_eq!(quoted.iterations, 8192);
        assert_eq!(quoted.to_string().parse::<BootstrapUser>().unwrap(), quoted);

        for (text, why) in [
            ("admin", "expected MECHANISM=["),
            ("PLAIN=[name=a,password=b]", "not SCRAM-SHA-256"),
            ("SCRAM-SHA-256=[name=a,password=b", "expected a ]"),
            ("SCRAM-SHA-256=[password=b]", "no name"),
            ("SCRAM-SHA-256=[name=a]", "no password"),
            (
                "SCRAM-SHA-256=[name=a,password=b,iterations=10]",
                "not between",
            ),
            (
                "SCRAM-SHA-256=[name=a,name=b,password=c]",
                "name is given twice",
            ),
            ("SCRAM-SHA-256=[name=a,pw=b]", "unknown field"),
            (
                "SCRAM-SHA-256=[name=a,password=\"b]",
                "closing double quote",
            ),
            ("SCRAM-SHA-256=[name=a,salt=b]", "not taken yet"),
        ] {
            let error = text.parse::<BootstrapUser>().unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }
}
