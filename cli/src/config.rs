//! Node settings from a TOML file (`--config`), under the command's flags: a flag given on the
//! command line wins, then the file, then the built-in default. Unknown keys are an error that
//! names the key. Relative paths in a file are relative to the file. Commented examples:
//! `docs/ops/watch.example.toml`, `docs/ops/serve.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use gavel_challenger::rpc::KeySource;
use serde::Deserialize;

/// Signing key flags shared by every command that sends transactions.
#[derive(Args, Clone, Default)]
pub(crate) struct KeyArgs {
    /// Signer key, 0x-hex (devnets). Without it the key comes from `--keystore`, else the
    /// config file's keystore, else `GAVEL_PRIVATE_KEY`.
    #[arg(long)]
    pub(crate) private_key: Option<String>,
    /// Encrypted JSON keystore (Web3 Secret Storage, as geth and `cast wallet` write; `gavel key
    /// new` makes one).
    #[arg(long, requires = "password_file")]
    pub(crate) keystore: Option<PathBuf>,
    /// File whose first line is the keystore's password.
    #[arg(long)]
    pub(crate) password_file: Option<PathBuf>,
}

impl KeyArgs {
    /// Where the key comes from: the flags, then the file's keystore, then `GAVEL_PRIVATE_KEY`,
    /// then `fallback` (the devnet's dev account).
    pub(crate) fn source(&self, file: &FileKey, fallback: Option<&str>) -> Result<KeySource> {
        if let Some(k) = &self.private_key {
            return Ok(KeySource::Hex(k.clone()));
        }
        if let Some(path) = &self.keystore {
            let password_file = self.password_file.clone().context("--keystore needs --password-file")?;
            return Ok(KeySource::Keystore { path: path.clone(), password_file });
        }
        if let Some(path) = &file.keystore {
            let password_file = self.password_file.clone().or_else(|| file.password_file.clone()).context("the config file's keystore needs password_file")?;
            return Ok(KeySource::Keystore { path: path.clone(), password_file });
        }
        if let Ok(k) = std::env::var("GAVEL_PRIVATE_KEY") {
            return Ok(KeySource::Hex(k));
        }
        match fallback {
            Some(k) => Ok(KeySource::Hex(k.to_string())),
            None => anyhow::bail!("a signer is needed: --keystore with --password-file, keystore in --config, --private-key or GAVEL_PRIVATE_KEY"),
        }
    }
}

/// The key settings a file may hold (never a raw key: keep secrets out of config files).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileKey {
    /// Keystore file.
    pub(crate) keystore: Option<PathBuf>,
    /// Its password file.
    pub(crate) password_file: Option<PathBuf>,
}

/// `[p2p]` of a node's file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct P2pFile {
    /// libp2p listen addresses.
    pub(crate) listen: Option<Vec<String>>,
    /// Peers to dial.
    pub(crate) peers: Option<Vec<String>>,
    /// `false`: stay off the p2p network.
    pub(crate) enabled: Option<bool>,
}

/// What `gavel watch --config` reads.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchFile {
    pub(crate) deployment: Option<PathBuf>,
    pub(crate) rpc_url: Option<String>,
    #[serde(flatten)]
    pub(crate) key: FileKey,
    pub(crate) state: Option<PathBuf>,
    pub(crate) poll_ms: Option<u64>,
    pub(crate) once: Option<bool>,
    pub(crate) http: Option<SocketAddr>,
    pub(crate) guest: Option<PathBuf>,
    pub(crate) p2p: Option<P2pFile>,
}

/// Wei as a TOML integer or, above 2^63, a decimal string.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub(crate) enum Wei {
    Int(u64),
    Text(String),
}

impl Wei {
    pub(crate) fn get(&self) -> Result<u128> {
        match self {
            Wei::Int(v) => Ok(u128::from(*v)),
            Wei::Text(s) => s.trim().parse().with_context(|| format!("min_payment {s:?} is not a number of wei")),
        }
    }
}

