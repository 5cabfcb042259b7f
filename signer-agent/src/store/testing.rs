//! The in-crate tests' state store on the backend the suite runs on (`KC_TEST_STORE`:
//! `postgres` or SQLite by default): [`open`] gives each state directory its own fresh
//! PostgreSQL database, and the same one again when the test reopens the directory (a
//! restart).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kc_test_utils::postgres::{store_is_postgres, Postgres};

use super::{Store, StoreLocation};

static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

/// Where the store of state directory `dir` lives in this test run.
pub(crate) fn location(dir: &Path) -> StoreLocation {
    if !store_is_postgres() {
        return StoreLocation::Sqlite(dir.to_owned());
    }
    let mut dbs = DATABASES.lock().unwrap_or_else(|p| p.into_inner());
    let url = dbs
        .get_or_insert_with(HashMap::new)
        .entry(dir.to_owned())
        .or_insert_with(|| Postgres::shared().fresh_database())
        .clone();
    StoreLocation::Postgres {
        url,
        password: None,
    }
}

/// Opens the store of state directory `dir` on this run's backend.
pub(crate) fn open(dir: &Path) -> Store {
    Store::open_location(&location(dir)).expect("open the test state store")
}

/// A store that lives as long as the test (in memory on SQLite, a fresh database on
/// PostgreSQL).
pub(crate) fn scratch() -> Store {
    if store_is_postgres() {
        Store::open_location(&StoreLocation::Postgres {
            url: Postgres::shared().fresh_database(),
            password: None,
        })
        .expect("open the test state store")
    } else {
        Store::in_memory().expect("open the test state store")
    }
}
