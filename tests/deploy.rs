//! The configs we ship for deployment are valid for the binary we ship.

mod common;

#[test]
fn shipped_configs_pass_config_check() {
    for path in [
        "deploy/compose/secretwatch.toml",
        "deploy/kubernetes/scale-out/secretwatch.toml",
        "secretwatch.example.toml",
        "datasets/sample/secretwatch.toml",
    ] {
        let full = common::root().join(path);
        let out = common::run(
            &common::root(),
            &["config", "check", full.to_str().unwrap()],
            None,
            &[],
        );
        assert!(
            out.status.success(),
            "{path}: {}{}",
            common::stdout(&out),
            common::stderr(&out)
        );
    }
}
