#!/usr/bin/env python3
"""Kafka's own clients logging in with SASL: confluent-kafka (librdkafka), kafka-python and kcat
against a ringlog broker whose Kafka listener is `SASL_SSL` (SCRAM-SHA-256, SCRAM-SHA-512 and
PLAIN enabled, sessions of 5 s: clients re-authenticate on their connections, KIP-368).

The broker starts with one user, admin (SCRAM-SHA-512), from its `sasl_bootstrap_users` key:
the run script draws its password into $SASL_ADMIN_PASSWORD. admin creates the users the
scenarios log in as with the AdminClient's alter_user_scram_credentials, over the same SASL
listener. The broker's authorizer is on, admin its super user: admin grants alice every
operation on every topic and group (test_acls.py tests narrower ACLs). The run script also exports $TLS_DIR (ca.pem, the CA of the broker's certificate)
and $BROKER_LOG (the broker's log, where each re-authentication is logged).

Usage: test_sasl.py HOST:PORT (the SASL_SSL listener). SCENARIOS=name,name runs only those."""

import os
import subprocess
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                   NewTopic, ResourcePatternType, ResourceType,
                                   ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition

from scenarios import Suite, unique, wait_until

suite = Suite("sasl")
TIMEOUT = 10  # seconds
CA = os.path.join(os.environ["TLS_DIR"], "ca.pem")
ADMIN = ("admin", os.environ["SASL_ADMIN_PASSWORD"])
ALICE = ("alice", "alice-secret")
# The broker's connections_max_reauth_ms, as the run script sets it.
SESSION_SECONDS = 5


def sasl_config(login, mechanism="SCRAM-SHA-512"):
    """librdkafka's settings for SASL_SSL as `login` (user, password)."""
    user, password = login
    return {"security.protocol": "SASL_SSL", "ssl.ca.location": CA, "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": password}


def admin_client(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, **sasl_config(ADMIN)})


def ensure_alice(bootstrap):
    """Gives alice a credential for both SCRAM mechanisms (again, if she has them), and every
    operation on every topic and group."""
    client = admin_client(bootstrap)
    bindings = [AclBinding(resource_type, "*", ResourcePatternType.LITERAL, "User:alice", "*",
                           AclOperation.ALL, AclPermissionType.ALLOW)
                for resource_type in (ResourceType.TOPIC, ResourceType.GROUP)]
    for future in client.create_acls(bindings, request_timeout=TIMEOUT).values():
        future.result(timeout=TIMEOUT)
    for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
        # One alteration per request: a user named twice in one is refused, as in Kafka.
        upsertion = UserScramCredentialUpsertion(
            ALICE[0], ScramCredentialInfo(mechanism, 4096), ALICE[1].encode())
        futures = client.alter_user_scram_credentials([upsertion], request_timeout=TIMEOUT)
        futures[ALICE[0]].result(timeout=TIMEOUT)


def create(bootstrap, name):
    # The client lives until its futures are done: destroyed, it fails them (_DESTROY).
    client = admin_client(bootstrap)
    futures = client.create_topics([NewTopic(name, num_partitions=1)], operation_timeout=TIMEOUT)
    futures[name].result(timeout=TIMEOUT)


def read_all(bootstrap, topic, count, login, mechanism):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": unique("unused"),
        "enable.auto.commit": False,
        **sasl_config(login, mechanism),
    })
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values = []
    try:
        def more():
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                values.append(message.value())
            return len(values) >= count
        wait_until(f"{count} records read over SASL_SSL", more, seconds=TIMEOUT)
    finally:
        consumer.close()
    return values


def refused_producer(bootstrap, login, mechanism="SCRAM-SHA-512"):
    """A producer logging in as `login` that delivers nothing: its errors and deliveries."""
    errors, delivered = [], []
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "message.timeout.ms": 3000,
        "error_cb": errors.append,
        # The refusals are expected: error_cb has them, the log need not repeat them.
        "log_level": 0,
        **sasl_config(login, mechanism),
    })
    producer.produce(unique("refused"), value=b"x",
                     on_delivery=lambda error, message: delivered.append(error))
    producer.flush(TIMEOUT)
    # The refusal itself may come after the record timed out: failures from one address are
    # answered later and later (up to 5 s), and every scenario connects from 127.0.0.1.
    def refused():
        producer.poll(0.1)
        return any(e.code() == KafkaError._AUTHENTICATION for e in errors)
    wait_until("an authentication error", refused, seconds=TIMEOUT)
    return errors, delivered


@suite.scenario()
def confluent_admin_creates_a_user_who_produces_and_consumes(bootstrap):
    ensure_alice(bootstrap)
    client = admin_client(bootstrap)
    described = client.describe_user_scram_credentials(["alice"])["alice"].result(timeout=TIMEOUT)
    mechanisms = {info.mechanism for info in described.scram_credential_infos}
    assert mechanisms == {ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512}, mechanisms
    topic = unique("sasl")
    create(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         **sasl_config(ALICE, "SCRAM-SHA-512")})
    values = [f"value-{i}".encode() for i in range(50)]
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(TIMEOUT) == 0, "every record delivered"
    assert read_all(bootstrap, topic, len(values), ALICE, "SCRAM-SHA-256") == values


