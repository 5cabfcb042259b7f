//! The chain harness of the agent's tests: anvil on a free loopback port (killed on drop), the
//! pool deployed by its own script, registered SSV operators, and what the tests read back
//! from the chain; shared with the system tests through `kc-test-utils`. Missing tools fail the
//! test with "run make tools": nothing is skipped silently.

pub use kc_test_utils::chain::*;
