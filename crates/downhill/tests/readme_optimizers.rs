//! The README's optimizer table lists exactly the registry's optimizers, in its order, with its
//! aliases and the defaults their declarations give. Run with `DOWNHILL_BLESS_README=1` to rewrite
//! the defaults column from the registry after changing a declaration.

use downhill::optim::REGISTRY;

fn readme_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

/// The rows of the table under `## Optimizers`: (line index, spec cell, defaults cell).
fn rows(readme: &str) -> Vec<(usize, String, String)> {
    let lines: Vec<&str> = readme.lines().collect();
    let start = lines.iter().position(|l| *l == "## Optimizers").expect("an Optimizers section");
    let header = start + lines[start..].iter().position(|l| l.starts_with("| spec |")).expect("a table");
    lines[header + 2..]
        .iter()
        .enumerate()
        .take_while(|(_, l)| l.starts_with('|'))
        .map(|(i, l)| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            (header + 2 + i, cells[0].trim().to_string(), cells[cells.len() - 1].trim().to_string())
        })
        .collect()
}

/// `` `gd` (`sgd`) `` -> ["gd", "sgd"].
fn names(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(String::from).collect()
}

/// `` `gd` (`sgd`) ``.
fn spec_cell(e: &downhill::optim::Entry) -> String {
    let mut cell = format!("`{}`", e.name);
    if !e.aliases.is_empty() {
        let aliases: Vec<String> = e.aliases.iter().map(|a| format!("`{a}`")).collect();
        cell.push_str(&format!(" ({})", aliases.join(", ")));
    }
    cell
}

#[test]
fn the_readme_table_is_the_registry() {
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).expect("README.md beside the crates");
    let rows = rows(&readme);
    if std::env::var_os("DOWNHILL_BLESS_README").is_some() {
        let mut lines: Vec<String> = readme.lines().map(String::from).collect();
        for ((i, spec, old), e) in rows.iter().zip(REGISTRY) {
            let at = lines[*i].rfind(old.as_str()).expect("the defaults cell");
            lines[*i].replace_range(at..at + old.len(), &e.defaults());
            let at = lines[*i].find(spec.as_str()).expect("the spec cell");
            lines[*i].replace_range(at..at + spec.len(), &spec_cell(e));
        }
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        return;
    }
    let listed: Vec<Vec<String>> = rows.iter().map(|r| names(&r.1)).collect();
    let registry: Vec<Vec<String>> = REGISTRY
        .iter()
        .map(|e| std::iter::once(e.name).chain(e.aliases.iter().copied()).map(String::from).collect())
        .collect();
    assert_eq!(listed, registry, "the README's optimizer table and optim::REGISTRY list different names");
    for ((_, spec, defaults), e) in rows.iter().zip(REGISTRY) {
        assert_eq!(
            defaults,
            &e.defaults(),
            "README defaults of {spec} (DOWNHILL_BLESS_README=1 rewrites them)"
        );
    }
}
