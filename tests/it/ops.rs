//! Running the nodes the way an operator does: RPC over https and wss through a TLS-terminating
//! proxy in front of anvil (and a certificate nobody vouches for refused with a clear error),
//! encrypted keystores, TOML config files under the flags.

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use gavel_challenger::chain::DEV_KEYS;
use gavel_runner::cases::repo_root;
use gavel_tests::gavel_bin;

use crate::procs::{self, free_addr, strings, EventLog, Proc};

/// A test certificate authority and a server certificate for 127.0.0.1 it signed.
struct Pki {
    ca_pem: String,
    server: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivatePkcs8KeyDer<'static>,
}

fn pki(name: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, format!("gavel test CA {name}"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names.push(SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
    leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let server = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    Pki { ca_pem: ca_cert.pem(), server: server.der().clone(), key: rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()) }
}

/// A TLS-terminating proxy on 127.0.0.1 in front of `upstream` (anvil's port): https and wss
/// in, plain bytes out. Counts completed handshakes.
async fn tls_proxy(upstream: u16, pki: &Pki) -> (u16, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.server.clone()], pki.key.clone_key().into())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let count = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, count) = (acceptor.clone(), count.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                count.fetch_add(1, Ordering::Relaxed);
                let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, handshakes)
}

/// `gavel <args>` with `env` and without `GAVEL_PRIVATE_KEY`, waited for.
fn gavel_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(gavel_bin()).args(args).envs(env.iter().copied()).env_remove("GAVEL_PRIVATE_KEY").current_dir(repo_root()).output().expect("spawn gavel")
}

/// A node process with `env`, without `GAVEL_PRIVATE_KEY` unless `key` is given.
fn spawn_node(args: &[String], key: Option<&str>, env: &[(&str, &str)], log: &Path) -> (Proc, EventLog) {
    let mut cmd = Command::new(gavel_bin());
    cmd.args(args).envs(env.iter().copied()).env_remove("GAVEL_PRIVATE_KEY");
    if let Some(k) = key {
        cmd.env("GAVEL_PRIVATE_KEY", k);
    }
    let mut child =
        cmd.current_dir(repo_root()).stdout(Stdio::piped()).stderr(Stdio::from(std::fs::File::create(log).expect("log file"))).spawn().expect("spawn gavel");
    let rx = procs::events(&mut child);
    (Proc(child), EventLog::new(rx))
}

