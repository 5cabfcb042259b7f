//! An alloy signer whose secp256k1 key never leaves a PKCS#11 token.
//!
//! Modelled on alloy's AWS KMS signer: the public key and address are fetched once and cached;
//! each signature is `C_Sign(CKM_ECDSA)` over the 32-byte prehash; the result is normalized to
//! low-s and the recovery parity is found by trying both and comparing with the cached key. HSM
//! calls run off the async runtime (`spawn_blocking`), each blocking thread with its own logged-in
//! session. On open, the signer signs a random digest and checks that it recovers to its address.
//!
//! The key store is behind [`PrehashBackend`], so a policy layer ([`crate::policy`]) can wrap the signer
//! — or the backend — without touching the agent's logic above it.

use std::fmt;
use std::sync::Arc;

use alloy::consensus::SignableTransaction;
use alloy::network::TxSigner;
use alloy::primitives::{Address, ChainId, Signature, B256, U256};
use alloy::signers::Signer;
use async_trait::async_trait;
use k256::ecdsa::VerifyingKey;

use crate::error::{Error, Result};

/// A key store that holds one secp256k1 key and signs 32-byte digests with it.
///
/// `sign_prehash` is blocking and may be called from any thread; implementations keep one
/// session per thread.
pub trait PrehashBackend: Send + Sync + 'static {
    /// A human-readable name of the key (token and label); never secret.
    fn describe(&self) -> String;
    /// The key's public key.
    fn public_key(&self) -> Result<VerifyingKey>;
    /// Raw ECDSA `r ‖ s` over `digest` (either s; the signer normalizes).
    fn sign_prehash(&self, digest: &[u8; 32]) -> Result<[u8; 64]>;
}

/// The Ethereum address of a secp256k1 public key.
pub fn address_of(vk: &VerifyingKey) -> Address {
    let point = vk.to_encoded_point(false);
    Address::from_raw_public_key(&point.as_bytes()[1..])
}

/// An alloy [`Signer`] + [`TxSigner`] over a [`PrehashBackend`].
#[derive(Clone)]
pub struct HsmSigner {
    backend: Arc<dyn PrehashBackend>,
    public_key: VerifyingKey,
    address: Address,
    chain_id: Option<ChainId>,
    label: String,
}

impl fmt::Debug for HsmSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HsmSigner")
            .field("key", &self.label)
            .field("address", &self.address)
            .finish()
    }
}

impl HsmSigner {
    /// Caches the backend's public key and address, then runs the self-check (a random digest
    /// signed in the backend must recover to the cached address). Blocking: call it from
    /// `spawn_blocking` or before the runtime starts, or use [`HsmSigner::open_async`].
    pub fn open(backend: Arc<dyn PrehashBackend>) -> Result<Self> {
        let label = backend.describe();
        let public_key = backend.public_key()?;
        let address = address_of(&public_key);
        let signer = HsmSigner {
            backend,
            public_key,
            address,
            chain_id: None,
            label,
        };
        signer.self_check()?;
        Ok(signer)
    }

    /// [`HsmSigner::open`] off the async runtime.
    pub async fn open_async(backend: Arc<dyn PrehashBackend>) -> Result<Self> {
        let label = backend.describe();
        tokio::task::spawn_blocking(move || HsmSigner::open(backend))
            .await
            .map_err(|e| Error::Signer {
                label,
                message: format!("signing thread failed: {e}"),
            })?
    }

    /// The key's description (token and label).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The cached public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }

    fn self_check(&self) -> Result<()> {
        let mut digest = [0u8; 32];
        getrandom::getrandom(&mut digest).map_err(|e| Error::Signer {
            label: self.label.clone(),
            message: format!("no randomness for the self-check: {e}"),
        })?;
        let sig = self.sign_digest_blocking(&digest)?;
        let recovered = sig
            .recover_address_from_prehash(&B256::from(digest))
            .map_err(|e| Error::Signer {
                label: self.label.clone(),
                message: format!("self-check signature does not recover: {e}"),
            })?;
        if recovered != self.address {
            return Err(Error::Signer {
                label: self.label.clone(),
                message: format!(
                    "self-check recovered {recovered}, expected {}",
                    self.address
                ),
            });
        }
        Ok(())
    }

    /// Signs a 32-byte digest in the backend, on this thread.
    pub fn sign_digest_blocking(&self, digest: &[u8; 32]) -> Result<Signature> {
        let raw = self.backend.sign_prehash(digest)?;
        // Low-s and the recovery parity by trial against the cached public key.
        let rs = kc_hsm::recoverable_signature(&self.label, &self.public_key, digest, &raw)
            .map_err(|e| Error::Signer {
                label: self.label.clone(),
                message: e.to_string(),
            })?;
        let bytes = rs.signature.to_bytes();
        Ok(Signature::new(
            U256::from_be_slice(&bytes[..32]),
            U256::from_be_slice(&bytes[32..]),
            rs.y_parity(),
        ))
    }

