//! The exchange end to end: RFC 7677's example byte for byte, each refusal, and properties
//! over random users, passwords, salts and orders of messages.

use super::message::is_nonce;
use super::*;
use crate::testing::TestRandom;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::prelude::*;

impl ScramCredential {
    /// Any iteration count: proptests cannot spend 4096 PBKDF2 rounds on each case.
    fn new_for_test(
        mechanism: Mechanism,
        password: &str,
        salt: Vec<u8>,
        iterations: u32,
    ) -> ScramCredential {
        let iterations_checked = NonZeroU32::new(iterations).expect("at least one iteration");
        let salted = salted_password(mechanism, password.as_bytes(), &salt, iterations_checked);
        let keys = Keys::of_salted_password(mechanism, &salted);
        ScramCredential {
            mechanism,
            salt,
            iterations,
            stored_key: keys.stored_key,
            server_key: keys.server_key,
        }
    }
}

/// RFC 7677 section 3.
const RFC_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const RFC_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn fake_credentials() -> FakeCredentials {
    FakeCredentials::new(MIN_ITERATIONS, &mut TestRandom::new(7)).unwrap()
}

fn rfc_credential() -> ScramCredential {
    let salt = BASE64.decode(RFC_SALT).unwrap();
    ScramCredential::new(Mechanism::ScramSha256, "pencil", salt, 4096).unwrap()
}

/// Runs a whole exchange; the user the server authenticated.
fn exchange(
    client: &mut ScramClient,
    server: &mut ScramServer,
    lookup: impl FnOnce(&str) -> Option<ScramCredential>,
) -> Result<String, ScramError> {
    let server_first = server.client_first(&client.client_first(), lookup)?;
    let client_final = client.server_first(&server_first)?;
    let (server_final, user) = server.client_final(&client_final)?;
    client.server_final(&server_final)?;
    Ok(user)
}

/// A server and a client that take any iteration count.
fn pair_for_test(
    mechanism: Mechanism,
    user: &str,
    password: &str,
    seed: u64,
) -> (ScramServer, ScramClient) {
    let mut random = TestRandom::new(seed);
    let fake = FakeCredentials::for_test([9; 32], 2);
    let server = ScramServer::new(mechanism, &fake, &mut random).with_iterations_min(1);
    let client = ScramClient::new(mechanism, user, password, &mut random).with_iterations_min(1);
    (server, client)
}

#[test]
fn rfc_7677_example_byte_for_byte() {
    let mut random = TestRandom::new(1)
        .with_nonce(RFC_SERVER_NONCE)
        .with_nonce(RFC_CLIENT_NONCE);
    let mut server = ScramServer::new(Mechanism::ScramSha256, &fake_credentials(), &mut random);
    let mut client = ScramClient::new(Mechanism::ScramSha256, "user", "pencil", &mut random);

    let client_first = client.client_first();
    assert_eq!(
        String::from_utf8(client_first.clone()).unwrap(),
        RFC_CLIENT_FIRST
    );
    let server_first = server
        .client_first(&client_first, |user| {
            assert_eq!(user, "user");
            Some(rfc_credential())
        })
        .unwrap();
    assert_eq!(
        String::from_utf8(server_first.clone()).unwrap(),
        RFC_SERVER_FIRST
    );
    let client_final = client.server_first(&server_first).unwrap();
    assert_eq!(
        String::from_utf8(client_final.clone()).unwrap(),
        RFC_CLIENT_FINAL
    );
    let (server_final, user) = server.client_final(&client_final).unwrap();
    assert_eq!(
        String::from_utf8(server_final.clone()).unwrap(),
        RFC_SERVER_FINAL
    );
    assert_eq!(user, "user");
    client.server_final(&server_final).unwrap();
}

#[test]
fn sha_512_at_kafka_iterations() {
    let mut random = TestRandom::new(2);
    let credential =
        ScramCredential::generate(Mechanism::ScramSha512, "secret", 4096, &mut random).unwrap();
    assert_eq!(credential.salt.len(), SALT_LEN);
    assert_eq!(credential.stored_key.len(), 64);
    let mut server = ScramServer::new(Mechanism::ScramSha512, &fake_credentials(), &mut random);
    let mut client = ScramClient::new(Mechanism::ScramSha512, "alice", "secret", &mut random);
    let user = exchange(&mut client, &mut server, |_| Some(credential)).unwrap();
    assert_eq!(user, "alice");
}

