#!/usr/bin/env python3
"""Kafka's own clients over TLS: confluent-kafka (librdkafka on OpenSSL), kafka-python (Python's
ssl) and kcat against a ringlog broker whose Kafka listener is `SSL` with client certificates
required (`ssl_client_auth = "required"`). The certificates are made by the run script with
openssl, into the directory $TLS_DIR: ca.pem (the CA that signed the broker's and the
client's), client.pem and client.key, and foreign-ca.pem, foreign-client.pem and
foreign-client.key (another CA's).

Usage: test_tls.py HOST:PORT (the SSL listener). SCENARIOS=name,name runs only those."""

import os
import subprocess

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition

from scenarios import Suite, unique, wait_until

suite = Suite("tls")
TIMEOUT = 10  # seconds
TLS_DIR = os.environ["TLS_DIR"]


def path(name):
    return os.path.join(TLS_DIR, name)


def ssl_config(ca="ca.pem", certificate="client.pem", key="client.key"):
    """librdkafka's settings for TLS with a client certificate (none if `certificate` is None)."""
    config = {"security.protocol": "SSL", "ssl.ca.location": path(ca)}
    if certificate is not None:
        config["ssl.certificate.location"] = path(certificate)
        config["ssl.key.location"] = path(key)
    return config


def create(bootstrap, name, partitions=1):
    client = AdminClient({"bootstrap.servers": bootstrap, **ssl_config()})
    futures = client.create_topics([NewTopic(name, num_partitions=partitions)],
                                   operation_timeout=TIMEOUT)
    futures[name].result(timeout=TIMEOUT)


def read_all(bootstrap, topic, count, **config):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": unique("unused"),
        "enable.auto.commit": False,
        **ssl_config(),
        **config,
    })
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values = []
    try:
        def more():
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                values.append(message.value())
            return len(values) >= count
        wait_until(f"{count} records read over TLS", more, seconds=TIMEOUT)
    finally:
        consumer.close()
    return values


@suite.scenario()
def confluent_round_trip_with_a_client_certificate(bootstrap):
    topic = unique("tls")
    create(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         **ssl_config()})
    # Large values too: a fetch's record bytes are read and encrypted, not sent with sendfile.
    values = [f"value-{i}".encode() * (1 + i * 100) for i in range(50)]
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(TIMEOUT) == 0, "every record delivered"
    assert read_all(bootstrap, topic, len(values)) == values


@suite.scenario()
def confluent_without_a_client_certificate_is_refused(bootstrap):
    errors = []
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "message.timeout.ms": 3000,
        "error_cb": errors.append,
        # The refusals are expected: error_cb has them, the log need not repeat them.
        "log_level": 0,
        **ssl_config(certificate=None),
    })
    delivered = []
    producer.produce(unique("refused"), value=b"x",
                     on_delivery=lambda error, message: delivered.append(error))
    producer.flush(TIMEOUT)
    assert delivered and delivered[0] is not None, f"a record was delivered: {delivered}"
    assert any(e.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
               for e in errors), errors


@suite.scenario()
def confluent_refuses_a_broker_of_another_ca(bootstrap):
    errors = []
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "message.timeout.ms": 3000,
        "error_cb": errors.append,
        # The refusals are expected: error_cb has them, the log need not repeat them.
        "log_level": 0,
        **ssl_config(ca="foreign-ca.pem"),
    })
    producer.produce(unique("untrusted"), value=b"x")
    producer.flush(TIMEOUT)
    messages = " ".join(str(e) for e in errors)
    assert "certificate verify failed" in messages, messages


@suite.scenario()
def confluent_with_a_certificate_of_another_ca_is_refused(bootstrap):
    errors = []
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "message.timeout.ms": 3000,
        "error_cb": errors.append,
        # The refusals are expected: error_cb has them, the log need not repeat them.
        "log_level": 0,
        **ssl_config(certificate="foreign-client.pem", key="foreign-client.key"),
    })
    delivered = []
    producer.produce(unique("foreign"), value=b"x",
                     on_delivery=lambda error, message: delivered.append(error))
    producer.flush(TIMEOUT)
    assert delivered and delivered[0] is not None, f"a record was delivered: {delivered}"


@suite.scenario()
def kafka_python_round_trip(bootstrap):
    topic = unique("tls-kp")
    create(bootstrap, topic)
    ssl = dict(security_protocol="SSL", ssl_cafile=path("ca.pem"),
               ssl_certfile=path("client.pem"), ssl_keyfile=path("client.key"))
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **ssl)
    for i in range(20):
        producer.send(topic, value=f"kp-{i}".encode())
    producer.flush(timeout=TIMEOUT)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=TIMEOUT * 1000, **ssl)
    consumer.assign([KTopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    values = []
    for message in consumer:
        values.append(message.value)
        if len(values) == 20:
            break
    consumer.close()
    assert values == [f"kp-{i}".encode() for i in range(20)], values


@suite.scenario()
def kcat_round_trip(bootstrap):
    topic = unique("tls-kcat")
    create(bootstrap, topic)
    flags = ["-b", bootstrap, "-X", "security.protocol=ssl", "-X",
             f"ssl.ca.location={path('ca.pem')}", "-X",
             f"ssl.certificate.location={path('client.pem')}", "-X",
             f"ssl.key.location={path('client.key')}"]
    subprocess.run(["kcat", *flags, "-t", topic, "-P"], input=b"one\ntwo\nthree\n",
                   check=True, timeout=TIMEOUT)
    out = subprocess.run(["kcat", *flags, "-t", topic, "-C", "-e", "-o", "beginning", "-q"],
                         check=True, timeout=TIMEOUT, capture_output=True)
    assert out.stdout.split() == [b"one", b"two", b"three"], out.stdout


if __name__ == "__main__":
    suite.main()