    /// Signs a 32-byte digest in the backend, off the async runtime.
    pub async fn sign_digest(&self, digest: B256) -> Result<Signature> {
        let this = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::spawn_blocking(move || this.sign_digest_blocking(&digest.0))
                .await
                .map_err(|e| Error::Signer {
                    label: self.label.clone(),
                    message: format!("signing thread failed: {e}"),
                })?,
            Err(_) => this.sign_digest_blocking(&digest.0),
        }
    }
}

fn to_signer_error(e: Error) -> alloy::signers::Error {
    alloy::signers::Error::other(e)
}

#[async_trait]
impl Signer for HsmSigner {
    async fn sign_hash(&self, hash: &B256) -> alloy::signers::Result<Signature> {
        self.sign_digest(*hash).await.map_err(to_signer_error)
    }

    fn address(&self) -> Address {
        self.address
    }

    fn chain_id(&self) -> Option<ChainId> {
        self.chain_id
    }

    fn set_chain_id(&mut self, chain_id: Option<ChainId>) {
        self.chain_id = chain_id;
    }
}

#[async_trait]
impl TxSigner<Signature> for HsmSigner {
    fn address(&self) -> Address {
        self.address
    }

    async fn sign_transaction(
        &self,
        tx: &mut dyn SignableTransaction<Signature>,
    ) -> alloy::signers::Result<Signature> {
        if let Some(chain_id) = self.chain_id {
            if !tx.set_chain_id_checked(chain_id) {
                return Err(alloy::signers::Error::TransactionChainIdMismatch {
                    signer: chain_id,
                    tx: tx.chain_id().unwrap_or_default(),
                });
            }
        }
        self.sign_digest(tx.signature_hash())
            .await
            .map_err(to_signer_error)
    }
}

/// The PKCS#11 backend: a secp256k1 key pair in a token, found by label (through `kc_hsm`).
///
/// Before a key is made or used, the token passes the agent's preflight: the mechanism list
/// (`C_GenerateRandom`, `CKM_EC_KEY_PAIR_GEN`, `CKM_ECDSA`) and the trial (a secp256k1 session
/// key pair from the exact template, attested, signed with and verified, then destroyed), so a
/// token without secp256k1 stops there, naming the curve. Signing sessions come from a bounded
/// pool ([`pkcs11::MAX_SESSIONS`]); [`pkcs11::close_all`] closes them at shutdown.
pub mod pkcs11 {
    use std::path::Path;
    use std::sync::{Arc, Condvar, Mutex, Weak};

    use k256::ecdsa::VerifyingKey;
    use kc_hsm::{HsmSession, Module, Token, TransactionKey, TrialReport, TrialRole};
    use secrecy::SecretString;

    use super::PrehashBackend;
    use crate::error::{Error, Result};

    /// Most sessions one backend holds open at once; callers beyond it wait for a free one.
    pub const MAX_SESSIONS: usize = 4;

    #[derive(Default)]
    struct PoolState {
        idle: Vec<(HsmSession, TransactionKey)>,
        /// Sessions open (idle or in use).
        open: usize,
        /// The most ever open at once.
        peak: usize,
        closed: bool,
    }

    #[derive(Default)]
    struct Pool {
        state: Mutex<PoolState>,
        freed: Condvar,
    }

    impl Pool {
        fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
            self.state.lock().unwrap_or_else(|p| p.into_inner())
        }

