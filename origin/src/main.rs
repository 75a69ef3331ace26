//! `urr-origin [serve | migrate]`: the origin binary. Configuration comes from `URR_*`
//! environment variables (and a `.env` file in the working directory, if present).

use std::process::ExitCode;
use urr_origin::{Application, Config, app, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("urr-origin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    let config = Config::from_env()?;
    telemetry::init_tracing(&config);
    match command.as_str() {
        "serve" => {
            let app = Application::build(config).await?;
            app.run_until(app::shutdown_signal()).await
        }
        "migrate" => {
            let db = app::connect_db(&config)?;
            app::MIGRATOR.run(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        other => anyhow::bail!("unknown command `{other}`; expected `serve` or `migrate`"),
    }
}
