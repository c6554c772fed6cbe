//! The text of SCRAM's four messages (RFC 5802 section 7): parsed from bytes that may be
//! anything, built from values that are already checked.
//!
//! | message      | attributes, in order                          | ringlog reads                 |
//! |--------------|-----------------------------------------------|-------------------------------|
//! | client-first | gs2 flag, `a=`?, `m=`?, `n=`, `r=`, ext*       | flag `n`/`y`, `a=`, `n=`, `r=`, `tokenauth` |
//! | server-first | `m=`?, `r=`, `s=`, `i=`, ext*                  | `r=`, `s=`, `i=` (`e=` as an error) |
//! | client-final | `c=`, `r=`, ext*, `p=`                         | `c=`, `r=`, `p=`              |
//! | server-final | `e=` or `v=`, ext*                            | `e=`, `v=`                    |
//!
//! Every attribute is `<letter>=<value>`, separated by `,`; values hold no `,`. A message is
//! UTF-8 and at most [`MESSAGE_BYTES_MAX`] bytes. Parsing never panics.

use super::ScramError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The longest message either side reads. Real ones are under 300 bytes; the limit keeps a
/// stranger from making the server hold or hash megabytes before authenticating.
pub const MESSAGE_BYTES_MAX: usize = 4096;

/// The four messages of an exchange, named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    ClientFirst,
    ServerFirst,
    ClientFinal,
    ServerFinal,
}

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::ClientFirst => "client-first",
            Message::ServerFirst => "server-first",
            Message::ClientFinal => "client-final",
            Message::ServerFinal => "server-final",
        })
    }
}

/// A client-first message, as the server reads it.
#[derive(Debug)]
pub(super) struct ClientFirst<'a> {
    /// `n,,`, `y,,` or `n,a=<authzid>,`: what `c=` must carry back.
    pub(super) gs2_header: &'a str,
    /// The authorization id, unescaped, if the client sent one.
    pub(super) authzid: Option<String>,
    /// The user name, unescaped.
    pub(super) user: String,
    pub(super) nonce: &'a str,
    /// The message without its gs2 header: the first part of AuthMessage.
    pub(super) bare: &'a str,
}

/// A server-first message, as the client reads it.
#[derive(Debug)]
pub(super) struct ServerFirst<'a> {
    /// The client's nonce followed by the server's.
    pub(super) nonce: &'a str,
    pub(super) salt: Vec<u8>,
    /// As sent, saturated at `u64::MAX`: the client checks the range.
    pub(super) iterations: u64,
}

/// A client-final message, as the server reads it.
#[derive(Debug)]
pub(super) struct ClientFinal<'a> {
    /// The decoded `c=`: the gs2 header again, since no channel is bound.
    pub(super) channel_binding: Vec<u8>,
    pub(super) nonce: &'a str,
    pub(super) proof: Vec<u8>,
    /// The message up to `,p=`: the last part of AuthMessage.
    pub(super) without_proof: &'a str,
}

/// A server-final message, as the client reads it.
#[derive(Debug)]
pub(super) enum ServerFinal {
    /// `v=`: the server's signature.
    Verifier(Vec<u8>),
    /// `e=`: the server's reason for refusing.
    Error(String),
}

pub(super) fn parse_client_first(bytes: &[u8]) -> Result<ClientFirst<'_>, ScramError> {
    let message = Message::ClientFirst;
    let text = as_text(message, bytes)?;
    let (flag, rest) = text
        .split_once(',')
        .ok_or_else(|| malformed(message, "gs2 header", "no ',' after the gs2 flag"))?;
    match flag {
        "n" | "y" => {}
        _ if flag.starts_with("p=") => {
            return Err(ScramError::ChannelBindingUnsupported {
                binding: excerpt_plain(&flag[2..]),
            });
        }
        _ => {
            let problem = format!("flag {} is not n, y or p=<type>", excerpt(flag));
            return Err(malformed(message, "gs2 header", problem));
        }
    }
    let (authzid_field, bare) = rest
        .split_once(',')
        .ok_or_else(|| malformed(message, "gs2 header", "no ',' after the authorization id"))?;
    let authzid = match authzid_field {
        "" => None,
        _ => {
            let value = authzid_field.strip_prefix("a=").ok_or_else(|| {
                let problem = format!("{} is not a=<name>", excerpt(authzid_field));
                malformed(message, "a (authorization id)", problem)
            })?;
            let name = unescape_user(value)
                .map_err(|problem| malformed(message, "a (authorization id)", problem))?;
            Some(name)
        }
    };
    let gs2_header = &text[..text.len() - bare.len()];

    let mut attributes = bare.split(',');
    let first = attributes.next().unwrap_or_default();
    if first.starts_with("m=") {
        return Err(mandatory_extension(first));
    }
    let user_field = value_of(message, Some(first), 'n', "n (user name)")?;
    let user = unescape_user(user_field)
        .map_err(|problem| malformed(message, "n (user name)", problem))?;
    let nonce = value_of(message, attributes.next(), 'r', "r (nonce)")?;
    check_nonce(message, nonce)?;
    for (key, value) in extensions(message, attributes)? {
        // Kafka's client asks for delegation token authentication this way.
        if key == "tokenauth" && value.eq_ignore_ascii_case("true") {
            return Err(ScramError::UnsupportedExtension {
                extension: "tokenauth=true".to_string(),
                reason: "ringlog does not support delegation tokens",
            });
        }
        // Other extensions are ignored, as Kafka ignores them: they are optional.
    }
    Ok(ClientFirst {
        gs2_header,
        authzid,
        user,
        nonce,
        bare,
    })
}

