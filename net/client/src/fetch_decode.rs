//! Fetched record bytes to [`ConsumerRecord`]s. Pure.
//!
//! Every batch is validated whole first (header fields, length, CRC-32C) with
//! `ringlog-format`'s [`BatchIter`], then decompressed (within `max_decompressed_bytes`) and its records read with
//! [`RecordIter`]. Keys, values and header values are [`Bytes`] slices of the fetch response
//! (uncompressed batches) or of the decompressed buffer: no copy per record.
//!
//! A batch that fails any check is rejected whole, with an error naming the topic, partition
//! and the batch's offset; the records of the batches before it are kept. Records before the
//! fetch offset (a batch may start before it) are skipped. An incomplete batch at the end (a
//! broker may cut the last one at `max_bytes`) is left for the next fetch.

use std::sync::Arc;

use bytes::Bytes;
use ringlog_format::{
    BatchError, BatchHeader, BatchInfo, BatchIter, Compression, HEADER_LEN, RecordError,
    RecordIter, compression,
};
use ringlog_format::{LeaderEpoch, Offset, Timestamp};
use ringlog_replication::TopicPartition;

use crate::error::ClientError;

/// A record read from a partition. Key, value and header values share the fetched (or
/// decompressed) buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic it was read from (shared by the records of a fetch).
    pub topic: Arc<str>,
    /// The partition it was read from.
    pub partition: u32,
    /// Its offset in the partition.
    pub offset: Offset,
    /// Its timestamp as the producer set it.
    pub timestamp: Timestamp,
    /// The epoch of the leader that appended it; `None` if not stamped.
    pub leader_epoch: Option<LeaderEpoch>,
    /// `None`: Kafka's null key.
    pub key: Option<Bytes>,
    /// `None`: Kafka's null value (a tombstone).
    pub value: Option<Bytes>,
    /// Header keys and values, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// What one partition's fetched bytes held.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    /// At or after the fetch offset, in offset order.
    pub records: Vec<ConsumerRecord>,
    /// The offset after the last batch read whole; `None` if none was.
    pub next_offset: Option<Offset>,
    /// The epoch of the last batch read whole.
    pub last_epoch: Option<LeaderEpoch>,
    /// The batch that stopped the reading, if one was rejected.
    pub error: Option<ClientError>,
}

/// Decodes the batches of `records`, fetched for `topic_partition` at offset `from`.
pub(crate) fn decode_records(
    topic_partition: &TopicPartition,
    records: &Bytes,
    from: Offset,
    max_decompressed_bytes: usize,
) -> Decoded {
    let mut decoded = Decoded::default();
    // One topic name for all the records: a reference count each, not a copy.
    let topic: Arc<str> = Arc::from(topic_partition.topic.as_str());
    let mut batches = BatchIter::new(records, u32::MAX);
    while let Some(item) = batches.next() {
        let info = match item {
            Ok(info) => info,
            Err(BatchError::Truncated { .. }) if batches.position() > 0 => break,
            Err(source) => {
                let offset = BatchHeader::decode(&records[batches.position()..])
                    .map_or(from.as_i64(), |header| header.base_offset);
                decoded.error = Some(ClientError::CorruptBatch {
                    topic_partition: topic_partition.clone(),
                    offset,
                    source: source.into(),
                });
                break;
            }
        };
        if info.header.next_offset() <= from.as_i64() {
            continue;
        }
        let before = decoded.records.len();
        let batch = Batch {
            topic: &topic,
            partition: topic_partition.partition,
            records,
            info: &info,
        };
        match decode_batch(batch, from, max_decompressed_bytes, &mut decoded.records) {
            Ok(()) => {
                decoded.next_offset = Some(offset(info.header.next_offset()));
                decoded.last_epoch = epoch(info.header.partition_leader_epoch);
            }
            Err(source) => {
                // A batch is rejected whole: none of its records go out.
                decoded.records.truncate(before);
                decoded.error = Some(ClientError::CorruptBatch {
                    topic_partition: topic_partition.clone(),
                    offset: info.header.base_offset,
                    source,
                });
                break;
            }
        }
    }
    decoded
}

/// One validated batch of a fetched partition's records.
struct Batch<'a> {
    topic: &'a Arc<str>,
    partition: u32,
    /// The partition's record bytes, which hold the batch at `info.range`.
    records: &'a Bytes,
    info: &'a BatchInfo,
}

