#!/usr/bin/env python3
"""kafka-python against a ringlog broker's Kafka listener: admin, produce and consume round
trips with every acks and codec, assign-mode consumers, consumer groups, users' SCRAM
credentials and ACLs.

Producers keep kafka-python 3's default, enable_idempotence=True (InitProducerId, then
batches stamped with the producer id and sequences), unless they set acks to 0 or 1, which
turns idempotence off (kafka-python logs a warning saying so).

Usage: test_kafka_python.py HOST:PORT. SCENARIOS=name,name runs only those."""

import os
import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ConfigResource,
    ConfigResourceType,
    NewTopic,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.admin._users import (
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.errors import (
    InvalidConfigurationError,
    MessageSizeTooLargeError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from kafka.structs import OffsetAndMetadata

from scenarios import Suite, unique, wait_until

suite = Suite("kafka-python")
TIMEOUT_MS = 10_000  # for each blocking client call


def admin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)


def producer(bootstrap, **config):
    conf = {"bootstrap_servers": bootstrap, "linger_ms": 5,
            "request_timeout_ms": TIMEOUT_MS, "max_block_ms": TIMEOUT_MS}
    conf.update(config)
    return KafkaProducer(**conf)


def consumer(bootstrap, **config):
    conf = {"bootstrap_servers": bootstrap, "group_id": None, "enable_auto_commit": False,
            "auto_offset_reset": "earliest", "request_timeout_ms": TIMEOUT_MS,
            "consumer_timeout_ms": TIMEOUT_MS}
    conf.update(config)
    return KafkaConsumer(**conf)


def create(client, topics):
    """Creates topics ({name: {num_partitions:, replication_factor:, configs:}}) and waits
    until every partition has a leader."""
    client.create_topics(topics, timeout_ms=TIMEOUT_MS, wait_for_metadata=True)


def produce_all(p, topic, messages, partition=None):
    """Sends (key, value, headers, timestamp_ms) tuples; returns their RecordMetadata."""
    futures = [p.send(topic, key=key, value=value, headers=headers, partition=partition,
                      timestamp_ms=timestamp)
               for key, value, headers, timestamp in messages]
    p.flush(timeout=TIMEOUT_MS / 1000)
    return [f.get(timeout=TIMEOUT_MS / 1000) for f in futures]


def consume(c, count, seconds=10):
    """Polls until `count` records came; returns them in the order they came."""
    got = []
    deadline = time.monotonic() + seconds
    while len(got) < count:
        assert time.monotonic() < deadline, f"consumed {len(got)} of {count} in {seconds} s"
        for records in c.poll(timeout_ms=500).values():
            got.extend(records)
    return got


def topic_configs(client, name):
    """Every config of a topic: {name: {value, config_source, read_only, ...}}."""
    described = client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)],
                                        config_filter="all")
    return described["topic"][name]


