//! The web app (`frontend/`): building it for `cargo xtask dev`, its dev server, and
//! its stage of `cargo xtask test`:
//!
//! 1. `npm ci` (skipped when `node_modules` matches the lock file);
//! 2. the typed API client is current: `urr-origin openapi` must equal
//!    `frontend/openapi.json`, and openapi-typescript's output from it must equal
//!    `frontend/src/api/schema.d.ts` (`cargo xtask web-api` regenerates both);
//! 3. `npm run lint`, `npm run typecheck`, `npm test` (Vitest), `npm run build`;
//! 4. the browser tests: a whole platform on free ports (fresh database, fresh edge
//!    state; [`crate::stack`]) and Playwright driving the system Chromium through the
//!    edge. Screenshots, traces and the servers' logs of a failed run are kept under
//!    `target/e2e/`.

use crate::services::Purpose;
use crate::stack::{self, Stack};
use crate::util::{self, cargo, run as sh};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

pub fn dir() -> PathBuf {
    util::root().join("frontend")
}

fn exists() -> bool {
    dir().join("package.json").is_file()
}

fn npm_ci() -> Result<()> {
    util::npm_ci(&dir(), "vite", &[])
}

fn npm(script: &str) -> Result<()> {
    sh(Command::new("npm").args(["run", script]).current_dir(dir()))
}

/// Builds the app into `frontend/dist`; `None` when there is no web app.
pub fn build() -> Result<Option<PathBuf>> {
    if !exists() {
        println!("no frontend/ directory; the origin serves the API only");
        return Ok(None);
    }
    npm_ci()?;
    npm("build")?;
    Ok(Some(dir().join("dist")))
}

/// Vite's dev server on 127.0.0.1:5173, proxying the API and the waiting rooms to
/// `target` (`host:port`).
pub fn dev_server(target: &str) -> Result<Child> {
    if !exists() {
        bail!("there is no frontend/ directory to serve");
    }
    npm_ci()?;
    Command::new("npm")
        .args([
            "run",
            "dev",
            "--",
            "--host",
            "127.0.0.1",
            "--port",
            "5173",
            "--strictPort",
        ])
        .env("URR_DEV_PROXY", format!("http://{target}"))
        .current_dir(dir())
        .spawn()
        .context("starting the Vite dev server")
}

