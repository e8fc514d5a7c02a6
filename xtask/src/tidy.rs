//! The crate graph's invariants (`ARCHITECTURE.md`), checked by `cargo test`: each
//! runtime crate sits over the pure core, never the other way, and the lab stays
//! outside the product. The core's own invariant, down to the modules of `std` its code
//! uses, is checked by `core/tests/architecture.rs`.

#[cfg(test)]
mod tests {
    use crate::{cargo_command, project_root};

    /// Every package in `package`'s normal dependency tree, for the targets it is built
    /// for (`all` would count wasm-bindgen-futures' tokio, which only emscripten builds
    /// with an unstable flag pull in). Not `--offline`: the tree of every target names
    /// crates that no build on this machine fetched (Windows' `anstyle-wincon`), so a new
    /// machine has to fetch them first.
    fn normal_tree(package: &str) -> Vec<String> {
        let target = match package {
            "flashless-web" => "wasm32-unknown-unknown",
            _ => "all",
        };
        let out = cargo_command()
            .args(["tree", "--locked", "-e", "normal", "--target", target])
            .args(["--prefix", "none", "--format", "{p}", "-p", package])
            .current_dir(project_root())
            .output()
            .expect("running cargo tree");
        assert!(
            out.status.success(),
            "cargo tree -p {package}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    fn assert_absent(package: &str, forbidden: &[&str]) {
        let tree = normal_tree(package);
        assert!(
            tree.iter().any(|p| p == package),
            "{package} not in its own tree"
        );
        let found: Vec<&&str> = forbidden
            .iter()
            .filter(|f| tree.iter().any(|p| p == *f))
            .collect();
        assert!(found.is_empty(), "{package} depends on {found:?}");
    }

    #[test]
    fn only_the_gateway_and_the_lab_know_tokio() {
        assert_absent("flashless-core", &["tokio", "mio", "socket2"]);
        assert_absent("flashless-web", &["tokio", "mio", "socket2"]);
    }

    #[test]
    fn the_browser_bindings_stay_in_the_web_crate() {
        for package in ["flashless-core", "flashless-gateway", "flashless-lab"] {
            assert_absent(package, &["wasm-bindgen", "js-sys", "web-sys"]);
        }
    }

    #[test]
    fn runtime_crates_sit_over_the_core_never_over_each_other() {
        assert_absent(
            "flashless-core",
            &["flashless-gateway", "flashless-web", "flashless-lab"],
        );
        assert_absent("flashless-web", &["flashless-gateway", "flashless-lab"]);
        assert_absent("flashless-gateway", &["flashless-web", "flashless-lab"]);
        assert_absent("flashless-lab", &["flashless-gateway", "flashless-web"]);
    }
}
