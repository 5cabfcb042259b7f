//! The store's two backends behind one small synchronous interface: SQLite (a file in the
//! state directory, or memory) and PostgreSQL (a `postgres://` URL).
//!
//! SQL is written once, in the subset both dialects share: `?N` placeholders (rewritten to
//! `$N` for PostgreSQL), `INSERT … ON CONFLICT … DO NOTHING/UPDATE`, `RETURNING`, `COALESCE`,
//! `EXISTS`. Values cross as [`Value`] (integer, text, blob, null), rows come back as [`Row`]s
//! of them, converted to the caller's types by [`FromValue`], which refuses a type it does not
//! expect (never a default).
//!
//! PostgreSQL runs on a dedicated thread that owns a `tokio-postgres` client on its own
//! current-thread runtime; callers (synchronous code, or async code on any tokio runtime,
//! current-thread included) send it statements and wait for the answer. The store's methods stay
//! synchronous, as they are on SQLite, which blocks its caller the same way.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc;

use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::types::{IsNull, ToSql, Type};

use crate::error::{Error, Result};

/// Where the state store lives.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// `state.sqlite` in this directory (one host).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by the agents of a pool: `url` (`postgres://user@host/db`,
    /// without a password), `password` from a file or the environment (never logged).
    Postgres {
        url: String,
        password: Option<SecretString>,
    },
    /// As [`StoreLocation::Postgres`], reached as the configuration decided
    /// (`config::state`): TLS with verified certificate and host name, or plain (a server on
    /// this host, or `state_allow_plaintext`).
    PostgresOver {
        url: String,
        password: Option<SecretString>,
        transport: super::pg_settings::PgTransport,
    },
}

impl StoreLocation {
    /// The location as messages show it: the file, or the URL without credentials.
    pub fn shown(&self) -> String {
        match self {
            StoreLocation::Sqlite(dir) => dir.join("state.sqlite").display().to_string(),
            StoreLocation::Postgres { url, .. } | StoreLocation::PostgresOver { url, .. } => {
                crate::redact::url(url)
            }
        }
    }
}

/// One value of a statement's parameter or a row's column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int(_) => "integer",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::Int(v as i64)
            }
        }
    )*};
}
int_value!(i64, i32, u32, u16, u8, usize, u64);

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v as i64)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Blob(v.to_vec())
    }
}
impl From<&Vec<u8>> for Value {
    fn from(v: &Vec<u8>) -> Value {
        Value::Blob(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

/// Parameters of a statement: `args![a, b, c]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        &[$($crate::store::db::Value::from($v)),*][..]
    };
}
pub(crate) use args;

/// A failure of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", crate::redact::scrub(&pg_message(.0)))]
    Postgres(#[source] tokio_postgres::Error),
    /// A column holds another type than the reader expects.
    #[error("column {column} is {found}, expected {expected}")]
    Type {
        column: usize,
        expected: &'static str,
        found: &'static str,
    },
    /// A query that must return a row returned none.
    #[error("no row")]
    NoRow,
    /// The PostgreSQL connection's thread stopped (its connection failed).
    #[error("the PostgreSQL connection is closed")]
    Closed,
}

/// A PostgreSQL error with the server's message and detail (the driver's `Display` shows only
/// "db error").
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> DbError {
        DbError::Postgres(e)
    }
}

impl DbError {
    /// The SQLSTATE (PostgreSQL) of a refusal by the server, if this is one.
    pub fn pg_code(&self) -> Option<&str> {
        match self {
            DbError::Postgres(e) => e.code().map(|c| c.code()),
            _ => None,
        }
    }
}

pub(crate) type DbResult<T> = std::result::Result<T, DbError>;

/// A column value converted to a Rust type; any other stored type is [`DbError::Type`].
pub trait FromValue: Sized {
    fn from_value(v: &Value, column: usize) -> DbResult<Self>;
}

fn type_error<T>(v: &Value, column: usize, expected: &'static str) -> DbResult<T> {
    Err(DbError::Type {
        column,
        expected,
        found: v.kind(),
    })
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value, column: usize) -> DbResult<$t> {
                match v {
                    Value::Int(i) => <$t>::try_from(*i).or_else(|_| type_error(v, column, "an integer in range")),
                    _ => type_error(v, column, "an integer"),
                }
            }
        }
    )*};
}
int_from_value!(i64, u64, u32, u8, usize);

impl FromValue for bool {
    fn from_value(v: &Value, column: usize) -> DbResult<bool> {
        match v {
            Value::Int(i) => Ok(*i != 0),
            _ => type_error(v, column, "a boolean"),
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value, column: usize) -> DbResult<String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            _ => type_error(v, column, "text"),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value, column: usize) -> DbResult<Vec<u8>> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            _ => type_error(v, column, "a blob"),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value, column: usize) -> DbResult<Option<T>> {
        match v {
            Value::Null => Ok(None),
            _ => T::from_value(v, column).map(Some),
        }
    }
}

