//! How a node reaches an Ethereum RPC and signs: `http://`, `https://`, `ws://` and `wss://`
//! endpoints over rustls, and signer keys from a hex secret or an encrypted keystore.
//!
//! TLS trusts the system's root store, read by `rustls-native-certs`, which honours
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` the way OpenSSL, curl and Foundry do: point
//! `SSL_CERT_FILE` at a PEM bundle to trust a private CA. `wss://` also trusts the webpki
//! (Mozilla) roots that tungstenite carries. A certificate that does not verify is refused with
//! an error that says so and names the variable.
//!
//! Every request goes through a layer that counts requests and failures
//! (`gavel_rpc_requests_total`, `gavel_rpc_errors_total`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use alloy::rpc::client::{ClientBuilder, RpcClient};
use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{TransportError, TransportFut};
use anyhow::{bail, Context, Result};

/// How long connecting to an RPC may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long one HTTP request may take (a receipt poll or `eth_getLogs` over 5,000 blocks).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The TLS client configuration: ring, the system roots (`SSL_CERT_FILE`/`SSL_CERT_DIR`
/// honoured), TLS 1.2 and 1.3. Built once per process.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>> {
    static CONFIG: OnceLock<std::result::Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // tungstenite builds its own configuration from the process default provider.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            for e in &found.errors {
                tracing::warn!(error = %e, "reading the system's root certificates");
            }
            if added == 0 {
                let hint = match std::env::var_os("SSL_CERT_FILE") {
                    Some(f) => format!("SSL_CERT_FILE={} holds no usable PEM certificate", PathBuf::from(f).display()),
                    None => "no root certificates found in the system store; set SSL_CERT_FILE to a PEM bundle".into(),
                };
                return Err(hint);
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS configuration: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

/// An HTTP client with gavel's TLS configuration and timeouts (RPC and node APIs alike).
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .tls_backend_preconfigured((*tls_config()?).clone())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// Counts requests and failures (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct CountLayer;

impl<S> tower::Layer<S> for CountLayer {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted(inner)
    }
}

/// A transport whose requests are counted.
#[derive(Clone, Debug)]
pub struct Counted<S>(S);

/// Whether an error reply is a node failing (not a transaction that would revert, which the
/// players meet in the normal run of a game when someone else moved first).
fn is_failure(packet: &ResponsePacket) -> bool {
    packet.iter_errors().any(|e| !e.message.to_ascii_lowercase().contains("revert"))
}

impl<S> tower::Service<RequestPacket> for Counted<S>
where
    S: tower::Service<RequestPacket, Response = ResponsePacket, Error = TransportError, Future = TransportFut<'static>> + Send + Clone + 'static,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), TransportError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: RequestPacket) -> TransportFut<'static> {
        crate::metrics::add("gavel_rpc_requests_total", &[], req.len() as f64);
        let fut = self.0.call(req);
        Box::pin(async move {
            let r = fut.await;
            match &r {
                Err(_) => crate::metrics::inc("gavel_rpc_errors_total", &[]),
                Ok(p) if is_failure(p) => crate::metrics::inc("gavel_rpc_errors_total", &[]),
                Ok(_) => {}
            }
            r
        })
    }
}

/// An RPC client for `url` (`http`, `https`, `ws` or `wss`), counted.
pub async fn client(url: &str) -> Result<RpcClient> {
    let parsed: url::Url = url.parse().with_context(|| format!("bad RPC URL {url:?}"))?;
    match parsed.scheme() {
        "http" | "https" => {
            let transport = alloy::transports::http::Http::with_client(http_client()?, parsed);
            let local = transport.guess_local();
            Ok(ClientBuilder::default().layer(CountLayer).transport(transport, local))
        }
        "ws" | "wss" => {
            if parsed.scheme() == "wss" {
                tls_config()?;
            }
            let connect = alloy::transports::ws::WsConnect::new(url).with_max_retries(3);
            let client = tokio::time::timeout(CONNECT_TIMEOUT, ClientBuilder::default().layer(CountLayer).ws(connect))
                .await
                .with_context(|| format!("connecting to {url}: timed out"))?
                .map_err(|e| explain(anyhow::Error::new(e)))
                .with_context(|| format!("connecting to {url}"))?;
            Ok(client)
        }
        other => bail!("RPC URL {url:?}: scheme {other}, want http, https, ws or wss"),
    }
}

/// Adds a hint to a TLS failure: which variable decides what is trusted.
pub fn explain(e: anyhow::Error) -> anyhow::Error {
    let text = format!("{e:#}");
    if text.contains("invalid peer certificate") || text.contains("certificate verify failed") || text.contains("InvalidCertificate") {
        e.context("TLS: the server's certificate is not trusted (gavel trusts the system roots, or the PEM bundle in SSL_CERT_FILE)")
    } else {
        e
    }
}

