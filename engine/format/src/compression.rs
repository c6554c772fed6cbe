//! Compression of a batch's records section, with Kafka's codecs and attribute codes.
//!
//! | code (`attributes` bits 0-2) | codec  | ringlog          | bytes after the 61-byte header                 |
//! |-----------------------------:|--------|------------------|------------------------------------------------|
//! |                            0 | none   | reads and writes | the records as they are                        |
//! |                            1 | gzip   | refused on read  |                                                |
//! |                            2 | snappy | refused on read  |                                                |
//! |                            3 | lz4    | reads and writes | one LZ4 *frame* (magic 0x184D2204, little-endian), as Kafka's `KafkaLZ4BlockOutputStream` writes it: FLG version 1 with independent blocks, no block checksums, no content size, no content checksum; BD 64 KiB blocks |
//! |                            4 | zstd   | reads and writes | one zstd frame, compression level 3 (Kafka's default) |
//! |                          5-7 | -      | refused on read  |                                                |
//!
//! Only the records section is compressed. The header stays readable: `recordCount`,
//! `lastOffsetDelta` and the timestamps describe the records inside, `batchLength` counts the
//! compressed bytes, and the CRC covers attributes to the end of the *compressed* bytes, as in
//! Kafka. So [`validate_batch`](super::batch::validate_batch) checks a compressed batch exactly as an
//! uncompressed one, without decompressing it, and a broker never needs to.
//!
//! Decompression is bounded: [`decompress`] takes the most bytes it may produce and refuses
//! data that would produce more, reading at most one byte past the limit. The codecs' own
//! buffers are bounded too: an LZ4 block is at most 8 MiB (the largest block size a frame can
//! declare), and a zstd window at most `max(8 MiB, limit)` rounded up to a power of two
//! ([`zstd_window_log_max`]).

use std::io::{self, Read};

use super::batch::COMPRESSION_MASK;

/// The zstd level batches are written with: Kafka's default.
pub const ZSTD_LEVEL: i32 = 3;
/// The smallest zstd window a reader accepts, whatever its limit: 8 MiB (log 23), enough for
/// any frame a producer at levels 1 to 19 writes.
pub const ZSTD_WINDOW_LOG_MIN: u32 = 23;
/// The largest zstd window a reader accepts: 128 MiB (log 27), zstd's own default limit.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

const _: () = assert!(ZSTD_WINDOW_LOG_MIN <= ZSTD_WINDOW_LOG_MAX);

/// A codec ringlog reads and writes. Gzip and snappy exist in Kafka but not here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Records as they are (code 0).
    #[default]
    None,
    /// The LZ4 frame format (code 3).
    Lz4,
    /// Zstandard (code 4).
    Zstd,
}

impl Compression {
    /// The code in a batch's `attributes` (bits 0-2).
    pub const fn attribute_code(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec a batch's `attributes` name; an error for gzip, snappy and the unused codes.
    pub fn from_attributes(attributes: i16) -> Result<Compression, CompressionError> {
        match attributes & COMPRESSION_MASK {
            0 => Ok(Compression::None),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            code => Err(CompressionError::UnsupportedCodec {
                code,
                name: codec_name(code),
            }),
        }
    }

    /// The codec's name, as Kafka's `compression.type` spells it.
    pub const fn name(self) -> &'static str {
        codec_name(self.attribute_code())
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Kafka's name for an attribute code.
const fn codec_name(code: i16) -> &'static str {
    match code {
        0 => "none",
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unassigned",
    }
}

/// Why compressed records could not be read. Messages name the codec and carry the numbers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressionError {
    /// The batch uses a codec ringlog does not read.
    #[error(
        "unsupported compression codec {code} ({name}): ringlog reads none (0), lz4 (3) and zstd (4)"
    )]
    UnsupportedCodec { code: i16, name: &'static str },
    /// The compressed bytes do not decode.
    #[error("{codec} data of {compressed_bytes} bytes does not decompress: {detail}")]
    Corrupt {
        codec: Compression,
        compressed_bytes: usize,
        detail: String,
    },
    /// The data decompresses to more than the caller allows.
    #[error("{codec} data of {compressed_bytes} bytes decompresses to more than {max_bytes} bytes")]
    TooLarge {
        codec: Compression,
        compressed_bytes: usize,
        max_bytes: usize,
    },
}

/// Appends `input` compressed with `codec` to `out`. [`Compression::None`] copies it.
pub fn compress(codec: Compression, input: &[u8], out: &mut Vec<u8>) {
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Lz4 => compress_lz4(input, out),
        Compression::Zstd => compress_zstd(input, out),
    }
}

