#!/usr/bin/env python3
"""Kafka's ACLs enforced, with Kafka's own clients: confluent-kafka (librdkafka) logging in with
SASL_SSL and SCRAM-SHA-512 to a ringlog broker whose authorizer is on (`authorizer_enabled`),
with admin its super user (`super_users`). admin creates the users and their ACLs with the
AdminClient, as an operator would; each scenario's user has only the ACLs it grants.

The run script starts the broker as for test_sasl.py (`sasl` kind) and exports $TLS_DIR,
$SASL_ADMIN_PASSWORD and $BROKER_LOG.

Usage: test_acls.py HOST:PORT (the SASL_SSL listener). SCENARIOS=name,name runs only those."""

import os

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, ResourcePatternType, ResourceType,
                                   ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                         KafkaAdminClient, ResourcePatternFilter)
from kafka.admin import ResourceType as KResourceType
from kafka.errors import ClusterAuthorizationFailedError

from scenarios import Suite, unique, wait_until
from test_sasl import ADMIN, CA, TIMEOUT, admin_client, create, sasl_config

suite = Suite("acls")


def add_user(bootstrap, name):
    """A user with a SCRAM-SHA-512 credential and no ACL: (name, password)."""
    login = (name, f"{name}-secret")
    upsertion = UserScramCredentialUpsertion(
        name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), login[1].encode())
    client = admin_client(bootstrap)
    client.alter_user_scram_credentials([upsertion], request_timeout=TIMEOUT)[name].result(
        timeout=TIMEOUT)
    return login


def admin_client_as(bootstrap, login):
    return AdminClient({"bootstrap.servers": bootstrap, **sasl_config(login)})


def allow(bootstrap, user, resource_type, name, operation,
          pattern=ResourcePatternType.LITERAL, permission=AclPermissionType.ALLOW):
    """admin grants (or, with permission DENY, refuses) `user` an operation."""
    binding = AclBinding(resource_type, name, pattern, f"User:{user}", "*", operation, permission)
    client = admin_client(bootstrap)
    client.create_acls([binding], request_timeout=TIMEOUT)[binding].result(timeout=TIMEOUT)


def produce(bootstrap, login, topic, values):
    """Produces `values` as `login`: the delivery error of each (None: delivered)."""
    results = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": 5000, "log_level": 0,
                         **sasl_config(login)})
    for value in values:
        producer.produce(topic, value=value, on_delivery=lambda e, m: results.append(e))
    producer.flush(TIMEOUT)
    return results


def read_as(bootstrap, login, topic, count, group=None):
    """Reads `count` records of partition 0 from the start as `login`; with `group`, as a
    member of it (subscribed), committing what it read."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group or unique("unused"),
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         **sasl_config(login)})
    if group:
        consumer.subscribe([topic])
    else:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values = []
    try:
        def more():
            message = consumer.poll(0.2)
            if message is not None:
                if message.error():
                    raise KafkaException(message.error())
                values.append(message.value())
            return len(values) >= count
        wait_until(f"{count} records read", more, seconds=TIMEOUT)
        if group:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def end_offset(bootstrap, topic):
    """The high watermark of partition 0, as the super user sees it."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("watermarks"),
                         **sasl_config(ADMIN)})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)[1]
    finally:
        consumer.close()


