//! The batch format, pure (no IO): building a batch and validating one, against the memory
//! work they cannot avoid, in one run.
//!
//! - `format/build_100Bx1000`: `BatchBuilder` with 1000 records of 100 bytes, against
//!   `raw_copy`: copying the same 1000 values back to back into a reused buffer.
//! - `format/validate_100Bx1000`: `validate_batch` of that batch (header checks and the
//!   CRC-32C), against `raw_crc32c` over the same bytes.
//!
//! The index lookup is benched in `index_lookup.rs`, the wire codec in `wire.rs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringlog_bench::batch_template;
use ringlog_engine::format::batch::validate_batch;
use ringlog_engine::format::{BatchBuilder, Record, crc32c};

const RECORDS: usize = 1000;
const VALUE_SIZE: usize = 100;

fn format(c: &mut Criterion) {
    let template = batch_template(RECORDS, VALUE_SIZE);
    let value = vec![7u8; VALUE_SIZE];
    let mut group = c.benchmark_group("format");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(template.len() as u64));

    let mut builder = BatchBuilder::with_capacity(template.len());
    let mut out = Vec::with_capacity(template.len());
    group.bench_function("build_100Bx1000/ringlog", |b| {
        b.iter(|| {
            for _ in 0..RECORDS {
                builder.push(&Record {
                    key: None,
                    value: Some(black_box(&value)),
                    headers: &[],
                    timestamp: 1_700_000_000_000,
                });
            }
            out.clear();
            builder.finish_into(&mut out);
            black_box(&out);
        })
    });
    group.bench_function("build_100Bx1000/raw_copy", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..RECORDS {
                out.extend_from_slice(black_box(&value));
            }
            black_box(&out);
        })
    });
    group.bench_function("validate_100Bx1000/ringlog", |b| {
        b.iter(|| validate_batch(black_box(&template), u32::MAX).expect("valid batch"))
    });
    group.bench_function("validate_100Bx1000/raw_crc32c", |b| {
        b.iter(|| crc32c(black_box(&template)))
    });
    group.finish();
}

criterion_group!(benches, format);
criterion_main!(benches);
