//! secp256k1 ECDSA signatures as Ethereum wants them, from the raw `r ‖ s` a token returns.
//!
//! `CKM_ECDSA` returns either of the two valid `s` values; Ethereum (EIP-2) accepts only the low
//! one, and wants the recovery id (the y parity of R) that PKCS#11 does not return. As alloy's
//! AWS KMS signer does: normalize to low-s, then find the recovery id by recovering with each
//! parity and comparing with the key's public key, which the caller read once and cached.
//! Normalizing negates `s`, which flips the parity that recovers the key, so the recovery id is
//! always found for the low-s form. Pure host arithmetic: no PKCS#11.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use crate::error::{Error, Result};

/// A low-s secp256k1 signature with its recovery id, as Ethereum wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoverableSignature {
    /// The signature (low-s).
    pub signature: Signature,
    /// The recovery id (`y` parity of R; never "x reduced" in practice).
    pub recovery_id: RecoveryId,
}

impl RecoverableSignature {
    /// `r ‖ s ‖ v` with `v` = 0 or 1 (the y parity). Add 27 for legacy `v`, or apply EIP-155.
    pub fn to_rsv(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&self.signature.to_bytes());
        out[64] = self.recovery_id.to_byte();
        out
    }

    /// The y parity of R (`true` = odd), as alloy's `Signature` takes it.
    pub fn y_parity(&self) -> bool {
        self.recovery_id.is_y_odd()
    }
}

/// The low-s form of the raw signature `r ‖ s` over `prehash` and its recovery id, found by
/// trial against `public_key`. Refused ([`Error::SignatureSelfCheck`], naming the key `label`)
/// when `r ‖ s` is not a signature (a zero or out-of-range scalar) or recovers to neither
/// parity of `public_key`: the token signed with another key, or over another digest.
pub fn recoverable_signature(
    label: &str,
    public_key: &VerifyingKey,
    prehash: &[u8; 32],
    raw: &[u8; 64],
) -> Result<RecoverableSignature> {
    let refuse = || Error::SignatureSelfCheck {
        label: label.to_owned(),
    };
    let sig = Signature::from_slice(raw).map_err(|_| refuse())?;
    let sig = sig.normalize_s().unwrap_or(sig);
    let recovery_id =
        RecoveryId::trial_recovery_from_prehash(public_key, prehash, &sig).map_err(|_| refuse())?;
    Ok(RecoverableSignature {
        signature: sig,
        recovery_id,
    })
}

#[cfg(test)]
mod tests {
    use k256::ecdsa::SigningKey;

    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_slice(&[byte; 32]).unwrap()
    }

    /// The high-s twin of a (low-s) signature: same r, s negated.
    fn high_s(sig: &Signature) -> Signature {
        let (r, s) = sig.split_scalars();
        Signature::from_scalars(r, -*s).unwrap()
    }

    #[test]
    fn a_high_s_signature_is_normalized_and_its_recovery_id_flipped() {
        let sk = key(7);
        let vk = *sk.verifying_key();
        let mut seen_parities = [false; 2];
        for i in 0..16u8 {
            let prehash = [i; 32];
            let (low, low_id) = sk.sign_prehash_recoverable(&prehash).unwrap();
            assert!(low.normalize_s().is_none(), "k256 signs low-s");
            let high = high_s(&low);
            assert!(high.normalize_s().is_some(), "the twin is high-s");

            // From either form: the low-s signature and the recovery id of the low-s form.
            for raw in [low.to_bytes(), high.to_bytes()] {
                let rs = recoverable_signature("k", &vk, &prehash, &raw.into()).unwrap();
                assert_eq!(rs.signature, low);
                assert_eq!(rs.recovery_id, low_id);
                assert_eq!(rs.y_parity(), low_id.is_y_odd());
                assert_eq!(rs.to_rsv()[..64], low.to_bytes()[..]);
                assert_eq!(rs.to_rsv()[64], low_id.to_byte());
            }
            // The other parity recovers to another key (or to none): the id matters. (k256
            // refuses to recover from a high-s form at all, so the flip cannot be shown on it.)
            let flipped = RecoveryId::new(!low_id.is_y_odd(), false);
            assert_ne!(
                VerifyingKey::recover_from_prehash(&prehash, &low, flipped).ok(),
                Some(vk)
            );
            assert!(VerifyingKey::recover_from_prehash(&prehash, &high, low_id).is_err());
            seen_parities[usize::from(low_id.is_y_odd())] = true;
        }
        assert_eq!(seen_parities, [true, true], "both parities were exercised");
    }

    #[test]
    fn a_signature_of_another_key_or_digest_is_refused() {
        let (sk, other) = (key(7), key(8));
        let prehash = [3u8; 32];
        let (sig, _) = other.sign_prehash_recoverable(&prehash).unwrap();
        let e = recoverable_signature("tx", sk.verifying_key(), &prehash, &sig.to_bytes().into())
            .unwrap_err();
        assert!(
            matches!(&e, Error::SignatureSelfCheck { label } if label == "tx"),
            "{e:?}"
        );

        let (sig, _) = sk.sign_prehash_recoverable(&prehash).unwrap();
        let e = recoverable_signature("tx", sk.verifying_key(), &[4u8; 32], &sig.to_bytes().into())
            .unwrap_err();
        assert!(matches!(e, Error::SignatureSelfCheck { .. }), "{e:?}");
    }

    #[test]
    fn bytes_that_are_not_a_signature_are_refused() {
        let sk = key(7);
        for raw in [[0u8; 64], [0xff; 64]] {
            let e = recoverable_signature("tx", sk.verifying_key(), &[1; 32], &raw).unwrap_err();
            assert!(matches!(e, Error::SignatureSelfCheck { .. }), "{e:?}");
        }
    }
}
