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
    // The user-data examples read files a user would have: write small ones.
    let mut csv = String::from("rooms,area,price\n");
    for i in 0..60 {
        let (rooms, area) = (1 + i % 5, 30 + (i * 7) % 90);
        csv.push_str(&format!("{rooms},{area},{}\n", 50 * rooms + 3 * area));
    }
    std::fs::write(dir.join("my.csv"), csv).unwrap();
    let idx = |kind_dims: &[u8], dims: &[u32], data: Vec<u8>| {
        let mut b = vec![0, 0];
        b.extend(kind_dims);
        dims.iter().for_each(|d| b.extend(d.to_be_bytes()));
        b.extend(data);
        b
    };
    let pixels: Vec<u8> = (0..40 * 28 * 28).map(|i| ((i * 31) % 256) as u8).collect();
    std::fs::write(dir.join("train-images-idx3-ubyte"), idx(&[0x08, 3], &[40, 28, 28], pixels)).unwrap();
    let labels: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx(&[0x08, 1], &[40], labels)).unwrap();
    let bin = env!("CARGO_BIN_EXE_downhill");
    for c in &commands {
        // The README's commands are plain words and single-quoted arguments, as sh would split them.
        let out =
            Command::new("sh").arg("-c").arg(format!("'{bin}' {c}")).current_dir(&dir).output().unwrap();
        assert!(out.status.success(), "downhill {c}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
