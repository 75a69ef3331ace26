//! Postgres and Redis for `dev` and `test`.
//!
//! Order of preference: the configured (or default) server when it answers; otherwise a
//! private instance started from the installed binaries, with its data under
//! `target/services/`; otherwise stop with the package to install. Private instances are
//! stopped when the returned [`Services`] is dropped.

use crate::util::{self, host_port, reachable, which};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PG_INSTALL: &str = "sudo apt-get install -y postgresql postgresql-client";
const REDIS_INSTALL: &str = "sudo apt-get install -y redis-server";

/// Which command the services are for: it picks the variable names and ports.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Dev,
    Test,
}

impl Purpose {
    fn pg_var(self) -> &'static str {
        match self {
            Purpose::Dev => "URR_DATABASE_URL",
            Purpose::Test => "URR_TEST_DATABASE_URL",
        }
    }

    fn redis_var(self) -> &'static str {
        match self {
            Purpose::Dev => "URR_REDIS_URL",
            Purpose::Test => "URR_TEST_REDIS_URL",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Purpose::Dev => "dev",
            Purpose::Test => "test",
        }
    }
}

/// Reachable servers, and the private ones we started (stopped on drop).
pub struct Services {
    /// A Postgres URL for the `postgres` maintenance database (admin connection).
    pub pg_admin_url: String,
    pub redis_url: String,
    pg_guard: Option<PrivatePostgres>,
    redis_guard: Option<Child>,
}

impl Services {
    /// A URL for database `name` on the same server as [`Services::pg_admin_url`].
    pub fn pg_url(&self, name: &str) -> String {
        let (base, _) = self
            .pg_admin_url
            .rsplit_once('/')
            .unwrap_or((&self.pg_admin_url, ""));
        format!("{base}/{name}")
    }

    /// Drops database `name` if it exists, closing its connections (needs `psql`).
    pub fn drop_database(&self, name: &str) -> Result<()> {
        let psql = which("psql").with_context(|| {
            format!(
                "`psql` is needed to reset the database `{name}`; install it with: {PG_INSTALL}"
            )
        })?;
        util::run(Command::new(&psql).args([
            &self.pg_admin_url,
            "-qc",
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        ]))
    }

    /// Creates database `name` unless it exists (needs `psql`).
    pub fn ensure_database(&self, name: &str) -> Result<()> {
        let psql = which("psql").with_context(|| {
            format!(
                "`psql` is needed to create the database `{name}`; install it with: {PG_INSTALL}"
            )
        })?;
        let exists = util::output(Command::new(&psql).args([
            &self.pg_admin_url,
            "-tAc",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
        ]))
        .unwrap_or_default();
        if exists != "1" {
            util::run(Command::new(&psql).args([
                &self.pg_admin_url,
                "-qc",
                &format!("CREATE DATABASE \"{name}\""),
            ]))?;
        }
        Ok(())
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        if let Some(mut redis) = self.redis_guard.take() {
            let _ = redis.kill();
            let _ = redis.wait();
        }
        if let Some(pg) = self.pg_guard.take() {
            pg.stop();
        }
    }
}

pub fn ensure(purpose: Purpose) -> Result<Services> {
    let pg_default = "postgres://postgres@127.0.0.1:5432/postgres";
    let pg_url = std::env::var(purpose.pg_var()).unwrap_or_else(|_| pg_default.to_owned());
    let (pg_admin_url, pg_guard) = if postgres_answers(&pg_url) {
        println!("postgres: using {pg_url}");
        (admin_url_of(&pg_url), None)
    } else {
        println!("postgres: nothing answers at {pg_url}; starting a private instance");
        let pg = PrivatePostgres::start(purpose)?;
        (pg.url(), Some(pg))
    };

    let redis_default = "redis://127.0.0.1:6379";
    let redis_url = std::env::var(purpose.redis_var()).unwrap_or_else(|_| redis_default.to_owned());
    let (redis_url, redis_guard) = if reachable(&host_port(&redis_url, 6379)) {
        println!("redis: using {redis_url}");
        (redis_url, None)
    } else {
        println!("redis: nothing answers at {redis_url}; starting a private instance");
        let (url, child) = start_redis(purpose)?;
        (url, Some(child))
    };

    Ok(Services {
        pg_admin_url,
        redis_url,
        pg_guard,
        redis_guard,
    })
}

/// The same server's `postgres` database: where `CREATE DATABASE` is run from.
fn admin_url_of(url: &str) -> String {
    let (base, tail) = url.rsplit_once('/').unwrap_or((url, ""));
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    if base.ends_with('/') || !base.contains("://") || base.ends_with(':') {
        return url.to_owned();
    }
    format!("{base}/postgres{query}")
}