/// Pushes the records of `batch` at or after `from` onto `out`; on an error some may have
/// been pushed.
fn decode_batch(
    batch: Batch<'_>,
    from: Offset,
    max_decompressed_bytes: usize,
    out: &mut Vec<ConsumerRecord>,
) -> Result<(), RecordError> {
    let Batch {
        topic,
        partition,
        records,
        info,
    } = batch;
    let header = info.header;
    let section = records.slice(info.range.start + HEADER_LEN..info.range.end);
    let section = match Compression::from_attributes(header.attributes)? {
        Compression::None => section,
        codec => Bytes::from(compression::decompress(
            codec,
            &section,
            max_decompressed_bytes,
        )?),
    };
    out.reserve(usize::try_from(header.record_count).unwrap_or(0));
    for view in RecordIter::over_records(header, &section) {
        let view = view?;
        if view.offset < from.as_i64() {
            continue;
        }
        let mut headers = Vec::with_capacity(view.header_count());
        for item in view.headers() {
            let (key, value) = item?;
            headers.push((key.to_string(), value.map(|v| section.slice_ref(v))));
        }
        out.push(ConsumerRecord {
            topic: Arc::clone(topic),
            partition,
            offset: offset(view.offset),
            timestamp: Timestamp(view.timestamp),
            leader_epoch: epoch(header.partition_leader_epoch),
            key: view.key.map(|key| section.slice_ref(key)),
            value: view.value.map(|value| section.slice_ref(value)),
            headers,
        });
    }
    Ok(())
}

/// Validation refuses negative offsets, so every offset here converts.
fn offset(offset: i64) -> Offset {
    Offset(u64::try_from(offset).expect("validated offsets are not negative"))
}

