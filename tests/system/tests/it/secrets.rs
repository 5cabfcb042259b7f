//! Secret types can be neither printed nor copied: they implement no `Debug`, `Display` or
//! `Clone` (a derive added by mistake fails here). They are wiped on drop by construction
//! (`ZeroizeOnDrop`, blst's own wiping type, `Zeroizing` buffers).

use std::marker::PhantomData;

/// The capabilities of a type that print or copy it: (`Debug`, `Display`, `Clone`). For a
/// concrete type, an inherent method bounded on the trait is chosen over the fallback trait's
/// method of the same name exactly when the type implements the trait.
macro_rules! capabilities {
    ($t:ty) => {{
        struct P<T>(PhantomData<T>);
        #[allow(dead_code)] // unused in an expansion for a type with all three
        trait No {
            fn debug(&self) -> bool {
                false
            }
            fn display(&self) -> bool {
                false
            }
            fn clone_(&self) -> bool {
                false
            }
        }
        impl<T> No for P<T> {}
        #[allow(dead_code)]
        impl<T: std::fmt::Debug> P<T> {
            fn debug(&self) -> bool {
                true
            }
        }
        struct Q<T>(PhantomData<T>);
        impl<T> No for Q<T> {}
        #[allow(dead_code)]
        impl<T: std::fmt::Display> Q<T> {
            fn display(&self) -> bool {
                true
            }
        }
        struct R<T>(PhantomData<T>);
        impl<T> No for R<T> {}
        #[allow(dead_code)]
        impl<T: Clone> R<T> {
            fn clone_(&self) -> bool {
                true
            }
        }
        (
            P::<$t>(PhantomData).debug(),
            Q::<$t>(PhantomData).display(),
            R::<$t>(PhantomData).clone_(),
        )
    }};
}

#[test]
fn secret_types_have_no_debug_display_or_clone() {
    // The probe itself: a type with all three, and one with none.
    assert_eq!(capabilities!(String), (true, true, true));
    struct Opaque;
    assert_eq!(capabilities!(Opaque), (false, false, false));

    assert_eq!(
        capabilities!(kc_validator::bls::SecretKey),
        (false, false, false)
    );
    assert_eq!(
        capabilities!(kc_validator::mnemonic::Mnemonic),
        (false, false, false)
    );
    assert_eq!(
        capabilities!(kc_validator::mnemonic::Seed),
        (false, false, false)
    );
    assert_eq!(
        capabilities!(kc_validator::keystore::KeystorePlaintext),
        (false, false, false)
    );
    assert_eq!(
        capabilities!(kc_ssv::shamir::ShareSecret),
        (false, false, false)
    );
}