fn compress_lz4(input: &[u8], out: &mut Vec<u8>) {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent)
        .block_checksums(false)
        .content_checksum(false)
        .content_size(None);
    let mut encoder = FrameEncoder::with_frame_info(info, out);
    // Writing to a Vec fails only when memory runs out, which aborts anyway.
    io::Write::write_all(&mut encoder, input).expect("lz4 into a Vec cannot fail");
    encoder.finish().expect("lz4 into a Vec cannot fail");
}

fn compress_zstd(input: &[u8], out: &mut Vec<u8>) {
    let compressed =
        zstd::bulk::compress(input, ZSTD_LEVEL).expect("zstd at a valid level cannot fail");
    out.extend_from_slice(&compressed);
}

/// Decompresses `input`, refusing data that produces more than `max_bytes` (see the module
/// doc for what else is bounded). [`Compression::None`] copies it, under the same limit.
pub fn decompress(
    codec: Compression,
    input: &[u8],
    max_bytes: usize,
) -> Result<Vec<u8>, CompressionError> {
    let corrupt = |error: io::Error| CompressionError::Corrupt {
        codec,
        compressed_bytes: input.len(),
        detail: error.to_string(),
    };
    let mut out = Vec::new();
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            input.len()
        }
        Compression::Lz4 => {
            let decoder = lz4_flex::frame::FrameDecoder::new(input);
            read_bounded(decoder, max_bytes, &mut out).map_err(corrupt)?
        }
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(input).map_err(corrupt)?;
            decoder
                .window_log_max(zstd_window_log_max(max_bytes))
                .map_err(corrupt)?;
            read_bounded(decoder, max_bytes, &mut out).map_err(corrupt)?
        }
    };
    if out.len() > max_bytes {
        return Err(CompressionError::TooLarge {
            codec,
            compressed_bytes: input.len(),
            max_bytes,
        });
    }
    Ok(out)
}

/// Reads at most `max_bytes + 1` bytes, so the caller can tell "exactly at the limit" from
/// "over it" without reading (or allocating for) the rest.
fn read_bounded(reader: impl Read, max_bytes: usize, out: &mut Vec<u8>) -> io::Result<usize> {
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader.take(limit).read_to_end(out)
}