/// The one error line a failed command printed.
fn one_error_line(out: &Output) -> String {
    assert!(!out.status.success(), "the command succeeded: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "one error line, got:\n{err}");
    lines[0].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_run_over_https_and_wss_and_an_untrusted_certificate_is_refused() {
    let procs::Testnet { work, dep, d, devnet: _devnet } = procs::testnet("tls", &[]);
    let anvil: u16 = d.rpc_url.rsplit(':').next().unwrap().parse().unwrap();
    let (good, bad) = (pki("good"), pki("other"));
    let (port, handshakes) = tls_proxy(anvil, &good).await;
    let (bad_port, _) = tls_proxy(anvil, &bad).await;
    let ca = work.join("ca.pem");
    std::fs::write(&ca, &good.ca_pem).unwrap();
    let trust = [("SSL_CERT_FILE", ca.to_str().unwrap())];
    let (https, wss) = (format!("https://127.0.0.1:{port}"), format!("wss://127.0.0.1:{port}"));

    // The server talks to the chain over wss, posts a claim for an HTTP request.
    let listen = free_addr();
    let dep_s = dep.to_str().unwrap();
    let serve_state = work.join("serve");
    let args = strings(&["serve", "--deployment", dep_s, "--rpc-url", &wss, "--state", serve_state.to_str().unwrap()]);
    let args = [args, strings(&["--listen", &listen, "--poll-ms", "100", "--fast-claims"])].concat();
    let (_server, mut slog) = spawn_node(&args, Some(DEV_KEYS[1]), &trust, &work.join("serve.log"));
    let peer = slog.next("p2p_listening", Duration::from_secs(60))["addrs"][0].as_str().unwrap().to_string();
    slog.next("listening", Duration::from_secs(60));
    let claim = crate::p2p::infer(&listen);

    // A watchtower over https (the claim's input from the server over libp2p) judges it, then
    // leaves (--once).
    let watch_state = work.join("watch");
    let args = strings(&[
        "watch",
        "--deployment",
        dep_s,
        "--rpc-url",
        &https,
        "--state",
        watch_state.to_str().unwrap(),
        "--poll-ms",
        "100",
        "--peer",
        &peer,
        "--once",
    ]);
    let (mut watch, mut wlog) = spawn_node(&args, Some(DEV_KEYS[4]), &trust, &work.join("watch.log"));
    let agreed = wlog.next("agrees", Duration::from_secs(120));
    assert_eq!(agreed["claim"].as_u64(), Some(claim), "{agreed}");
    let status = watch.0.wait().unwrap();
    assert!(status.success(), "watch --once over https exited with {status}");

    // The read-only commands too; the proxy saw real TLS sessions from all of them.
    let out = gavel_env(&["claims", "--deployment", dep_s, "--rpc-url", &https, "--json"], &trust);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(claims.as_array().unwrap().iter().any(|c| c["id"].as_u64() == Some(claim)), "{claims}");
    assert!(handshakes.load(Ordering::Relaxed) >= 3, "{} TLS handshakes", handshakes.load(Ordering::Relaxed));

    // A certificate from a CA nobody trusts: refused over https and wss, with one clear line.
    for url in [format!("https://127.0.0.1:{bad_port}"), format!("wss://127.0.0.1:{bad_port}")] {
        let e = one_error_line(&gavel_env(&["claims", "--deployment", dep_s, "--rpc-url", &url], &trust));
        assert!(e.contains("certificate") && e.contains("SSL_CERT_FILE"), "{url}: {e}");
    }
    // The good proxy's CA is trusted only because SSL_CERT_FILE names it.
    let e = one_error_line(&gavel_env(&["claims", "--deployment", dep_s, "--rpc-url", &https], &[("SSL_CERT_FILE", "/dev/null")]));
    assert!(e.contains("SSL_CERT_FILE"), "{e}");
    let e = one_error_line(&gavel_env(&["claims", "--deployment", dep_s, "--rpc-url", "ftp://127.0.0.1:1"], &[]));
    assert!(e.contains("scheme ftp"), "{e}");
    std::fs::remove_dir_all(&work).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystores_and_config_files_drive_the_nodes() {
    let procs::Testnet { work, dep, d, devnet: _devnet } = procs::testnet("ops-keys", &[]);
    let (ks, pw, bad_pw) = (work.join("keys/server.json"), work.join("keys/server.password"), work.join("wrong.password"));
    std::fs::create_dir_all(ks.parent().unwrap()).unwrap();
    std::fs::write(&pw, "a long passphrase\n").unwrap();
    std::fs::write(&bad_pw, "not it\n").unwrap();
    let (ks_s, pw_s) = (ks.to_str().unwrap(), pw.to_str().unwrap());
    let dev1: PrivateKeySigner = DEV_KEYS[1].parse().unwrap();

    // `gavel key new` imports the server's key; `gavel key address` reads it back.
    let out = gavel_env(&["key", "new", "--keystore", ks_s, "--password-file", pw_s, "--private-key", DEV_KEYS[1], "--json"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(made["address"].as_str(), Some(dev1.address().to_string().as_str()));
    let out = gavel_env(&["key", "address", "--keystore", ks_s, "--password-file", pw_s], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), dev1.address().to_string());
    // A fresh random key, a refusal to overwrite, a wrong password, a damaged file.
    let fresh = work.join("fresh.json");
    let out = gavel_env(&["key", "new", "--keystore", fresh.to_str().unwrap(), "--password-file", pw_s], &[]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("address 0x"), "{out:?}");
    let e = one_error_line(&gavel_env(&["key", "new", "--keystore", ks_s, "--password-file", pw_s], &[]));
    assert!(e.contains("does not overwrite"), "{e}");
    let e = one_error_line(&gavel_env(&["key", "address", "--keystore", ks_s, "--password-file", bad_pw.to_str().unwrap()], &[]));
    assert!(e.contains("wrong password"), "{e}");
    let damaged = work.join("damaged.json");
    let text = std::fs::read_to_string(&ks).unwrap();
    std::fs::write(&damaged, &text[..text.len() / 2]).unwrap();
    let e = one_error_line(&gavel_env(&["key", "address", "--keystore", damaged.to_str().unwrap(), "--password-file", pw_s], &[]));
    assert!(e.contains("not a JSON keystore"), "{e}");
    // A node with a wrong password stops at once with that line.
    let dep_s = dep.to_str().unwrap();
    let e = one_error_line(&gavel_env(&["serve", "--deployment", dep_s, "--keystore", ks_s, "--password-file", bad_pw.to_str().unwrap(), "--no-p2p"], &[]));
    assert!(e.contains("wrong password"), "{e}");

    // A config file drives the server (keystore and paths relative to the file); the --listen
    // flag overrides the file's.
    let (file_listen, flag_listen) = (free_addr(), free_addr());
    let serve_toml = work.join("serve.toml");
    std::fs::write(
        &serve_toml,
        format!(
            "deployment = \"deployment.json\"\nkeystore = \"keys/server.json\"\npassword_file = \"keys/server.password\"\nstate = \"serve\"\n\
             listen = \"{file_listen}\"\npoll_ms = 100\nfast_claims = true\n[p2p]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n"
        ),
    )
    .unwrap();
    let args = strings(&["serve", "--config", serve_toml.to_str().unwrap(), "--listen", &flag_listen]);
    let (_server, mut slog) = spawn_node(&args, None, &[], &work.join("serve.log"));
    let peer = slog.next("p2p_listening", Duration::from_secs(60))["addrs"][0].as_str().unwrap().to_string();
    let listening = slog.next("listening", Duration::from_secs(60));
    assert_eq!(listening["addr"].as_str(), Some(flag_listen.as_str()), "the flag wins over the file: {listening}");
    assert_eq!(listening["address"].as_str(), Some(dev1.address().to_string().as_str()), "it signs with the keystore's key");
    assert!(std::net::TcpStream::connect(&file_listen).is_err(), "nothing listens on the file's address");
    // It signs its claim with the keystore's key.
    let claim = crate::p2p::infer(&flag_listen);
    let out = gavel_env(&["claims", "--deployment", dep_s, "--json"], &[]);
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = claims.as_array().unwrap().iter().find(|c| c["id"].as_u64() == Some(claim)).cloned().unwrap();
    assert_eq!(row["claimant"].as_str(), Some(dev1.address().to_string().as_str()), "{row}");

    // A watchtower from a config file with its own keystore, --http from the flag over the
    // file's, leaving once it has judged the claim (`once` from the file).
    let wks = work.join("keys/watch.json");
    let out = gavel_env(&["key", "new", "--keystore", wks.to_str().unwrap(), "--password-file", pw_s, "--private-key", DEV_KEYS[4]], &[]);
    assert!(out.status.success());
    let (file_http, flag_http) = (free_addr(), free_addr());
    let watch_toml = work.join("watch.toml");
    std::fs::write(
        &watch_toml,
        format!(
            "deployment = \"deployment.json\"\nkeystore = \"keys/watch.json\"\npassword_file = \"keys/server.password\"\nstate = \"watch\"\n\
             poll_ms = 100\nonce = true\nhttp = \"{file_http}\"\n[p2p]\npeers = [\"{peer}\"]\n"
        ),
    )
    .unwrap();
    let args = strings(&["watch", "--config", watch_toml.to_str().unwrap(), "--http", &flag_http]);
    let (mut watch, mut wlog) = spawn_node(&args, None, &[], &work.join("watch.log"));
    let http = wlog.next("http_listening", Duration::from_secs(60));
    assert_eq!(http["addr"].as_str(), Some(flag_http.as_str()), "{http}");
    let started = wlog.next("started", Duration::from_secs(10));
    assert_eq!(started["address"].as_str(), Some(DEV_KEYS[4].parse::<PrivateKeySigner>().unwrap().address().to_string().as_str()));
    assert_eq!(wlog.next("agrees", Duration::from_secs(120))["claim"].as_u64(), Some(claim));
    assert!(watch.0.wait().unwrap().success(), "once = true from the file");

    // Unknown keys are errors naming the key, in either file.
    let bad = work.join("bad.toml");
    for (cmd, text, key) in [("watch", "poll_ms = 100\nhttp_addr = \"127.0.0.1:1\"\n", "http_addr"), ("serve", "[p2p]\npeer = []\n", "peer")] {
        std::fs::write(&bad, text).unwrap();
        let e = one_error_line(&gavel_env(&[cmd, "--config", bad.to_str().unwrap()], &[]));
        assert!(e.contains(key) && e.contains("unknown field"), "{cmd}: {e}");
    }
    let _ = d;
    std::fs::remove_dir_all(&work).ok();
}
