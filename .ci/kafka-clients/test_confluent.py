#!/usr/bin/env python3
"""confluent-kafka (librdkafka) against a ringlog broker's Kafka listener: admin, produce and
consume round trips with every acks and codec, assign-mode consumers, consumer groups, users'
SCRAM credentials and ACLs.

Usage: test_confluent.py HOST:PORT. SCENARIOS=name,name runs only those."""

import os
import time
import warnings

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TIMESTAMP_CREATE_TIME,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from scenarios import Suite, unique, wait_until

suite = Suite("confluent-kafka")
# alter_configs is deprecated in the client, and tested as well as incremental_alter_configs:
# ringlog serves both.
warnings.filterwarnings("ignore", message="alter_configs has been deprecated")
TIMEOUT = 10  # seconds, for each admin call and each wait below


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def producer(bootstrap, **config):
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5}
    conf.update(config)
    return Producer(conf)


def consumer(bootstrap, **config):
    conf = {
        "bootstrap.servers": bootstrap,
        # Assign mode only: a group id names where offsets are committed, nothing joins it.
        "group.id": unique("unused"),
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    conf.update(config)
    return Consumer(conf)


def create(bootstrap, *topics):
    client = admin(bootstrap)  # kept until the futures are done: its end fails them
    futures = client.create_topics(list(topics), operation_timeout=TIMEOUT)
    for future in futures.values():
        future.result(timeout=TIMEOUT)
    for topic in topics:
        wait_for_leaders(bootstrap, topic.topic)


def wait_for_leaders(bootstrap, name):
    """Waits until the topic's metadata shows a leader for every partition."""
    client = admin(bootstrap)

    def ready():
        topic = client.list_topics(name, timeout=TIMEOUT).topics.get(name)
        if topic is None or topic.error is not None or not topic.partitions:
            return None
        return all(p.leader >= 0 for p in topic.partitions.values()) and topic

    return wait_until(f"topic {name} has leaders", ready)


def error_code(future):
    """The Kafka error code a future failed with, or None if it succeeded."""
    try:
        future.result(timeout=TIMEOUT)
    except KafkaException as error:
        return error.args[0].code()
    return None


def produce_all(p, topic, messages, partition=None):
    """Produces (key, value, headers, timestamp) tuples; returns the delivered messages."""
    delivered = []

    def report(error, message):
        assert error is None, f"delivery to {topic} failed: {error}"
        delivered.append(message)

    for key, value, headers, timestamp in messages:
        kwargs = {"key": key, "value": value, "headers": headers, "on_delivery": report}
        if partition is not None:
            kwargs["partition"] = partition
        if timestamp is not None:
            kwargs["timestamp"] = timestamp
        p.produce(topic, **kwargs)
        p.poll(0)
    left = p.flush(TIMEOUT)
    assert left == 0, f"{left} messages to {topic} not delivered in {TIMEOUT} s"
    assert len(delivered) == len(messages), (len(delivered), len(messages))
    return delivered


def consume(c, count, seconds=TIMEOUT):
    """Consumes `count` messages (and fails on any error), in the order they came."""
    got = []
    deadline = time.monotonic() + seconds
    while len(got) < count:
        assert time.monotonic() < deadline, f"consumed {len(got)} of {count} in {seconds} s"
        message = c.poll(0.5)
        if message is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(error)
        got.append(message)
    return got


def header_list(message):
    return [(k, v) for k, v in (message.headers() or [])]


@suite.scenario()
def admin_create_describe_alter_delete(bootstrap):
    client = admin(bootstrap)
    three, default, rf_default = unique("c-admin-3"), unique("c-admin-default"), unique("c-admin-rf")
    create(
        bootstrap,
        NewTopic(three, num_partitions=3, replication_factor=1,
                 config={"retention.ms": "3600000", "retention.bytes": "1048576"}),
        # -1: the broker's defaults (num_partitions 1, default_replication_factor 1).
        NewTopic(default, num_partitions=-1, replication_factor=-1),
        NewTopic(rf_default, num_partitions=2, replication_factor=-1),
    )
    topics = client.list_topics(timeout=TIMEOUT).topics
    assert len(topics[three].partitions) == 3, topics[three].partitions
    assert len(topics[default].partitions) == 1, topics[default].partitions
    assert len(topics[rf_default].partitions) == 2, topics[rf_default].partitions
    for name in (three, default, rf_default):
        for partition in topics[name].partitions.values():
            assert len(partition.replicas) == 1, (name, partition.replicas)

    # A duplicate, and a value ringlog does not support.
    futures = client.create_topics([NewTopic(three, num_partitions=1)], operation_timeout=TIMEOUT)
    code = error_code(futures[three])
    assert code == KafkaError.TOPIC_ALREADY_EXISTS, f"duplicate create: {code}"
    compact = unique("c-admin-compact")
    futures = client.create_topics(
        [NewTopic(compact, num_partitions=1, config={"cleanup.policy": "compact"})],
        operation_timeout=TIMEOUT)
    code = error_code(futures[compact])
    assert code == KafkaError.INVALID_CONFIG, f"cleanup.policy=compact: {code}"
    assert compact not in client.list_topics(timeout=TIMEOUT).topics

    # DescribeConfigs: Kafka's names, the values set, where each comes from.
    described = describe(client, three)
    assert described["retention.ms"].value == "3600000", described["retention.ms"]
    assert described["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not described["retention.ms"].is_default
    assert described["retention.bytes"].value == "1048576"
    assert described["cleanup.policy"].value == "delete", described["cleanup.policy"]
    assert described["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    assert described["cleanup.policy"].is_default
    assert "segment.bytes" in described and "retention_ms" not in described, sorted(described)

    # AlterConfigs (deprecated in the client, which is why it is still AlterConfigs): the
    # topic's config is replaced whole, so retention.bytes, not named, returns to its default.
    resource = ConfigResource(ResourceType.TOPIC, three, set_config={"retention.ms": "7200000"})
    for future in client.alter_configs([resource]).values():
        future.result(timeout=TIMEOUT)
    described = describe(client, three)
    assert described["retention.ms"].value == "7200000", described["retention.ms"]
    assert described["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert described["retention.bytes"].is_default, described["retention.bytes"]
    assert described["retention.bytes"].value == "-1", described["retention.bytes"]
    bad = ConfigResource(ResourceType.TOPIC, three, set_config={"cleanup.policy": "compact"})
    code = error_code(client.alter_configs([bad])[bad])
    assert code == KafkaError.INVALID_CONFIG, f"alter to cleanup.policy=compact: {code}"

    # The broker's own configs, by Kafka's names where Kafka has one.
    broker_id = next(iter(client.list_topics(timeout=TIMEOUT).brokers))
    resource = ConfigResource(ResourceType.BROKER, str(broker_id))
    broker = client.describe_configs([resource])[resource].result(timeout=TIMEOUT)
    assert broker["num.partitions"].value == "1", broker.get("num.partitions")
    assert broker["auto.create.topics.enable"].value == "false"

    # DeleteTopics, and one that does not exist.
    futures = client.delete_topics([three, default, rf_default], operation_timeout=TIMEOUT)
    for future in futures.values():
        future.result(timeout=TIMEOUT)
    wait_until("deleted topics leave the metadata", lambda: not (
        {three, default, rf_default} & set(client.list_topics(timeout=TIMEOUT).topics)))
    missing = unique("c-admin-missing")
    code = error_code(client.delete_topics([missing], operation_timeout=TIMEOUT)[missing])
    assert code == KafkaError.UNKNOWN_TOPIC_OR_PART, f"delete of a missing topic: {code}"


@suite.scenario()
def admin_refusals(bootstrap):
    client = admin(bootstrap)

    def refused(topic):
        return error_code(client.create_topics([topic], operation_timeout=TIMEOUT)[topic.topic])

    # Kafka's rules for names: [a-zA-Z0-9._-], at most 249 characters, not "." or "..".
    dotted = unique("c.names_with-dots")
    longest = unique("c-long") + "x" * (249 - len(unique("c-long")))
    assert len(longest) == 249
    create(bootstrap, NewTopic(dotted, num_partitions=1), NewTopic(longest, num_partitions=1))
    for bad in ["bad name", "bad/name", "..", longest + "y"]:
        code = refused(NewTopic(bad, num_partitions=1))
        assert code == KafkaError.TOPIC_EXCEPTION, f"topic name {bad!r}: {code}"
    code = refused(NewTopic(unique("c-zero"), num_partitions=0))
    assert code == KafkaError.INVALID_PARTITIONS, f"0 partitions: {code}"
    code = refused(NewTopic(unique("c-rf2"), num_partitions=1, replication_factor=2))
    assert code == KafkaError.INVALID_REPLICATION_FACTOR, f"replication factor 2 of 1 broker: {code}"
    code = refused(NewTopic(unique("c-badvalue"), num_partitions=1,
                            config={"retention.ms": "soon"}))
    assert code == KafkaError.INVALID_CONFIG, f"retention.ms=soon: {code}"
    code = refused(NewTopic(unique("c-badkey"), num_partitions=1, config={"no.such.key": "1"}))
    assert code == KafkaError.INVALID_CONFIG, f"an unknown config key: {code}"
    # The configs of a topic that does not exist.
    resource = ConfigResource(ResourceType.TOPIC, unique("c-nosuch"))
    code = error_code(client.describe_configs([resource])[resource])
    assert code == KafkaError.UNKNOWN_TOPIC_OR_PART, f"describe a missing topic: {code}"


def describe(client, topic):
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return client.describe_configs([resource])[resource].result(timeout=TIMEOUT)


@suite.scenario()
def metadata_lists_broker_and_topics(bootstrap):
    name = unique("c-meta")
    create(bootstrap, NewTopic(name, num_partitions=2, replication_factor=1))
    metadata = admin(bootstrap).list_topics(timeout=TIMEOUT)
    assert len(metadata.brokers) == 1, metadata.brokers
    broker = next(iter(metadata.brokers.values()))
    assert f"{broker.host}:{broker.port}" == bootstrap, (str(broker), bootstrap)
    assert metadata.controller_id == broker.id, (metadata.controller_id, broker.id)
    assert name in metadata.topics, sorted(metadata.topics)
    # A producer's metadata for a topic that is not there (auto-creation is off).
    missing = unique("c-meta-missing")
    topic = admin(bootstrap).list_topics(missing, timeout=TIMEOUT).topics[missing]
    assert topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, topic.error


# (acks, codec) pairs: every acks without compression, every codec with acks=all.
ROUND_TRIPS = [("0", "none"), ("1", "none"), ("all", "none"),
               ("all", "gzip"), ("all", "snappy"), ("all", "lz4"), ("all", "zstd"),
               ("1", "zstd")]


def round_trip_messages(tag, count):
    messages = []
    for i in range(count):
        key = f"{tag}-key-{i % 7}".encode()
        # Compressible and not: a repeated text and a few random bytes.
        value = (f"{tag} value {i} " * 20).encode() + bytes((i * 37 + j) % 256 for j in range(16))
        headers = [("seq", str(i).encode()), ("tag", tag.encode()), ("seq", b"again"),
                   ("binary", bytes(range(256)))]
        messages.append((key, value, headers, None))
    # A null key, a null value, no headers; an empty key and value, a null header value.
    messages.append((None, None, None, None))
    messages.append((b"", b"", [("null", None), ("empty", b"")], None))
    return messages


@suite.scenario(seconds=60)
def round_trips_every_acks_and_codec(bootstrap):
    name = unique("c-roundtrip")
    create(bootstrap, NewTopic(name, num_partitions=3, replication_factor=1))
    sent = {}  # partition -> [(key, value, headers)], in produce order
    for index, (acks, codec) in enumerate(ROUND_TRIPS):
        tag = f"acks{acks}-{codec}"
        p = producer(bootstrap, **{"acks": acks, "compression.type": codec})
        messages = round_trip_messages(tag, 60)
        # Each pair's messages go to one partition, in order; the pairs spread over all three.
        partition = index % 3
        delivered = produce_all(p, name, messages, partition=partition)
        if acks == "0":
            # acks=0: no answer, so no offsets (None or a negative one).
            assert not any((m.offset() or -1) >= 0 for m in delivered), [m.offset() for m in delivered][:3]
        else:
            offsets = [m.offset() for m in delivered]
            assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), offsets
        sent.setdefault(partition, []).extend(
            (key, value, headers or []) for key, value, headers, _ in messages)

    c = consumer(bootstrap)
    c.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in range(3)])
    total = sum(len(v) for v in sent.values())
    got = consume(c, total, seconds=20)
    c.close()
    for partition, expected in sent.items():
        received = [m for m in got if m.partition() == partition]
        assert [m.offset() for m in received] == list(range(len(expected))), (
            partition, [m.offset() for m in received][:10])
        for message, (key, value, headers) in zip(received, expected):
            assert message.key() == key, (partition, message.offset(), message.key(), key)
            assert message.value() == value, (partition, message.offset(), message.value()[:40])
            assert header_list(message) == headers, (partition, message.offset(),
                                                     header_list(message), headers)
            kind, timestamp = message.timestamp()
            assert kind == TIMESTAMP_CREATE_TIME and timestamp > 0, message.timestamp()


@suite.scenario()
def large_batches_and_values(bootstrap):
    name = unique("c-large")
    create(bootstrap, NewTopic(name, num_partitions=1, replication_factor=1))
    p = producer(bootstrap, **{"acks": "all", "compression.type": "lz4", "linger.ms": 50,
                               "batch.size": 1_000_000})
    # Random, so one batch of the three is larger than max.partition.fetch.bytes: the broker
    # must still send it whole (KIP-74).
    values = [os.urandom(200_000) for i in range(3)] + [f"{i}".encode() for i in range(2000)]
    produce_all(p, name, [(None, v, None, None) for v in values], partition=0)
    c = consumer(bootstrap, **{"fetch.max.bytes": 1_048_576, "max.partition.fetch.bytes": 300_000})
    c.assign([TopicPartition(name, 0, OFFSET_BEGINNING)])
    got = consume(c, len(values), seconds=20)
    c.close()
    assert [m.value() for m in got] == values, "values differ"


@suite.scenario()
def consumer_from_timestamp(bootstrap):
    name = unique("c-time")
    create(bootstrap, NewTopic(name, num_partitions=1, replication_factor=1))
    base = int(time.time() * 1000) - 60_000
    messages = [(b"k", f"v{i}".encode(), None, base + i * 1000) for i in range(10)]
    produce_all(producer(bootstrap), name, messages, partition=0)

    c = consumer(bootstrap)
    # Between two records' times: the first at or after it.
    found = c.offsets_for_times([TopicPartition(name, 0, base + 5500)], timeout=TIMEOUT)
    assert found[0].offset == 6 and found[0].error is None, found
    exact = c.offsets_for_times([TopicPartition(name, 0, base + 3000)], timeout=TIMEOUT)
    assert exact[0].offset == 3, exact
    # After the last record: no offset, -1 (OFFSET_END).
    after = c.offsets_for_times([TopicPartition(name, 0, base + 60_000)], timeout=TIMEOUT)
    assert after[0].offset == OFFSET_END, after
    c.assign(found)
    got = consume(c, 4)
    assert [m.offset() for m in got] == [6, 7, 8, 9], [m.offset() for m in got]
    assert [m.timestamp() for m in got] == [(TIMESTAMP_CREATE_TIME, base + i * 1000)
                                            for i in range(6, 10)]
    c.close()

    # The admin client's ListOffsets: earliest, latest, by timestamp.
    client = admin(bootstrap)
    tp = TopicPartition(name, 0)
    for spec, want in [(OffsetSpec.earliest(), 0), (OffsetSpec.latest(), 10),
                       (OffsetSpec.for_timestamp(base + 5500), 6)]:
        result = client.list_offsets({tp: spec})[tp].result(timeout=TIMEOUT)
        assert result.offset == want, (spec, result.offset, want)


@suite.scenario()
def consumer_resumes_from_committed_offset(bootstrap):
    name, group = unique("c-commit"), unique("c-group")
    create(bootstrap, NewTopic(name, num_partitions=2, replication_factor=1))
    p = producer(bootstrap)
    produce_all(p, name, [(None, f"p0-{i}".encode(), None, None) for i in range(10)], partition=0)
    produce_all(p, name, [(None, f"p1-{i}".encode(), None, None) for i in range(10)], partition=1)

    first = consumer(bootstrap, **{"group.id": group})
    tps = [TopicPartition(name, 0), TopicPartition(name, 1)]
    # Nothing committed yet: no offset (OFFSET_INVALID, -1001).
    nothing = first.committed(tps, timeout=TIMEOUT)
    assert all(tp.offset < 0 for tp in nothing), nothing
    first.assign([TopicPartition(name, 0, OFFSET_BEGINNING)])
    got = consume(first, 4)
    assert [m.value() for m in got] == [f"p0-{i}".encode() for i in range(4)]
    # The offset of the next message to read, as Kafka's consumers commit it.
    first.commit(message=got[-1], asynchronous=False)
    committed = first.committed([TopicPartition(name, 0)], timeout=TIMEOUT)
    assert committed[0].offset == 4, committed
    first.commit(offsets=[TopicPartition(name, 1, 7, metadata="seven")], asynchronous=False)
    committed = first.committed(tps, timeout=TIMEOUT)
    assert [tp.offset for tp in committed] == [4, 7], committed
    assert committed[1].metadata == "seven", committed[1].metadata
    first.close()

    # Another consumer of the group resumes where the commits say.
    second = consumer(bootstrap, **{"group.id": group})
    second.assign(tps)
    got = consume(second, 6 + 3)
    by_partition = {0: [], 1: []}
    for m in got:
        by_partition[m.partition()].append(m.value())
    assert by_partition[0] == [f"p0-{i}".encode() for i in range(4, 10)], by_partition[0]
    assert by_partition[1] == [f"p1-{i}".encode() for i in range(7, 10)], by_partition[1]
    positions = second.position(tps)
    assert [tp.offset for tp in positions] == [10, 10], positions
    second.close()

    # The admin client's view of the group's offsets (OffsetFetch through the admin API).
    request = [ConsumerGroupTopicPartitions(group, tps)]
    client = admin(bootstrap)
    result = client.list_consumer_group_offsets(request)[group].result(timeout=TIMEOUT)
    assert sorted((tp.partition, tp.offset) for tp in result.topic_partitions) == [(0, 4), (1, 7)]


@suite.scenario()
def watermarks_and_seek(bootstrap):
    name = unique("c-marks")
    create(bootstrap, NewTopic(name, num_partitions=1, replication_factor=1))
    c = consumer(bootstrap)
    tp = TopicPartition(name, 0)
    assert c.get_watermark_offsets(tp, timeout=TIMEOUT, cached=False) == (0, 0)
    produce_all(producer(bootstrap), name, [(None, f"v{i}".encode(), None, None) for i in range(25)],
                partition=0)
    assert c.get_watermark_offsets(tp, timeout=TIMEOUT, cached=False) == (0, 25)
    # From the end: only what comes after.
    c.assign([TopicPartition(name, 0, OFFSET_END)])
    c.poll(1.0)
    produce_all(producer(bootstrap), name, [(None, b"late", None, None)], partition=0)
    got = consume(c, 1)
    assert got[0].offset() == 25 and got[0].value() == b"late", (got[0].offset(), got[0].value())
    # Seek back into the middle.
    c.seek(TopicPartition(name, 0, 20))
    got = consume(c, 6)
    assert [m.offset() for m in got] == list(range(20, 26)), [m.offset() for m in got]
    low, high = c.get_watermark_offsets(tp, timeout=TIMEOUT, cached=False)
    assert (low, high) == (0, 26), (low, high)
    c.close()


@suite.scenario()
def admin_validate_only_recreate_and_describe(bootstrap):
    client = admin(bootstrap)
    name = unique("c-validate")
    futures = client.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)],
                                   operation_timeout=TIMEOUT, validate_only=True)
    futures[name].result(timeout=TIMEOUT)
    assert name not in client.list_topics(timeout=TIMEOUT).topics, "validate_only created it"

    # Deleted, then created again under the same name: empty, with the new partition count.
    create(bootstrap, NewTopic(name, num_partitions=2, replication_factor=1))
    produce_all(producer(bootstrap), name, [(b"k", b"old", None, None)], partition=1)
    client.delete_topics([name], operation_timeout=TIMEOUT)[name].result(timeout=TIMEOUT)
    wait_until("the topic leaves the metadata",
               lambda: name not in client.list_topics(timeout=TIMEOUT).topics)
    create(bootstrap, NewTopic(name, num_partitions=1, replication_factor=1))
    produce_all(producer(bootstrap), name, [(b"k", b"new", None, None)], partition=0)
    c = consumer(bootstrap)
    c.assign([TopicPartition(name, 0, OFFSET_BEGINNING)])
    got = consume(c, 1)
    assert (got[0].offset(), got[0].value()) == (0, b"new"), (got[0].offset(), got[0].value())
    assert c.get_watermark_offsets(TopicPartition(name, 0), timeout=TIMEOUT, cached=False) == (0, 1)
    c.close()

    # DescribeTopics (Metadata underneath).
    described = client.describe_topics(TopicCollection([name]))[name].result(timeout=TIMEOUT)
    assert described.name == name and len(described.partitions) == 1, described
    assert described.partitions[0].leader is not None, described.partitions[0]


