//! `downhill serve`'s API over a real listener on 127.0.0.1: the same JSON as the command line,
//! and every limit refused with a JSON error naming the field.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_downhill"))
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr =
        line.split("http://").nth(1).and_then(|r| r.split('/').next()).expect("address printed").to_string();
    Server { child, addr }
}

/// One HTTP/1.1 request; returns the status and the body as JSON.
fn call(server: &Server, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.addr,
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status line");
    let (head, rest) = text.split_once("\r\n\r\n").expect("headers end");
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        // De-chunk.
        let mut out = String::new();
        let mut r = rest;
        while let Some((size, tail)) = r.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            r = &tail[n + 2..];
        }
        out
    } else {
        rest.to_string()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

#[test]
fn run_returns_exactly_what_the_command_line_prints() {
    let server = start();
    let body = r#"{"objective":"rosenbrock:a=1,b=10","optimizers":["gd:lr=0.005","adam:lr=0.1"],"start":[-1.5,2.5],"steps":50,"bound":10}"#;
    let (status, v) = call(&server, "POST", "/api/run", body);
    assert_eq!(status, 200, "{v}");
    for (i, spec) in ["gd:lr=0.005", "adam:lr=0.1"].iter().enumerate() {
        let out = Command::new(env!("CARGO_BIN_EXE_downhill"))
            .args(["run", "--objective", "rosenbrock:a=1,b=10", "--optimizer", spec, "--start", "-1.5,2.5"])
            .args(["--steps", "50", "--bound", "10", "--format", "json"])
            .output()
            .unwrap();
        let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["runs"][i], cli, "{spec}");
    }
}

#[test]
fn the_other_endpoints_answer() {
    let server = start();
    let (status, v) = call(&server, "GET", "/api/objectives", "");
    assert_eq!(status, 200);
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["name"] == "himmelblau" && o["minima"].as_array().unwrap().len() == 4));
    let (status, v) =
        call(&server, "POST", "/api/analyze", r#"{"objective":"quadratic:a=50,b=1","at":[1,1]}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["point"]["eigenvalues"], serde_json::json!([2.0, 100.0]));
    assert_eq!(v["point"]["optimal_lr"], 2.0 / 102.0);
    let (status, v) = call(&server, "GET", "/api/schedule?spec=cosine:max=1,total=4&steps=5", "");
    assert_eq!(status, 200, "{v}");
    let want = [
        1.0,
        0.5 * (1.0 + (std::f64::consts::PI / 4.0).cos()),
        0.5,
        0.5 * (1.0 + (3.0 * std::f64::consts::PI / 4.0).cos()),
        0.0,
    ];
    for (got, want) in v["lr"].as_array().unwrap().iter().zip(want) {
        assert!((got.as_f64().unwrap() - want).abs() < 1e-15);
    }
    let (status, v) =
        call(&server, "POST", "/api/grid", r#"{"expr":"x^2 + 3*y^2","bounds":[-1,1,-1,1],"n":3}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["z"], serde_json::json!([4.0, 3.0, 4.0, 1.0, 0.0, 1.0, 4.0, 3.0, 4.0]));
    let (status, v) = call(
        &server,
        "POST",
        "/api/tune",
        r#"{"objective":"quadratic:a=50,b=1","optimizers":["gd"],"start":[1,1],"steps":100}"#,
    );
    assert_eq!(status, 200, "{v}");
    assert!(v["results"][0]["optimizer"]["lr"].as_f64().unwrap() > 0.0);
    let (status, page) = call(&server, "GET", "/", "");
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("downhill playground"));
}

