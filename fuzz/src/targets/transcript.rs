//! `transcript.jsonl`: parse and verify the chain. What verifies re-serializes to a transcript
//! with the same head; a transcript that ends in the real bundle's head has the real entries;
//! errors name a line within the text.

use kc_bundle::manifest::files;
use kc_bundle::transcript::Transcript;
use kc_bundle::Error;

pub fn run(data: &[u8]) {
    let text = crate::props::text(data);
    match Transcript::parse_and_verify(&text) {
        Ok(t) => {
            let again = Transcript::parse_and_verify(&t.to_jsonl()).expect("re-serialized");
            assert_eq!(again.head(), t.head());
            assert_eq!(again.entries(), t.entries());
            let real = real();
            if t.head() == real.head() {
                assert_eq!(
                    t.entries(),
                    real.entries(),
                    "transcript: other entries under the real head"
                );
            }
        }
        Err(Error::Transcript { line, message }) => {
            let lines = text.split_terminator('\n').count();
            // An empty transcript is reported at line 0 (it has no line).
            assert!(
                (line >= 1 && line <= lines) || (line == 0 && lines == 0),
                "transcript: error at line {line} of a {lines}-line text"
            );
            crate::props::one_line("transcript", &message);
        }
        Err(other) => panic!("transcript: unexpected error variant {other:?}"),
    }
}

fn real() -> &'static Transcript {
    static T: std::sync::OnceLock<Transcript> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let f = crate::fixture::original().get(files::TRANSCRIPT);
        Transcript::parse_and_verify(std::str::from_utf8(f).expect("utf-8")).expect("seed")
    })
}