@suite.scenario()
def cluster_id_and_describe_cluster(bootstrap):
    client = admin(bootstrap)
    # Kafka's Metadata answers carry the cluster's id from v2 on (KIP-78). Without it
    # describe_cluster() crashes this process (a segfault in confluent-kafka 2.16.2), so it is
    # asked for only once the id is there.
    cluster_id = client.list_topics(timeout=TIMEOUT).cluster_id
    assert cluster_id, f"Metadata carries no cluster id (cluster_id is {cluster_id!r})"
    assert client.cluster_id(timeout=TIMEOUT) == cluster_id
    cluster = client.describe_cluster().result(timeout=TIMEOUT)
    assert cluster.cluster_id == cluster_id, (cluster.cluster_id, cluster_id)
    assert len(cluster.nodes) == 1 and cluster.controller is not None, cluster
    node = cluster.nodes[0]
    assert f"{node.host}:{node.port}" == bootstrap, (node, bootstrap)


@suite.scenario()
def incremental_alter_configs_and_topic_ids(bootstrap):
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
    name = unique("c-incremental")
    create(bootstrap, NewTopic(name, num_partitions=1, replication_factor=1,
                               config={"retention.ms": "60000"}))
    client = admin(bootstrap)
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("segment.bytes", "4194304", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.APPEND),
    ])
    for future in client.incremental_alter_configs([resource]).values():
        future.result(timeout=TIMEOUT)
    configs = describe(client, name)
    # Keys not named keep their values; the ones named change.
    assert configs["retention.ms"].value == "60000", configs["retention.ms"]
    assert configs["segment.bytes"].value == "4194304", configs["segment.bytes"]
    assert configs["cleanup.policy"].value == "delete", configs["cleanup.policy"]
    delete = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    for future in client.incremental_alter_configs([delete]).values():
        future.result(timeout=TIMEOUT)
    configs = describe(client, name)
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value, configs["retention.ms"]
    # APPEND to a key that is not a list, and compact: INVALID_CONFIG naming the key.
    for entry in (ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.APPEND),
                  ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)):
        bad = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[entry])
        for future in client.incremental_alter_configs([bad]).values():
            assert error_code(future) == KafkaError.INVALID_CONFIG, entry
    # Every topic has an id, shown by DescribeTopics (Metadata v10+), and it is stable.
    described = client.describe_topics(TopicCollection([name]))[name].result(timeout=TIMEOUT)
    topic_id = str(described.topic_id)
    assert topic_id and topic_id != "AAAAAAAAAAAAAAAAAAAAAA", topic_id
    again = client.describe_topics(TopicCollection([name]))[name].result(timeout=TIMEOUT)
    assert str(again.topic_id) == topic_id