/// One row of a query's result.
#[derive(Debug, Clone)]
pub struct Row(Vec<Value>);

impl Row {
    /// Column `i` as a `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> DbResult<T> {
        match self.0.get(i) {
            Some(v) => T::from_value(v, i),
            None => type_error(&Value::Null, i, "a column"),
        }
    }
}

/// The SQL dialect of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// `?N` placeholders as PostgreSQL's `$N` (outside quoted strings).
pub(crate) fn to_pg(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// An open database.
pub enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(PgConn),
}

impl Db {
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> DbResult<u64> {
        match self {
            Db::Sqlite(c) => Ok(c.execute(sql, rusqlite::params_from_iter(params.iter()))? as u64),
            Db::Postgres(p) => match p.call(Request::Execute(to_pg(sql), params.to_vec()))? {
                Reply::Count(n) => Ok(n),
                Reply::Rows(_) | Reply::Done => Ok(0),
            },
        }
    }

    /// Runs a query; every row.
    pub fn query(&self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        match self {
            Db::Sqlite(c) => {
                let mut stmt = c.prepare(sql)?;
                let n = stmt.column_count();
                let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => Value::Null,
                                rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                                rusqlite::types::ValueRef::Real(v) => Value::Int(v as i64),
                                rusqlite::types::ValueRef::Text(t) => {
                                    Value::Text(String::from_utf8_lossy(t).into_owned())
                                }
                                rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                            })
                        })
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(Row)
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            }
            Db::Postgres(p) => match p.call(Request::Query(to_pg(sql), params.to_vec()))? {
                Reply::Rows(rows) => Ok(rows),
                Reply::Count(_) | Reply::Done => Ok(Vec::new()),
            },
        }
    }

    /// The first row of a query, if any.
    pub fn query_opt(&self, sql: &str, params: &[Value]) -> DbResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first row of a query ([`DbError::NoRow`] when there is none).
    pub fn query_one(&self, sql: &str, params: &[Value]) -> DbResult<Row> {
        self.query_opt(sql, params)?.ok_or(DbError::NoRow)
    }

    /// Runs statements separated by `;`, without parameters.
    pub fn batch(&self, sql: &str) -> DbResult<()> {
        match self {
            Db::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Db::Postgres(p) => p.call(Request::Batch(sql.to_owned())).map(|_| ()),
        }
    }

    /// Begins a transaction: committed by [`Tx::commit`], rolled back when dropped.
    pub fn begin(&self) -> DbResult<Tx<'_>> {
        self.batch("BEGIN")?;
        Ok(Tx {
            db: self,
            open: true,
        })
    }
}

/// An open transaction; rolled back unless committed.
pub struct Tx<'a> {
    db: &'a Db,
    open: bool,
}