pub(super) fn parse_server_first(bytes: &[u8]) -> Result<ServerFirst<'_>, ScramError> {
    let message = Message::ServerFirst;
    let text = as_text(message, bytes)?;
    let mut attributes = text.split(',');
    let first = attributes.next().unwrap_or_default();
    if let Some(error) = first.strip_prefix("e=") {
        return Err(ScramError::ServerError {
            text: excerpt_plain(error),
        });
    }
    if first.starts_with("m=") {
        return Err(mandatory_extension(first));
    }
    let nonce = value_of(message, Some(first), 'r', "r (nonce)")?;
    check_nonce(message, nonce)?;
    let salt_field = value_of(message, attributes.next(), 's', "s (salt)")?;
    let salt = decode_base64(message, "s (salt)", salt_field)?;
    if salt.is_empty() {
        return Err(malformed(message, "s (salt)", "the salt is empty"));
    }
    let iterations_field = value_of(message, attributes.next(), 'i', "i (iterations)")?;
    let iterations = parse_count(iterations_field)
        .ok_or_else(|| malformed(message, "i (iterations)", not_a_count(iterations_field)))?;
    extensions(message, attributes)?;
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

pub(super) fn parse_client_final(bytes: &[u8]) -> Result<ClientFinal<'_>, ScramError> {
    let message = Message::ClientFinal;
    let text = as_text(message, bytes)?;
    let (without_proof, last) = text
        .rsplit_once(',')
        .ok_or_else(|| malformed(message, "p (proof)", "missing: no ',' in the message"))?;
    let proof_field = value_of(message, Some(last), 'p', "p (proof)")?;
    let proof = decode_base64(message, "p (proof)", proof_field)?;

    let mut attributes = without_proof.split(',');
    let binding_field = value_of(message, attributes.next(), 'c', "c (channel binding)")?;
    let channel_binding = decode_base64(message, "c (channel binding)", binding_field)?;
    let nonce = value_of(message, attributes.next(), 'r', "r (nonce)")?;
    check_nonce(message, nonce)?;
    extensions(message, attributes)?;
    Ok(ClientFinal {
        channel_binding,
        nonce,
        proof,
        without_proof,
    })
}

pub(super) fn parse_server_final(bytes: &[u8]) -> Result<ServerFinal, ScramError> {
    let message = Message::ServerFinal;
    let text = as_text(message, bytes)?;
    let mut attributes = text.split(',');
    let first = attributes.next().unwrap_or_default();
    if let Some(error) = first.strip_prefix("e=") {
        return Ok(ServerFinal::Error(excerpt_plain(error)));
    }
    let verifier_field = value_of(message, Some(first), 'v', "v (server signature)")?;
    let verifier = decode_base64(message, "v (server signature)", verifier_field)?;
    extensions(message, attributes)?;
    Ok(ServerFinal::Verifier(verifier))
}

/// The user name as a saslname: `=` as `=3D`, `,` as `=2C`.
pub(super) fn escape_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for c in user.chars() {
        match c {
            '=' => out.push_str("=3D"),
            ',' => out.push_str("=2C"),
            _ => out.push(c),
        }
    }
    out
}