@suite.scenario()
def errors_reach_the_client(bootstrap):
    name = unique("c-errors")
    create(bootstrap, NewTopic(name, num_partitions=1, replication_factor=1))
    # A record larger than the broker's message_max_bytes (1 MiB + 12): MSG_SIZE_TOO_LARGE.
    p = producer(bootstrap, **{"message.max.bytes": 4_000_000, "compression.type": "none"})
    errors = []
    p.produce(name, value=b"x" * 2_000_000, partition=0,
              on_delivery=lambda error, message: errors.append(error))
    assert p.flush(TIMEOUT) == 0
    assert errors and errors[0] is not None, errors
    assert errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, errors[0]
    # A topic that does not exist (auto-creation is off): UNKNOWN_TOPIC_OR_PART.
    missing = unique("c-errors-missing")
    p = producer(bootstrap, **{"topic.metadata.propagation.max.ms": 1000, "message.timeout.ms": 5000})
    errors = []
    p.produce(missing, value=b"v", on_delivery=lambda error, message: errors.append(error))
    assert p.flush(TIMEOUT) == 0
    assert errors and errors[0] is not None, errors
    assert errors[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), errors[0]


@suite.scenario()
def out_of_range_offset_resets(bootstrap):
    name = unique("c-range")
    create(bootstrap, NewTopic(name, num_partitions=1, replication_factor=1))
    produce_all(producer(bootstrap), name, [(None, f"v{i}".encode(), None, None) for i in range(5)],
                partition=0)
    # Past the end: the broker answers OFFSET_OUT_OF_RANGE and the consumer resets.
    c = consumer(bootstrap, **{"auto.offset.reset": "earliest"})
    c.assign([TopicPartition(name, 0, 1000)])
    got = consume(c, 5)
    assert [m.offset() for m in got] == [0, 1, 2, 3, 4], [m.offset() for m in got]
    c.close()
    c = consumer(bootstrap, **{"auto.offset.reset": "error"})
    c.assign([TopicPartition(name, 0, 1000)])
    deadline = time.monotonic() + TIMEOUT
    error = None
    while error is None and time.monotonic() < deadline:
        message = c.poll(0.5)
        if message is not None:
            assert message.error() is not None, f"a message at {message.offset()}"
            error = message.error()
    assert error is not None and error.code() == KafkaError._AUTO_OFFSET_RESET, error
    c.close()


