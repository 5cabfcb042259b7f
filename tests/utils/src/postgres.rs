//! A throw-away PostgreSQL server for tests: `initdb` and `pg_ctl` from Debian's
//! `postgresql-15` (scripts/install-apt.sh) in a temporary directory, listening on 127.0.0.1 at
//! a free port and on a socket in that directory; stopped (immediate mode) and removed on drop.
//! The cluster is a copy of a template `initdb` made once per machine (`Postgres::template`).
//! Missing binaries, a failed `initdb` or a server that is not ready within its timeout fail the
//! test: nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use crate::chain::free_port;

/// The database user the server is initialised with (trust authentication on its own
/// loopback port and socket only).
pub const USER: &str = "kc";

/// A running PostgreSQL server; stopped and removed when dropped.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

/// The directory of the server binaries: `$KC_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<major>/bin` that has `initdb`.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("KC_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).expect(
        "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: run scripts/install-apt.sh (postgresql-15)",
    )
}

/// Whether this process runs as root (initdb and postgres refuse to).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// Initialises and starts a server; panics naming the step that failed.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("kc-pg-")
            .tempdir()
            .expect("create the server's temporary directory");
        let port = free_port();
        let pg = Postgres { dir, bin, port };
        if is_root() {
            // The server runs as the `postgres` user the package created.
            pg.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(pg.dir.path()),
                "chown",
            );
        }
        let data = pg.data();
        // A copy of the machine's template cluster (`cp -a` keeps the owner and modes).
        let template = pg.template();
        pg.run(
            Command::new("cp")
                .arg("-a")
                .arg(template.join("data"))
                .arg(&data),
            "copy the template cluster",
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            pg.dir.path().display()
        );
        pg.run(
            pg.tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(pg.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        );
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The cluster `initdb` makes, once per machine and server binaries, in the temporary
    /// directory (`kc-pg-template-…`): every server starts from a copy of it (initdb takes
    /// seconds; a copy, a fraction of one). Made aside and renamed into place, so a template
    /// that exists is complete; of two processes making it at once, one rename wins.
    fn template(&self) -> PathBuf {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.bin.display().to_string(), USER, "C", "UTF8", "trust").hash(&mut h);
        let dst = std::env::temp_dir().join(format!("kc-pg-template-{:016x}", h.finish()));
        if dst.join("data").join("PG_VERSION").exists() {
            return dst;
        }
        let tmp = tempfile::Builder::new()
            .prefix("kc-pg-template-new-")
            .tempdir()
            .expect("create the template cluster's directory");
        if is_root() {
            self.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(tmp.path()),
                "chown",
            );
        }
        self.run(
            self.tool("initdb")
                .arg("-D")
                .arg(tmp.path().join("data"))
                .args([
                    "-U",
                    USER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]),
            "initdb",
        );
        let made = tmp.keep();
        if std::fs::rename(&made, &dst).is_err() {
            // Another process put its template in place first.
            let _ = std::fs::remove_dir_all(&made);
        }
        assert!(
            dst.join("data").join("PG_VERSION").exists(),
            "postgres test server: no template cluster at {}",
            dst.display()
        );
        dst
    }

    /// A command for server binary `name`, as the `postgres` user when this process is root.
    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, c: &mut Command, what: &str) {
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("postgres test server: cannot run {what}: {e}"));
        assert!(
            out.status.success(),
            "postgres test server: {what} failed ({}):\n{}{}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory (data, log, socket).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A `postgres://` URL for database `db` (created by [`Postgres::create_database`]; the
    /// `postgres` database always exists).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.run(
            self.tool("createdb").args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                name,
            ]),
            "createdb",
        );
        self.url(name)
    }
}

/// The environment variable that selects the state store backend of the agent's suite:
/// `postgres` runs every test that opens a state store on PostgreSQL (a fresh database each),
/// anything else or unset on SQLite.
pub const STORE_ENV: &str = "KC_TEST_STORE";

/// Whether this test run keeps the agent's state on PostgreSQL ([`STORE_ENV`]); a value
/// that is neither `postgres` nor `sqlite` fails the test rather than pick one.
pub fn store_is_postgres() -> bool {
    match std::env::var(STORE_ENV).as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("{STORE_ENV}={other}: expected postgres or sqlite"),
    }
}

static SHARED: OnceLock<Postgres> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

impl Postgres {
    /// The server of this test process, started on first use. A static is never dropped, so a
    /// watcher process stops the server and removes its directory when this process exits.
    pub fn shared() -> &'static Postgres {
        SHARED.get_or_init(|| {
            let pg = Postgres::start();
            let stop = pg
                .tool("pg_ctl")
                .arg("-D")
                .arg(pg.data())
                .args(["-m", "immediate", "-w", "stop"])
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>();
            let program = pg.tool("pg_ctl").get_program().to_string_lossy().into_owned();
            let quoted = std::iter::once(program)
                .chain(stop)
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(" ");
            // In the background of a shell that exits at once: the watcher outlives this
            // process, which waits only for that shell.
            let script = format!(
                "(while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; {quoted}; rm -rf '{dir}') >/dev/null 2>&1 &",
                pid = std::process::id(),
                dir = pg.dir().display()
            );
            Command::new("sh")
                .args(["-c", &script])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .ok()
                .filter(|s| s.success())
                .expect("postgres test server: start the watcher that stops it at exit");
            pg
        })
    }

    /// A new empty database on this server (`t1`, `t2`, … per process) and its URL.
    pub fn fresh_database(&self) -> String {
        let n = DATABASES.fetch_add(1, Ordering::SeqCst) + 1;
        self.create_database(&format!("t{n}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Immediate: the tests' data is thrown away; waits until the server is gone.
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
