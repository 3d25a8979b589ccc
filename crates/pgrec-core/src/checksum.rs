//! The checksum of serving files (`store`): damage on disk is found before a file is served.

/// Where the header keeps the file's checksum (the last 8 of its reserved bytes).
pub const CHECKSUM_AT: usize = 56;

/// The checksum of a serving file: 64 bits over every byte of the file, its own field read as
/// zero. Four lanes take little-endian u64 words in turn, each step [`mix`]`(lane ^ word)`: for a
/// given word every step is a bijection of the lane, so a change to any one word (a flipped bit,
/// a byte overwritten) always changes the result; other damage goes unseen with odds of about
/// 2^-64 (no few-bit pattern cancels whatever the data: see [`mix`]). The length is mixed in, so
/// a cut or an extension is seen too. Two multiplies per 8 bytes on four independent chains.
#[derive(Clone, Debug)]
pub struct Checksum {
    lanes: [u64; 4],
    buf: [u8; 32],
    filled: usize,
    len: u64,
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xBF58_476D_1CE4_E5B9;

/// One step: multiply, fold the high half down, multiply again (each a bijection). A step of
/// `x * K` alone, rotated, let two flips cancel whatever the data: a multiply by an odd number
/// turns a flip of bit 63 into a flip of bit 63 and nothing else, the rotation by 29 moved it to
/// bit 28, and a flip of bit 28 of the lane's next word undid it (bit 7 of byte b and bit 4 of
/// byte b + 28 went unseen). Folded down before the second multiply, a difference reaches that
/// multiply's low bits, where its carries spread it over the word as the data decide.
#[inline(always)]
fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(K);
    (x ^ (x >> 32)).wrapping_mul(K2)
}

impl Default for Checksum {
    fn default() -> Self {
        Self::new()
    }
}

impl Checksum {
    pub fn new() -> Self {
        Checksum {
            lanes: [
                0x243F_6A88_85A3_08D3,
                0x1319_8A2E_0370_7344,
                0xA409_3822_299F_31D0,
                0x082E_FA98_EC4E_6C89,
            ],
            buf: [0; 32],
            filled: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn block(lanes: &mut [u64; 4], b: &[u8]) {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            *lane = mix(*lane ^ u64::from_le_bytes(w));
        }
    }

    /// Feeds the next bytes of the file (in file order, any split).
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.filled > 0 {
            let take = (32 - self.filled).min(bytes.len());
            self.buf[self.filled..self.filled + take].copy_from_slice(&bytes[..take]);
            self.filled += take;
            bytes = &bytes[take..];
            if self.filled < 32 {
                return;
            }
            let buf = self.buf;
            Self::block(&mut self.lanes, &buf);
            self.filled = 0;
        }
        let mut chunks = bytes.chunks_exact(32);
        for c in &mut chunks {
            Self::block(&mut self.lanes, c);
        }
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// Feeds `n` zero bytes.
    pub fn zeros(&mut self, mut n: usize) {
        const Z: [u8; 4096] = [0; 4096];
        while n > 0 {
            let take = n.min(Z.len());
            self.update(&Z[..take]);
            n -= take;
        }
    }

    pub fn finish(&self) -> u64 {
        let mut lanes = self.lanes;
        if self.filled > 0 {
            let mut last = [0u8; 32];
            last[..self.filled].copy_from_slice(&self.buf[..self.filled]);
            Self::block(&mut lanes, &last);
        }
        let mut h = self.len.wrapping_mul(K);
        for l in lanes {
            h = mix(h ^ l);
        }
        h ^= h >> 32;
        h.wrapping_mul(K)
    }
}

/// The checksum of a whole file, its checksum field read as zero.
pub fn checksum_of(bytes: &[u8]) -> u64 {
    let mut c = Checksum::new();
    if bytes.len() < CHECKSUM_AT + 8 {
        c.update(bytes);
    } else {
        c.update(&bytes[..CHECKSUM_AT]);
        c.zeros(8);
        c.update(&bytes[CHECKSUM_AT + 8..]);
    }
    c.finish()
}

/// Whether a file's bytes are the ones its writer checksummed. Serving calls it once per
/// backend and file, before `parse`, on files read from disk; `parse` checks the layout only.
pub fn verify(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < CHECKSUM_AT + 8 {
        return Err("the file is truncated in its header".into());
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&bytes[CHECKSUM_AT..CHECKSUM_AT + 8]);
    if u64::from_le_bytes(stored) != checksum_of(bytes) {
        return Err("the file's checksum does not match its bytes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::mix64;

    fn file(len: usize, seed: u64) -> Vec<u8> {
        let mut b: Vec<u8> = (0..len as u64)
            .map(|i| mix64(seed ^ (i << 8)) as u8)
            .collect();
        let sum = checksum_of(&b);
        b[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
        b
    }

    #[test]
    fn streaming_in_any_split_equals_one_pass() {
        let b = file(1000, 1);
        let mut whole = Checksum::new();
        whole.update(&b);
        for split in [0, 1, 31, 32, 33, 500, 999, 1000] {
            let mut c = Checksum::new();
            c.update(&b[..split]);
            c.update(&b[split..]);
            assert_eq!(c.finish(), whole.finish(), "split at {split}");
        }
        let mut z = Checksum::new();
        z.zeros(70);
        let mut zz = Checksum::new();
        zz.update(&[0u8; 70]);
        assert_eq!(z.finish(), zz.finish());
    }

    #[test]
    fn every_single_bit_flip_and_every_cut_is_found() {
        let b = file(640, 2);
        assert!(verify(&b).is_ok());
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut d = b.clone();
                d[i] ^= 1 << bit;
                assert!(
                    verify(&d).is_err(),
                    "a flip of bit {bit} of byte {i} went unseen"
                );
            }
        }
        for cut in 0..b.len() {
            assert!(verify(&b[..cut]).is_err(), "a cut at {cut} went unseen");
        }
        let mut longer = b.clone();
        longer.extend_from_slice(&[0; 64]);
        assert!(verify(&longer).is_err(), "appended zeros went unseen");
    }

    /// Every pair of bit flips over four blocks (so across every lane's next words) is found;
    /// bit 7 of byte b with bit 4 of byte b + 28 was not, with a step of one multiply.
    #[test]
    fn every_two_bit_flip_is_found() {
        let b = file(192, 4);
        let base = checksum_of(&b);
        // past the checksum field: 128 bytes, 1024 bits, 523,776 pairs
        let (lo, n) = (64, 128 * 8);
        let mut d = b.clone();
        for x in 0..n {
            d[lo + x / 8] ^= 1 << (x % 8);
            for y in x + 1..n {
                d[lo + y / 8] ^= 1 << (y % 8);
                assert_ne!(
                    checksum_of(&d),
                    base,
                    "flips of bit {} of byte {} and bit {} of byte {} went unseen",
                    x % 8,
                    lo + x / 8,
                    y % 8,
                    lo + y / 8
                );
                d[lo + y / 8] ^= 1 << (y % 8);
            }
            d[lo + x / 8] ^= 1 << (x % 8);
        }
    }

    #[test]
    fn swapped_words_are_found() {
        let b = file(256, 3);
        let mut d = b.clone();
        // two words of the same lane, and two of different lanes
        for (x, y) in [(64, 96), (64, 72)] {
            d[..].copy_from_slice(&b);
            for k in 0..8 {
                d.swap(x + k, y + k);
            }
            assert!(
                verify(&d).is_err(),
                "swapping the words at {x} and {y} went unseen"
            );
        }
    }
}