@suite.scenario()
def admin_create_describe_alter_delete(bootstrap):
    client = admin(bootstrap)
    three, default, rf_default = unique("k-admin-3"), unique("k-admin-default"), unique("k-admin-rf")
    create(client, {
        three: {"num_partitions": 3, "replication_factor": 1,
                "configs": {"retention.ms": "3600000", "retention.bytes": "1048576"}},
        # -1: the broker's defaults (num_partitions 1, default_replication_factor 1).
        default: {"num_partitions": -1, "replication_factor": -1},
    })
    # The deprecated NewTopic form, with the broker's replication factor.
    client.create_topics([NewTopic(rf_default, num_partitions=2, replication_factor=-1)],
                         timeout_ms=TIMEOUT_MS, wait_for_metadata=True)
    described = {t["name"]: t for t in client.describe_topics([three, default, rf_default])}
    assert len(described[three]["partitions"]) == 3, described[three]
    assert len(described[default]["partitions"]) == 1, described[default]
    assert len(described[rf_default]["partitions"]) == 2, described[rf_default]
    for topic in described.values():
        assert topic["error_code"] == 0, topic
        for partition in topic["partitions"]:
            assert len(partition["replica_nodes"]) == 1, partition
    assert {three, default, rf_default} <= set(client.list_topics())

    # A duplicate, and a value ringlog does not support.
    try:
        client.create_topics({three: {"num_partitions": 1}}, timeout_ms=TIMEOUT_MS)
        raise AssertionError("a duplicate create succeeded")
    except TopicAlreadyExistsError:
        pass
    compact = unique("k-admin-compact")
    try:
        client.create_topics({compact: {"num_partitions": 1,
                                        "configs": {"cleanup.policy": "compact"}}},
                             timeout_ms=TIMEOUT_MS)
        raise AssertionError("cleanup.policy=compact was accepted")
    except InvalidConfigurationError:
        pass
    assert compact not in client.list_topics()

    # DescribeConfigs: Kafka's names, the values set, where each comes from.
    configs = topic_configs(client, three)
    assert configs["retention.ms"]["value"] == "3600000", configs["retention.ms"]
    assert configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG", configs["retention.ms"]
    assert configs["retention.bytes"]["value"] == "1048576"
    assert configs["cleanup.policy"]["value"] == "delete", configs["cleanup.policy"]
    assert configs["cleanup.policy"]["config_source"] == "DEFAULT_CONFIG"
    # The default filter, 'modified': only what was set on the topic.
    modified = client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, three)])
    assert set(modified["topic"][three]) == {"retention.ms", "retention.bytes"}, modified

    # alter_configs picks IncrementalAlterConfigs when the broker lists it and AlterConfigs
    # otherwise; with AlterConfigs it first adds the keys already set (AlterConfigs replaces a
    # topic's config whole), so retention.bytes keeps its value.
    result = client.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, three, configs={"retention.ms": "7200000"})])
    assert result == {"topic": {three: "OK"}}, result
    configs = topic_configs(client, three)
    assert configs["retention.ms"]["value"] == "7200000", configs["retention.ms"]
    assert configs["retention.bytes"]["value"] == "1048576", configs["retention.bytes"]
    # AlterConfigs named explicitly; a value ringlog does not support.
    result = client.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, three, configs={"cleanup.policy": "compact"})],
        incremental=False)
    assert result["topic"][three].startswith("[Error 40] InvalidConfigurationError"), result
    # reset_configs: retention.bytes back to the broker's default, retention.ms kept.
    result = client.reset_configs(
        [ConfigResource(ConfigResourceType.TOPIC, three, configs=["retention.bytes"])])
    assert result == {"topic": {three: "OK"}}, result
    configs = topic_configs(client, three)
    assert configs["retention.bytes"]["config_source"] == "DEFAULT_CONFIG", configs["retention.bytes"]
    assert configs["retention.ms"]["value"] == "7200000", configs["retention.ms"]

    # The broker's own configs.
    broker_id = client.describe_cluster()["brokers"][0]["broker_id"]
    broker = client.describe_configs([ConfigResource(ConfigResourceType.BROKER, str(broker_id))],
                                     config_filter="all")["broker"][str(broker_id)]
    assert broker["num.partitions"]["value"] == "1", broker.get("num.partitions")

    # DeleteTopics, and one that does not exist.
    client.delete_topics([three, default, rf_default], timeout_ms=TIMEOUT_MS)
    wait_until("deleted topics leave the metadata",
               lambda: not ({three, default, rf_default} & set(client.list_topics())))
    try:
        client.delete_topics([unique("k-admin-missing")], timeout_ms=TIMEOUT_MS)
        raise AssertionError("deleting a missing topic succeeded")
    except UnknownTopicOrPartitionError:
        pass
    client.close()


@suite.scenario()
def cluster_metadata(bootstrap):
    client = admin(bootstrap)
    cluster = client.describe_cluster()
    assert len(cluster["brokers"]) == 1, cluster
    broker = cluster["brokers"][0]
    assert f"{broker['host']}:{broker['port']}" == bootstrap, (broker, bootstrap)
    assert cluster["controller_id"] == broker["broker_id"], cluster
    # Kafka's Metadata answers carry the cluster's id from v2 on (KIP-78).
    assert cluster["cluster_id"], f"Metadata carries no cluster id: {cluster}"
    client.close()