#[test]
fn limits_and_bad_input_are_refused_with_the_field_named() {
    let server = start();
    let cases: &[(&str, u16, &str)] = &[
        (
            r#"{"objective":"rosenbrock","optimizer":"adam","steps":100001}"#,
            400,
            "steps: 100001 is not in 1..=100000",
        ),
        (
            r#"{"objective":"rosenbrock","optimizers":["gd","gd","gd","gd","gd","gd","gd","gd","gd"]}"#,
            400,
            "optimizers: 9 given",
        ),
        (r#"{"objective":"rosenbrock","optimizer":"adma"}"#, 400, "did you mean 'adam'"),
        (r#"{"objective":"rosenbrock","optimizer":"adam:lr=-1"}"#, 400, "adam.lr: -1 is not in (0, inf)"),
        (r#"{"expr":"x^2 + (y","optimizer":"adam"}"#, 400, "expr:"),
        (r#"{"objective":"sphere:dim=50","optimizer":"adam"}"#, 400, "dimension 50 is not in 1..=10"),
        (r#"{"objective":"rosenbrock","optimizer":"adam","start":[1]}"#, 400, "start"),
        (r#"{"objective":"rosenbrock","optimizer":"adam","colour":"red"}"#, 422, "unknown field"),
        (r#"{"objective":"#, 400, "body:"),
    ];
    for (body, status, needle) in cases {
        let (got, v) = call(&server, "POST", "/api/run", body);
        let err = v["error"].as_str().unwrap_or_default();
        assert_eq!(got, *status, "{body}: {v}");
        assert!(err.contains(needle), "{body}: '{err}' lacks '{needle}'");
    }
    let big = format!(r#"{{"objective":"rosenbrock","optimizer":"adam","pad":"{}"}}"#, "x".repeat(100_000));
    let (status, v) = call(&server, "POST", "/api/run", &big);
    assert_eq!(status, 413, "{v}");
    let (status, v) = call(&server, "GET", "/api/schedule?spec=cosin:max=1,total=4&steps=5", "");
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("did you mean 'cosine'"), "{v}");
    // A normal request still works after all of that.
    let (status, _) = call(&server, "POST", "/api/run", r#"{"objective":"booth","optimizer":"adam"}"#);
    assert_eq!(status, 200);
}

/// Random JSON-ish bodies (valid and broken, known and unknown fields, huge numbers, wrong types)
/// against every POST endpoint: never a 5xx, always a JSON answer, and the server keeps serving.
#[test]
fn random_bodies_never_break_the_server() {
    let server = start();
    let mut rng = downhill::rng::Rng::new(404);
    let fields = [
        "objective",
        "expr",
        "vars",
        "optimizer",
        "optimizers",
        "start",
        "steps",
        "schedule",
        "bound",
        "tol",
        "gradients",
        "at",
        "bounds",
        "n",
        "junk",
    ];
    let values = [
        "\"rosenbrock\"",
        "\"himmelblau\"",
        "\"x^2+y^2\"",
        "\"(x\"",
        "\"adam:lr=0.1\"",
        "\"adma\"",
        "[\"gd\",\"adam\"]",
        "[1,2]",
        "[1]",
        "[1e308,-1e308]",
        "1e400",
        "-1",
        "0",
        "100000",
        "2.5",
        "true",
        "null",
        "{}",
        "\"cosine:max=1,total=10\"",
        "[\"x\",\"y\"]",
        "[-2,2,-1,3]",
        "\"\"",
        "\"\\u0000\"",
        "[[1]]",
    ];
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..1500 {
        let k = rng.below(5) as usize;
        let mut parts = Vec::new();
        for _ in 0..k {
            let f = fields[rng.below(fields.len() as u64) as usize];
            let v = values[rng.below(values.len() as u64) as usize];
            parts.push(format!("\"{f}\":{v}"));
        }
        if i % 3 == 0 {
            // A valid body with one field set to a random value: mostly accepted, sometimes not.
            let base = [
                r#""objective":"rosenbrock""#,
                r#""optimizer":"adam""#,
                r#""start":[-1,1]"#,
                r#""steps":20"#,
            ];
            parts = base.iter().map(|p| p.to_string()).collect();
            if i % 2 == 0 {
                let j = rng.below(4) as usize;
                let (name, _) = base[j].split_once(':').unwrap();
                parts[j] = format!("{name}:{}", values[rng.below(values.len() as u64) as usize]);
            }
        }
        let mut body = format!("{{{}}}", parts.join(","));
        if i % 10 == 0 {
            body.truncate(rng.below(body.len() as u64 + 1) as usize);
        }
        let path = if i % 3 == 0 {
            "/api/run"
        } else {
            ["/api/run", "/api/analyze", "/api/grid", "/api/tune"][i % 4]
        };
        let (status, v) = call(&server, "POST", path, &body);
        assert!(status < 500, "{path} {body}: {status} {v}");
        if status != 200 {
            assert!(v["error"].is_string(), "{path} {body}: {status} {v}");
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    eprintln!("statuses over 1500 random bodies: {statuses:?}");
    assert!(statuses.get(&200).copied().unwrap_or(0) > 10, "some random bodies must be valid: {statuses:?}");
    let (status, _) = call(&server, "POST", "/api/run", r#"{"objective":"booth","optimizer":"adam"}"#);
    assert_eq!(status, 200);
}

#[test]
fn wrapped_optimizers_and_new_schedules_work_in_the_playground() {
    let server = start();
    let specs = [
        "lookahead(adam:lr=0.1):k=5,alpha=0.5",
        "sam(gd:lr=0.005):rho=0.01",
        "ema(accumulate(adam:lr=0.1):k=2)",
    ];
    let body = serde_json::json!({"objective": "rosenbrock:a=1,b=10", "optimizers": specs, "start": [-1.5, 2.5], "steps": 40});
    let (status, v) = call(&server, "POST", "/api/run", &body.to_string());
    assert_eq!(status, 200, "{v}");
    for (i, spec) in specs.iter().enumerate() {
        let out = Command::new(env!("CARGO_BIN_EXE_downhill"))
            .args(["run", "--objective", "rosenbrock:a=1,b=10", "--optimizer", spec, "--start", "-1.5,2.5"])
            .args(["--steps", "40", "--format", "json"])
            .output()
            .unwrap();
        let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["runs"][i], cli, "{spec}");
    }
    let bad = r#"{"objective":"rosenbrock","optimizer":"lookahead(adam):k=0"}"#;
    let (status, v) = call(&server, "POST", "/api/run", bad);
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("lookahead.k"), "{v}");
    let (status, v) = call(&server, "GET", "/api/schedule?spec=cosine-restarts:max=1,period=2&steps=4", "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["lr"], serde_json::json!([1.0, 0.5, 1.0, 0.5]));
}
