//! The web app's stage of `cargo xtask test`: `npm ci`, then the app's own `lint`,
//! `typecheck` and `test` scripts, when `frontend/package.json` exists. There is no web
//! app yet; until there is, the stage says so and passes.

use crate::util::{self, run as sh};
use anyhow::Result;
use std::process::Command;

pub fn test() -> Result<()> {
    let dir = util::root().join("frontend");
    if !dir.join("package.json").is_file() {
        println!("no frontend/ directory yet; nothing to run");
        return Ok(());
    }
    sh(Command::new("npm").arg("ci").current_dir(&dir))?;
    for script in ["lint", "typecheck", "test"] {
        sh(Command::new("npm").args(["run", script]).current_dir(&dir))?;
    }
    Ok(())
}