/// Where a signing key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A 0x-hex secret (a flag or `GAVEL_PRIVATE_KEY`; meant for devnets).
    Hex(String),
    /// An encrypted JSON keystore (Web3 Secret Storage) and the file holding its password.
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// A file whose first line is the password.
        password_file: PathBuf,
    },
}

/// Reads a password file: its first line, without the line ending.
pub fn read_password(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read password file {}", path.display()))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// The signer of `source`. A wrong password or a damaged keystore is one error line that says
/// which.
pub fn signer(source: &KeySource) -> Result<PrivateKeySigner> {
    match source {
        KeySource::Hex(k) => k.trim().parse().map_err(|_| anyhow::anyhow!("the private key is not a 32-byte hex secret")),
        KeySource::Keystore { path, password_file } => {
            let password = read_password(password_file)?;
            let text = std::fs::read(path).with_context(|| format!("cannot read keystore {}", path.display()))?;
            let v: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|_| anyhow::anyhow!("keystore {}: not a JSON keystore (Web3 Secret Storage with a \"crypto\" section)", path.display()))?;
            let crypto = v.get("crypto").or(v.get("Crypto"));
            let Some(crypto) = crypto else {
                bail!("keystore {}: not a JSON keystore (Web3 Secret Storage with a \"crypto\" section)", path.display());
            };
            check_crypto(crypto).map_err(|why| anyhow::anyhow!("keystore {}: damaged or unsupported ({why})", path.display()))?;
            PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| {
                let why = e.to_string();
                if why.contains("Mac Mismatch") {
                    anyhow::anyhow!("keystore {}: wrong password (from {})", path.display(), password_file.display())
                } else {
                    anyhow::anyhow!("keystore {}: damaged or unsupported ({why})", path.display())
                }
            })
        }
    }
}

/// Checks a keystore's `crypto` section before the decryption library sees it: that library
/// indexes the derived key and the IV without checking their lengths (a short one panics) and
/// allocates and works whatever the KDF parameters ask (a huge `n` or `dklen` takes the
/// machine's memory). What geth, Foundry and gavel write passes.
fn check_crypto(c: &serde_json::Value) -> std::result::Result<(), String> {
    let hex_len = |v: &serde_json::Value, what: &str| -> std::result::Result<usize, String> {
        let s = v.as_str().ok_or(format!("{what} is not a hex string"))?;
        hex::decode(s.trim_start_matches("0x")).map(|b| b.len()).map_err(|_| format!("{what} is not hex"))
    };
    if c["cipher"].as_str() != Some("aes-128-ctr") {
        return Err(format!("cipher {}, want aes-128-ctr", c["cipher"]));
    }
    if hex_len(&c["cipherparams"]["iv"], "the IV")? != 16 {
        return Err("the IV is not 16 bytes".into());
    }
    if hex_len(&c["ciphertext"], "the ciphertext")? != 32 {
        return Err("the ciphertext is not a 32-byte key".into());
    }
    if hex_len(&c["mac"], "the MAC")? != 32 {
        return Err("the MAC is not 32 bytes".into());
    }
    let p = &c["kdfparams"];
    if p["dklen"].as_u64() != Some(32) {
        return Err(format!("kdfparams.dklen {}, want 32", p["dklen"]));
    }
    hex_len(&p["salt"], "the salt")?;
    match c["kdf"].as_str() {
        Some("scrypt") => {
            let n = p["n"].as_u64().unwrap_or(0);
            let (r, par) = (p["r"].as_u64().unwrap_or(0), p["p"].as_u64().unwrap_or(0));
            // geth's standard is n = 2^18, r = 8, p = 1 (256 MiB); allow up to n = 2^20 at r = 8
            // (128·r·n bytes: 1 GiB) and p = 4.
            if !n.is_power_of_two() || !(2..=1 << 20).contains(&n) || !(1..=8).contains(&r) || !(1..=4).contains(&par) {
                return Err(format!("scrypt parameters n={n} r={r} p={par} are out of range"));
            }
        }
        Some("pbkdf2") => {
            let rounds = p["c"].as_u64().unwrap_or(0);
            if !(1..=10_000_000).contains(&rounds) || p["prf"].as_str() != Some("hmac-sha256") {
                return Err(format!("pbkdf2 parameters c={rounds} prf={} are unsupported", p["prf"]));
            }
        }
        other => return Err(format!("kdf {other:?}, want scrypt or pbkdf2")),
    }
    Ok(())
}