#[test]
fn credentials_refuse_what_kafka_refuses() {
    let sha256 = Mechanism::ScramSha256;
    assert_eq!(
        ScramCredential::new(sha256, "p", b"salt".to_vec(), 4095).unwrap_err(),
        CredentialError::Iterations { iterations: 4095 }
    );
    assert_eq!(
        ScramCredential::new(sha256, "p", b"salt".to_vec(), 16385).unwrap_err(),
        CredentialError::Iterations { iterations: 16385 }
    );
    assert_eq!(
        ScramCredential::new(sha256, "", b"salt".to_vec(), 4096).unwrap_err(),
        CredentialError::EmptyPassword
    );
    assert_eq!(
        ScramCredential::new(sha256, "p", Vec::new(), 4096).unwrap_err(),
        CredentialError::EmptySalt
    );
    assert_eq!(
        ScramCredential::from_salted_password(sha256, &[0; 31], b"s".to_vec(), 4096).unwrap_err(),
        CredentialError::SaltedPasswordLength {
            mechanism: sha256,
            got: 31,
            expected: 32
        }
    );
    assert!(FakeCredentials::new(100, &mut TestRandom::new(1)).is_err());
    let message = CredentialError::Iterations { iterations: 1 }.to_string();
    assert_eq!(
        message,
        "1 iterations is outside 4096..=16384, the range Kafka allows"
    );
}

#[test]
fn verify_password_checks_the_password() {
    let credential = rfc_credential();
    assert!(credential.verify_password("pencil"));
    assert!(!credential.verify_password("pencil "));
    assert!(!credential.verify_password(""));
    let zero = ScramCredential {
        iterations: 0,
        ..credential
    };
    assert!(!zero.verify_password("pencil"));
}

#[test]
fn credential_debug_hides_keys() {
    let text = format!("{:?}", rfc_credential());
    assert_eq!(
        text,
        "ScramCredential { mechanism: ScramSha256, iterations: 4096, .. }"
    );
    let fake = format!("{:?}", fake_credentials());
    assert_eq!(fake, "FakeCredentials { iterations: 4096, .. }");
}

#[test]
fn generate_draws_the_salt_from_random() {
    let a = ScramCredential::generate(Mechanism::ScramSha256, "p", 4096, &mut TestRandom::new(1))
        .unwrap();
    let b = ScramCredential::generate(Mechanism::ScramSha256, "p", 4096, &mut TestRandom::new(1))
        .unwrap();
    let c = ScramCredential::generate(Mechanism::ScramSha256, "p", 4096, &mut TestRandom::new(2))
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a.salt, c.salt);
}

#[test]
fn authorization_id_of_another_user_is_refused() {
    let (mut server, _) = pair_for_test(Mechanism::ScramSha256, "u", "p", 1);
    let error = server
        .client_first(b"n,a=admin,n=alice,r=abc", |_| None)
        .unwrap_err();
    assert_eq!(
        error,
        ScramError::AuthorizationIdMismatch {
            authzid: "admin".to_string(),
            user: "alice".to_string()
        }
    );
}

/// The client-final message RFC 5802 makes for `gs2_header`, computed here step by step
/// rather than by [`ScramClient`], which only sends `n,,`.
fn client_final_by_hand(
    credential_password: &str,
    gs2_header: &str,
    client_first_bare: &str,
    server_first: &str,
) -> String {
    let mechanism = Mechanism::ScramSha256;
    let mut fields = server_first.split(',');
    let nonce = fields.next().unwrap().strip_prefix("r=").unwrap();
    let salt = BASE64
        .decode(fields.next().unwrap().strip_prefix("s=").unwrap())
        .unwrap();
    let iterations: u32 = fields
        .next()
        .unwrap()
        .strip_prefix("i=")
        .unwrap()
        .parse()
        .unwrap();
    let salted = salted_password(
        mechanism,
        credential_password.as_bytes(),
        &salt,
        NonZeroU32::new(iterations).unwrap(),
    );
    let keys = Keys::of_salted_password(mechanism, &salted);
    let without_proof = format!("c={},r={nonce}", BASE64.encode(gs2_header));
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = mechanism.hmac_of(&keys.stored_key, auth_message.as_bytes());
    let proof = xor(&keys.client_key, &signature);
    format!("{without_proof},p={}", BASE64.encode(proof))
}