/// The largest zstd window (as a power of two) a reader with this output limit accepts:
/// enough for the limit itself, never below [`ZSTD_WINDOW_LOG_MIN`] nor above
/// [`ZSTD_WINDOW_LOG_MAX`].
pub fn zstd_window_log_max(max_bytes: usize) -> u32 {
    let needed = usize::BITS - max_bytes.saturating_sub(1).leading_zeros();
    needed.clamp(ZSTD_WINDOW_LOG_MIN, ZSTD_WINDOW_LOG_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compressible bytes: a repeating record-like pattern.
    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| b"ringlog-record-"[i % 15] ^ (i / 4096) as u8)
            .collect()
    }

    #[test]
    fn attribute_codes_are_kafkas() {
        assert_eq!(Compression::None.attribute_code(), 0);
        assert_eq!(Compression::Lz4.attribute_code(), 3);
        assert_eq!(Compression::Zstd.attribute_code(), 4);
        for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
            // Bits above the codec (timestamp type, transactional, control) do not matter.
            let attributes = codec.attribute_code() | 0x30;
            assert_eq!(Compression::from_attributes(attributes), Ok(codec));
        }
    }

    #[test]
    fn gzip_snappy_and_unassigned_codes_are_refused_by_name() {
        let gzip = Compression::from_attributes(1).unwrap_err();
        assert_eq!(
            gzip.to_string(),
            "unsupported compression codec 1 (gzip): ringlog reads none (0), lz4 (3) and zstd (4)"
        );
        let snappy = Compression::from_attributes(2).unwrap_err();
        assert_eq!(
            snappy,
            CompressionError::UnsupportedCodec {
                code: 2,
                name: "snappy"
            }
        );
        for code in 5..=7 {
            assert_eq!(
                Compression::from_attributes(code),
                Err(CompressionError::UnsupportedCodec {
                    code,
                    name: "unassigned"
                })
            );
        }
    }

    #[test]
    fn every_codec_round_trips_small_empty_and_multi_block_inputs() {
        for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
            // 200 KiB spans several 64 KiB lz4 blocks.
            for len in [0, 1, 100, 200 * 1024] {
                let input = sample(len);
                let mut compressed = Vec::new();
                compress(codec, &input, &mut compressed);
                let output = decompress(codec, &compressed, len).unwrap();
                assert_eq!(output, input, "{codec} of {len} bytes");
            }
        }
    }

    #[test]
    fn compression_appends_to_what_is_already_there() {
        let mut out = b"header".to_vec();
        compress(Compression::Zstd, &sample(1000), &mut out);
        assert_eq!(&out[..6], b"header");
        assert_eq!(
            decompress(Compression::Zstd, &out[6..], 1000).unwrap(),
            sample(1000)
        );
    }

    #[test]
    fn lz4_writes_kafkas_frame_descriptor() {
        let mut out = Vec::new();
        compress(Compression::Lz4, b"hello hello hello", &mut out);
        // Magic 0x184D2204 little-endian, FLG 0x60 (version 01, independent blocks, nothing
        // else), BD 0x40 (64 KiB), then the descriptor checksum: Kafka's exact header.
        assert_eq!(&out[..6], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40]);
        // Ends with the 4-byte end mark and no content checksum.
        assert_eq!(&out[out.len() - 4..], &[0, 0, 0, 0]);
    }

    #[test]
    fn zstd_writes_a_standard_frame() {
        let mut out = Vec::new();
        compress(Compression::Zstd, b"hello", &mut out);
        assert_eq!(&out[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    }

    #[test]
    fn output_over_the_limit_is_refused_with_the_numbers() {
        for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
            let mut compressed = Vec::new();
            compress(codec, &sample(10_000), &mut compressed);
            assert_eq!(
                decompress(codec, &compressed, 10_000).unwrap().len(),
                10_000
            );
            let error = decompress(codec, &compressed, 9_999).unwrap_err();
            assert_eq!(
                error,
                CompressionError::TooLarge {
                    codec,
                    compressed_bytes: compressed.len(),
                    max_bytes: 9_999
                }
            );
            assert_eq!(
                error.to_string(),
                format!(
                    "{codec} data of {} bytes decompresses to more than 9999 bytes",
                    compressed.len()
                )
            );
        }
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compress to a few KiB; reading them back under a 1 MiB limit must
        // refuse without producing the 64 MiB.
        let zeros = vec![0u8; 64 << 20];
        for codec in [Compression::Lz4, Compression::Zstd] {
            let mut compressed = Vec::new();
            compress(codec, &zeros, &mut compressed);
            assert!(compressed.len() < 1 << 20, "{codec}: {}", compressed.len());
            let error = decompress(codec, &compressed, 1 << 20).unwrap_err();
            assert!(
                matches!(error, CompressionError::TooLarge { max_bytes, .. } if max_bytes == 1 << 20),
                "{error}"
            );
        }
    }

    #[test]
    fn corrupt_data_is_an_error_naming_the_codec() {
        for codec in [Compression::Lz4, Compression::Zstd] {
            let mut compressed = Vec::new();
            compress(codec, &sample(5000), &mut compressed);
            // A damaged magic number, and a frame cut in the middle.
            let mut damaged = compressed.clone();
            damaged[0] ^= 0xff;
            let cut = &compressed[..compressed.len() / 2];
            for bad in [&damaged[..], cut] {
                let error = decompress(codec, bad, 1 << 20).unwrap_err();
                let CompressionError::Corrupt {
                    codec: named,
                    compressed_bytes,
                    ..
                } = &error
                else {
                    panic!("{codec}: expected corrupt, got {error}");
                };
                assert_eq!(*named, codec);
                assert_eq!(*compressed_bytes, bad.len());
                assert!(
                    error.to_string().starts_with(&format!("{codec} data of ")),
                    "{error}"
                );
            }
        }
    }

    #[test]
    fn zstd_window_limit_follows_the_output_limit_within_bounds() {
        assert_eq!(zstd_window_log_max(0), ZSTD_WINDOW_LOG_MIN);
        assert_eq!(zstd_window_log_max(1 << 20), ZSTD_WINDOW_LOG_MIN);
        assert_eq!(zstd_window_log_max((16 << 20) + 1), 25);
        assert_eq!(zstd_window_log_max(1 << 25), 25);
        assert_eq!(zstd_window_log_max(usize::MAX), ZSTD_WINDOW_LOG_MAX);
    }

    proptest::proptest! {
        #[test]
        fn decompressing_arbitrary_bytes_never_panics(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            for codec in [Compression::Lz4, Compression::Zstd] {
                let _ = decompress(codec, &bytes, 1 << 16);
            }
        }
    }
}