@suite.scenario()
def auto_commit_in_assign_mode(bootstrap):
    name, group = unique("c-autocommit"), unique("c-autogroup")
    create(bootstrap, NewTopic(name, num_partitions=1, replication_factor=1))
    produce_all(producer(bootstrap), name, [(None, f"v{i}".encode(), None, None) for i in range(8)],
                partition=0)
    c = consumer(bootstrap, **{"group.id": group, "enable.auto.commit": True,
                               "auto.commit.interval.ms": 200})
    tp = TopicPartition(name, 0)
    c.assign([TopicPartition(name, 0, OFFSET_BEGINNING)])
    consume(c, 8)
    wait_until("the auto-commit", lambda: c.committed([tp], timeout=TIMEOUT)[0].offset == 8,
               seconds=5)
    c.close()


def member(bootstrap, group, events, **config):
    """A group member (subscribe) recording its incremental assignment events."""
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 300,
        "partition.assignment.strategy": "cooperative-sticky",
    }
    conf.update(config)
    c = Consumer(conf)

    def assigned(consumer, partitions):
        events.append(("assigned", sorted(p.partition for p in partitions)))
        consumer.incremental_assign(partitions)

    def revoked(consumer, partitions):
        events.append(("revoked", sorted(p.partition for p in partitions)))
        consumer.incremental_unassign(partitions)

    return c, assigned, revoked