/// The user name of a saslname; the problem if it is not one (empty, NUL, a bare `=`).
fn unescape_user(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("the name is empty".to_string());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find(['=', '\0']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with('\0') {
            return Err(format!("NUL at byte {}", value.len() - tail.len()));
        }
        if let Some(after) = tail.strip_prefix("=2C") {
            out.push(',');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("=3D") {
            out.push('=');
            rest = after;
        } else {
            let position = value.len() - tail.len();
            return Err(format!(
                "'=' at byte {position} is not =2C or =3D: {}",
                excerpt(value)
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// RFC 5802's `printable`, at least one: ASCII 0x21..=0x7E without `,`.
pub(super) fn is_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

pub(super) fn encode_base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

fn as_text(message: Message, bytes: &[u8]) -> Result<&str, ScramError> {
    if bytes.len() > MESSAGE_BYTES_MAX {
        let problem = format!("{} bytes, more than {MESSAGE_BYTES_MAX}", bytes.len());
        return Err(malformed(message, "length", problem));
    }
    std::str::from_utf8(bytes).map_err(|error| {
        let problem = format!("not UTF-8 at byte {}", error.valid_up_to());
        malformed(message, "encoding", problem)
    })
}

/// The value of `field`, which must be `<name>=<value>`.
fn value_of<'a>(
    message: Message,
    field: Option<&'a str>,
    name: char,
    attribute: &'static str,
) -> Result<&'a str, ScramError> {
    let field = field.ok_or_else(|| malformed(message, attribute, "missing"))?;
    field
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or_else(|| {
            let problem = format!("expected {name}=, got {}", excerpt(field));
            malformed(message, attribute, problem)
        })
}

fn check_nonce(message: Message, nonce: &str) -> Result<(), ScramError> {
    if is_nonce(nonce) {
        return Ok(());
    }
    let problem = format!(
        "{} is not printable ASCII without ',' (or is empty)",
        excerpt(nonce)
    );
    Err(malformed(message, "r (nonce)", problem))
}

/// The `key=value` extensions that end a message; Kafka's keys are letters only.
fn extensions<'a>(
    message: Message,
    fields: impl Iterator<Item = &'a str>,
) -> Result<Vec<(&'a str, &'a str)>, ScramError> {
    fields
        .map(|field| match field.split_once('=') {
            Some((key, value))
                if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                Ok((key, value))
            }
            _ => {
                let problem = format!("{} is not <letters>=<value>", excerpt(field));
                Err(malformed(message, "extension", problem))
            }
        })
        .collect()
}

fn mandatory_extension(field: &str) -> ScramError {
    ScramError::UnsupportedExtension {
        extension: excerpt_plain(field),
        reason: "a mandatory extension (m=) that ringlog does not know",
    }
}

fn decode_base64(
    message: Message,
    attribute: &'static str,
    value: &str,
) -> Result<Vec<u8>, ScramError> {
    BASE64.decode(value).map_err(|error| {
        let problem = format!("{} is not base64: {error}", excerpt(value));
        malformed(message, attribute, problem)
    })
}

/// A decimal count, saturating at `u64::MAX`; `None` if not all digits.
fn parse_count(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |count, digit| {
        count
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}

fn not_a_count(text: &str) -> String {
    format!("{} is not a decimal count", excerpt(text))
}

fn malformed(message: Message, attribute: &'static str, problem: impl Into<String>) -> ScramError {
    ScramError::Malformed {
        message,
        attribute,
        problem: problem.into(),
    }
}

/// The longest piece of a peer's text an error quotes: a stranger's bytes go into logs.
const EXCERPT_CHARS_MAX: usize = 64;

/// `text` quoted for an error, cut at [`EXCERPT_CHARS_MAX`] characters.
fn excerpt(text: &str) -> String {
    format!("{:?}", excerpt_plain(text))
}

pub(super) fn excerpt_plain(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS_MAX) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_escape_and_unescape() {
        assert_eq!(escape_user("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(unescape_user("a=2Cb=3Dc").unwrap(), "a,b=c");
        assert_eq!(unescape_user("=3D2C").unwrap(), "=2C");
        assert_eq!(unescape_user("élan").unwrap(), "élan");
        assert!(unescape_user("").is_err());
        assert!(unescape_user("a=").is_err());
        assert!(unescape_user("a=2c").is_err());
        assert!(unescape_user("a=41").is_err());
        assert!(unescape_user("a\0b").is_err());
    }

    #[test]
    fn client_first_parts() {
        let first = parse_client_first(b"n,,n=us=2Cer,r=abc,tokenauth=false,x=1").unwrap();
        assert_eq!(first.gs2_header, "n,,");
        assert_eq!(first.authzid, None);
        assert_eq!(first.user, "us,er");
        assert_eq!(first.nonce, "abc");
        assert_eq!(first.bare, "n=us=2Cer,r=abc,tokenauth=false,x=1");

        let first = parse_client_first(b"y,a=bob,n=bob,r=x").unwrap();
        assert_eq!(first.gs2_header, "y,a=bob,");
        assert_eq!(first.authzid.as_deref(), Some("bob"));
    }

    #[test]
    fn client_first_refusals_name_the_attribute() {
        let attribute_of = |bytes: &[u8]| match parse_client_first(bytes) {
            Err(ScramError::Malformed { attribute, .. }) => attribute,
            other => panic!("{bytes:?}: expected malformed, got {other:?}"),
        };
        assert_eq!(attribute_of(b""), "gs2 header");
        assert_eq!(attribute_of(b"x,,n=a,r=b"), "gs2 header");
        assert_eq!(attribute_of(b"n,b=c,n=a,r=b"), "a (authorization id)");
        assert_eq!(attribute_of(b"n,,r=b,n=a"), "n (user name)");
        assert_eq!(attribute_of(b"n,,n=,r=b"), "n (user name)");
        assert_eq!(attribute_of(b"n,,n=a"), "r (nonce)");
        assert_eq!(attribute_of(b"n,,n=a,r="), "r (nonce)");
        assert_eq!(attribute_of(b"n,,n=a,r=b c"), "r (nonce)");
        assert_eq!(attribute_of(b"n,,n=a,r=b,=c"), "extension");
        assert_eq!(attribute_of(b"n,,n=a,r=b,1=c"), "extension");
        assert_eq!(attribute_of(b"n,,n=a,r=\xff"), "encoding");
        assert_eq!(attribute_of(&[b'n'; MESSAGE_BYTES_MAX + 1]), "length");
    }

    #[test]
    fn client_first_refuses_channel_binding_and_tokens() {
        assert_eq!(
            parse_client_first(b"p=tls-unique,,n=a,r=b").unwrap_err(),
            ScramError::ChannelBindingUnsupported {
                binding: "tls-unique".to_string()
            }
        );
        let error = parse_client_first(b"n,,n=a,r=b,tokenauth=TRUE").unwrap_err();
        assert!(error.to_string().contains("delegation tokens"), "{error}");
        let error = parse_client_first(b"n,,m=x,n=a,r=b").unwrap_err();
        assert!(
            matches!(error, ScramError::UnsupportedExtension { .. }),
            "{error}"
        );
    }

    #[test]
    fn server_first_parts() {
        let first = parse_server_first(b"r=ab,s=c2FsdA==,i=4096,x=y").unwrap();
        assert_eq!(first.nonce, "ab");
        assert_eq!(first.salt, b"salt");
        assert_eq!(first.iterations, 4096);
        let first = parse_server_first(b"r=ab,s=c2FsdA==,i=99999999999999999999999").unwrap();
        assert_eq!(first.iterations, u64::MAX);
        assert!(parse_server_first(b"r=ab,s=,i=4096").is_err());
        assert!(parse_server_first(b"r=ab,s=c2FsdA==,i=-1").is_err());
        assert!(parse_server_first(b"r=ab,s=c2FsdA=,i=1").is_err());
        assert_eq!(
            parse_server_first(b"e=other-error").unwrap_err(),
            ScramError::ServerError {
                text: "other-error".to_string()
            }
        );
    }

    #[test]
    fn client_final_parts() {
        let last = parse_client_final(b"c=biws,r=ab,x=1,p=cHJvb2Y=").unwrap();
        assert_eq!(last.channel_binding, b"n,,");
        assert_eq!(last.nonce, "ab");
        assert_eq!(last.proof, b"proof");
        assert_eq!(last.without_proof, "c=biws,r=ab,x=1");
        assert!(parse_client_final(b"c=biws,r=ab").is_err());
        assert!(parse_client_final(b"r=ab,c=biws,p=cHJvb2Y=").is_err());
        assert!(parse_client_final(b"c=biws,r=ab,p=???").is_err());
        assert!(parse_client_final(b"p=cHJvb2Y=").is_err());
    }

    #[test]
    fn server_final_parts() {
        assert!(matches!(
            parse_server_final(b"v=cHJvb2Y=").unwrap(),
            ServerFinal::Verifier(v) if v == b"proof"
        ));
        assert!(matches!(
            parse_server_final(b"e=invalid-proof").unwrap(),
            ServerFinal::Error(e) if e == "invalid-proof"
        ));
        assert!(parse_server_final(b"x=1").is_err());
        assert!(parse_server_final(b"").is_err());
    }

    #[test]
    fn excerpts_are_cut() {
        let long = "x".repeat(1000);
        assert_eq!(excerpt_plain(&long).len(), EXCERPT_CHARS_MAX + 3);
        assert_eq!(excerpt_plain("é"), "é");
    }
}
