#!/usr/bin/env python3
"""confluent-kafka and kafka-python against a cluster of three ringlog brokers: metadata
with every broker, partitions led by different brokers (each request must go to the
partition's leader), replication factor 3 with acks=all, committed offsets at the group's
coordinator; kcat as well.

Usage: test_cluster.py HOST:PORT,HOST:PORT,... SCENARIOS=name,name runs only those."""

import json
import subprocess
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition
from kafka.structs import OffsetAndMetadata

from scenarios import Suite, unique, wait_until

suite = Suite("cluster")
TIMEOUT = 10  # seconds
PARTITIONS = 6


def create_replicated(bootstrap, name, replication_factor=3):
    client = AdminClient({"bootstrap.servers": bootstrap})
    futures = client.create_topics(
        [NewTopic(name, num_partitions=PARTITIONS, replication_factor=replication_factor)],
        operation_timeout=TIMEOUT)
    futures[name].result(timeout=TIMEOUT)

    def ready():
        topic = client.list_topics(name, timeout=TIMEOUT).topics.get(name)
        if topic is None or topic.error is not None or len(topic.partitions) != PARTITIONS:
            return None
        partitions = topic.partitions.values()
        full = all(p.leader >= 0 and len(p.isrs) == replication_factor for p in partitions)
        return full and topic

    return wait_until(f"{name}: every partition has a leader and a full ISR", ready, seconds=20)


@suite.scenario()
def metadata_names_every_broker(bootstrap):
    client = AdminClient({"bootstrap.servers": bootstrap})
    metadata = client.list_topics(timeout=TIMEOUT)
    addresses = sorted(f"{b.host}:{b.port}" for b in metadata.brokers.values())
    assert addresses == sorted(bootstrap.split(",")), (addresses, bootstrap)
    assert metadata.controller_id in metadata.brokers, metadata.controller_id
    name = unique("cl-meta")
    topic = create_replicated(bootstrap, name)
    leaders = {p.leader for p in topic.partitions.values()}
    assert len(leaders) > 1, f"every partition of {name} is led by broker {leaders}"
    for partition in topic.partitions.values():
        assert sorted(partition.replicas) == sorted(metadata.brokers), partition.replicas


@suite.scenario(seconds=60)
def confluent_round_trip_acks_all(bootstrap):
    name = unique("cl-confluent")
    create_replicated(bootstrap, name)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "compression.type": "zstd",
                  "linger.ms": 5})
    failed = []
    for i in range(300):
        p.produce(name, key=f"key-{i}".encode(), value=f"value-{i}".encode(),
                  headers=[("i", str(i).encode())],
                  on_delivery=lambda error, message: error and failed.append(error))
        p.poll(0)
    assert p.flush(TIMEOUT) == 0 and not failed, failed
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("cl-unused"),
                  "enable.auto.commit": False})
    c.assign([TopicPartition(name, i, OFFSET_BEGINNING) for i in range(PARTITIONS)])
    got = {}
    deadline = time.monotonic() + 20
    while len(got) < 300:
        assert time.monotonic() < deadline, f"consumed {len(got)} of 300"
        message = c.poll(0.5)
        if message is None:
            continue
        if message.error() is not None:
            assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
            continue
        got[message.key()] = (message.value(), message.headers())
    for i in range(300):
        assert got[f"key-{i}".encode()] == (f"value-{i}".encode(), [("i", str(i).encode())])
    watermarks = [c.get_watermark_offsets(TopicPartition(name, i), timeout=TIMEOUT, cached=False)
                  for i in range(PARTITIONS)]
    assert sum(high for _, high in watermarks) == 300, watermarks
    c.close()


@suite.scenario(seconds=60)
def kafka_python_round_trip_and_commit(bootstrap):
    name, group = unique("cl-kafka-python"), unique("cl-group")
    create_replicated(bootstrap, name)
    p = KafkaProducer(bootstrap_servers=bootstrap.split(","), enable_idempotence=False,
                      acks="all", compression_type="gzip", linger_ms=5,
                      request_timeout_ms=TIMEOUT * 1000, max_block_ms=TIMEOUT * 1000)
    futures = [p.send(name, key=f"key-{i}".encode(), value=f"value-{i}".encode(),
                      headers=[("i", str(i).encode())]) for i in range(300)]
    p.flush(timeout=TIMEOUT)
    partitions = {f.get(timeout=TIMEOUT).partition for f in futures}
    assert len(partitions) > 1, partitions
    p.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=group,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      request_timeout_ms=TIMEOUT * 1000)
    tps = [KTopicPartition(name, i) for i in range(PARTITIONS)]
    c.assign(tps)
    got = {}
    deadline = time.monotonic() + 20
    while len(got) < 300:
        assert time.monotonic() < deadline, f"consumed {len(got)} of 300"
        for records in c.poll(timeout_ms=500).values():
            for r in records:
                got[r.key] = (r.value, r.headers)
    for i in range(300):
        assert got[f"key-{i}".encode()] == (f"value-{i}".encode(), [("i", str(i).encode())])
    # Commits at the group's coordinator, which need not lead the partitions.
    c.commit({tp: OffsetAndMetadata(1, "", -1) for tp in tps})
    assert [c.committed(tp, timeout_ms=TIMEOUT * 1000) for tp in tps] == [1] * PARTITIONS
    c.close(autocommit=False)


@suite.scenario()
def kcat_lists_every_broker_and_round_trips(bootstrap):
    metadata = json.loads(kcat(bootstrap, "-L", "-J"))
    addresses = sorted(b["name"] for b in metadata["brokers"])
    assert addresses == sorted(bootstrap.split(",")), (addresses, bootstrap)
    name = unique("cl-kcat")
    create_replicated(bootstrap, name)
    lines = "".join(f"key-{i}:value {i}\n" for i in range(60))
    kcat(bootstrap, "-P", "-t", name, "-K:", "-X", "acks=all", "-z", "lz4", stdin=lines)
    out = kcat(bootstrap, "-C", "-t", name, "-o", "beginning", "-e", "-q", "-f", "%p %k:%s\n")
    got = sorted(line.split(" ", 1)[1] for line in out.splitlines())
    assert got == sorted(f"key-{i}:value {i}" for i in range(60)), got[:5]
    assert len({line.split(" ", 1)[0] for line in out.splitlines()}) > 1, "one partition only"


def kcat(bootstrap, *args, stdin=None):
    result = subprocess.run(["kcat", "-b", bootstrap, *args], input=stdin, capture_output=True,
                            text=True, timeout=20)
    assert result.returncode == 0, (args, result.returncode, result.stderr[-2000:])
    return result.stdout


if __name__ == "__main__":
    suite.main()