#[test]
fn authorization_id_of_the_user_and_gs2_flag_y_are_accepted() {
    for gs2_header in ["y,,", "n,a=a=2Cb,", "y,a=a=2Cb,"] {
        let credential =
            ScramCredential::new_for_test(Mechanism::ScramSha256, "p", b"s".to_vec(), 1);
        let (mut server, _) = pair_for_test(Mechanism::ScramSha256, "a,b", "p", 1);
        let bare = "n=a=2Cb,r=client";
        let client_first = format!("{gs2_header}{bare}");
        let server_first = server
            .client_first(client_first.as_bytes(), |_| Some(credential))
            .unwrap();
        let server_first = String::from_utf8(server_first).unwrap();
        let client_final = client_final_by_hand("p", gs2_header, bare, &server_first);
        let (_, user) = server.client_final(client_final.as_bytes()).unwrap();
        assert_eq!(user, "a,b", "{gs2_header}");
    }
}

#[test]
fn channel_binding_other_than_the_header_is_refused() {
    let credential = ScramCredential::new_for_test(Mechanism::ScramSha256, "p", b"s".to_vec(), 1);
    let (mut server, mut client) = pair_for_test(Mechanism::ScramSha256, "u", "p", 1);
    let server_first = server
        .client_first(&client.client_first(), |_| Some(credential))
        .unwrap();
    let client_final = String::from_utf8(client.server_first(&server_first).unwrap()).unwrap();
    let client_final = client_final.replacen("c=biws", "c=eSws", 1);
    let error = server.client_final(client_final.as_bytes()).unwrap_err();
    assert!(
        matches!(
            error,
            ScramError::Malformed {
                message: Message::ClientFinal,
                attribute: "c (channel binding)",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn client_refuses_iterations_outside_kafkas_range() {
    for iterations in [0, 1, 4095, 16385, 1 << 40] {
        let mut random = TestRandom::new(1).with_nonce("abc");
        let mut client = ScramClient::new(Mechanism::ScramSha256, "u", "p", &mut random);
        let server_first = format!("r=abcdef,s=c2FsdA==,i={iterations}");
        assert_eq!(
            client.server_first(server_first.as_bytes()).unwrap_err(),
            ScramError::IterationsOutOfRange { iterations }
        );
    }
}

#[test]
fn client_refuses_a_nonce_that_is_not_its_own() {
    for nonce in ["xyzdef", "ab", "abcd", "abcXef", "Abcdef"] {
        let mut random = TestRandom::new(1).with_nonce("abcd");
        let mut client =
            ScramClient::new(Mechanism::ScramSha256, "u", "p", &mut random).with_iterations_min(1);
        let server_first = format!("r={nonce},s=c2FsdA==,i=1");
        let error = client.server_first(server_first.as_bytes()).unwrap_err();
        assert!(matches!(error, ScramError::WrongNonce { .. }), "{error}");
    }
}

#[test]
fn server_error_and_wrong_signature_reach_the_client() {
    let credential = ScramCredential::new_for_test(Mechanism::ScramSha256, "p", b"s".to_vec(), 1);
    for (server_final, expected) in [
        (
            b"e=invalid-proof".to_vec(),
            ScramError::ServerError {
                text: "invalid-proof".to_string(),
            },
        ),
        (
            format!("v={}", BASE64.encode([0; 32])).into_bytes(),
            ScramError::ServerSignatureMismatch,
        ),
    ] {
        let (mut server, mut client) = pair_for_test(Mechanism::ScramSha256, "u", "p", 1);
        let server_first = server
            .client_first(&client.client_first(), |_| Some(credential.clone()))
            .unwrap();
        client.server_first(&server_first).unwrap();
        assert_eq!(client.server_final(&server_final).unwrap_err(), expected);
    }
}

#[test]
fn server_refuses_a_credential_it_cannot_use() {
    let mut random = TestRandom::new(1);
    let mut server = ScramServer::new(Mechanism::ScramSha256, &fake_credentials(), &mut random);
    let other = ScramCredential::new_for_test(Mechanism::ScramSha512, "p", b"s".to_vec(), 4096);
    let error = server
        .client_first(b"n,,n=u,r=a", |_| Some(other))
        .unwrap_err();
    assert_eq!(
        error,
        ScramError::MechanismMismatch {
            user: "u".to_string(),
            credential: Mechanism::ScramSha512,
            exchange: Mechanism::ScramSha256
        }
    );

    let mut server = ScramServer::new(Mechanism::ScramSha256, &fake_credentials(), &mut random);
    let weak = ScramCredential::new_for_test(Mechanism::ScramSha256, "p", b"s".to_vec(), 10);
    let error = server
        .client_first(b"n,,n=u,r=a", |_| Some(weak))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the stored SCRAM-SHA-256 credential of user \"u\" is unusable: \
         10 iterations is outside 4096..=16384, the range Kafka allows"
    );
}

#[test]
fn unknown_users_get_a_stable_fake_salt() {
    let fake = fake_credentials();
    let server_first = |user: &str, seed: u64, fake: &FakeCredentials| {
        let mut random = TestRandom::new(seed).with_nonce("S");
        let mut server = ScramServer::new(Mechanism::ScramSha256, fake, &mut random);
        let client_first = format!("n,,n={user},r=C");
        let first = server
            .client_first(client_first.as_bytes(), |_| None)
            .unwrap();
        String::from_utf8(first).unwrap()
    };
    let first = server_first("ghost", 1, &fake);
    let salt = BASE64.encode(&fake.credential(Mechanism::ScramSha256, "ghost").salt);
    assert_eq!(first, format!("r=CS,s={salt},i=4096"));
    assert_eq!(BASE64.decode(salt).unwrap().len(), SALT_LEN);
    assert_eq!(server_first("ghost", 2, &fake), first);
    assert_ne!(server_first("ghosts", 1, &fake), first);
    let other_secret = FakeCredentials::new(MIN_ITERATIONS, &mut TestRandom::new(8)).unwrap();
    assert_ne!(server_first("ghost", 1, &other_secret), first);
}

#[test]
fn messages_out_of_order_fail() {
    let credential = ScramCredential::new_for_test(Mechanism::ScramSha256, "p", b"s".to_vec(), 1);
    let (mut server, mut client) = pair_for_test(Mechanism::ScramSha256, "u", "p", 1);
    let error = server.client_final(b"c=biws,r=a,p=AAAA").unwrap_err();
    assert_eq!(
        error,
        ScramError::OutOfOrder {
            message: Message::ClientFinal,
            state: "awaiting the client-first message"
        }
    );
    // The first error ends the exchange.
    let error = server
        .client_first(&client.client_first(), |_| Some(credential.clone()))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "SCRAM client-first message out of order: the exchange is failed"
    );
    let error = client.server_final(b"v=AAAA").unwrap_err();
    assert_eq!(
        error.to_string(),
        "SCRAM server-final message out of order: the exchange is awaiting the server-first message"
    );

    let (mut server, mut client) = pair_for_test(Mechanism::ScramSha256, "u", "p", 2);
    assert_eq!(
        exchange(&mut client, &mut server, |_| Some(credential.clone())).unwrap(),
        "u"
    );
    let error = server.client_first(b"n,,n=u,r=a", |_| None).unwrap_err();
    assert_eq!(
        error,
        ScramError::OutOfOrder {
            message: Message::ClientFirst,
            state: "complete"
        }
    );
    assert!(matches!(
        client.server_first(b"r=a,s=AAAA,i=1").unwrap_err(),
        ScramError::OutOfOrder { .. }
    ));
}

#[test]
fn errors_read_well() {
    let error = ScramError::AuthenticationFailed {
        user: "alice".to_string(),
    };
    assert_eq!(
        error.to_string(),
        "authentication of user \"alice\" failed: unknown user or wrong password"
    );
    let mut server = ScramServer::new(
        Mechanism::ScramSha256,
        &fake_credentials(),
        &mut TestRandom::new(1),
    );
    let error = server
        .client_first(b"n,,n=u,r=a,tokenauth=true", |_| None)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "SCRAM extension \"tokenauth=true\" is not supported: ringlog does not support delegation tokens"
    );
}

#[test]
fn default_nonces_are_printable() {
    let mut random = TestRandom::new(3);
    for _ in 0..100 {
        let nonce = Random::nonce(&mut random);
        assert!(is_nonce(&nonce), "{nonce}");
        assert_eq!(nonce.len(), 32);
    }
}

fn mechanisms() -> impl Strategy<Value = Mechanism> {
    prop_oneof![Just(Mechanism::ScramSha256), Just(Mechanism::ScramSha512)]
}

/// User names with the characters SCRAM escapes, and one beyond ASCII.
fn users() -> impl Strategy<Value = String> {
    "[a-z,=é:]{1,12}"
}

fn passwords() -> impl Strategy<Value = String> {
    "[ -~é]{1,16}"
}

/// A change to a message: replace a byte, insert one, or cut it short.
#[derive(Clone, Debug)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Truncate(usize),
}