        /// Closes the idle sessions and refuses new ones; returns how many were closed.
        fn close(&self) -> usize {
            let mut st = self.lock();
            st.closed = true;
            let n = st.idle.len();
            st.open -= n;
            st.idle.clear();
            self.freed.notify_all();
            n
        }
    }

    /// Every backend's pool, for [`close_all`].
    static POOLS: Mutex<Vec<Weak<Pool>>> = Mutex::new(Vec::new());

    /// Closes the signing sessions of every PKCS#11 backend of this process (the agent calls it
    /// on shutdown); a backend refuses to sign afterwards. Returns how many sessions were closed.
    pub fn close_all() -> usize {
        let pools = POOLS.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .iter()
            .filter_map(Weak::upgrade)
            .map(|p| p.close())
            .sum()
    }

    /// A secp256k1 transaction key in a PKCS#11 token.
    pub struct Pkcs11Backend {
        token: Token,
        key_label: String,
        pin: SecretString,
        public_key: VerifyingKey,
        pool: Arc<Pool>,
    }

    fn hsm(context: impl Into<String>) -> impl FnOnce(kc_hsm::Error) -> Error {
        let context = context.into();
        move |source| Error::Hsm {
            context: context.into(),
            source,
        }
    }

    /// Which token holds the transaction key: its label and, where tokens share a label, its
    /// serial number (`C_GetTokenInfo.serialNumber`). A bare label converts into one.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TokenSelector {
        /// `CKA_LABEL` of the token.
        pub label: String,
        /// The token's serial number, when given.
        pub serial: Option<String>,
    }

    impl TokenSelector {
        /// A token named by its label and, optionally, its serial number.
        pub fn new(label: impl Into<String>, serial: Option<String>) -> Self {
            Self {
                label: label.into(),
                serial,
            }
        }
    }

    impl From<&str> for TokenSelector {
        fn from(label: &str) -> Self {
            Self::new(label, None)
        }
    }

    impl From<&String> for TokenSelector {
        fn from(label: &String) -> Self {
            Self::new(label.as_str(), None)
        }
    }

    impl std::fmt::Display for TokenSelector {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "`{}`", self.label)?;
            if let Some(serial) = &self.serial {
                write!(f, " (serial {serial})")?;
            }
            Ok(())
        }
    }

    /// Finds the token by label (and serial number, when given) and logs in (a wrong PIN fails
    /// here, cleanly).
    pub fn login(
        module: &Path,
        token: impl Into<TokenSelector>,
        pin: &SecretString,
    ) -> Result<(Token, HsmSession)> {
        let sel = token.into();
        let m = Module::open(module).map_err(hsm(format!("module {}", module.display())))?;
        let token = m
            .select_token(&sel.label, sel.serial.as_deref())
            .map_err(hsm(format!("token {sel}")))?;
        let session = token
            .login(pin)
            .map_err(hsm(format!("token {sel}, login")))?;
        Ok((token, session))
    }

    /// The agent's preflight on a logged-in session: the mechanisms, then the trial of the
    /// secp256k1 key template. Logged; fails naming the token, the function and the capability.
    pub fn preflight(session: &HsmSession) -> Result<TrialReport> {
        let token = session.token();
        let ctx = || format!("token `{}`, agent preflight", token.label());
        let report = token
            .preflight(kc_hsm::AGENT_REQUIREMENTS)
            .map_err(hsm(ctx()))?;
        let trial = session.trial(TrialRole::Agent).map_err(hsm(ctx()))?;
        tracing::info!(
            token = token.label(),
            mechanisms = %report.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", "),
            trial = %trial.to_string().trim(),
            "agent preflight passed"
        );
        Ok(trial)
    }

    /// `key init`: runs the agent preflight, then generates a new secp256k1 transaction key
    /// labelled `key_label` in the token (refusing a label in use), self-tests it, and returns
    /// its address.
    pub fn generate(
        module: &Path,
        token: impl Into<TokenSelector>,
        key_label: &str,
        pin: &SecretString,
    ) -> Result<[u8; 20]> {
        let token_label = token.into();
        let (_token, session) = login(module, token_label.clone(), pin)?;
        session.ensure_label_free(key_label).map_err(hsm(format!(
            "token {token_label}, generate secp256k1 key `{key_label}`"
        )))?;
        preflight(&session)?;
        let key = TransactionKey::provision(&session, key_label).map_err(hsm(format!(
            "token {token_label}, generate secp256k1 key `{key_label}`"
        )))?;
        Ok(key.address())
    }

    impl Pkcs11Backend {
        /// Logs in, runs the agent preflight, opens (attests and self-tests) the key, and
        /// caches its public key. The session becomes the first of the backend's pool.
        pub fn open(
            module: &Path,
            token: impl Into<TokenSelector>,
            key_label: &str,
            pin: SecretString,
        ) -> Result<Self> {
            let token_label = token.into();
            let (token, session) = login(module, token_label.clone(), &pin)?;
            preflight(&session)?;
            let key = TransactionKey::open(&session, key_label).map_err(hsm(format!(
                "token {token_label}, open secp256k1 key `{key_label}`"
            )))?;
            // `TransactionKey::open` refuses a key that fails the attestation (sensitive, never
            // extractable, generated in the token, sign only); record what it read.
            let a = key.attestation();
            tracing::info!(
                token = %token_label,
                key = %a.label,
                id = %a.id,
                curve = ?a.curve,
                sensitive = a.sensitive,
                always_sensitive = a.always_sensitive,
                extractable = a.extractable,
                never_extractable = a.never_extractable,
                local = a.local,
                "transaction key attested"
            );
            let public_key = *key.verifying_key();
            let pool = Arc::new(Pool::default());
            {
                let mut st = pool.lock();
                st.idle.push((session, key));
                st.open = 1;
                st.peak = 1;
            }
            POOLS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Arc::downgrade(&pool));
            Ok(Pkcs11Backend {
                token,
                key_label: key_label.to_string(),
                pin,
                public_key,
                pool,
            })
        }

        /// Sessions open now (idle or in use).
        pub fn open_sessions(&self) -> usize {
            self.pool.lock().open
        }

        /// The most sessions ever open at once (never above [`MAX_SESSIONS`]).
        pub fn peak_sessions(&self) -> usize {
            self.pool.lock().peak
        }

        /// Closes this backend's idle sessions and refuses to sign afterwards.
        pub fn close(&self) -> usize {
            self.pool.close()
        }

        fn open_session(&self) -> Result<(HsmSession, TransactionKey)> {
            let session = self
                .token
                .login(&self.pin)
                .map_err(hsm(format!("token `{}`, login", self.token.label())))?;
            let key = TransactionKey::open(&session, &self.key_label).map_err(hsm(format!(
                "token `{}`, open secp256k1 key `{}`",
                self.token.label(),
                self.key_label
            )))?;
            if key.verifying_key() != &self.public_key {
                return Err(Error::Signer {
                    label: self.describe(),
                    message: "the key's public key changed since the signer was opened".into(),
                });
            }
            Ok((session, key))
        }

        fn closed(&self) -> Error {
            Error::Signer {
                label: self.describe(),
                message: "the signer's sessions were closed (shutting down)".into(),
            }
        }

        /// Runs `f` with an idle session, a new one (while fewer than [`MAX_SESSIONS`] are
        /// open), or the next one freed.
        fn with_key<T>(
            &self,
            f: impl FnOnce(&HsmSession, &TransactionKey) -> Result<T>,
        ) -> Result<T> {
            let taken = {
                let mut st = self.pool.lock();
                loop {
                    if st.closed {
                        return Err(self.closed());
                    }
                    if let Some(s) = st.idle.pop() {
                        break Some(s);
                    }
                    if st.open < MAX_SESSIONS {
                        st.open += 1;
                        st.peak = st.peak.max(st.open);
                        break None;
                    }
                    st = self.pool.freed.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            let (session, key) = match taken {
                Some(s) => s,
                None => match self.open_session() {
                    Ok(s) => s,
                    Err(e) => {
                        let mut st = self.pool.lock();
                        st.open -= 1;
                        self.pool.freed.notify_one();
                        return Err(e);
                    }
                },
            };
            let out = f(&session, &key);
            let mut st = self.pool.lock();
            if st.closed {
                st.open -= 1;
                drop((session, key));
            } else {
                st.idle.push((session, key));
            }
            self.pool.freed.notify_one();
            out
        }
    }

    impl Drop for Pkcs11Backend {
        fn drop(&mut self) {
            self.pool.close();
        }
    }

    impl PrehashBackend for Pkcs11Backend {
        fn describe(&self) -> String {
            format!("{}/{}", self.token.label(), self.key_label)
        }

        fn public_key(&self) -> Result<VerifyingKey> {
            Ok(self.public_key)
        }

        fn sign_prehash(&self, digest: &[u8; 32]) -> Result<[u8; 64]> {
            self.with_key(|s, k| {
                k.sign_prehash(s, digest).map_err(hsm(format!(
                    "token `{}`, C_Sign with key `{}`",
                    self.token.label(),
                    self.key_label
                )))
            })
        }
    }
}