/// Writes a new keystore at `path` (refusing to overwrite one) holding `key`, or a fresh random
/// key; returns the signer.
pub fn new_keystore(path: &Path, password: &str, key: Option<&PrivateKeySigner>) -> Result<PrivateKeySigner> {
    if path.exists() {
        bail!("{} exists; gavel does not overwrite a keystore", path.display());
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).context("the keystore path has no file name")?;
    let fresh;
    let key = match key {
        Some(k) => k,
        None => {
            fresh = PrivateKeySigner::random();
            &fresh
        }
    };
    let (signer, _) = PrivateKeySigner::encrypt_keystore(dir, &mut rand::thread_rng(), key.to_bytes(), password, Some(name))
        .map_err(|e| anyhow::anyhow!("writing keystore {}: {e}", path.display()))?;
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request is counted, and one to an RPC that is not there is an error.
    #[tokio::test]
    async fn requests_and_failures_are_counted() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let before =
            (crate::metrics::value("gavel_rpc_requests_total", &[]).unwrap_or(0.0), crate::metrics::value("gavel_rpc_errors_total", &[]).unwrap_or(0.0));
        let c = client(&format!("http://127.0.0.1:{port}")).await.unwrap();
        let r: std::result::Result<alloy::primitives::U64, _> = c.request_noparams("eth_chainId").await;
        assert!(r.is_err());
        assert!(crate::metrics::value("gavel_rpc_requests_total", &[]).unwrap_or(0.0) > before.0);
        assert!(crate::metrics::value("gavel_rpc_errors_total", &[]).unwrap_or(0.0) > before.1);
        let e = client("ftp://127.0.0.1:1").await.err().unwrap().to_string();
        assert!(e.contains("scheme ftp"), "{e}");
    }

    #[test]
    fn keystore_round_trip_and_clear_errors() {
        let dir = std::env::temp_dir().join(format!("gavel-keystore-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ks, pw, bad_pw) = (dir.join("key.json"), dir.join("pw"), dir.join("bad"));
        std::fs::write(&pw, "correct horse\n").unwrap();
        std::fs::write(&bad_pw, "wrong").unwrap();
        let made = new_keystore(&ks, &read_password(&pw).unwrap(), None).unwrap();
        let read = signer(&KeySource::Keystore { path: ks.clone(), password_file: pw.clone() }).unwrap();
        assert_eq!(made.address(), read.address());
        assert!(new_keystore(&ks, "x", None).unwrap_err().to_string().contains("does not overwrite"));
        let wrong = signer(&KeySource::Keystore { path: ks.clone(), password_file: bad_pw }).unwrap_err().to_string();
        assert!(wrong.contains("wrong password") && !wrong.contains('\n'), "{wrong}");
        // A file that is no keystore says so.
        let junk = dir.join("junk.json");
        std::fs::write(&junk, "{\"version\": 3}").unwrap();
        let e = signer(&KeySource::Keystore { path: junk, password_file: pw.clone() }).unwrap_err().to_string();
        assert!(e.contains("not a JSON keystore"), "{e}");
        // Parameters the decryption library would panic on or spend the machine's memory on: a
        // clear error each (this test would abort on a panic).
        let good: serde_json::Value = serde_json::from_slice(&std::fs::read(&ks).unwrap()).unwrap();
        let broken = dir.join("broken.json");
        let cases: [(&str, serde_json::Value); 7] = [
            ("/crypto/kdfparams/dklen", serde_json::json!(7)),
            ("/crypto/kdfparams/dklen", serde_json::json!(1u64 << 40)),
            ("/crypto/cipherparams/iv", serde_json::json!("00")),
            ("/crypto/kdfparams/n", serde_json::json!(1u64 << 40)),
            ("/crypto/ciphertext", serde_json::json!("abcd")),
            ("/crypto/kdf", serde_json::json!("argon2")),
            ("/crypto/mac", serde_json::json!(12)),
        ];
        for (pointer, value) in cases {
            let mut v = good.clone();
            *v.pointer_mut(pointer).unwrap() = value;
            std::fs::write(&broken, v.to_string()).unwrap();
            let e = signer(&KeySource::Keystore { path: broken.clone(), password_file: pw.clone() }).unwrap_err().to_string();
            assert!(e.contains("damaged or unsupported") && !e.contains('\n'), "{pointer}: {e}");
        }
        // A flipped ciphertext bit fails the MAC: what the file can tell is a wrong password.
        let mut v = good.clone();
        let ct = v["crypto"]["ciphertext"].as_str().unwrap().to_string();
        let flipped = format!("{}{}", if ct.starts_with('0') { "1" } else { "0" }, &ct[1..]);
        v["crypto"]["ciphertext"] = serde_json::json!(flipped);
        std::fs::write(&broken, v.to_string()).unwrap();
        let e = signer(&KeySource::Keystore { path: broken, password_file: pw }).unwrap_err().to_string();
        assert!(e.contains("wrong password"), "{e}");
        assert!(signer(&KeySource::Hex("0x12".into())).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
