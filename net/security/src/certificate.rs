//! The principal a client certificate names, as Kafka names it by default: `User:` and the
//! certificate's subject as Java's `X500Principal.getName()` writes it (RFC 2253), e.g.
//! `User:CN=alice,OU=payments,O=Example,C=US`. That is Kafka's principal of an SSL connection
//! with `ssl.principal.mapping.rules=DEFAULT`, so ACLs written for a Kafka cluster apply
//! unchanged.
//!
//! RFC 2253's form: the relative distinguished names in the reverse order of the certificate's
//! encoding (most specific first), joined by `,` without spaces; the attributes of one
//! multi-valued name joined by `+`; the types Java knows by keyword (CN, C, L, ST, O, OU,
//! STREET, DC, UID) by it, any other by its dotted OID with the value as `#` and the hex of its
//! DER encoding; in a string value `,`, `+`, `"`, `\`, `<`, `>`, `;`, a leading `#` or space
//! and a trailing space escaped with `\`.
//!
//! Where ringlog differs: Java writes an attribute whose value is not a string in that `#`
//! form too, and names a few more keywords when asked for RFC 1779; neither occurs in the
//! subjects TLS client certificates carry in practice. Mapping rules other than the default
//! are not supported.

use x509_parser::asn1_rs::ToDer;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::AttributeTypeAndValue;

use crate::Principal;

/// A client certificate whose subject cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the client certificate cannot be read: {0}")]
pub struct CertificateError(String);

/// The principal of the certificate `der` (its DER encoding): `User:` and its subject in RFC
/// 2253's form. A certificate with an empty subject (one naming its owner in its subject
/// alternative names only) is `User:` and nothing: [`Principal`] refuses an empty name, so it
/// is an error.
pub fn principal(der: &[u8]) -> Result<Principal, CertificateError> {
    let (_, certificate) =
        X509Certificate::from_der(der).map_err(|error| CertificateError(error.to_string()))?;
    let subject = certificate.subject();
    let mut names: Vec<String> = subject
        .iter()
        .map(|rdn| rdn.iter().map(attribute).collect::<Vec<_>>().join("+"))
        .collect();
    names.reverse();
    let name = names.join(",");
    if name.is_empty() {
        return Err(CertificateError("its subject is empty".to_string()));
    }
    Ok(Principal::user(name))
}

/// One `TYPE=value` of RFC 2253.
fn attribute(attribute: &AttributeTypeAndValue<'_>) -> String {
    let oid = attribute.attr_type().to_id_string();
    let keyword = match oid.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.6" => Some("C"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "2.5.4.9" => Some("STREET"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        _ => None,
    };
    match (keyword, attribute.as_str()) {
        (Some(keyword), Ok(value)) => format!("{keyword}={}", escape(value)),
        _ => {
            let der = attribute.attr_value().to_der_vec().unwrap_or_default();
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            format!("{oid}=#{hex}")
        }
    }
}

/// A string value escaped as RFC 2253 says.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn certificate(subject: &[(DnType, &str)]) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["client".to_string()]).unwrap();
        let mut name = DistinguishedName::new();
        for (kind, value) in subject {
            name.push(kind.clone(), *value);
        }
        params.distinguished_name = name;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_subject_is_written_most_specific_first_as_java_writes_it() {
        let der = certificate(&[
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "Example"),
            (DnType::OrganizationalUnitName, "payments"),
            (DnType::CommonName, "alice"),
        ]);
        assert_eq!(
            principal(&der).unwrap().to_string(),
            "User:CN=alice,OU=payments,O=Example,C=US"
        );
    }

    #[test]
    fn special_characters_are_escaped_and_unknown_types_are_hex() {
        let der = certificate(&[
            (DnType::CommonName, "Smith, Jo+hn <x>"),
            (
                DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                "a@b",
            ),
        ]);
        let name = principal(&der).unwrap().name;
        let (email, cn) = name.split_once(',').unwrap();
        // A UTF8String (12) "a@b".
        assert_eq!(email, "1.2.840.113549.1.9.1=#0c03614062");
        assert_eq!(cn, "CN=Smith\\, Jo\\+hn \\<x\\>");
        assert_eq!(escape(" #lead trail "), "\\ #lead trail\\ ");
        assert_eq!(escape("#x"), "\\#x");
    }

    #[test]
    fn an_empty_subject_or_a_bad_certificate_names_no_one() {
        let der = certificate(&[]);
        assert!(principal(&der).is_err());
        assert!(principal(b"not a certificate").is_err());
    }
}