fn mutations() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Replace(at, byte)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(message: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut out = message.to_vec();
    match *mutation {
        Mutation::Replace(at, byte) if !out.is_empty() => {
            let at = at % out.len();
            out[at] = byte;
        }
        Mutation::Replace(..) => {}
        Mutation::Insert(at, byte) => out.insert(at % (out.len() + 1), byte),
        Mutation::Truncate(at) => out.truncate(at % (out.len() + 1)),
    }
    out
}

/// One call of the exchange, on either side.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    ServerClientFirst,
    ServerClientFinal,
    ClientServerFirst,
    ClientServerFinal,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn client_and_server_agree(
        mechanism in mechanisms(),
        user in users(),
        password in passwords(),
        salt in proptest::collection::vec(any::<u8>(), 1..40),
        iterations in 1u32..4,
        seed in any::<u64>(),
    ) {
        let credential = ScramCredential::new_for_test(mechanism, &password, salt, iterations);
        let (mut server, mut client) = pair_for_test(mechanism, &user, &password, seed);
        let mut looked_up = None;
        let authenticated = exchange(&mut client, &mut server, |name| {
            looked_up = Some(name.to_string());
            Some(credential)
        });
        prop_assert_eq!(authenticated, Ok(user.clone()));
        prop_assert_eq!(looked_up, Some(user));
    }

    #[test]
    fn wrong_password_fails(
        mechanism in mechanisms(),
        user in users(),
        password in passwords(),
        attempt in passwords(),
        seed in any::<u64>(),
    ) {
        prop_assume!(password != attempt);
        let credential = ScramCredential::new_for_test(mechanism, &password, b"salt".to_vec(), 2);
        let (mut server, mut client) = pair_for_test(mechanism, &user, &attempt, seed);
        let error = exchange(&mut client, &mut server, |_| Some(credential)).unwrap_err();
        prop_assert_eq!(error, ScramError::AuthenticationFailed { user });
    }

    /// An unknown user's exchange looks like a known user's with a wrong password: a
    /// server-first of the same shape, and the same error at the proof.
    #[test]
    fn unknown_user_fails_as_a_wrong_password(
        mechanism in mechanisms(),
        user in users(),
        password in passwords(),
        seed in any::<u64>(),
    ) {
        let (mut server, mut client) = pair_for_test(mechanism, &user, &password, seed);
        let server_first = server.client_first(&client.client_first(), |_| None).unwrap();
        let text = String::from_utf8(server_first.clone()).unwrap();
        let salt = text.split(',').nth(1).unwrap().strip_prefix("s=").unwrap();
        prop_assert_eq!(BASE64.decode(salt).unwrap().len(), SALT_LEN);
        prop_assert!(text.ends_with(",i=2"), "{}", text);
        let client_final = client.server_first(&server_first).unwrap();
        let error = server.client_final(&client_final).unwrap_err();
        prop_assert_eq!(error, ScramError::AuthenticationFailed { user });
    }

    #[test]
    fn a_flipped_proof_bit_fails(
        mechanism in mechanisms(),
        byte in any::<usize>(),
        bit in 0u8..8,
        seed in any::<u64>(),
    ) {
        let credential = ScramCredential::new_for_test(mechanism, "p", b"salt".to_vec(), 1);
        let (mut server, mut client) = pair_for_test(mechanism, "u", "p", seed);
        let server_first = server.client_first(&client.client_first(), |_| Some(credential)).unwrap();
        let client_final = String::from_utf8(client.server_first(&server_first).unwrap()).unwrap();
        let (without_proof, proof) = client_final.rsplit_once(",p=").unwrap();
        let mut proof = BASE64.decode(proof).unwrap();
        let byte = byte % proof.len();
        proof[byte] ^= 1 << bit;
        let tampered = format!("{without_proof},p={}", BASE64.encode(&proof));
        let error = server.client_final(tampered.as_bytes()).unwrap_err();
        prop_assert_eq!(error, ScramError::AuthenticationFailed { user: "u".to_string() });
    }

    /// A server-first message from another exchange (another client's nonce) is refused.
    #[test]
    fn a_foreign_server_first_is_refused(seed in any::<u64>(), other_seed in any::<u64>()) {
        prop_assume!(seed != other_seed);
        let credential = ScramCredential::new_for_test(Mechanism::ScramSha256, "p", b"s".to_vec(), 1);
        let (_, mut client) = pair_for_test(Mechanism::ScramSha256, "u", "p", seed);
        let (mut other_server, other_client) =
            pair_for_test(Mechanism::ScramSha256, "u", "p", other_seed);
        let foreign = other_server
            .client_first(&other_client.client_first(), |_| Some(credential))
            .unwrap();
        let error = client.server_first(&foreign).unwrap_err();
        prop_assert!(matches!(error, ScramError::WrongNonce { .. }), "{}", error);
    }

    /// Calls in any order: those out of turn fail with OutOfOrder, any failure ends that
    /// side's exchange, nothing panics, and the one right order authenticates.
    #[test]
    fn messages_in_any_order(
        steps in proptest::collection::vec(
            prop_oneof![
                Just(Step::ServerClientFirst),
                Just(Step::ServerClientFinal),
                Just(Step::ClientServerFirst),
                Just(Step::ClientServerFinal),
            ],
            0..8,
        ),
        seed in any::<u64>(),
    ) {
        let credential = ScramCredential::new_for_test(Mechanism::ScramSha256, "p", b"s".to_vec(), 1);
        let (mut server, mut client) = pair_for_test(Mechanism::ScramSha256, "u", "p", seed);
        let mut to_server = client.client_first();
        let mut to_client = Vec::new();
        // Each side's next expected step, as an index into its two; 2 done, 3 failed.
        let (mut server_at, mut client_at) = (0, 0);
        let mut authenticated = None;
        for step in &steps {
            let (at, turn) = match step {
                Step::ServerClientFirst => (&mut server_at, 0),
                Step::ServerClientFinal => (&mut server_at, 1),
                Step::ClientServerFirst => (&mut client_at, 0),
                Step::ClientServerFinal => (&mut client_at, 1),
            };
            let in_turn = *at == turn;
            let result: Result<(), ScramError> = match step {
                Step::ServerClientFirst => server
                    .client_first(&to_server, |_| Some(credential.clone()))
                    .map(|reply| to_client = reply),
                Step::ServerClientFinal => server.client_final(&to_server).map(|(reply, user)| {
                    to_client = reply;
                    authenticated = Some(user);
                }),
                Step::ClientServerFirst => {
                    client.server_first(&to_client).map(|reply| to_server = reply)
                }
                Step::ClientServerFinal => client.server_final(&to_client),
            };
            match result {
                Ok(()) => {
                    prop_assert!(in_turn, "{:?} succeeded out of turn", step);
                    *at += 1;
                }
                Err(error) => {
                    if !in_turn {
                        let out_of_order = matches!(error, ScramError::OutOfOrder { .. });
                        prop_assert!(out_of_order, "{:?}: {}", step, error);
                    }
                    *at = 3;
                }
            }
        }
        let in_order = [
            Step::ServerClientFirst,
            Step::ClientServerFirst,
            Step::ServerClientFinal,
            Step::ClientServerFinal,
        ];
        if steps == in_order {
            prop_assert_eq!(authenticated, Some("u".to_string()));
            prop_assert_eq!((server_at, client_at), (2, 2));
        }
    }

    /// Any bytes into any step, arbitrary or a valid message changed a little: an answer or
    /// an error, never a panic.
    #[test]
    fn any_bytes_into_any_step(
        step in 0usize..4,
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        use_mutation in any::<bool>(),
        mutation in mutations(),
        seed in any::<u64>(),
    ) {
        let credential = ScramCredential::new_for_test(Mechanism::ScramSha256, "p", b"s".to_vec(), 1);
        let (mut server, mut client) = pair_for_test(Mechanism::ScramSha256, "u", "p", seed);
        let client_first = client.client_first();
        let pick = |valid: &[u8]| if use_mutation { mutate(valid, &mutation) } else { bytes.clone() };
        if step == 0 {
            let _ = server.client_first(&pick(&client_first), |_| Some(credential));
            return Ok(());
        }
        let server_first = server.client_first(&client_first, |_| Some(credential)).unwrap();
        if step == 1 {
            let _ = client.server_first(&pick(&server_first));
            return Ok(());
        }
        let client_final = client.server_first(&server_first).unwrap();
        if step == 2 {
            let _ = server.client_final(&pick(&client_final));
            return Ok(());
        }
        let (server_final, _) = server.client_final(&client_final).unwrap();
        let _ = client.server_final(&pick(&server_final));
    }
}