def owned(events):
    """The partitions a member holds after its incremental events."""
    held = set()
    for kind, partitions in events:
        held = held | set(partitions) if kind == "assigned" else held - set(partitions)
    return held


@suite.scenario(seconds=90)
def cooperative_sticky_group_moves_only_what_must_move(bootstrap):
    name = unique("c-group")
    group = unique("c-members")
    create(bootstrap, NewTopic(name, num_partitions=4, replication_factor=1))
    p = producer(bootstrap)
    produce_all(p, name, [(None, f"v{i}".encode(), None, None) for i in range(8)])
    a_events, b_events = [], []
    a, a_assigned, a_revoked = member(bootstrap, group, a_events)
    a.subscribe([name], on_assign=a_assigned, on_revoke=a_revoked)
    wait_until("the first member holds every partition",
               lambda: (a.poll(0.1), owned(a_events))[1] == {0, 1, 2, 3}, seconds=30)
    b, b_assigned, b_revoked = member(bootstrap, group, b_events)
    b.subscribe([name], on_assign=b_assigned, on_revoke=b_revoked)

    def shared():
        a.poll(0.05)
        b.poll(0.05)
        mine, theirs = owned(a_events), owned(b_events)
        return len(mine) == 2 and len(theirs) == 2 and not mine & theirs

    wait_until("the two members share the partitions", shared, seconds=40)
    # Cooperative: the first member gave up only the two partitions that moved, and never
    # the two it kept.
    revoked = [ps for kind, ps in a_events if kind == "revoked"]
    assert sum(len(ps) for ps in revoked) == 2, a_events
    assert not set(sum(revoked, [])) & owned(a_events), a_events
    # The group as Kafka's admin API sees it.
    client = admin(bootstrap)
    described = client.describe_consumer_groups([group])[group].result(timeout=TIMEOUT)
    assert str(described.state).endswith("STABLE"), described.state
    assert len(described.members) == 2, described.members
    listed = client.list_consumer_groups().result(timeout=TIMEOUT)
    assert group in [g.group_id for g in listed.valid], listed.valid
    # One leaves: the other takes every partition back.
    b.close()
    wait_until("the last member holds every partition",
               lambda: (a.poll(0.1), owned(a_events))[1] == {0, 1, 2, 3}, seconds=30)
    a.close()
    # An empty group can be deleted.
    futures = client.delete_consumer_groups([group], request_timeout=TIMEOUT)
    futures[group].result(timeout=TIMEOUT)