# (acks, codec) pairs: every acks without compression, every codec with acks=all.
ROUND_TRIPS = [(0, None), (1, None), ("all", None),
               ("all", "gzip"), ("all", "snappy"), ("all", "lz4"), ("all", "zstd"),
               (1, "snappy")]


def round_trip_messages(tag, count):
    messages = []
    for i in range(count):
        key = f"{tag}-key-{i % 7}".encode()
        value = (f"{tag} value {i} " * 20).encode() + bytes((i * 37 + j) % 256 for j in range(16))
        headers = [("seq", str(i).encode()), ("tag", tag.encode()), ("seq", b"again"),
                   ("binary", bytes(range(256)))]
        messages.append((key, value, headers, None))
    # A null value (with a key: kafka-python wants one), no headers.
    messages.append((f"{tag}-tombstone".encode(), None, [], None))
    return messages


@suite.scenario(seconds=60)
def round_trips_every_acks_and_codec(bootstrap):
    name = unique("k-roundtrip")
    client = admin(bootstrap)
    create(client, {name: {"num_partitions": 3, "replication_factor": 1}})
    client.close()
    sent = {}  # partition -> [(key, value, headers)], in produce order
    for index, (acks, codec) in enumerate(ROUND_TRIPS):
        tag = f"acks{acks}-{codec}"
        p = producer(bootstrap, acks=acks, compression_type=codec)
        messages = round_trip_messages(tag, 60)
        partition = index % 3
        delivered = produce_all(p, name, messages, partition=partition)
        # acks=0 has no answer: kafka-python makes one up, with offsets counted from 0.
        if acks != 0:
            offsets = [m.offset for m in delivered]
            assert offsets == list(range(offsets[0], offsets[0] + len(offsets))), offsets
        p.close(timeout=TIMEOUT_MS / 1000)
        sent.setdefault(partition, []).extend((k, v, h) for k, v, h, _ in messages)

    c = consumer(bootstrap)
    partitions = [TopicPartition(name, p) for p in range(3)]
    c.assign(partitions)
    c.seek_to_beginning(*partitions)
    total = sum(len(v) for v in sent.values())
    got = consume(c, total, seconds=20)
    c.close()
    for partition, expected in sent.items():
        received = [r for r in got if r.partition == partition]
        assert [r.offset for r in received] == list(range(len(expected))), (
            partition, [r.offset for r in received][:10])
        for record, (key, value, headers) in zip(received, expected):
            assert record.key == key, (partition, record.offset, record.key, key)
            assert record.value == value, (partition, record.offset, (record.value or b"")[:40])
            assert list(record.headers) == headers, (partition, record.offset, record.headers)
            assert record.timestamp_type == 0 and record.timestamp > 0, record


@suite.scenario()
def idempotent_producer_stores_each_record_once(bootstrap):
    name = unique("k-idempotent")
    client = admin(bootstrap)
    create(client, {name: {"num_partitions": 2, "replication_factor": 1}})
    client.close()
    # Asked for explicitly: a conflicting config would raise instead of turning it off.
    p = producer(bootstrap, enable_idempotence=True)
    delivered = produce_all(p, name, [(None, f"i{i}".encode(), [], None) for i in range(200)])
    # kafka-python's own record of the broker's InitProducerId answer.
    given = p._transaction_manager.producer_id_and_epoch
    assert given.producer_id >= 0 and given.epoch == 0, (given.producer_id, given.epoch)
    p.close(timeout=TIMEOUT_MS / 1000)
    by_partition = {}
    for m in delivered:
        by_partition.setdefault(m.partition, []).append(m.offset)
    for partition, offsets in by_partition.items():
        assert sorted(offsets) == list(range(len(offsets))), (partition, offsets[:10])
    c = consumer(bootstrap)
    partitions = [TopicPartition(name, p) for p in range(2)]
    ends = c.end_offsets(partitions, timeout_ms=TIMEOUT_MS)
    assert sum(ends.values()) == 200, ends
    c.assign(partitions)
    c.seek_to_beginning(*partitions)
    got = consume(c, 200)
    c.close()
    assert sorted(r.value for r in got) == sorted(f"i{i}".encode() for i in range(200))


