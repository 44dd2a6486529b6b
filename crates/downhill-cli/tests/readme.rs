//! Every `downhill ...` command in the README's shell blocks runs and exits 0.

use std::process::Command;

#[test]
fn readme_commands_work() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let dir = std::env::temp_dir().join(format!("downhill-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut commands = Vec::new();
    for block in readme.split("```sh\n").skip(1) {
        let body = block.split("```").next().unwrap_or("").replace("\\\n", " ");
        for line in body.lines() {
            let line = line.split("  #").next().unwrap_or("").trim();
            if let Some(rest) = line.strip_prefix("downhill ") {
                commands.push(rest.to_string());
            }
        }
    }
    assert!(commands.len() >= 15, "found only {} commands", commands.len());
    let bin = env!("CARGO_BIN_EXE_downhill");
    for c in &commands {
        // The README's commands are plain words and single-quoted arguments, as sh would split them.
        let out =
            Command::new("sh").arg("-c").arg(format!("'{bin}' {c}")).current_dir(&dir).output().unwrap();
        assert!(out.status.success(), "downhill {c}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