# Kafka's codes for refused users and ACLs.
INVALID_REQUEST = 42
RESOURCE_NOT_FOUND = 91
DUPLICATE_RESOURCE = 92
UNACCEPTABLE_CREDENTIAL = 93


def credentials(client, users):
    """Each user's (mechanism name, iterations), sorted; an error code for a refused user."""
    described = {}
    for user, future in client.describe_user_scram_credentials(users).items():
        try:
            description = future.result(timeout=TIMEOUT)
        except KafkaException as error:
            described[user] = error.args[0].code()
            continue
        described[user] = sorted(
            (info.mechanism.name, info.iterations)
            for info in description.scram_credential_infos)
    return described


@suite.scenario()
def scram_credentials_are_set_described_and_deleted(bootstrap):
    client = admin(bootstrap)
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    sha256, sha512 = ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512
    # The client salts the password (PBKDF2) and sends the salted password and the salt.
    futures = client.alter_user_scram_credentials([
        UserScramCredentialUpsertion(alice, ScramCredentialInfo(sha256, 8192), b"alice-pw"),
        UserScramCredentialUpsertion(bob, ScramCredentialInfo(sha512, 4096), b"bob-pw",
                                     salt=b"bob-salt"),
    ])
    for user, future in futures.items():
        assert future.result(timeout=TIMEOUT) is None, user
    assert credentials(client, [alice, bob]) == {
        alice: [("SCRAM_SHA_256", 8192)], bob: [("SCRAM_SHA_512", 4096)]}
    # Every user: those of this scenario among them (other scenarios may add theirs).
    everyone = client.describe_user_scram_credentials().result(timeout=TIMEOUT)
    assert {alice, bob} <= set(everyone), everyone
    # Each user on its own: a missing credential, too few iterations, a user named twice.
    futures = client.alter_user_scram_credentials([
        UserScramCredentialDeletion(carol, sha256),
        UserScramCredentialUpsertion(carol, ScramCredentialInfo(sha512, 4095), b"pw"),
        UserScramCredentialUpsertion(alice, ScramCredentialInfo(sha512, 4096), b"alice-pw"),
        UserScramCredentialDeletion(bob, sha512),
    ])
    codes = {user: error_code(future) for user, future in futures.items()}
    assert codes == {carol: DUPLICATE_RESOURCE, alice: None, bob: None}, codes
    futures = client.alter_user_scram_credentials([
        UserScramCredentialDeletion(bob, sha512),
        UserScramCredentialUpsertion(carol, ScramCredentialInfo(sha512, 4095), b"pw"),
    ])
    codes = {user: error_code(future) for user, future in futures.items()}
    assert codes == {bob: RESOURCE_NOT_FOUND, carol: UNACCEPTABLE_CREDENTIAL}, codes
    assert credentials(client, [alice, bob]) == {
        alice: [("SCRAM_SHA_256", 8192), ("SCRAM_SHA_512", 4096)], bob: RESOURCE_NOT_FOUND}