@suite.scenario()
def consumer_from_timestamp(bootstrap):
    name = unique("k-time")
    client = admin(bootstrap)
    create(client, {name: {"num_partitions": 1, "replication_factor": 1}})
    client.close()
    base = int(time.time() * 1000) - 60_000
    p = producer(bootstrap)
    produce_all(p, name, [(b"k", f"v{i}".encode(), [], base + i * 1000) for i in range(10)],
                partition=0)
    p.close()
    tp = TopicPartition(name, 0)
    c = consumer(bootstrap)
    found = c.offsets_for_times({tp: base + 5500}, timeout_ms=TIMEOUT_MS)
    assert found[tp].offset == 6 and found[tp].timestamp == base + 6000, found
    # After the last record: none.
    after = c.offsets_for_times({tp: base + 60_000}, timeout_ms=TIMEOUT_MS)
    assert after[tp] is None, after
    assert c.beginning_offsets([tp], timeout_ms=TIMEOUT_MS) == {tp: 0}
    assert c.end_offsets([tp], timeout_ms=TIMEOUT_MS) == {tp: 10}
    c.assign([tp])
    c.seek(tp, found[tp].offset)
    got = consume(c, 4)
    assert [r.offset for r in got] == [6, 7, 8, 9], [r.offset for r in got]
    assert [r.timestamp for r in got] == [base + i * 1000 for i in range(6, 10)]
    c.close()


@suite.scenario()
def consumer_resumes_from_committed_offset(bootstrap):
    name, group = unique("k-commit"), unique("k-group")
    client = admin(bootstrap)
    create(client, {name: {"num_partitions": 2, "replication_factor": 1}})
    client.close()
    p = producer(bootstrap)
    produce_all(p, name, [(None, f"p0-{i}".encode(), [], None) for i in range(10)], partition=0)
    produce_all(p, name, [(None, f"p1-{i}".encode(), [], None) for i in range(10)], partition=1)
    p.close()
    tp0, tp1 = TopicPartition(name, 0), TopicPartition(name, 1)

    first = consumer(bootstrap, group_id=group)
    assert first.committed(tp0, timeout_ms=TIMEOUT_MS) is None
    first.assign([tp0, tp1])
    first.seek_to_beginning(tp0)
    first.seek(tp1, 7)
    got = consume(first, 4 + 3)
    p0 = [r for r in got if r.partition == 0]
    assert len(p0) >= 4, got
    # Commit what was read of partition 0 up to its 4th record, and 7 (with metadata) for 1.
    first.commit({tp0: OffsetAndMetadata(4, "", -1), tp1: OffsetAndMetadata(7, "seven", -1)})
    assert first.committed(tp0, timeout_ms=TIMEOUT_MS) == 4
    committed = first.committed(tp1, metadata=True, timeout_ms=TIMEOUT_MS)
    assert committed.offset == 7 and committed.metadata == "seven", committed
    first.close(autocommit=False)

    second = consumer(bootstrap, group_id=group)
    second.assign([tp0, tp1])
    got = consume(second, 6 + 3)
    by_partition = {0: [], 1: []}
    for r in got:
        by_partition[r.partition].append(r.value)
    assert by_partition[0] == [f"p0-{i}".encode() for i in range(4, 10)], by_partition[0]
    assert by_partition[1] == [f"p1-{i}".encode() for i in range(7, 10)], by_partition[1]
    assert second.position(tp0) == 10 and second.position(tp1) == 10
    second.close(autocommit=False)

    client = admin(bootstrap)
    offsets = client.list_group_offsets({group: [tp0, tp1]})[group]
    assert {tp: o.offset for tp, o in offsets.items()} == {tp0: 4, tp1: 7}, offsets
    client.close()


