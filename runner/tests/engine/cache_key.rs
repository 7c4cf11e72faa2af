//! The compiled-module cache key follows the engine: another configuration (a different flag of
//! the compiled code) gives another key, and the vendored sources' hash is part of it.

#[test]
fn cache_key_follows_the_engine_configuration_and_the_vendored_sources() {
    let engine = gavel_runner::config::deterministic_engine().expect("engine");
    let key = gavel_runner::module::engine_key(&engine);
    assert_eq!(key, gavel_runner::module::engine_key(&gavel_runner::config::deterministic_engine().expect("engine")), "stable");
    assert!(key.contains("|vendor-"), "{key}");
    let mut c = wasmtime::Config::new();
    c.cranelift_nan_canonicalization(false);
    let other = wasmtime::Engine::new(&c).expect("engine");
    assert_ne!(gavel_runner::module::engine_key(&other), key, "a different configuration must not share compiled modules");
}