def acl(resource_type, name, pattern, principal, operation, permission):
    return AclBinding(resource_type, name, pattern, principal, "*", operation, permission)


def acl_filter(resource_type=ResourceType.ANY, name=None, pattern=ResourcePatternType.ANY,
               principal=None):
    return AclBindingFilter(resource_type, name, pattern, principal, None, AclOperation.ANY,
                            AclPermissionType.ANY)


@suite.scenario()
def acls_are_created_described_and_deleted(bootstrap):
    client = admin(bootstrap)
    prefix = unique("c-acl")
    topic = f"{prefix}-orders"
    alice, bob = f"User:{unique('alice')}", f"User:{unique('bob')}"
    reads = acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, alice,
                AclOperation.READ, AclPermissionType.ALLOW)
    denied = acl(ResourceType.TOPIC, prefix, ResourcePatternType.PREFIXED, bob,
                 AclOperation.WRITE, AclPermissionType.DENY)
    joins = acl(ResourceType.GROUP, prefix, ResourcePatternType.LITERAL, alice,
                AclOperation.READ, AclPermissionType.ALLOW)
    # No TYPE:NAME principal: refused alone, the others created.
    nameless = acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "alice",
                   AclOperation.READ, AclPermissionType.ALLOW)
    futures = client.create_acls([reads, denied, joins, nameless], request_timeout=TIMEOUT)
    codes = {str(binding): error_code(future) for binding, future in futures.items()}
    assert codes == {str(reads): None, str(denied): None, str(joins): None,
                     str(nameless): INVALID_REQUEST}, codes
    # Created again: no error, and still one of it.
    for future in client.create_acls([reads], request_timeout=TIMEOUT).values():
        future.result(timeout=TIMEOUT)

    def described(f):
        return sorted(map(str, client.describe_acls(f, request_timeout=TIMEOUT)
                          .result(timeout=TIMEOUT)))

    assert described(acl_filter(principal=alice)) == sorted(map(str, [reads, joins]))
    # MATCH: every binding that applies to the topic, the prefixed one too.
    applies = acl_filter(ResourceType.TOPIC, topic, ResourcePatternType.MATCH)
    assert described(applies) == sorted(map(str, [reads, denied]))
    # DeleteAcls: per filter, what it deleted.
    futures = client.delete_acls([acl_filter(ResourceType.TOPIC, principal=bob),
                                  acl_filter(principal=alice)], request_timeout=TIMEOUT)
    deleted = [sorted(map(str, f.result(timeout=TIMEOUT))) for f in futures.values()]
    assert deleted == [[str(denied)], sorted(map(str, [reads, joins]))], deleted
    assert described(applies) == []


if __name__ == "__main__":
    suite.main()