@suite.scenario()
def confluent_with_a_wrong_password_is_refused_and_delivers_nothing(bootstrap):
    ensure_alice(bootstrap)
    for login in [("alice", "not-her-password"), ("mallory", "alice-secret")]:
        errors, delivered = refused_producer(bootstrap, login)
        assert delivered and delivered[0] is not None, f"{login[0]}: delivered: {delivered}"
        authentication = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        assert authentication, f"{login[0]}: {errors}"
        text = str(authentication[0])
        assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in text, text


@suite.scenario()
def confluent_plain_logs_in_with_the_scram_password(bootstrap):
    ensure_alice(bootstrap)
    topic = unique("plain")
    create(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         **sasl_config(ALICE, "PLAIN")})
    producer.produce(topic, value=b"plain")
    assert producer.flush(TIMEOUT) == 0
    assert read_all(bootstrap, topic, 1, ALICE, "PLAIN") == [b"plain"]
    errors, delivered = refused_producer(bootstrap, ("alice", "wrong"), "PLAIN")
    assert delivered and delivered[0] is not None, delivered
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors


@suite.scenario(seconds=60)
def confluent_re_authenticates_on_its_connections(bootstrap):
    ensure_alice(bootstrap)
    topic = unique("reauth")
    create(bootstrap, topic)
    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "error_cb": errors.append,
                         **sasl_config(ALICE, "SCRAM-SHA-256")})
    # Three sessions' worth of producing on the same connections.
    values = []
    deadline = time.monotonic() + 3 * SESSION_SECONDS
    while time.monotonic() < deadline:
        value = f"reauth-{len(values)}".encode()
        producer.produce(topic, value=value)
        values.append(value)
        producer.poll(0)
        time.sleep(0.25)
    assert producer.flush(TIMEOUT) == 0, "every record delivered"
    assert not errors, errors
    assert read_all(bootstrap, topic, len(values), ALICE, "SCRAM-SHA-256") == values
    with open(os.environ["BROKER_LOG"], encoding="utf-8", errors="replace") as log:
        renewed = [line for line in log
                   if "SASL authentication succeeded" in line and "reauthentication=true" in line
                   and "User:alice" in line]
    assert len(renewed) >= 2, f"{len(renewed)} re-authentications of alice logged"


@suite.scenario()
def kafka_python_round_trip(bootstrap):
    ensure_alice(bootstrap)
    topic = unique("sasl-kp")
    create(bootstrap, topic)
    sasl = dict(security_protocol="SASL_SSL", ssl_cafile=CA, sasl_mechanism="SCRAM-SHA-256",
                sasl_plain_username=ALICE[0], sasl_plain_password=ALICE[1])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **sasl)
    for i in range(20):
        producer.send(topic, value=f"kp-{i}".encode())
    producer.flush(timeout=TIMEOUT)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=TIMEOUT * 1000, **sasl)
    consumer.assign([KTopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    values = []
    for message in consumer:
        values.append(message.value)
        if len(values) == 20:
            break
    consumer.close()
    assert values == [f"kp-{i}".encode() for i in range(20)], values


def kcat_librdkafka_version():
    """The librdkafka kcat runs on, as a tuple: `kcat -V` says `librdkafka 2.0.2`."""
    out = subprocess.run(["kcat", "-V"], check=True, capture_output=True, text=True).stdout
    version = out.split("librdkafka ", 1)[1].split()[0]
    return tuple(int(part) for part in version.split("."))


@suite.scenario()
def kcat_round_trip(bootstrap):
    ensure_alice(bootstrap)
    topic = unique("sasl-kcat")
    create(bootstrap, topic)

    def flags(mechanism):
        return ["-b", bootstrap, "-X", "security.protocol=SASL_SSL", "-X",
                f"ssl.ca.location={CA}", "-X", f"sasl.mechanisms={mechanism}",
                "-X", f"sasl.username={ALICE[0]}", "-X", f"sasl.password={ALICE[1]}"]

    # librdkafka before 2.6.1 (librdkafka#4895) puts its own nonce twice in SCRAM's final
    # message; ringlog refuses it, as Kafka 4 does (RFC 5802). Such a kcat (Debian 12 ships
    # 2.0.2) logs in with PLAIN, over TLS.
    mechanism = "SCRAM-SHA-512" if kcat_librdkafka_version() >= (2, 6, 1) else "PLAIN"
    subprocess.run(["kcat", *flags(mechanism), "-t", topic, "-P"], input=b"one\ntwo\nthree\n",
                   check=True, timeout=TIMEOUT)
    out = subprocess.run(["kcat", *flags(mechanism), "-t", topic, "-C", "-e", "-o", "beginning",
                          "-q"], check=True, timeout=TIMEOUT, capture_output=True)
    assert out.stdout.split() == [b"one", b"two", b"three"], out.stdout
    if mechanism == "PLAIN":
        # The refusal may wait up to 5 s (this address failed before): a longer metadata
        # timeout than kcat's 5 s.
        refused = subprocess.run(["kcat", *flags("SCRAM-SHA-512"), "-L", "-m", "15"],
                                 timeout=TIMEOUT + 15, capture_output=True, text=True)
        assert refused.returncode != 0, refused.stdout
        assert "client-final message has the wrong nonce" in refused.stderr, refused.stderr


if __name__ == "__main__":
    suite.main()
