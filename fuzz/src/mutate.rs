//! A small deterministic mutator for the corpus test (`tests/corpus.rs`): libFuzzer is not
//! linked there, so each seed is mutated by a seeded generator (byte flips, interesting values,
//! inserted/deleted/duplicated ranges, splices with another seed, and text-aware edits that
//! keep JSON/TOML mostly well formed: digits, quotes, brackets, hex case).

/// xorshift64*: deterministic, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"0",
    b"-1",
    b"18446744073709551615",
    b"18446744073709551616",
    b"340282366920938463463374607431768211456",
    b"4294967295",
    b"65535",
    b"65536",
    b"null",
    b"true",
    b"\"\"",
    b"[]",
    b"{}",
    b"0x",
    b"0X",
    b"\\u0000",
    b"1e400",
    b"\xff\xfe",
];

/// Returns a mutation of `input` (`other` is another seed to splice with).
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = out.len();
        let at = if len == 0 { 0 } else { rng.below(len) };
        match rng.below(11) {
            0 if len > 0 => out[at] ^= 1 << rng.below(8),
            1 if len > 0 => out[at] = rng.next_u64() as u8,
            2 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, v.iter().copied());
            }
            3 if len > 0 => {
                let end = (at + 1 + rng.below(64)).min(len);
                out.drain(at..end);
            }
            4 if len > 0 => {
                let end = (at + 1 + rng.below(256)).min(len);
                let chunk = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, chunk);
            }
            5 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(512)).min(other.len());
                let end_here = (at + rng.below(512)).min(len);
                out.splice(at..end_here, other[from..end].iter().copied());
            }
            6 if len > 0 => {
                // A digit changed, or a number replaced by an interesting one.
                if let Some(p) = (at..len).chain(0..at).find(|&i| out[i].is_ascii_digit()) {
                    out[p] = b'0' + rng.below(10) as u8;
                }
            }
            7 if len > 0 => {
                // Hex case flipped: the same bytes in another spelling.
                if let Some(p) = (at..len).chain(0..at).find(|&i| out[i].is_ascii_hexdigit()) {
                    out[p] ^= 0x20 * u8::from(out[p].is_ascii_alphabetic());
                }
            }
            8 if len > 0 => {
                // A structural character removed or added.
                let s = [b'"', b',', b'[', b']', b'{', b'}', b':', b'=', b'\n'][rng.below(9)];
                if rng.below(2) == 0 {
                    out.insert(at, s);
                } else if let Some(p) = (at..len).chain(0..at).find(|&i| out[i] == s) {
                    out.remove(p);
                }
            }
            9 => out.truncate(at),
            _ if len > 0 => {
                // A whole line repeated (JSON Lines, TOML keys, pretty JSON members).
                let start = out[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = out[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(len, |i| at + i + 1);
                let line = out[start..end].to_vec();
                out.splice(end..end, line);
            }
            _ => out.push(rng.next_u64() as u8),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_differ_from_the_input() {
        let seed = br#"{"a": [1, 2, "0xabcdef"], "b": true}"#;
        let run = |s| {
            let mut rng = Rng::new(s);
            (0..100)
                .map(|_| mutate(&mut rng, seed, b"other seed"))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let changed = run(7).iter().filter(|m| m.as_slice() != seed).count();
        assert!(
            changed > 90,
            "only {changed} of 100 mutations changed the input"
        );
    }
}
