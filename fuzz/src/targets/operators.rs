//! `operators.json`, pinned (with provenance) or bare: what parses is a valid cluster (size,
//! unique non-zero ids, RSA-2048 keys, sorted), its provenance is well formed, and it
//! round-trips through the written form; errors name the operator, the field or a line.

use std::collections::BTreeSet;

use kc_bundle::operators::OperatorsFile;
use kc_ssv::shamir::CLUSTER_SIZES;

pub fn run(data: &[u8]) {
    let text = crate::props::text(data);
    match OperatorsFile::parse(&text) {
        Ok(f) => {
            assert!(CLUSTER_SIZES.contains(&f.operators.len()));
            let ids = f.ids();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "operators: not sorted");
            assert!(!ids.contains(&0));
            assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
            for o in &f.operators {
                kc_ssv::OperatorKey::parse(o.id, &o.public_key).expect("checked at parse");
            }
            if let Some(p) = &f.provenance {
                assert_ne!(p.chain_id, 0);
                assert_eq!(p.ssv_network.len(), 42);
                assert_eq!(p.block_hash.len(), 66);
            }
            let again = OperatorsFile::parse(&f.to_json()).expect("a written file parses");
            assert_eq!(again, f, "operators: not the same after a round trip");
        }
        Err(m) => crate::props::names_field(
            "operators",
            &m,
            &["operators[", "provenance.", "operators: "],
        ),
    }
}
