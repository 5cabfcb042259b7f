//! The validator batch Merkle tree that governance approves on chain (`docs/merkle-leaf.md`).
//!
//! Leaf: `keccak256(keccak256(abi.encode(bytes pubkey, bytes signature, bytes32
//! depositDataRoot, uint64[] operatorIds, bytes sharesData)))`; inner nodes hash the sorted pair
//! (OpenZeppelin `Hashes.commutativeKeccak256`); a node without a neighbour moves up unchanged.

use sha3::{Digest, Keccak256};

/// A 32-byte node of the tree.
pub type Hash = [u8; 32];

/// What a leaf commits to: everything `PoolManager.stake` takes from its caller for one validator.
#[derive(Debug, Clone, Copy)]
pub struct LeafInput<'a> {
    pub pubkey: &'a [u8],
    pub signature: &'a [u8],
    pub deposit_data_root: &'a [u8; 32],
    pub operator_ids: &'a [u64],
    pub shares_data: &'a [u8],
}

fn keccak(data: &[u8]) -> Hash {
    Keccak256::digest(data).into()
}

fn word_u64(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

/// Appends the ABI tail of a `bytes` value: length word, then the data padded to 32 bytes.
fn push_bytes(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&word_u64(data.len() as u64));
    out.extend_from_slice(data);
    let pad = (32 - data.len() % 32) % 32;
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn padded_len(n: usize) -> usize {
    32 + n.div_ceil(32) * 32
}

/// `abi.encode(bytes, bytes, bytes32, uint64[], bytes)` for one leaf.
pub fn abi_encode_leaf(input: &LeafInput<'_>) -> Vec<u8> {
    let head = 5 * 32;
    let off_pubkey = head;
    let off_sig = off_pubkey + padded_len(input.pubkey.len());
    let off_ids = off_sig + padded_len(input.signature.len());
    let off_shares = off_ids + 32 + 32 * input.operator_ids.len();
    let mut out = Vec::with_capacity(off_shares + padded_len(input.shares_data.len()));
    out.extend_from_slice(&word_u64(off_pubkey as u64));
    out.extend_from_slice(&word_u64(off_sig as u64));
    out.extend_from_slice(input.deposit_data_root);
    out.extend_from_slice(&word_u64(off_ids as u64));
    out.extend_from_slice(&word_u64(off_shares as u64));
    push_bytes(&mut out, input.pubkey);
    push_bytes(&mut out, input.signature);
    out.extend_from_slice(&word_u64(input.operator_ids.len() as u64));
    for id in input.operator_ids {
        out.extend_from_slice(&word_u64(*id));
    }
    push_bytes(&mut out, input.shares_data);
    out
}

/// The leaf hash of one validator.
pub fn leaf_hash(input: &LeafInput<'_>) -> Hash {
    keccak(&keccak(&abi_encode_leaf(input)))
}

/// `keccak256(min(a, b) ‖ max(a, b))`.
pub fn hash_pair(a: &Hash, b: &Hash) -> Hash {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo);
    buf[32..].copy_from_slice(hi);
    keccak(&buf)
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [a, b] => hash_pair(a, b),
            [a] => *a,
            _ => unreachable!("chunks(2) yields one or two nodes"),
        })
        .collect()
}

/// The root of a list of leaves, or `None` for an empty list.
pub fn root(leaves: &[Hash]) -> Option<Hash> {
    let mut b = RootBuilder::default();
    leaves.iter().for_each(|l| b.push(l));
    b.root()
}

/// The root of leaves given one at a time, in memory that grows with the logarithm of their
/// number: the complete subtrees so far (one per bit of the count), each merged with its left
/// neighbour as soon as both are complete. At the end the subtrees fold from the right, which
/// is where the level-by-level tree moves a node without a neighbour up unchanged.
#[derive(Debug, Clone, Default)]
pub struct RootBuilder {
    /// (height, root) of complete subtrees, heights strictly decreasing.
    stack: Vec<(u32, Hash)>,
    count: usize,
}

impl RootBuilder {
    /// Adds the next leaf.
    pub fn push(&mut self, leaf: &Hash) {
        self.count += 1;
        let mut node = (0u32, *leaf);
        while let Some(&(h, left)) = self.stack.last() {
            if h != node.0 {
                break;
            }
            self.stack.pop();
            node = (h + 1, hash_pair(&left, &node.1));
        }
        self.stack.push(node);
    }