@suite.scenario()
def end_offsets_and_seek_to_end(bootstrap):
    name = unique("k-marks")
    client = admin(bootstrap)
    create(client, {name: {"num_partitions": 1, "replication_factor": 1}})
    client.close()
    tp = TopicPartition(name, 0)
    c = consumer(bootstrap)
    assert c.end_offsets([tp], timeout_ms=TIMEOUT_MS) == {tp: 0}
    p = producer(bootstrap, acks=1)
    produce_all(p, name, [(None, f"v{i}".encode(), [], None) for i in range(25)], partition=0)
    assert c.end_offsets([tp], timeout_ms=TIMEOUT_MS) == {tp: 25}
    c.assign([tp])
    c.seek_to_end(tp)
    assert c.position(tp) == 25
    produce_all(p, name, [(None, b"late", [], None)], partition=0)
    got = consume(c, 1)
    assert (got[0].offset, got[0].value) == (25, b"late"), got[0]
    assert c.highwater(tp) == 26, c.highwater(tp)
    p.close()
    c.close()


@suite.scenario()
def describe_configs_by_key(bootstrap):
    client = admin(bootstrap)
    name = unique("k-keys")
    create(client, {name: {"num_partitions": 1, "configs": {"segment.bytes": "10485760"}}})
    resource = ConfigResource(ConfigResourceType.TOPIC, name,
                              configs={"segment.bytes": None, "retention.ms": None,
                                       "no.such.key": None})
    described = client.describe_configs([resource], config_filter="all")["topic"][name]
    # Keys the broker does not have are left out, as Kafka leaves them out.
    assert set(described) == {"segment.bytes", "retention.ms"}, described
    assert described["segment.bytes"]["value"] == "10485760", described["segment.bytes"]
    assert described["retention.ms"]["config_source"] == "DEFAULT_CONFIG", described["retention.ms"]
    client.close()


@suite.scenario()
def commit_positions_in_assign_mode(bootstrap):
    name, group = unique("k-commitpos"), unique("k-posgroup")
    client = admin(bootstrap)
    create(client, {name: {"num_partitions": 1}})
    client.close()
    p = producer(bootstrap)
    produce_all(p, name, [(None, f"v{i}".encode(), [], None) for i in range(6)], partition=0)
    p.close()
    tp = TopicPartition(name, 0)
    c = consumer(bootstrap, group_id=group)
    c.assign([tp])
    consume(c, 6)
    # commit() with no arguments: the positions of every assigned partition.
    c.commit()
    assert c.committed(tp, timeout_ms=TIMEOUT_MS) == 6
    c.close(autocommit=False)


@suite.scenario()
def out_of_range_offset_resets(bootstrap):
    name = unique("k-range")
    client = admin(bootstrap)
    create(client, {name: {"num_partitions": 1}})
    client.close()
    p = producer(bootstrap)
    produce_all(p, name, [(None, f"v{i}".encode(), [], None) for i in range(5)], partition=0)
    p.close()
    tp = TopicPartition(name, 0)
    # Past the end: the broker answers OFFSET_OUT_OF_RANGE and the consumer resets.
    c = consumer(bootstrap, auto_offset_reset="earliest")
    c.assign([tp])
    c.seek(tp, 1000)
    got = consume(c, 5)
    assert [r.offset for r in got] == [0, 1, 2, 3, 4], [r.offset for r in got]
    c.close()


@suite.scenario()
def large_batches_and_errors(bootstrap):
    name = unique("k-large")
    client = admin(bootstrap)
    create(client, {name: {"num_partitions": 1}})
    client.close()
    # Random values, three to a batch: a batch larger than max_partition_fetch_bytes, which
    # the broker must still send whole (KIP-74).
    values = [os.urandom(200_000) for _ in range(3)] + [f"{i}".encode() for i in range(1000)]
    p = producer(bootstrap, acks="all", compression_type="lz4", linger_ms=50,
                 batch_size=1_000_000, max_request_size=4_000_000)
    produce_all(p, name, [(None, v, [], None) for v in values], partition=0)
    c = consumer(bootstrap, max_partition_fetch_bytes=300_000, fetch_max_bytes=1_048_576)
    c.assign([TopicPartition(name, 0)])
    got = consume(c, len(values), seconds=20)
    assert [r.value for r in got] == values, "values differ"
    c.close()
    # A record larger than the broker's message_max_bytes (1 MiB + 12).
    future = p.send(name, value=os.urandom(2_000_000), partition=0)
    try:
        future.get(timeout=TIMEOUT_MS / 1000)
        raise AssertionError("a 2 MB record was accepted")
    except MessageSizeTooLargeError:
        pass
    p.close()