fn epoch(epoch: i32) -> Option<LeaderEpoch> {
    u32::try_from(epoch).ok().map(LeaderEpoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_format::{BatchBuilder, Record, batch};

    fn batch(base_offset: i64, values: &[&[u8]], codec: Compression) -> Vec<u8> {
        let mut builder = BatchBuilder::new().with_compression(codec);
        for (i, value) in values.iter().enumerate() {
            builder.push(&Record {
                key: Some(b"k"),
                value: Some(value),
                headers: &[],
                timestamp: 1_000 + i as i64,
            });
        }
        let mut bytes = builder.finish();
        batch::set_base_offset(&mut bytes, base_offset);
        batch::set_partition_leader_epoch(&mut bytes, 4);
        bytes
    }

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 3)
    }

    fn values(decoded: &Decoded) -> Vec<(u64, Vec<u8>)> {
        decoded
            .records
            .iter()
            .map(|r| (r.offset.0, r.value.as_deref().unwrap().to_vec()))
            .collect()
    }

    #[test]
    fn batches_of_every_codec_decode_in_offset_order() {
        let mut bytes = batch(10, &[b"a", b"b"], Compression::None);
        bytes.extend(batch(12, &[b"c"], Compression::Lz4));
        bytes.extend(batch(13, &[b"d", b"e"], Compression::Zstd));
        let decoded = decode_records(&tp(), &Bytes::from(bytes), Offset(10), 1 << 20);
        assert!(decoded.error.is_none(), "{:?}", decoded.error);
        let expected: Vec<(u64, Vec<u8>)> = [(10, "a"), (11, "b"), (12, "c"), (13, "d"), (14, "e")]
            .iter()
            .map(|(o, v)| (*o, v.as_bytes().to_vec()))
            .collect();
        assert_eq!(values(&decoded), expected);
        assert_eq!(decoded.next_offset, Some(Offset(15)));
        assert_eq!(decoded.last_epoch, Some(LeaderEpoch(4)));
        let first = &decoded.records[0];
        assert_eq!((&*first.topic, first.partition), ("orders", 3));
        assert_eq!(first.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(first.timestamp, Timestamp(1_000));
    }

    #[test]
    fn records_before_the_fetch_offset_are_skipped() {
        let mut bytes = batch(0, &[b"a", b"b"], Compression::None);
        bytes.extend(batch(2, &[b"c", b"d", b"e"], Compression::Lz4));
        let decoded = decode_records(&tp(), &Bytes::from(bytes), Offset(3), 1 << 20);
        assert_eq!(values(&decoded), [(3, b"d".to_vec()), (4, b"e".to_vec())]);
        assert_eq!(decoded.next_offset, Some(Offset(5)));
    }

    #[test]
    fn uncompressed_values_are_slices_of_the_fetched_bytes() {
        let bytes = Bytes::from(batch(0, &[b"value"], Compression::None));
        let decoded = decode_records(&tp(), &bytes, Offset(0), 1 << 20);
        let value = decoded.records[0].value.as_ref().unwrap();
        let start = value.as_ptr() as usize - bytes.as_ptr() as usize;
        assert!(start + value.len() <= bytes.len());
    }

    #[test]
    fn a_crc_mismatch_rejects_the_batch_naming_topic_partition_and_offset() {
        let mut bytes = batch(5, &[b"good"], Compression::None);
        bytes.extend(batch(6, &[b"bad"], Compression::Zstd));
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        let decoded = decode_records(&tp(), &Bytes::from(bytes), Offset(5), 1 << 20);
        assert_eq!(values(&decoded), [(5, b"good".to_vec())]);
        assert_eq!(decoded.next_offset, Some(Offset(6)));
        let error = decoded.error.unwrap();
        assert!(
            matches!(
                &error,
                ClientError::CorruptBatch {
                    offset: 6,
                    source: RecordError::Batch(BatchError::CrcMismatch { .. }),
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with("orders-3: batch at offset 6 rejected: crc mismatch (stored 0x"),
            "{error}"
        );
    }

    #[test]
    fn an_unsupported_codec_or_oversized_batch_is_rejected_by_offset() {
        let mut gzip = batch(7, &[b"x"], Compression::None);
        gzip[batch::ATTRIBUTES_AT + 1] |= 1;
        batch::stamp_crc(&mut gzip);
        let decoded = decode_records(&tp(), &Bytes::from(gzip), Offset(7), 1 << 20);
        assert_eq!(
            decoded.error.unwrap().to_string(),
            "orders-3: batch at offset 7 rejected: unsupported compression codec 1 (gzip): ringlog reads none (0), lz4 (3) and zstd (4)"
        );
        let big = batch(9, &[&[0u8; 10_000]], Compression::Lz4);
        let decoded = decode_records(&tp(), &Bytes::from(big), Offset(9), 1_000);
        let error = decoded.error.unwrap();
        assert!(
            error
                .to_string()
                .starts_with("orders-3: batch at offset 9 rejected: lz4 data of"),
            "{error}"
        );
        assert!(decoded.records.is_empty());
    }

    #[test]
    fn a_batch_whose_records_do_not_decode_is_rejected_whole_after_the_good_batches() {
        let mut bytes = batch(0, &[b"a"], Compression::None);
        // Claims three records but holds two: the third does not decode (the CRC is right).
        let mut short = batch(1, &[b"b", b"c"], Compression::None);
        short[batch::LAST_OFFSET_DELTA_AT..][..4].copy_from_slice(&2i32.to_be_bytes());
        short[batch::RECORD_COUNT_AT..][..4].copy_from_slice(&3i32.to_be_bytes());
        batch::stamp_crc(&mut short);
        bytes.extend(short);
        let decoded = decode_records(&tp(), &Bytes::from(bytes), Offset(0), 1 << 20);
        assert_eq!(values(&decoded), [(0, b"a".to_vec())]);
        assert_eq!(decoded.next_offset, Some(Offset(1)));
        let error = decoded.error.unwrap().to_string();
        assert!(
            error.starts_with("orders-3: batch at offset 1 rejected"),
            "{error}"
        );
    }

    #[test]
    fn a_partial_last_batch_waits_for_the_next_fetch() {
        let mut bytes = batch(0, &[b"a"], Compression::None);
        let second = batch(1, &[b"b"], Compression::None);
        bytes.extend_from_slice(&second[..second.len() - 3]);
        let decoded = decode_records(&tp(), &Bytes::from(bytes), Offset(0), 1 << 20);
        assert_eq!(values(&decoded), [(0, b"a".to_vec())]);
        assert!(decoded.error.is_none());
        assert_eq!(decoded.next_offset, Some(Offset(1)));
        // Alone, a cut batch is an error: the fetch can make no progress.
        let cut = Bytes::copy_from_slice(&second[..second.len() - 3]);
        let decoded = decode_records(&tp(), &cut, Offset(1), 1 << 20);
        assert!(matches!(
            decoded.error,
            Some(ClientError::CorruptBatch { offset: 1, .. })
        ));
    }
}
