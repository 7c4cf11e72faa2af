//! Operator commands: `gavel key` (keystores) and `gavel claims` / `gavel disputes` (what the
//! chain or a running node knows, the dispute explorer's data as a table or JSON).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use gavel_challenger::rpc::{self, KeySource};
use serde_json::{json, Value};

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Make an encrypted keystore (Web3 Secret Storage, scrypt): a fresh random key, or
    /// `--private-key`'s. Prints its address.
    New {
        /// The keystore file to write (never overwritten).
        #[arg(long)]
        keystore: PathBuf,
        /// File whose first line is the password.
        #[arg(long)]
        password_file: PathBuf,
        /// Import this 0x-hex key instead of making one (default `GAVEL_PRIVATE_KEY` if
        /// `--import-env`).
        #[arg(long)]
        private_key: Option<String>,
        /// Import the key in `GAVEL_PRIVATE_KEY`.
        #[arg(long, conflicts_with = "private_key")]
        import_env: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Decrypt a keystore and print its address.
    Address {
        /// The keystore file.
        #[arg(long)]
        keystore: PathBuf,
        /// File whose first line is the password.
        #[arg(long)]
        password_file: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn key(cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::New { keystore, password_file, private_key, import_env, json } => {
            let password = rpc::read_password(&password_file)?;
            anyhow::ensure!(!password.is_empty(), "password file {} is empty", password_file.display());
            let import = match (private_key, import_env) {
                (Some(k), _) => Some(k),
                (None, true) => Some(std::env::var("GAVEL_PRIVATE_KEY").context("--import-env: GAVEL_PRIVATE_KEY is not set")?),
                (None, false) => None,
            };
            let import = import.map(|k| rpc::signer(&KeySource::Hex(k))).transpose()?;
            let signer = rpc::new_keystore(&keystore, &password, import.as_ref())?;
            if json {
                println!("{}", json!({ "keystore": keystore, "address": signer.address().to_string() }));
            } else {
                println!("{} written: address {}", keystore.display(), signer.address());
            }
        }
        KeyCommand::Address { keystore, password_file, json } => {
            let signer = rpc::signer(&KeySource::Keystore { path: keystore.clone(), password_file })?;
            if json {
                println!("{}", json!({ "keystore": keystore, "address": signer.address().to_string() }));
            } else {
                println!("{}", signer.address());
            }
        }
    }
    Ok(())
}

/// Where `gavel claims` and `gavel disputes` read from.
#[derive(Args)]
pub(crate) struct ListArgs {
    /// The deployment JSON (read the chain through its RPC).
    #[arg(long, default_value = ".gavel/deployment.json")]
    deployment: PathBuf,
    /// Use this Ethereum RPC instead of the deployment's.
    #[arg(long)]
    rpc_url: Option<String>,
    /// Ask a running node instead (`gavel watch --http`, `gavel serve --listen` or `gavel
    /// devnet` address, e.g. http://127.0.0.1:9100): its view includes its verdicts.
    #[arg(long)]
    node: Option<String>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

/// The explorer's picture, from a node or from the chain.
fn picture(args: &ListArgs) -> Result<Value> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        if let Some(node) = &args.node {
            let url = format!("{}/api/explorer", node.trim_end_matches('/'));
            let resp = rpc::http_client()?
                .get(&url)
                .timeout(std::time::Duration::from_secs(30))
                .send()
                .await
                .map_err(|e| rpc::explain(e.into()))
                .with_context(|| format!("GET {url}"))?;
            anyhow::ensure!(resp.status().is_success(), "GET {url}: HTTP {}", resp.status());
            let bytes = resp.bytes().await.with_context(|| format!("GET {url}"))?;
            return serde_json::from_slice(&bytes).with_context(|| format!("{url} did not answer with the explorer's JSON"));
        }
        let mut d = gavel_challenger::chain::Deployment::load(&args.deployment)?;
        if let Some(u) = &args.rpc_url {
            d.rpc_url = u.clone();
        }
        // Reading needs no key: a throwaway signer.
        let chain = gavel_challenger::chain::Chain::connect_signer(&d.rpc_url, alloy::signers::local::PrivateKeySigner::random()).await?;
        let id = chain.chain_id().await?;
        anyhow::ensure!(id == d.chain_id, "the RPC serves chain {id}, the deployment is on chain {}", d.chain_id);
        let mut mirror = gavel_challenger::player::Mirror::new(&d)?;
        mirror.sync(&chain).await?;
        let mut explorer = gavel_challenger::explorer::Explorer::new("chain", &d, None);
        let now = chain.now().await?;
        explorer.refresh(&mirror, &chain, mirror.next_block().saturating_sub(1), now).await?;
        let p = explorer.shared().read().map_err(|_| anyhow::anyhow!("explorer lock"))?.clone();
        Ok(p)
    })
}

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn short(v: &Value) -> String {
    let x = s(v);
    if x.len() > 14 && x.starts_with("0x") {
        format!("{}…{}", &x[..8], &x[x.len() - 4..])
    } else {
        x
    }
}

/// `gavel claims`.
pub(crate) fn claims(args: ListArgs) -> Result<()> {
    let p = picture(&args)?;
    let claims = p["claims"].as_array().cloned().unwrap_or_default();
    if args.json {
        println!("{}", Value::Array(claims));
        return Ok(());
    }
    println!("{:>5}  {:<12} {:<14} {:>7}  {:<8} {:<12} {:>8}  deadline", "claim", "model", "claimant", "request", "status", "verdict", "counters");
    for c in &claims {
        println!(
            "{:>5}  {:<12} {:<14} {:>7}  {:<8} {:<12} {:>8}  {}",
            s(&c["id"]),
            s(&c["model"]),
            short(&c["claimant"]),
            s(&c["request"]),
            s(&c["status"]),
            s(&c["verdict"]),
            s(&c["counters"]),
            s(&c["deadline"])
        );
    }
    if claims.is_empty() {
        println!("(no claims)");
    }
    Ok(())
}

/// `gavel disputes`.
pub(crate) fn disputes(args: ListArgs) -> Result<()> {
    let p = picture(&args)?;
    let disputes = p["disputes"].as_array().cloned().unwrap_or_default();
    if args.json {
        println!("{}", Value::Array(disputes));
        return Ok(());
    }
    for d in &disputes {
        let rounds = d["rounds"].as_array().map_or(0, Vec::len);
        println!("claim {}: {} — {rounds} nodes, {} gas", s(&d["claim"]), s(&d["status"]), s(&d["gas_total"]));
        for r in d["rounds"].as_array().into_iter().flatten() {
            println!(
                "  node {:>4} depth {:>2} {:<10} {:<14} level {} [{}, {}] {:<9} {:>8} gas",
                s(&r["node"]),
                s(&r["depth"]),
                s(&r["side"]),
                short(&r["poster"]),
                s(&r["level"]),
                s(&r["start"]),
                s(&r["end"]),
                s(&r["status"]),
                s(&r["gas"])
            );
        }
        let st = &d["step"];
        if !st.is_null() {
            println!(
                "  step: instruction {} of macro-step {}: {} at pc {} (ONNX node {}, op {}), root {} -> {}",
                s(&st["instruction"]),
                s(&st["macro_step"]),
                s(&st["opcode"]),
                s(&st["pc"]),
                s(&st["onnx_node"]),
                s(&st["onnx_op"]),
                short(&st["root_before"]),
                short(&st["root_after"])
            );
        }
    }
    if disputes.is_empty() {
        println!("(no disputes)");
    }
    Ok(())
}