@suite.scenario(seconds=90)
def group_members_share_partitions_and_commit(bootstrap):
    name = unique("k-group")
    group = unique("k-members")
    client = admin(bootstrap)
    create(client, {name: {"num_partitions": 4}})
    p = producer(bootstrap)
    produce_all(p, name, [(None, f"v{i}".encode(), [], None) for i in range(40)])
    for partition in range(4):
        produce_all(p, name, [(None, f"p{partition}".encode(), [], None)], partition=partition)
    p.close()
    members = [consumer(bootstrap, group_id=group, session_timeout_ms=6000,
                        heartbeat_interval_ms=300) for _ in range(2)]
    got = {}
    lock = threading.Lock()
    stop = threading.Event()

    def run(c):
        # One thread per consumer, as applications run them. (Two kafka-python 3 consumers
        # polled in turn from one thread with short timeouts abandon and resend their
        # JoinGroups: the leader's resent join starts a new rebalance each time, as on Kafka.)
        c.subscribe([name])
        while not stop.is_set():
            for records in c.poll(timeout_ms=500).values():
                with lock:
                    for r in records:
                        got[(r.partition, r.offset)] = r.value

    threads = [threading.Thread(target=run, args=(c,)) for c in members]
    for t in threads:
        t.start()

    def shared():
        a, b = (set(tp.partition for tp in c.assignment()) for c in members)
        with lock:
            read = len(got)
        return a and b and not a & b and a | b == {0, 1, 2, 3} and read == 44

    try:
        wait_until("two members share the partitions and read every record", shared, seconds=60)
    finally:
        stop.set()
        for t in threads:
            t.join()
    for c in members:
        c.commit()
    committed = {tp.partition: members[0].committed(tp) for tp in members[0].assignment()}
    assert all(offset is not None and offset > 0 for offset in committed.values()), committed
    listed = client.list_groups()
    assert group in [g["group_id"] for g in listed], listed
    described = client.describe_groups([group])[group]
    assert described["group_state"] == "Stable" and len(described["members"]) == 2, described
    for c in members:
        c.close()
    client.close()


@suite.scenario()
def scram_credentials_and_acls(bootstrap):
    client = admin(bootstrap)
    alice, bob = unique("alice"), unique("bob")
    # kafka-python salts with PBKDF2 itself and sends the salted password.
    result = client.alter_user_scram_credentials([
        UserScramCredentialUpsertion(alice, ScramMechanism.SCRAM_SHA_256, "alice-pw",
                                     iterations=8192),
        UserScramCredentialDeletion(bob, ScramMechanism.SCRAM_SHA_512),
    ])
    assert result[alice] is None, result
    assert result[bob], result  # RESOURCE_NOT_FOUND: bob has no credential
    described = client.describe_user_scram_credentials([alice, bob])
    assert described[alice]["error"] is None, described
    infos = described[alice]["credential_infos"]
    assert [(i["mechanism"], i["iterations"]) for i in infos] == \
        [(ScramMechanism.SCRAM_SHA_256, 8192)], infos
    assert described[bob]["error"], described

    prefix = unique("p-acl")
    principal = f"User:{alice}"
    reads = ACL(principal, "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                ResourcePattern(ResourceType.TOPIC, f"{prefix}-orders"))
    writes = ACL(principal, "*", ACLOperation.WRITE, ACLPermissionType.DENY,
                 ResourcePattern(ResourceType.TOPIC, prefix, ACLResourcePatternType.PREFIXED))
    created = client.create_acls([reads, writes])
    assert not created["failed"], created
    mine = ACLFilter(principal, None, ACLOperation.ANY, ACLPermissionType.ANY,
                     ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    acls, error = client.describe_acls(mine)
    assert error.errno == 0, error
    assert sorted(a.operation.name for a in acls) == ["READ", "WRITE"], acls
    deleted = client.delete_acls([mine])
    assert len(deleted) == 1 and len(deleted[0][1]) == 2, deleted
    acls, _ = client.describe_acls(mine)
    assert acls == [], acls
    client.close()


if __name__ == "__main__":
    suite.main()