impl Tx<'_> {
    pub fn commit(mut self) -> DbResult<()> {
        self.open = false;
        self.db.batch("COMMIT")
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.db.batch("ROLLBACK");
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                _ => Err(format!("an integer for a parameter of type {ty}").into()),
            },
            Value::Text(s) => {
                if <&str as ToSql>::accepts(ty) {
                    s.as_str().to_sql(ty, out)
                } else {
                    Err(format!("text for a parameter of type {ty}").into())
                }
            }
            Value::Blob(b) => {
                if *ty == Type::BYTEA {
                    b.as_slice().to_sql(ty, out)
                } else {
                    Err(format!("a blob for a parameter of type {ty}").into())
                }
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A PostgreSQL row as [`Value`]s, by the columns' types.
fn pg_row(r: &tokio_postgres::Row) -> std::result::Result<Row, tokio_postgres::Error> {
    let mut out = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let v = match *c.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            // Text of any kind; another type fails here with the driver's error.
            _ => r.try_get::<_, Option<String>>(i)?.map(Value::Text),
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

enum Request {
    Execute(String, Vec<Value>),
    Query(String, Vec<Value>),
    Batch(String),
}

enum Reply {
    Count(u64),
    Rows(Vec<Row>),
    Done,
}

type Job = (
    Request,
    mpsc::Sender<std::result::Result<Reply, tokio_postgres::Error>>,
);

/// A PostgreSQL connection owned by its own thread.
pub struct PgConn {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    /// The URL as `redact::url` shows it.
    pub(crate) shown: String,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn").field("url", &self.shown).finish()
    }
}

/// `url` parsed as a PostgreSQL connection string, with the URL as messages show it
/// ([`crate::redact::url`]); an error names `state_url` and never shows a credential. The one
/// parser of the configuration's check and the store's connection.
pub(crate) fn parse_url(url: &str) -> Result<(tokio_postgres::Config, String)> {
    let shown = crate::redact::url(url);
    let cfg = tokio_postgres::Config::from_str(url).map_err(|e| {
        Error::config(
            "state_url",
            format!(
                "{shown}: not a PostgreSQL URL: {}",
                crate::redact::scrub(&e.to_string())
            ),
        )
    })?;
    Ok((cfg, shown))
}

/// Whether every host of `cfg` is on this machine (loopback address, `localhost`, Unix socket):
/// the one rule of where plaintext is allowed, for the configuration and the connection alike.
pub(crate) fn local_only(cfg: &tokio_postgres::Config) -> bool {
    use tokio_postgres::config::Host;
    cfg.get_hosts().iter().all(|h| match h {
        Host::Unix(_) => true,
        Host::Tcp(name) => crate::tls::is_loopback_host(name),
    })
}

impl PgConn {
    /// Connects to `url` with `password` (never part of a message) on a new thread.
    /// `transport`: `None` — plain, to a server on this host only; `Some` — as the
    /// configuration decided (TLS verified, or plain it allowed).
    pub fn connect(
        url: &str,
        password: Option<&SecretString>,
        transport: Option<&super::pg_settings::PgTransport>,
    ) -> Result<PgConn> {
        // The whole URL, its password and its query (a `password=` option) are credentials;
        // its path is the database's name, which messages may show.
        crate::redact::register(url);
        if let Ok(u) = reqwest::Url::parse(url) {
            if let Some(p) = u.password() {
                crate::redact::register(p);
            }
            if let Some(q) = u.query() {
                crate::redact::register(q);
            }
        }
        if let Some(p) = password {
            crate::redact::register(p.expose_secret());
        }
        let (mut cfg, shown) = parse_url(url)?;
        let tls = match transport {
            Some(super::pg_settings::PgTransport::Tls(t)) => {
                cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
                Some(crate::tls::client_config(t)?)
            }
            _ => None,
        };
        if transport.is_none() && !local_only(&cfg) {
            return Err(Error::config(
                "state_url",
                format!("{shown}: a server off this host is reached only as the configuration says (TLS, or state_allow_plaintext): open it through Config::state_location"),
            ));
        }
        if let Some(p) = password {
            cfg.password(p.expose_secret());
        }
        cfg.application_name("signer-agent");
        let (jobs, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_url = shown.clone();
        std::thread::Builder::new()
            .name("state-store-pg".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::io(
                            "state-store-pg",
                            "start the PostgreSQL runtime",
                            e,
                        )));
                        return;
                    }
                };
                rt.block_on(async move {
                    let client = match super::pg_lease::connect_client(
                        &cfg,
                        tls,
                        thread_url.clone(),
                    )
                    .await
                    {
                        Ok(c) => c,
                        Err(source) => {
                            let _ = ready_tx.send(Err(Error::Postgres {
                                url: thread_url,
                                action: "connect".into(),
                                source,
                            }));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    while let Some((req, reply)) = rx.recv().await {
                        let r = match req {
                            Request::Execute(sql, params) => {
                                let refs: Vec<&(dyn ToSql + Sync)> =
                                    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                                client.execute(sql.as_str(), &refs).await.map(Reply::Count)
                            }
                            Request::Query(sql, params) => {
                                let refs: Vec<&(dyn ToSql + Sync)> =
                                    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                                match client.query(sql.as_str(), &refs).await {
                                    Ok(rows) => rows
                                        .iter()
                                        .map(pg_row)
                                        .collect::<std::result::Result<Vec<_>, _>>()
                                        .map(Reply::Rows),
                                    Err(e) => Err(e),
                                }
                            }
                            Request::Batch(sql) => client
                                .batch_execute(sql.as_str())
                                .await
                                .map(|_| Reply::Done),
                        };
                        let _ = reply.send(r);
                    }
                });
            })
            .map_err(|e| Error::io("state-store-pg", "start the PostgreSQL thread", e))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(PgConn { jobs, shown }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::config(
                "state_url",
                format!("{shown}: the PostgreSQL thread stopped before connecting"),
            )),
        }
    }

    fn call(&self, req: Request) -> DbResult<Reply> {
        let (tx, rx) = mpsc::channel();
        self.jobs.send((req, tx)).map_err(|_| DbError::Closed)?;
        match rx.recv() {
            Ok(r) => r.map_err(DbError::Postgres),
            Err(_) => Err(DbError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_strings() {
        assert_eq!(
            to_pg("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $12"
        );
    }

    #[test]
    fn a_column_of_another_type_is_an_error_not_a_default() {
        let r = Row(vec![Value::Text("x".into()), Value::Null, Value::Int(-1)]);
        assert_eq!(r.get::<String>(0).unwrap(), "x");
        assert!(matches!(
            r.get::<i64>(0),
            Err(DbError::Type { column: 0, .. })
        ));
        assert_eq!(r.get::<Option<i64>>(1).unwrap(), None);
        assert!(r.get::<i64>(1).is_err());
        assert!(r.get::<u64>(2).is_err(), "a negative count is not a u64");
        assert!(r.get::<i64>(3).is_err());
    }
}
