//! `downhill serve`'s API over a real listener on 127.0.0.1: the same JSON as the command line,
//! and every limit refused with a JSON error naming the field.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    start_with(&[])
}

fn start_with(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_downhill"))
        .args(["serve", "--port", "0"])
        .args(args)
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
    call_at(&server.addr, &format!("Host: {}\r\n", server.addr), method, path, body)
}

/// One HTTP/1.1 request with the given host header line (or none).
fn call_as(server: &Server, host_line: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    call_at(&server.addr, host_line, method, path, body)
}

fn call_at(addr: &str, host_line: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\n{host_line}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
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

/// `/api/tune`, `/api/analyze` and `/api/objectives` answer the documents `compare --tune-lr`,
/// `analyze` and `objectives` print with `--format json`.
#[test]
fn tune_analyze_and_objectives_return_what_the_command_line_prints() {
    let server = start();
    let cli = |args: &[&str]| -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_downhill")).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let body = r#"{"objective":"rosenbrock:a=1,b=10","optimizers":["gd","adam:beta1=0.8"],"start":[-1.5,2.5],"steps":60,"bound":10}"#;
    let (status, v) = call(&server, "POST", "/api/tune", body);
    assert_eq!(status, 200, "{v}");
    let want = cli(&[
        "compare",
        "--objective",
        "rosenbrock:a=1,b=10",
        "--optimizer",
        "gd",
        "--optimizer",
        "adam:beta1=0.8",
        "--start",
        "-1.5,2.5",
        "--steps",
        "60",
        "--bound",
        "10",
        "--tune-lr",
        "--format",
        "json",
    ]);
    assert_eq!(v, want);
    let (status, v) = call(&server, "POST", "/api/analyze", r#"{"objective":"himmelblau","at":[0.5,-1]}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        cli(&["analyze", "--objective", "himmelblau", "--at", "0.5,-1", "--grid", "21", "--format", "json"])
    );
    let (status, v) = call(&server, "GET", "/api/objectives", "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, cli(&["objectives", "--format", "json"]));
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

/// `x OP x OP ... OP x` with `n` terms.
fn chain(op: &str, n: usize) -> String {
    vec!["x"; n].join(op)
}

#[test]
fn long_operator_chains_are_answered_and_deep_nesting_refused_without_crashing() {
    let server = start();
    // 24,000 terms (48 KB) used to overflow a worker's stack and abort the whole server.
    let n = 24_000;
    for (op, at, want) in [("+", 0.5, 0.5 * n as f64), ("-", 0.5, 0.5 * (2.0 - n as f64)), ("*", 1.0, 1.0)] {
        let body =
            format!(r#"{{"expr":"{}","optimizer":"gd:lr=1e-9","start":[{at}],"steps":3}}"#, chain(op, n));
        let (status, v) = call(&server, "POST", "/api/run", &body);
        assert_eq!(status, 200, "{op}: {v}");
        assert_eq!(v["runs"][0]["trajectory"][0]["loss"].as_f64(), Some(want), "{op}");
        let body = format!(r#"{{"expr":"{}","at":[{at}]}}"#, chain(op, n));
        let (status, v) = call(&server, "POST", "/api/analyze", &body);
        assert_eq!(status, 200, "{op}: {v}");
        let body = format!(r#"{{"expr":"{}","optimizers":["gd"],"start":[{at}],"steps":2}}"#, chain(op, n));
        let (status, v) = call(&server, "POST", "/api/tune", &body);
        assert_eq!(status, 200, "{op}: {v}");
    }
    // x + y + x + y ... on the 3 x 3 map: 12,000 (x + y).
    let xy = vec!["x+y"; 12_000].join("+");
    let body = format!(r#"{{"expr":"{xy}","bounds":[-1,1,-1,1],"n":3}}"#);
    let (status, v) = call(&server, "POST", "/api/grid", &body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["z"][0].as_f64(), Some(-24_000.0));
    // Nesting deeper than the parser's 200 levels is a short 400 naming the formula.
    for deep in ["-".repeat(24_000) + "x", "(".repeat(20_000) + "x" + &")".repeat(20_000)] {
        let body = format!(r#"{{"expr":"{deep}","optimizer":"adam"}}"#);
        let (status, v) = call(&server, "POST", "/api/run", &body);
        let err = v["error"].as_str().unwrap_or_default();
        assert_eq!(status, 400, "{}", &err[..err.len().min(200)]);
        assert!(err.contains("expr: formula nested deeper than 200 levels") && err.len() < 300, "{err}");
    }
    let (status, _) = call(&server, "POST", "/api/run", r#"{"objective":"booth","optimizer":"adam"}"#);
    assert_eq!(status, 200);
}

#[test]
fn answers_are_limited_in_size_not_only_in_steps() {
    let server = start();
    // 8 runs of 100,000 steps with gradients were within every old limit and took 2-2.7 GB.
    let opts = ["\"adam\""; 8].join(",");
    let body =
        format!(r#"{{"objective":"rosenbrock","optimizers":[{opts}],"steps":100000,"gradients":true}}"#);
    let (status, v) = call(&server, "POST", "/api/run", &body);
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["error"],
        "work: 8 runs x 100001 points x 8 numbers = 6400064 numbers is not in 1..=250000; \
         ask for fewer steps, fewer optimizers or no gradients"
    );
    // Within the limit it is answered: 2 runs x 15,001 points x 8 numbers.
    let body = r#"{"objective":"rosenbrock","optimizers":["adam","gd"],"steps":15000,"gradients":true}"#;
    let (status, v) = call(&server, "POST", "/api/run", body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["runs"][1]["trajectory"].as_array().unwrap().len(), 15_001);
    let body = format!(r#"{{"objective":"sphere:dim=10","optimizers":[{opts}],"steps":10000}}"#);
    let (status, v) = call(&server, "POST", "/api/tune", &body);
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().starts_with("work: 8 runs x 10001 points x 13 numbers"), "{v}");
}

/// CPU seconds the process has used (Linux), from /proc.
#[cfg(target_os = "linux")]
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which ends with ')'): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The budget is a budget: with one worker, a flood of requests that each need far longer than
/// the time budget gets a quick 503 for what does not fit, cheap requests are answered within
/// a second throughout, each computation stops at its budget, and the server is idle soon
/// after the last answer.
#[cfg(target_os = "linux")]
#[test]
fn the_compute_budget_bounds_work_and_stops_what_runs_over() {
    let server = start_with(&["--workers", "1", "--time-budget", "1.5"]);
    // x^1.0001 + x^1.0002 + ... (6,000 powers, 54 KB) x 40,000 steps: about a millisecond a step,
    // far over the budget, and within the answer limit (40,001 points x 5 numbers).
    let powers: Vec<String> = (1..=6000).map(|k| format!("x^1.{k:04}")).collect();
    let heavy =
        format!(r#"{{"expr":"{}","optimizer":"gd:lr=1e-9","start":[0.5],"steps":40000}}"#, powers.join("+"));
    let addr = server.addr.clone();
    let started = Instant::now();
    let flood: Vec<_> = (0..20)
        .map(|i| {
            let (addr, heavy) = (addr.clone(), heavy.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20 * i));
                let t0 = Instant::now();
                let (status, v) = call_at(&addr, &format!("Host: {addr}\r\n"), "POST", "/api/run", &heavy);
                (status, v, t0.elapsed())
            })
        })
        .collect();
    // Cheap requests while the flood is on.
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(3) {
        let t0 = Instant::now();
        let (status, v) = call(&server, "GET", "/api/schedule?spec=cosine:max=1,total=1000&steps=1000", "");
        assert_eq!(status, 200, "{v}");
        slowest = slowest.max(t0.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(slowest < Duration::from_secs(1), "a cheap request took {slowest:?} during the flood");
    let mut refused_at_once = 0;
    for t in flood {
        let (status, v, took) = t.join().unwrap();
        assert_eq!(status, 503, "{v}");
        let err = v["error"].as_str().unwrap();
        if err.starts_with("busy: every worker is busy and the queue is full") {
            // One computing and sixteen waiting: the other three are refused without waiting.
            assert!(took < Duration::from_millis(500), "{took:?}");
            refused_at_once += 1;
        } else {
            assert!(
                err.starts_with("time: the request took over the 1.5 s budget")
                    || err.starts_with("busy: no worker became free within 2 s"),
                "{err}"
            );
            assert!(took < Duration::from_secs(5), "{took:?}: {err}");
        }
    }
    assert_eq!(refused_at_once, 3);
    // Every computation has stopped: the server is idle within 2 s after the last answer.
    std::thread::sleep(Duration::from_secs(2));
    let pid = server.child.id();
    let before = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_seconds(pid) - before;
    assert!(used < 0.1, "the server used {used} s of CPU in the second after all requests ended");
}

#[test]
fn only_loopback_host_names_are_answered_unless_allowed() {
    let server = start();
    let port = server.addr.rsplit_once(':').unwrap().1.to_string();
    for host in ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"] {
        for h in [host.to_string(), format!("{host}:{port}"), format!("{host}:80")] {
            let (status, v) = call_as(&server, &format!("Host: {h}\r\n"), "GET", "/api/objectives", "");
            assert_eq!(status, 200, "{h}: {v}");
        }
    }
    // A page on another name that resolves to 127.0.0.1 (DNS rebinding) is refused, as is a
    // request without a host and one for an IP address the server does not listen on.
    for line in [
        "Host: evil.example\r\n",
        "Host: evil.example:8080\r\n",
        "",
        "Host: 10.0.0.1\r\n",
        "Host: localhost.evil:80\r\n",
        "Host: [::1]x\r\n",
    ] {
        let (status, v) =
            call_as(&server, line, "POST", "/api/run", r#"{"objective":"booth","optimizer":"adam"}"#);
        assert_eq!(status, 421, "{line:?}: {v}");
        assert!(v["error"].as_str().unwrap().starts_with("host: '"), "{v}");
    }
    let named = start_with(&["--allow-host", "Playground.Test"]);
    let (status, v) = call_as(&named, "Host: playground.test:8080\r\n", "GET", "/api/objectives", "");
    assert_eq!(status, 200, "{v}");
    let (status, _) = call_as(&named, "Host: other.test\r\n", "GET", "/api/objectives", "");
    assert_eq!(status, 421);
}

#[test]
fn unknown_paths_and_methods_answer_json() {
    let server = start();
    let (status, v) = call(&server, "GET", "/nowhere", "");
    assert_eq!(status, 404);
    assert!(v["error"].as_str().unwrap().starts_with("path: no such page '/nowhere'"), "{v}");
    let (status, v) = call(&server, "GET", "/api/run", "");
    assert_eq!(status, 405);
    assert_eq!(v["error"], "method: GET is not accepted for /api/run");
    let (status, v) = call(&server, "DELETE", "/api/schedule", "");
    assert_eq!(status, 405, "{v}");
    assert!(v["error"].is_string());
}

#[test]
fn connections_are_limited_and_slow_clients_cut_off() {
    let server = start_with(&["--max-connections", "3", "--io-timeout", "1"]);
    let t0 = Instant::now();
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&server.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    // The fourth connection is answered 503 at once, not left waiting.
    let (status, v) = call(&server, "GET", "/api/objectives", "");
    assert_eq!(status, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("too many open connections"));
    // Connections that send no headers are closed after the 1 s timeout ...
    for mut c in idle {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let _ = c.read_to_end(&mut buf);
    }
    let closed_after = t0.elapsed();
    assert!(closed_after < Duration::from_secs(3), "idle connections held {closed_after:?}");
    // ... so new clients get in again.
    let (status, _) = call(&server, "GET", "/api/objectives", "");
    assert_eq!(status, 200);
    // A body that stops coming: 408 after the timeout.
    let mut c = TcpStream::connect(&server.addr).unwrap();
    write!(c, "POST /api/run HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"obj", server.addr).unwrap();
    let t0 = Instant::now();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let (status, v) = parse_answer(&raw);
    assert_eq!(status, 408, "{v}");
    assert!(t0.elapsed() < Duration::from_secs(3));
    // Headers that trickle in forever: cut off too.
    let mut c = TcpStream::connect(&server.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t0 = Instant::now();
    let _ = write!(c, "GET /api/objectives HTTP/1.1\r\n");
    for _ in 0..30 {
        if write!(c, "X-Slow: 1\r\n").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut probe = [0u8; 1];
        c.set_nonblocking(true).unwrap();
        let closed = matches!(c.read(&mut probe), Ok(0) | Ok(1));
        c.set_nonblocking(false).unwrap();
        if closed {
            break;
        }
    }
    assert!(t0.elapsed() < Duration::from_millis(2500), "{:?}", t0.elapsed());
}

#[test]
fn every_interface_is_served_only_with_a_warning_and_ipv6_is_accepted() {
    for host in ["0.0.0.0", "::"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_downhill"))
            .args(["serve", "--port", "0", "--host", host])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let mut err = String::new();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        stderr.read_line(&mut err).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        if line.is_empty() && err.contains("cannot listen") && host == "::" {
            eprintln!("no IPv6 on this machine: {err}");
            continue;
        }
        assert!(line.starts_with("downhill playground: http://"), "{host}: {line} {err}");
        assert!(
            err.starts_with(&format!("warning: --host {host} listens on every network interface")),
            "{err}"
        );
        assert!(err.contains("no authentication"), "{err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_downhill"))
        .args(["serve", "--port", "0", "--host", "localhost.invalid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--host: 'localhost.invalid' is not an IP address"), "{err}");
}

/// Generated hostile requests against every endpoint: long operator chains and deep nesting in
/// formulas, huge numbers, long strings, wrong types, unknown paths and methods, foreign hosts,
/// hostile query strings. Never an abort, never a 5xx other than the budget's 503, always a JSON
/// error; the server's memory stays under 1 GiB and it keeps serving.
#[test]
fn hostile_requests_never_crash_the_server_or_answer_5xx() {
    let server = start_with(&["--time-budget", "0.5"]);
    let mut rng = downhill::rng::Rng::new(1616);
    let long_chain = format!("\"{}\"", chain("+", 24_000));
    let mixed_chain = format!("\"{}\"", vec!["x*y-x/y"; 4_000].join("+"));
    let deep = format!("\"{}x{}\"", "(".repeat(5_000), ")".repeat(5_000));
    let minus = format!("\"{}x\"", "-".repeat(20_000));
    let long_name = format!("\"{}\"", "a".repeat(30_000));
    let many_numbers = format!("[{}]", vec!["1e308"; 5_000].join(","));
    let nested_array = format!("{}1{}", "[".repeat(500), "]".repeat(500));
    let values: Vec<&str> = vec![
        &long_chain,
        &mixed_chain,
        &deep,
        &minus,
        &long_name,
        &many_numbers,
        &nested_array,
        "\"x^2+y^2\"",
        "\"x²+y\"",
        "\"rosenbrock:dim=100000\"",
        "\"sphere:dim=1000000000\"",
        "\"adam:lr=1e308\"",
        "\"gd:lr=nan\"",
        "1e999999",
        "-1e308",
        "18446744073709551616",
        "9007199254740993",
        "-0",
        "1.5",
        "true",
        "null",
        "{}",
        "[]",
        "\"\"",
        "\"\\u0000\"",
        "[1e308,-1e308]",
        "[-2,2,-1,3]",
        "[\"x\",\"y\"]",
        "100000",
        "300",
        "2",
        "\"rosenbrock\"",
        "\"adam\"",
        "[\"gd\",\"adam\"]",
    ];
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
    ];
    let paths = [
        "/api/run",
        "/api/tune",
        "/api/analyze",
        "/api/grid",
        "/api/schedule",
        "/api/objectives",
        "/",
        "/api/run/../../etc/passwd",
        "/api/%00",
        "/api/schedule?spec=",
        "/x?y=%ff%fe",
    ];
    let methods = ["POST", "POST", "POST", "GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..400 {
        let post = ["/api/run", "/api/tune", "/api/analyze", "/api/grid"][i % 4];
        // Mostly the fields of the endpoint, sometimes any.
        let own: &[&str] = match post {
            "/api/analyze" => &["objective", "expr", "vars", "at"],
            "/api/grid" => &["objective", "expr", "vars", "bounds", "n"],
            _ => &fields[..11],
        };
        let pool = if i % 7 == 0 { &fields[..] } else { own };
        let mut parts = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let f = pool[rng.below(pool.len() as u64) as usize];
            let v = values[rng.below(values.len() as u64) as usize];
            parts.push(format!("\"{f}\":{v}"));
        }
        if i % 2 == 0 {
            // A plausible request with hostile fields.
            let base = if i % 4 == 0 { r#""objective":"rosenbrock""# } else { r#""expr":"x^2+y^2""# };
            let base = if post.ends_with("run") || post.ends_with("tune") {
                format!(r#"{base},"optimizer":"adam""#)
            } else {
                base.to_string()
            };
            let f = format!("\"{}\"", parts[0].split('"').nth(1).unwrap_or_default());
            if !base.contains(&f) {
                parts.insert(0, base);
            }
        }
        let body = format!("{{{}}}", parts.join(","));
        let (method, path, host) = if i % 5 == 0 {
            let m = methods[rng.below(methods.len() as u64) as usize];
            let p = paths[rng.below(paths.len() as u64) as usize];
            let h = ["Host: evil.example\r\n", "", "Host: 127.0.0.1\r\n"][rng.below(3) as usize];
            (m, p.to_string(), h.to_string())
        } else if i % 5 == 1 {
            let spec = ["cosine:max=1e308,total=1e18", "constant:lr=1e999", "step:lr=1,every=0", "x"]
                [rng.below(4) as usize];
            let steps =
                ["1", "100000", "100001", "-1", "1e10", "18446744073709551616", "abc"][rng.below(7) as usize];
            ("GET", format!("/api/schedule?spec={spec}&steps={steps}"), format!("Host: {}\r\n", server.addr))
        } else {
            ("POST", post.to_string(), format!("Host: {}\r\n", server.addr))
        };
        let (status, v) = call_as(&server, &host, method, &path, &body);
        assert!(
            status < 500 || status == 503,
            "{method} {path} {}: {status} {v}",
            &body[..body.len().min(200)]
        );
        if status != 200 && method != "HEAD" {
            assert!(v["error"].is_string(), "{method} {path}: {status} {v}");
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    eprintln!("statuses over 400 hostile requests: {statuses:?}");
    let mut server = server;
    assert!(server.child.try_wait().unwrap().is_none(), "the server exited");
    let (status, _) = call(&server, "POST", "/api/run", r#"{"objective":"booth","optimizer":"adam"}"#);
    assert_eq!(status, 200);
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
        let peak_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        assert!(peak_kb < 1 << 20, "peak memory {peak_kb} kB");
    }
}