    /// Leaves added so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The root of the leaves added, or `None` when there are none.
    pub fn root(&self) -> Option<Hash> {
        let mut it = self.stack.iter().rev();
        let mut acc = it.next()?.1;
        for (_, left) in it {
            acc = hash_pair(left, &acc);
        }
        Some(acc)
    }
}

/// The proof for leaf `index`: sibling hashes bottom-up, skipping levels without a sibling.
pub fn proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    let mut level = leaves.to_vec();
    let mut i = index;
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            proof.push(level[sibling]);
        }
        level = next_level(&level);
        i /= 2;
    }
    Some(proof)
}

/// OpenZeppelin `MerkleProof.verify`: fold the proof over the leaf with sorted-pair hashing.
pub fn verify_proof(proof: &[Hash], root: &Hash, leaf: &Hash) -> bool {
    let computed = proof.iter().fold(*leaf, |acc, p| hash_pair(&acc, p));
    &computed == root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| keccak(&(i as u64).to_be_bytes())).collect()
    }

    #[test]
    fn single_leaf_root_is_the_leaf() {
        let l = leaves(1);
        assert_eq!(root(&l), Some(l[0]));
        assert_eq!(proof(&l, 0), Some(vec![]));
    }

    #[test]
    fn empty_has_no_root() {
        assert_eq!(root(&[]), None);
        assert_eq!(proof(&[], 0), None);
    }

    #[test]
    fn every_proof_verifies_and_no_proof_verifies_another_leaf() {
        for n in 1..=33 {
            let l = leaves(n);
            let r = root(&l).unwrap();
            for i in 0..n {
                let p = proof(&l, i).unwrap();
                assert!(verify_proof(&p, &r, &l[i]), "n={n} i={i}");
                let other = keccak(b"not a leaf");
                assert!(!verify_proof(&p, &r, &other), "n={n} i={i}");
            }
        }
    }

    /// The level-by-level tree, as the contract's proofs assume it.
    fn root_by_levels(leaves: &[Hash]) -> Option<Hash> {
        let mut level = leaves.to_vec();
        while level.len() > 1 {
            level = next_level(&level);
        }
        level.first().copied()
    }

    #[test]
    fn the_streamed_root_is_the_level_by_level_root() {
        for n in 0..=70 {
            let l = leaves(n);
            assert_eq!(root(&l), root_by_levels(&l), "n={n}");
            if let Some(r) = root(&l) {
                for (i, leaf) in l.iter().enumerate() {
                    assert!(
                        verify_proof(&proof(&l, i).unwrap(), &r, leaf),
                        "n={n} i={i}"
                    );
                }
            }
        }
    }

    #[test]
    fn three_leaves_by_hand() {
        let l = leaves(3);
        let expected = hash_pair(&hash_pair(&l[0], &l[1]), &l[2]);
        assert_eq!(root(&l).unwrap(), expected);
    }

    #[test]
    fn abi_encoding_layout() {
        let pubkey = [0xaa; 48];
        let sig = [0xbb; 96];
        let ddr = [0xcc; 32];
        let ids = [7u64, 9, 1001, 4242];
        let shares = [0xdd; 33];
        let enc = abi_encode_leaf(&LeafInput {
            pubkey: &pubkey,
            signature: &sig,
            deposit_data_root: &ddr,
            operator_ids: &ids,
            shares_data: &shares,
        });
        // head 160, pubkey 32+64, sig 32+96, ids 32+4*32, shares 32+64
        assert_eq!(enc.len(), 160 + 96 + 128 + 160 + 96);
        assert_eq!(enc[31], 160);
        assert_eq!(u64::from_be_bytes(enc[56..64].try_into().unwrap()), 256);
        assert_eq!(&enc[64..96], &ddr);
        assert_eq!(u64::from_be_bytes(enc[120..128].try_into().unwrap()), 384);
        assert_eq!(u64::from_be_bytes(enc[152..160].try_into().unwrap()), 544);
        assert_eq!(u64::from_be_bytes(enc[184..192].try_into().unwrap()), 48);
        assert_eq!(&enc[192..240], &pubkey);
        assert!(enc[240..256].iter().all(|b| *b == 0));
    }
}
