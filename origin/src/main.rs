//! `urr-origin [serve | migrate | seed-demo | openapi]`: the origin binary. Configuration comes from `URR_*`
//! environment variables (and a `.env` file in the working directory, if present).

use std::process::ExitCode;
use urr_origin::{Application, Config, app, demo, telemetry};

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
    if command == "openapi" {
        // Needs no configuration: the document is built from the code alone.
        println!("{}", app::openapi_document().to_pretty_json()?);
        return Ok(());
    }
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
        "seed-demo" => {
            let db = app::connect_db(&config)?;
            app::MIGRATOR.run(&db).await?;
            let password = std::env::var("URR_DEMO_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| demo::DEFAULT_PASSWORD.to_owned());
            let summary =
                demo::seed(&db, &urr_origin::clock::Clock::system(), &config, &password).await?;
            println!(
                "demo data ready: {} accounts (password: {password})",
                summary.accounts.len()
            );
            for (email, role) in &summary.accounts {
                println!("  {email:<22} {}", role.as_str());
            }
            let c = &summary.catalog;
            println!(
                "  events: on sale {}, presale {}, standing {}",
                c.event_on_sale_seated, c.event_upcoming_presale, c.event_standing
            );
            println!(
                "  queued: edge waiting room {} (/e/{}), origin line only {}",
                c.event_queued_edge, c.event_queued_edge, c.event_queued_origin
            );
            Ok(())
        }
        other => {
            anyhow::bail!("unknown command `{other}`; expected `serve`, `migrate` or `seed-demo`")
        }
    }
}
