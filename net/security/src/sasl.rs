//! [`SaslMechanism`]: the SASL mechanisms ringlog speaks, as a broker's listener offers them
//! (`sasl_enabled_mechanisms`) and as a client logs in with one. The exchanges themselves are
//! [`crate::plain`]'s and [`crate::scram`]'s.

use std::fmt;

use crate::scram::Mechanism;

/// A SASL mechanism: PLAIN or one of the two SCRAMs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SaslMechanism {
    /// RFC 4616: the password itself, checked against the user's SCRAM credential.
    Plain,
    /// SCRAM-SHA-256 or SCRAM-SHA-512: the password never leaves the client.
    Scram(Mechanism),
}

impl SaslMechanism {
    /// Every mechanism ringlog serves.
    pub const ALL: [SaslMechanism; 3] = [
        SaslMechanism::Plain,
        SaslMechanism::Scram(Mechanism::ScramSha256),
        SaslMechanism::Scram(Mechanism::ScramSha512),
    ];

    /// The SASL name (`PLAIN`, `SCRAM-SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(mechanism) => mechanism.name(),
        }
    }

    /// The mechanism of a SASL name, exactly as Kafka's clients send it (upper case).
    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        SaslMechanism::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kafkas_and_exact() {
        for mechanism in SaslMechanism::ALL {
            assert_eq!(SaslMechanism::from_name(mechanism.name()), Some(mechanism));
        }
        assert_eq!(
            SaslMechanism::ALL.map(SaslMechanism::name),
            ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        );
        assert_eq!(SaslMechanism::from_name("scram-sha-256"), None);
        assert_eq!(SaslMechanism::from_name("GSSAPI"), None);
    }
}