fn postgres_answers(url: &str) -> bool {
    if !reachable(&host_port(url, 5432)) {
        return false;
    }
    // A TCP answer is not enough (wrong auth, wrong server): ask it, when psql is here.
    match which("psql") {
        Some(psql) => {
            util::output(Command::new(psql).args([&admin_url_of(url), "-tAc", "SELECT 1"]))
                .is_some_and(|o| o == "1")
        }
        None => true,
    }
}

fn pg_bin(name: &str) -> Option<PathBuf> {
    if let Some(p) = which(name) {
        return Some(p);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .collect();
    dirs.sort();
    dirs.into_iter()
        .rev()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

struct PrivatePostgres {
    pg_ctl: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

impl PrivatePostgres {
    fn start(purpose: Purpose) -> Result<PrivatePostgres> {
        let (Some(initdb), Some(pg_ctl)) = (pg_bin("initdb"), pg_bin("pg_ctl")) else {
            bail!(
                "PostgreSQL is not reachable and no server binaries (initdb, pg_ctl) are installed.\n\
                 Install them with: {PG_INSTALL}\n\
                 or point {} at a running server.",
                purpose.pg_var()
            );
        };
        let dir = util::root()
            .join("target/services")
            .join(format!("pg-{}", purpose.name()));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir)?;
        // initdb and postgres refuse to run as root; use the `postgres` account then.
        let as_postgres_user = is_root();
        if as_postgres_user {
            chown_postgres(&dir)?;
        }
        if !data.join("PG_VERSION").exists() {
            let mut cmd = sudo_postgres(as_postgres_user, &initdb);
            cmd.args(["-D"])
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ])
                .stdout(Stdio::null());
            util::run(&mut cmd).context("initdb for the private Postgres")?;
        }
        let port = match purpose {
            Purpose::Dev => 54329,
            Purpose::Test => util::free_port()?,
        };
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=300",
            dir.display()
        );
        let mut cmd = sudo_postgres(as_postgres_user, &pg_ctl);
        cmd.args(["-D"])
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(dir.join("postgres.log"))
            .args(["-w", "start"])
            .stdout(Stdio::null());
        util::run(&mut cmd).with_context(|| {
            format!(
                "starting the private Postgres (log: {})",
                dir.join("postgres.log").display()
            )
        })?;
        let pg = PrivatePostgres {
            pg_ctl,
            data,
            port,
            as_postgres_user,
        };
        util::wait_for("private Postgres", Duration::from_secs(30), || {
            reachable(&format!("127.0.0.1:{port}"))
        })?;
        Ok(pg)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn stop(self) {
        let mut cmd = sudo_postgres(self.as_postgres_user, &self.pg_ctl);
        cmd.args(["-D"])
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
    }
}

fn is_root() -> bool {
    util::output(Command::new("id").arg("-u")).is_some_and(|u| u == "0")
}

fn chown_postgres(dir: &Path) -> Result<()> {
    util::run(
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir),
    )
    .context("the private Postgres runs as the `postgres` user; chown of its directory failed")?;
    // The user must be able to reach the directory through target/.
    let mut p = dir.parent();
    while let Some(d) = p {
        if d == util::root().parent().unwrap_or(Path::new("/")) {
            break;
        }
        let _ = Command::new("chmod").arg("o+x").arg(d).status();
        p = d.parent();
    }
    Ok(())
}

fn sudo_postgres(as_postgres: bool, bin: &Path) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

fn start_redis(purpose: Purpose) -> Result<(String, Child)> {
    let Some(server) = which("redis-server") else {
        bail!(
            "Redis is not reachable and `redis-server` is not installed.\n\
             Install it with: {REDIS_INSTALL}\n\
             or point {} at a running server.",
            purpose.redis_var()
        );
    };
    let port = match purpose {
        Purpose::Dev => 63799,
        Purpose::Test => util::free_port()?,
    };
    let child = Command::new(server)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .context("starting redis-server")?;
    util::wait_for("private Redis", Duration::from_secs(10), || {
        reachable(&format!("127.0.0.1:{port}"))
    })?;
    Ok((format!("redis://127.0.0.1:{port}"), child))
}

#[cfg(test)]
mod tests {
    use super::admin_url_of;

    #[test]
    fn admin_url_swaps_the_database() {
        assert_eq!(
            admin_url_of("postgres://postgres@127.0.0.1:5432/urr"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            admin_url_of("postgres://u:p@h:1/urr?sslmode=disable"),
            "postgres://u:p@h:1/postgres?sslmode=disable"
        );
    }
}