/// What `gavel serve --config` reads.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServeFile {
    pub(crate) deployment: Option<PathBuf>,
    pub(crate) rpc_url: Option<String>,
    #[serde(flatten)]
    pub(crate) key: FileKey,
    pub(crate) state: Option<PathBuf>,
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) poll_ms: Option<u64>,
    pub(crate) fast_claims: Option<bool>,
    pub(crate) min_payment: Option<Wei>,
    pub(crate) max_callback_gas: Option<u32>,
    pub(crate) guest: Option<PathBuf>,
    pub(crate) p2p: Option<P2pFile>,
}

/// Paths a file names, made relative to the file's directory.
trait Rebase {
    fn rebase(&mut self, dir: &Path);
}

fn rebase(p: &mut Option<PathBuf>, dir: &Path) {
    if let Some(x) = p.as_mut() {
        if x.is_relative() {
            *x = dir.join(&*x);
        }
    }
}

impl Rebase for WatchFile {
    fn rebase(&mut self, dir: &Path) {
        for p in [&mut self.deployment, &mut self.key.keystore, &mut self.key.password_file, &mut self.state, &mut self.guest] {
            rebase(p, dir);
        }
    }
}

impl Rebase for ServeFile {
    fn rebase(&mut self, dir: &Path) {
        for p in [&mut self.deployment, &mut self.key.keystore, &mut self.key.password_file, &mut self.state, &mut self.guest] {
            rebase(p, dir);
        }
    }
}

/// Reads `path` (none: every setting unset).
pub(crate) fn load<T: for<'de> Deserialize<'de> + Default + RebaseFile>(path: Option<&Path>) -> Result<T> {
    let Some(path) = path else { return Ok(T::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
    let mut v: T = toml::from_str(&text).map_err(|e| {
        // One line: where, and what (toml's own rendering spans several).
        let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        anyhow::anyhow!("config {} line {line}: {}", path.display(), e.message().trim_end())
    })?;
    v.rebase_to(path.parent().unwrap_or(Path::new(".")));
    Ok(v)
}

/// A file type whose relative paths [`load`] rebases.
#[allow(private_bounds)]
pub(crate) trait RebaseFile {
    fn rebase_to(&mut self, dir: &Path);
}

impl<T: Rebase> RebaseFile for T {
    fn rebase_to(&mut self, dir: &Path) {
        self.rebase(dir);
    }
}

/// Multiaddrs from a file.
pub(crate) fn multiaddrs(v: &[String], what: &str) -> Result<Vec<gavel_p2p::Multiaddr>> {
    v.iter().map(|s| s.parse().with_context(|| format!("p2p.{what}: {s:?} is not a multiaddr"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    /// The commented examples in docs/ops parse, and name every setting.
    #[test]
    fn examples_parse() {
        let w: WatchFile = load(Some(&repo().join("docs/ops/watch.example.toml"))).unwrap();
        assert!(w.rpc_url.is_some() && w.http.is_some() && w.key.keystore.is_some() && w.p2p.is_some());
        let s: ServeFile = load(Some(&repo().join("docs/ops/serve.example.toml"))).unwrap();
        assert!(s.listen.is_some() && s.min_payment.is_some() && s.key.password_file.is_some());
        assert!(s.key.keystore.unwrap().starts_with(repo().join("docs/ops")), "relative paths are the file's");
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = std::env::temp_dir().join(format!("gavel-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("w.toml");
        std::fs::write(&f, "rpc_url = \"https://x\"\npoll_msec = 5\n").unwrap();
        let e = load::<WatchFile>(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("poll_msec"), "{e}");
        std::fs::write(&f, "[p2p]\nlisten = []\npeer = []\n").unwrap();
        let e = load::<WatchFile>(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("peer"), "{e}");
        // A serve-only setting in a watchtower's file is unknown there.
        std::fs::write(&f, "fast_claims = true\n").unwrap();
        assert!(load::<WatchFile>(Some(&f)).unwrap_err().to_string().contains("fast_claims"));
        std::fs::write(&f, "private_key = \"0x01\"\n").unwrap();
        assert!(load::<ServeFile>(Some(&f)).unwrap_err().to_string().contains("private_key"), "raw keys stay out of files");
        std::fs::remove_dir_all(&dir).ok();
    }
}
