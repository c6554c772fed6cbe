//! What the crate's tests share: a seeded [`Random`].

use crate::Random;
use std::collections::VecDeque;

/// A seeded generator (splitmix64): one seed, one sequence of bytes. Nonces come from the
/// queue when a test fixes them (RFC 7677's example), from the bytes otherwise.
pub(crate) struct TestRandom {
    state: u64,
    nonces: VecDeque<String>,
}

impl TestRandom {
    pub(crate) fn new(seed: u64) -> TestRandom {
        TestRandom {
            state: seed,
            nonces: VecDeque::new(),
        }
    }

    /// The next nonce will be `nonce`.
    pub(crate) fn with_nonce(mut self, nonce: &str) -> TestRandom {
        self.nonces.push_back(nonce.to_string());
        self
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Random for TestRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn nonce(&mut self) -> String {
        match self.nonces.pop_front() {
            Some(nonce) => nonce,
            None => {
                let mut bytes = [0; crate::NONCE_RANDOM_BYTES];
                self.fill(&mut bytes);
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
            }
        }
    }
}