/// A backend over a local k256 key: for unit tests of the signer's own logic only.
#[cfg(test)]
pub(crate) struct LocalBackend(pub k256::ecdsa::SigningKey);

#[cfg(test)]
impl PrehashBackend for LocalBackend {
    fn describe(&self) -> String {
        "local-test-key".into()
    }
    fn public_key(&self) -> Result<VerifyingKey> {
        Ok(*self.0.verifying_key())
    }
    fn sign_prehash(&self, digest: &[u8; 32]) -> Result<[u8; 64]> {
        use k256::ecdsa::signature::hazmat::PrehashSigner;
        let sig: k256::ecdsa::Signature = self.0.sign_prehash(digest).unwrap();
        // Return the high-s form half of the time, as an HSM may.
        let sig = if digest[0] & 1 == 1 {
            let (r, s) = sig.split_scalars();
            k256::ecdsa::Signature::from_scalars(r, -*s).unwrap()
        } else {
            sig
        };
        Ok(sig.to_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_recovers() {
        let sk = k256::ecdsa::SigningKey::from_slice(&[42u8; 32]).unwrap();
        let s = HsmSigner::open(Arc::new(LocalBackend(sk))).unwrap();
        assert!(format!("{s:?}").contains("local-test-key"));
        for i in 0..32u8 {
            let d = [i; 32];
            let sig = s.sign_digest_blocking(&d).unwrap();
            assert_eq!(
                sig.recover_address_from_prehash(&B256::from(d)).unwrap(),
                s.address
            );
            assert!(sig.normalize_s().is_none(), "already low-s");
        }
    }
}