/// The OpenAPI document of the current code.
fn current_openapi() -> Result<String> {
    sh(cargo().args(["build", "-p", "origin", "--bin", "urr-origin"]))?;
    let bin = util::root().join("target/debug/urr-origin");
    let out = Command::new(&bin)
        .arg("openapi")
        .output()
        .context("running urr-origin openapi")?;
    if !out.status.success() {
        bail!(
            "urr-origin openapi failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).context("the OpenAPI document is not UTF-8")
}

fn generate_types(openapi: &Path, out: &Path) -> Result<()> {
    sh(
        Command::new(dir().join("node_modules/.bin/openapi-typescript"))
            .arg(openapi)
            .arg("-o")
            .arg(out)
            .current_dir(dir()),
    )
}

/// `cargo xtask web-api`: writes `frontend/openapi.json` from the code and regenerates
/// `frontend/src/api/schema.d.ts` from it.
pub fn regenerate_api() -> Result<()> {
    npm_ci()?;
    std::fs::write(dir().join("openapi.json"), current_openapi()?)?;
    generate_types(
        &dir().join("openapi.json"),
        &dir().join("src/api/schema.d.ts"),
    )?;
    println!("frontend/openapi.json and frontend/src/api/schema.d.ts regenerated");
    Ok(())
}

/// Fails when the committed API description or the generated types lag the code.
fn check_api_types() -> Result<()> {
    let stale = "the web app's API types are stale; run `cargo xtask web-api` and commit \
                 frontend/openapi.json and frontend/src/api/schema.d.ts";
    let current = current_openapi()?;
    let committed = std::fs::read_to_string(dir().join("openapi.json")).unwrap_or_default();
    if committed.trim() != current.trim() {
        bail!("frontend/openapi.json differs from `urr-origin openapi`: {stale}");
    }
    let tmp = util::root().join("target/e2e");
    std::fs::create_dir_all(&tmp)?;
    let generated = tmp.join("schema.d.ts");
    generate_types(&dir().join("openapi.json"), &generated)?;
    let want = std::fs::read_to_string(&generated)?;
    let have = std::fs::read_to_string(dir().join("src/api/schema.d.ts")).unwrap_or_default();
    if want != have {
        bail!("frontend/src/api/schema.d.ts differs from openapi-typescript's output: {stale}");
    }
    println!("API description and generated types are current");
    Ok(())
}

/// The Chromium for the browser tests: `URR_CHROMIUM` or Debian's `/usr/bin/chromium`,
/// installed with apt-get when missing and we may (Playwright's own browser download
/// is not used), with Noto CJK so Korean text renders in screenshots.
pub fn chromium() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("URR_CHROMIUM") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("URR_CHROMIUM={} is not a file", p.display());
    }
    let system = PathBuf::from("/usr/bin/chromium");
    if system.is_file() {
        return Ok(system);
    }
    let root = util::output(Command::new("id").arg("-u")).as_deref() == Some("0");
    if root && util::which("apt-get").is_some() {
        println!("chromium is missing; installing Debian's package");
        sh(Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "chromium",
                "fonts-noto-cjk",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"))
        .context("apt-get install chromium failed; try `apt-get update` first")?;
        if system.is_file() {
            return Ok(system);
        }
    }
    bail!(
        "the browser tests need Chromium: install Debian's package with \
         `sudo apt-get install chromium`, or set URR_CHROMIUM to a Chromium binary"
    )
}

pub fn test() -> Result<()> {
    if !exists() {
        println!("no frontend/ directory; nothing to run");
        return Ok(());
    }
    npm_ci()?;
    check_api_types()?;
    for script in ["lint", "typecheck", "test", "build"] {
        npm(script)?;
    }
    run_playwright(&[], &[])
}

/// The Playwright suite against a fresh platform; `args` go to `playwright test`.
pub fn e2e(args: &[String]) -> Result<()> {
    if !exists() {
        bail!("there is no frontend/ to test");
    }
    npm_ci()?;
    npm("build")?;
    if args.iter().any(|a| a == "--screenshots") {
        std::fs::create_dir_all(util::root().join("docs/screenshots"))?;
        let rest: Vec<String> = args
            .iter()
            .filter(|a| *a != "--screenshots")
            .cloned()
            .collect();
        return run_playwright(&rest, &[("URR_SHOTS", "1".to_owned())]);
    }
    run_playwright(args, &[])
}

/// Playwright against a fresh platform, with `extra_env` (the seat-map bench sets
/// `URR_BENCH`, which selects the `*.bench.ts` files instead of the tests).
pub fn run_playwright(args: &[String], extra_env: &[(&str, String)]) -> Result<()> {
    let chromium = chromium()?;
    let out = util::root().join("target/e2e");
    let _ = std::fs::remove_dir_all(out.join("servers"));
    let _ = std::fs::remove_dir_all(out.join("edge-state"));
    let port = || util::free_port().map(|p| format!("127.0.0.1:{p}"));
    let options = stack::Options {
        purpose: Purpose::Test,
        release: false,
        database: "urr_e2e".into(),
        fresh_database: true,
        http_addr: port()?,
        metrics_addr: port()?,
        edge_addr: Some(port()?),
        edge_state: out.join("edge-state"),
        toss_fake_addr: Some(port()?),
        web_dir: Some(dir().join("dist")),
        demo_password: crate::dev::DEMO_PASSWORD_DEFAULT.into(),
        inherit_env: false,
        log_dir: Some(out.join("servers")),
    };
    let stack = Stack::start(&options)?;
    util::step("browser tests (Playwright, system Chromium, through the edge)");
    let result = playwright(&stack, &out, &chromium, args, extra_env);
    drop(stack);
    result.map_err(|e| {
        e.context(format!(
            "browser tests failed; screenshots, traces and server logs are in {}",
            out.display()
        ))
    })
}

fn playwright(
    stack: &Stack,
    out: &Path,
    chromium: &Path,
    args: &[String],
    extra_env: &[(&str, String)],
) -> Result<()> {
    let edge = stack.edge_addr.clone().unwrap_or_default();
    sh(Command::new(dir().join("node_modules/.bin/playwright"))
        .arg("test")
        .args(args)
        .env("URR_E2E_BASE_URL", format!("http://{edge}"))
        .env("URR_E2E_ORIGIN_URL", format!("http://{}", stack.http_addr))
        .env(
            "URR_E2E_TOSS_URL",
            format!(
                "http://{}",
                stack.toss_fake_addr.clone().unwrap_or_default()
            ),
        )
        .env("URR_E2E_PASSWORD", crate::dev::DEMO_PASSWORD_DEFAULT)
        .env("URR_E2E_OUTPUT", out)
        .env("URR_CHROMIUM", chromium)
        .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir()))
}
