//! The PGP word list: bytes as words people can read aloud (a fingerprint, a digest).
//!
//! Each byte becomes one word, from the two-syllable "even" list at even positions (0, 2, 4, …)
//! and from the three-syllable "odd" list at odd positions, so a swapped, doubled or dropped
//! word is heard as wrong. The list is committed as data (`pgp_words.txt`, with its origin).

use std::sync::OnceLock;

const DATA: &str = include_str!("pgp_words.txt");

struct Lists {
    even: Vec<&'static str>,
    odd: Vec<&'static str>,
}

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| {
        let mut even = Vec::with_capacity(256);
        let mut odd = Vec::with_capacity(256);
        for line in DATA
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut parts = line.split_whitespace();
            let (Some(e), Some(o), None) = (parts.next(), parts.next(), parts.next()) else {
                panic!("pgp_words.txt: malformed line {line:?}");
            };
            even.push(e);
            odd.push(o);
        }
        assert_eq!(even.len(), 256, "pgp_words.txt must hold 256 lines");
        Lists { even, odd }
    })
}

/// The word for byte `b` at position `position` of a sequence.
pub fn word(position: usize, b: u8) -> &'static str {
    let l = lists();
    if position.is_multiple_of(2) {
        l.even[usize::from(b)]
    } else {
        l.odd[usize::from(b)]
    }
}

/// The words of `bytes`, in order.
pub fn words(bytes: &[u8]) -> Vec<&'static str> {
    bytes.iter().enumerate().map(|(i, b)| word(i, *b)).collect()
}

/// The words of a hex string (an optional `0x` prefix is ignored); `None` if it is not hex.
pub fn words_of_hex(hex_str: &str) -> Option<Vec<&'static str>> {
    hex::decode(hex_str.trim_start_matches("0x"))
        .ok()
        .map(|b| words(&b))
}

/// The 256 even (two-syllable) words, by byte value.
pub fn even_list() -> &'static [&'static str] {
    &lists().even
}

/// The 256 odd (three-syllable) words, by byte value.
pub fn odd_list() -> &'static [&'static str] {
    &lists().odd
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn lists_match_the_pinned_digest() {
        // SHA-256 of even.join("\n") + "\n" + odd.join("\n"), as pinned by an independent
        // implementation of the list (see the header of pgp_words.txt).
        let joined = format!("{}\n{}", even_list().join("\n"), odd_list().join("\n"));
        assert_eq!(
            hex::encode(Sha256::digest(joined.as_bytes())),
            "e9b7b0052233a74aa56724ed3f79c272036aed68d8f4c0856e833c8043b9ac62"
        );
    }

    #[test]
    fn lists_are_distinct_and_in_the_original_order() {
        let mut out_of_order = Vec::new();
        for list in [even_list(), odd_list()] {
            let lower: Vec<String> = list.iter().map(|w| w.to_lowercase()).collect();
            let mut unique = lower.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 256, "256 distinct words");
            for pair in lower.windows(2) {
                if pair[0] >= pair[1] {
                    out_of_order.push((pair[0].clone(), pair[1].clone()));
                }
            }
        }
        // Alphabetical, with the one quirk of the original list (0x09 applicant, 0x0a Apollo):
        // a transcription slip elsewhere would show up here.
        assert_eq!(
            out_of_order,
            [("applicant".to_owned(), "apollo".to_owned())]
        );
        for w in even_list() {
            assert!(!odd_list().contains(w), "{w} in both lists");
        }
    }

    #[test]
    fn worked_examples_of_the_source() {
        // From the README of thblt/pgp-words.
        assert_eq!(
            words_of_hex("d1c225e426c633dd94d1a7e8c3f408aa9b342488")
                .unwrap()
                .join(" "),
            "stairway repellent bombast tradition bookshelf responsive chisel tambourine \
             Pluto scavenger repay typewriter snowcap Virginia aimless pedigree puppy \
             confidence bluebird maritime"
        );
        assert_eq!(
            words_of_hex("EA5B81C564988C73EE90DEE9BAF1E07233CDE511")
                .unwrap()
                .join(" "),
            "Trojan exodus minnow resistor flytrap narrative offload hurricane tycoon \
             millionaire tactics ultimate shadow vacancy tapeworm holiness chisel \
             sandalwood topmost Babylon"
        );
        // 0x9e: "quiver" at an even position, "onlooker" at an odd one.
        assert_eq!(words(&[0x9e, 0x9e]), ["quiver", "onlooker"]);
        assert!(words_of_hex("zz").is_none());
    }
}