def denied_fetch(bootstrap, login, topic, group, subscribe):
    """The error a consumer of `group` logging in as `login` meets reading `topic`, subscribed
    to it (librdkafka reports a subscribed topic that Metadata refuses) or assigned its
    partition 0 (it reports a refused Fetch)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "log_level": 0, **sasl_config(login)})
    if subscribe:
        consumer.subscribe([topic])
    else:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    try:
        def error():
            message = consumer.poll(0.2)
            return message.error() if message is not None and message.error() else None
        return wait_until(f"{login[0]}'s error reading {topic} in {group}", error,
                          seconds=TIMEOUT)
    finally:
        consumer.close()


@suite.scenario(seconds=60)
def a_user_with_the_right_acls_produces_and_consumes_in_a_group(bootstrap):
    bob = add_user(bootstrap, "bob")
    topic, group = unique("orders"), unique("billing")
    create(bootstrap, topic)
    allow(bootstrap, "bob", ResourceType.TOPIC, topic, AclOperation.WRITE)
    allow(bootstrap, "bob", ResourceType.TOPIC, topic, AclOperation.READ)
    allow(bootstrap, "bob", ResourceType.GROUP, group, AclOperation.READ)
    values = [f"order-{i}".encode() for i in range(20)]
    assert produce(bootstrap, bob, topic, values) == [None] * len(values)
    assert read_as(bootstrap, bob, topic, len(values), group=group) == values
    # The group's committed offset, fetched as bob (Read on a group allows Describe).
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **sasl_config(bob)})
    try:
        committed = consumer.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)
        assert committed[0].offset == len(values), committed
    finally:
        consumer.close()


@suite.scenario()
def a_user_without_write_is_refused_and_nothing_is_appended(bootstrap):
    carol = add_user(bootstrap, "carol")
    topic = unique("ledger")
    create(bootstrap, topic)
    allow(bootstrap, "carol", ResourceType.TOPIC, topic, AclOperation.READ)
    results = produce(bootstrap, carol, topic, [b"forged"])
    assert len(results) == 1 and results[0] is not None, results
    assert results[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, results[0]
    assert end_offset(bootstrap, topic) == 0, "nothing appended"
    with open(os.environ["BROKER_LOG"], encoding="utf-8", errors="replace") as log:
        denials = [line for line in log if "denied" in line and "User:carol" in line
                   and "Write" in line and topic in line]
    assert denials, "carol's denied write is logged"


@suite.scenario()
def a_user_without_any_acl_is_denied_everything(bootstrap):
    dave = add_user(bootstrap, "dave")
    topic = unique("secret")
    create(bootstrap, topic)
    produce(bootstrap, ADMIN, topic, [b"classified"])
    # Metadata of every topic shows dave none of them.
    assert topic in admin_client(bootstrap).list_topics(timeout=TIMEOUT).topics
    seen = admin_client_as(bootstrap, dave).list_topics(timeout=TIMEOUT).topics
    assert topic not in seen, sorted(seen)
    # A consumer finds its group's coordinator first: refused, without Describe on the group.
    group = unique("dave")
    error = denied_fetch(bootstrap, dave, topic, group, subscribe=True)
    assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, error
    # Allowed the group, it meets the topic's refusal (in Metadata).
    allow(bootstrap, "dave", ResourceType.GROUP, group, AclOperation.READ)
    error = denied_fetch(bootstrap, dave, topic, group, subscribe=True)
    assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    # Allowed to describe the topic but not to read it, its Fetch is refused.
    allow(bootstrap, "dave", ResourceType.TOPIC, topic, AclOperation.DESCRIBE)
    error = denied_fetch(bootstrap, dave, topic, group, subscribe=False)
    assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    results = produce(bootstrap, dave, topic, [b"x"])
    assert results[0] is not None and results[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert end_offset(bootstrap, topic) == 1


@suite.scenario(seconds=60)
def prefixed_acls_cover_the_topics_they_name(bootstrap):
    erin = add_user(bootstrap, "erin")
    prefix = unique("erin") + "-"
    mine, other = prefix + "events", unique("events")
    create(bootstrap, mine)
    create(bootstrap, other)
    allow(bootstrap, "erin", ResourceType.TOPIC, prefix, AclOperation.WRITE,
          pattern=ResourcePatternType.PREFIXED)
    assert produce(bootstrap, erin, mine, [b"ok"]) == [None]
    refused = produce(bootstrap, erin, other, [b"no"])
    assert refused[0] is not None and refused[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert (end_offset(bootstrap, mine), end_offset(bootstrap, other)) == (1, 0)
    # A deny wins over the prefixed allow.
    denied = prefix + "audit"
    create(bootstrap, denied)
    allow(bootstrap, "erin", ResourceType.TOPIC, denied, AclOperation.WRITE,
          permission=AclPermissionType.DENY)
    refused = produce(bootstrap, erin, denied, [b"no"])
    assert refused[0] is not None and refused[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


@suite.scenario()
def the_super_user_needs_no_acl(bootstrap):
    topic, group = unique("admin"), unique("admin-group")
    create(bootstrap, topic)
    assert produce(bootstrap, ADMIN, topic, [b"a", b"b"]) == [None, None]
    assert read_as(bootstrap, ADMIN, topic, 2, group=group) == [b"a", b"b"]
    client = admin_client(bootstrap)
    found = client.describe_acls(AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, "User:admin", None, AclOperation.ANY,
        AclPermissionType.ANY), request_timeout=TIMEOUT).result(timeout=TIMEOUT)
    assert found == [], found


@suite.scenario()
def only_the_cluster_s_alterers_manage_acls(bootstrap):
    frank = add_user(bootstrap, "frank")
    client = admin_client_as(bootstrap, frank)
    binding = AclBinding(ResourceType.TOPIC, "anything", ResourcePatternType.LITERAL,
                         "User:frank", "*", AclOperation.ALL, AclPermissionType.ALLOW)
    try:
        client.create_acls([binding], request_timeout=TIMEOUT)[binding].result(timeout=TIMEOUT)
        raise AssertionError("frank granted himself an ACL")
    except KafkaException as error:
        assert error.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED, error
    # librdkafka drops DescribeAcls' error code (its rd_kafka_DescribeAclsResponse_parse
    # answers an empty listing whatever the code): frank sees no binding though there are
    # some, and kafka-python, which raises the code, shows which error it was.
    every = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    admin = admin_client(bootstrap)
    assert admin.describe_acls(every, request_timeout=TIMEOUT).result(timeout=TIMEOUT), \
        "the ACLs other scenarios made"
    assert client.describe_acls(every, request_timeout=TIMEOUT).result(timeout=TIMEOUT) == []
    python_client = KafkaAdminClient(
        bootstrap_servers=bootstrap, security_protocol="SASL_SSL", ssl_cafile=CA,
        sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=frank[0],
        sasl_plain_password=frank[1])
    try:
        python_client.describe_acls(ACLFilter(
            principal=None, host="*", operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(
                KResourceType.ANY, None, ACLResourcePatternType.ANY)))
        raise AssertionError("kafka-python: frank described the ACLs")
    except ClusterAuthorizationFailedError:
        pass
    finally:
        python_client.close()
    # Given Alter on the cluster, he may.
    allow(bootstrap, "frank", ResourceType.BROKER, "kafka-cluster", AclOperation.ALTER)
    client.create_acls([binding], request_timeout=TIMEOUT)[binding].result(timeout=TIMEOUT)


if __name__ == "__main__":
    suite.main()
