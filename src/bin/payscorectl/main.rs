//! `payscorectl`: operator and merchant tooling for PayScore Gateway.
//! Keys and tokens, merchant apply, services, score import, stages, and a
//! power-bank demo that runs one order end to end.
#![forbid(unsafe_code)]

/// Allocation was a quarter of the gateway's instructions under glibc malloc
/// (callgrind, see BENCH.md); mimalloc is built for many small, short-lived
/// allocations across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod client;
mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use payscore_gateway::auth::token;
use payscore_gateway::pb::v1 as pb;

use client::{Credentials, Ctl};

#[derive(Parser)]
#[command(version, about = "Operator and merchant tooling for PayScore Gateway")]
struct Cli {
    /// The gateway's address.
    #[arg(
        long,
        global = true,
        env = "PAYSCORE_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    addr: String,
    /// Where credentials are kept (the gateway's dev operator key is read from here too).
    #[arg(long, global = true, env = "PAYSCORE_HOME")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Makes an ES256 (P-256) key pair: <out>/merchant.pem and <out>/merchant.pub.pem.
    Keygen {
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Mints a short-lived token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Applies as a merchant and saves the credentials for later commands.
    Apply(ApplyArgs),
    /// Creates or replaces one of the saved merchant's services.
    Service(ServiceArgs),
    /// Imports the daily score batch from a CSV file (openid,score,enrolled) as the operator.
    ImportScores { file: PathBuf },
    /// Sets a merchant's stage as the operator.
    SetStage {
        #[arg(long)]
        merchant_id: String,
        #[arg(long, value_enum)]
        stage: StageArg,
        #[arg(long)]
        reason: String,
    },
    /// Prints the platform's callback-verification keys (serial and PEM).
    PlatformKeys,
    /// Runs one power-bank order end to end against a running gateway.
    Demo,
    /// Measures the gateway against a bare tonic server and a one-round-trip
    /// Redis server, all started here (needs redis-server on PATH).
    Bench(bench::BenchArgs),
    /// Serves one side of a benchmark (started by `bench`).
    #[command(hide = true)]
    BenchServer {
        #[arg(long, value_enum)]
        kind: bench::baseline::Kind,
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        #[arg(long)]
        redis: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// A token of the saved merchant (or of the given key).
    Merchant {
        #[arg(long, value_enum, default_value = "sandbox")]
        env: EnvArg,
        #[arg(long, default_value_t = 300)]
        ttl: u64,
    },
    /// An operator token, signed with the given key (default: the dev key).
    Operator {
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long, default_value_t = 300)]
        ttl: u64,
    },
}

#[derive(Args)]
struct ApplyArgs {
    #[arg(long)]
    name: String,
    /// e.g. 京ICP备12345678号
    #[arg(long)]
    icp: String,
    #[arg(long, default_value = "3.0")]
    api_version: String,
    /// PKCS#8 PEM private key; its public half is registered. Generated if absent.
    #[arg(long)]
    key: Option<PathBuf>,
    #[arg(long)]
    notify_url: String,
}

#[derive(Args)]
struct ServiceArgs {
    #[arg(long)]
    id: String,
    #[arg(long)]
    name: String,
    #[arg(long, default_value_t = 550)]
    min_score: i32,
    /// Fen.
    #[arg(long)]
    max_risk_fund: i64,
}

#[derive(Clone, Copy, ValueEnum)]
enum EnvArg {
    Sandbox,
    Live,
}

impl EnvArg {
    fn name(self) -> &'static str {
        match self {
            EnvArg::Sandbox => "sandbox",
            EnvArg::Live => "live",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum StageArg {
    Sandbox,
    Canary,
    Production,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("payscorectl: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

async fn run(cli: Cli) -> Result {
    let ctl = Ctl::new(cli.addr, cli.home);
    match cli.command {
        Command::Keygen { out } => {
            let (private, public) = token::generate_key_pair();
            std::fs::create_dir_all(&out)?;
            token::write_private_key(&out.join("merchant.pem"), &private)?;
            std::fs::write(out.join("merchant.pub.pem"), public)?;
            println!(
                "wrote {0}/merchant.pem and {0}/merchant.pub.pem",
                out.display()
            );
        }
        Command::Token(TokenCommand::Merchant { env, ttl }) => {
            let creds = ctl.load_credentials()?;
            println!("{}", creds.token(env.name(), ttl)?);
        }
        Command::Token(TokenCommand::Operator { key, ttl }) => {
            println!("{}", ctl.operator_token(key.as_deref(), ttl)?);
        }
        Command::Apply(args) => {
            let private = match &args.key {
                Some(path) => std::fs::read_to_string(path)?,
                None => token::generate_key_pair().0,
            };
            let creds = ctl
                .apply(
                    &args.name,
                    &args.icp,
                    &args.api_version,
                    &private,
                    &args.notify_url,
                )
                .await?;
            let path = ctl.save_credentials(&creds)?;
            println!(
                "merchant_id: {}\nkey_id:      {}\nstage:       SANDBOX",
                creds.merchant_id, creds.key_id
            );
            println!("api_v3_key and private key saved to {}", path.display());
        }
        Command::Service(args) => {
            let creds = ctl.load_credentials()?;
            let service = ctl
                .upsert_service(
                    &creds,
                    &args.id,
                    &args.name,
                    args.min_score,
                    args.max_risk_fund,
                )
                .await?;
            println!("{service:#?}");
        }
        Command::ImportScores { file } => {
            let rows = client::read_scores(&file)?;
            let response = ctl.import_scores(rows).await?;
            println!(
                "imported {} rejected {}",
                response.imported, response.rejected
            );
            for error in response.errors {
                println!("  {error}");
            }
        }
        Command::SetStage {
            merchant_id,
            stage,
            reason,
        } => {
            let stage = match stage {
                StageArg::Sandbox => pb::Stage::Sandbox,
                StageArg::Canary => pb::Stage::Canary,
                StageArg::Production => pb::Stage::Production,
            };
            let stage = ctl.set_stage(&merchant_id, stage, &reason).await?;
            println!("{merchant_id}: {}", stage.as_str_name());
        }
        Command::PlatformKeys => {
            let creds = ctl.load_credentials()?;
            for key in ctl.platform_keys(&creds).await? {
                println!("# serial {}", key.serial);
                print!("{}", key.public_key_pem);
            }
        }
        Command::Demo => demo::run(&ctl).await?,
        Command::Bench(args) => bench::run(args).await?,
        Command::BenchServer {
            kind,
            listen,
            redis,
        } => bench::baseline::serve(kind, listen, redis).await?,
    }
    Ok(())
}

impl Credentials {
    fn token(&self, env: &str, ttl: u64) -> Result<String> {
        Ok(token::merchant_token(
            &self.merchant_id,
            &self.key_id,
            env,
            &self.private_key_pem,
            ttl,
        )?)
    }
}
