//! `downhill serve`: the playground. One embedded page and a JSON API over the same code as the
//! command line, with limits on every request.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Args;
use downhill::run::Cancel;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use downhill::compare::{compare, CompareOptions};
use downhill::optim::{self, BuildOptions};
use downhill::report::RunDocument;
use downhill::{minimize, objectives, DescribedObjective, RunOptions, Schedule};

const PAGE: &str = include_str!("../assets/playground.html");

/// Request limits.
pub const MAX_BODY: usize = 64 * 1024;
pub const MAX_STEPS: u64 = 100_000;
pub const MAX_OPTIMIZERS: usize = 8;
pub const MAX_DIM: usize = 10;
pub const MAX_GRID: usize = 300;
pub const MAX_SCHEDULE_STEPS: u64 = 100_000;
/// The most numbers one answer may carry: trajectory points times the values of each (about
/// 5 MB of JSON; building it takes about 85 MB, measured at 340 MB for 1,000,000 numbers).
pub const MAX_ANSWER_NUMBERS: u64 = 250_000;
/// How long a computing request may wait for a free worker before it is answered 503.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);
/// Requests waiting for a worker, per worker, beyond which new ones are answered 503 at once.
pub const QUEUE_PER_WORKER: usize = 16;
/// A connection is closed this long after it was accepted, whatever it is doing.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// Serve the playground: a local web page where you click a start point and watch optimizers race.
///
/// The API has no authentication. By default it listens on 127.0.0.1 and answers only requests
/// addressed to 127.0.0.1, localhost or [::1] (so that a web page cannot reach it through DNS
/// rebinding); every request is limited in size, work and time (docs/RELIABILITY.md, "Server").
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to bind: an IPv4 or IPv6 address (`127.0.0.1`, `::1`, `0.0.0.0`, `::`). The
    /// default serves this machine only.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Another host name that requests may be addressed to (repeatable), for a server reached
    /// by name from other machines. Loopback names and the --host address are always accepted.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Computations that run at once (default: the number of cores); further requests wait up
    /// to 2 s for a free worker, then get 503.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Seconds one request may compute before it is stopped and answered 503.
    #[arg(long, default_value_t = 10.0)]
    pub time_budget: f64,
    /// Most open connections; more are answered 503 and closed.
    #[arg(long, default_value_t = 128)]
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers, and again its body.
    #[arg(long, default_value_t = 5.0)]
    pub io_timeout: f64,
}

/// An API error: a status and `{"error": "<field>: <message>"}`.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let busy = self.0 == StatusCode::SERVICE_UNAVAILABLE;
        let mut r = (self.0, Json(json!({"error": self.1}))).into_response();
        if busy {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        bad(format!("{e:#}"))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError(r.status(), format!("body: {}", r.body_text()))
    }
}

type ApiResult = std::result::Result<Json<Value>, ApiError>;

/// The landscape of a request: a catalogue spec or a formula.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Landscape {
    objective: Option<String>,
    expr: Option<String>,
    vars: Option<Vec<String>>,
}

impl Landscape {
    /// The objective, of any dimension.
    fn build(&self) -> std::result::Result<Box<dyn DescribedObjective<f64>>, ApiError> {
        match (&self.objective, &self.expr) {
            (Some(spec), None) => objectives::build::<f64>(spec).map_err(|e| bad(format!("objective: {e}"))),
            (None, Some(formula)) => {
                if let Some(v) = &self.vars {
                    if v.len() > MAX_DIM {
                        return Err(bad(format!("vars: {} names is not in 1..={MAX_DIM}", v.len())));
                    }
                }
                // The formula's errors name the field themselves (`expr: ...`).
                objectives::from_expression::<f64>(formula, self.vars.as_deref())
                    .map_err(|e| bad(e.to_string()))
            }
            _ => Err(bad("objective: give exactly one of objective and expr")),
        }
    }

    /// The objective, refused above [`MAX_DIM`] variables.
    fn objective(&self) -> std::result::Result<Box<dyn DescribedObjective<f64>>, ApiError> {
        let f = self.build()?;
        if f.dim() > MAX_DIM {
            return Err(bad(format!("objective: dimension {} is not in 1..={MAX_DIM}", f.dim())));
        }
        Ok(f)
    }
}

/// `point`, or the objective's usual start (the origin for a formula), checked for its length.
fn point_or_default(
    field: &str,
    point: Option<&[f64]>,
    objective: &dyn DescribedObjective<f64>,
) -> std::result::Result<Vec<f64>, ApiError> {
    let point = match point {
        Some(p) => p.to_vec(),
        None => objective.default_start().unwrap_or_else(|| vec![0.0; objective.dim()]),
    };
    if point.iter().any(|x| !x.is_finite()) {
        return Err(bad(format!("{field}: {point:?} must be finite")));
    }
    if point.len() != objective.dim() {
        let e =
            downhill::Error::Dimension { field: field.into(), expected: objective.dim(), got: point.len() };
        return Err(bad(format!("{e} (for {})", objective.name())));
    }
    Ok(point)
}

/// A library error as a 400 answer, prefixed with the request's field.
fn field(name: &'static str) -> impl Fn(downhill::Error) -> ApiError {
    move |e| bad(format!("{name}: {e}"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(flatten)]
    landscape: Landscape,
    /// One spec, or use `optimizers`.
    optimizer: Option<String>,
    #[serde(default)]
    optimizers: Vec<String>,
    start: Option<Vec<f64>>,
    #[serde(default = "default_steps")]
    steps: u64,
    schedule: Option<String>,
    bound: Option<f64>,
    tol: Option<f64>,
    /// Include the gradient at every trajectory point (for the page's arrows).
    #[serde(default)]
    gradients: bool,
}

fn default_steps() -> u64 {
    200
}

impl RunRequest {
    fn specs(&self) -> std::result::Result<Vec<String>, ApiError> {
        let mut specs = self.optimizers.clone();
        if let Some(o) = &self.optimizer {
            specs.insert(0, o.clone());
        }
        if specs.is_empty() || specs.len() > MAX_OPTIMIZERS {
            return Err(bad(format!("optimizers: {} given, accepted 1..={MAX_OPTIMIZERS}", specs.len())));
        }
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(bad(format!("steps: {} is not in 1..={MAX_STEPS}", self.steps)));
        }
        if let Some(s) = &self.start {
            if s.len() > MAX_DIM || s.iter().any(|x| !x.is_finite()) {
                return Err(bad(format!("start: {s:?} must be at most {MAX_DIM} finite numbers")));
            }
        }
        Ok(specs)
    }
}

/// What every request shares: the compute budget and the accepted host names.
pub struct Shared {
    /// One permit per computation that may run at once.
    workers: Arc<Semaphore>,
    worker_count: usize,
    /// Requests waiting for a permit.
    waiting: AtomicUsize,
    max_waiting: usize,
    time_budget: Duration,
    io_timeout: Duration,
    hosts: Hosts,
}

/// Cancels its token when dropped: when a request's future ends, finished, timed out or
/// dropped because the client went away, its computation stops too.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs blocking work on the blocking pool, within the compute budget: at most `workers`
/// computations at once (a permit is held until the work has really stopped), a short queue, and
/// the time budget, after which the work is cancelled (it stops within a few steps).
async fn budgeted<F>(shared: &Shared, work: F) -> ApiResult
where
    F: FnOnce() -> std::result::Result<Value, ApiError> + Send + 'static,
{
    let busy = |why: &str| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("busy: {why} ({} computations at once); try again in a moment", shared.worker_count),
        )
    };
    let permit = match shared.workers.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            if shared.waiting.fetch_add(1, Ordering::SeqCst) >= shared.max_waiting {
                shared.waiting.fetch_sub(1, Ordering::SeqCst);
                return Err(busy("every worker is busy and the queue is full"));
            }
            let got = tokio::time::timeout(QUEUE_WAIT, shared.workers.clone().acquire_owned()).await;
            shared.waiting.fetch_sub(1, Ordering::SeqCst);
            match got {
                Ok(Ok(p)) => p,
                _ => return Err(busy("no worker became free within 2 s")),
            }
        }
    };
    let token = Cancel::new();
    let _stop = CancelOnDrop(token.clone());
    let job = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        token.scope(work)
    });
    match tokio::time::timeout(shared.time_budget, job).await {
        Ok(Ok(result)) => result.map(Json),
        Ok(Err(e)) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("internal: {e}"))),
        Err(_) => Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "time: the request took over the {} s budget and was stopped; ask for fewer steps or a shorter formula",
                shared.time_budget.as_secs_f64()
            ),
        )),
    }
}

/// Refuses an answer that would carry more than [`MAX_ANSWER_NUMBERS`] numbers.
fn check_answer_size(runs: usize, steps: u64, per_point: usize) -> std::result::Result<(), ApiError> {
    let numbers = (runs as u64).saturating_mul(steps.saturating_add(1)).saturating_mul(per_point as u64);
    if numbers > MAX_ANSWER_NUMBERS {
        return Err(bad(format!(
            "work: {runs} runs x {} points x {per_point} numbers = {numbers} numbers is not in 1..={MAX_ANSWER_NUMBERS}; ask for fewer steps, fewer optimizers or no gradients",
            steps.saturating_add(1)
        )));
    }
    Ok(())
}

fn run_all(req: RunRequest) -> std::result::Result<Value, ApiError> {
    let specs = req.specs()?;
    let f = req.landscape.objective()?;
    let f = f.as_ref();
    // Each point: step, loss, lr, grad_norm and the parameters (and the gradient if asked).
    check_answer_size(specs.len(), req.steps, 4 + f.dim() * (1 + req.gradients as usize))?;
    let schedule = req.schedule.as_deref().map(Schedule::parse).transpose().map_err(field("schedule"))?;
    let start = point_or_default("start", req.start.as_deref(), f)?;
    let options = RunOptions { bound: req.bound, grad_tol: req.tol, ..RunOptions::steps(req.steps) };
    options.validate().map_err(|e| bad(e.to_string()))?;
    let mut runs = Vec::new();
    for spec in specs {
        let build = BuildOptions { schedule: schedule.clone() };
        let mut optimizer = optim::build::<f64>(&spec, &build).map_err(field("optimizer"))?;
        let result =
            minimize(f, optimizer.as_mut(), &start, &options, None).map_err(|e| bad(e.to_string()))?;
        let doc = RunDocument::new(f, optimizer.as_ref(), &start, &result);
        let mut v = serde_json::to_value(doc).map_err(|e| bad(format!("internal: {e}")))?;
        if req.gradients {
            let mut g = vec![0.0; f.dim()];
            if let Some(points) = v["trajectory"].as_array_mut() {
                for (p, point) in points.iter_mut().zip(&result.trajectory) {
                    f.gradient(&point.params, &mut g);
                    p["gradient"] = json!(g);
                }
            }
        }
        runs.push(v);
    }
    Ok(json!({ "runs": runs }))
}

async fn api_run(
    State(shared): State<Arc<Shared>>,
    body: std::result::Result<Json<RunRequest>, JsonRejection>,
) -> ApiResult {
    let Json(req) = body?;
    req.specs()?;
    budgeted(&shared, move || run_all(req)).await
}

/// Tunes each optimizer's learning rate over downhill's grid (as `compare --tune-lr`).
async fn api_tune(
    State(shared): State<Arc<Shared>>,
    body: std::result::Result<Json<RunRequest>, JsonRejection>,
) -> ApiResult {
    let Json(req) = body?;
    let specs = req.specs()?;
    if req.steps > 10_000 {
        return Err(bad(format!("steps: {} is not in 1..=10000 for tuning", req.steps)));
    }
    budgeted(&shared, move || {
        let f = req.landscape.objective()?;
        // Each point of the answer's trajectories: step, loss, lr and the parameters.
        check_answer_size(specs.len(), req.steps, 3 + f.dim())?;
        let start = point_or_default("start", req.start.as_deref(), f.as_ref())?;
        let options =
            CompareOptions { steps: req.steps, tune_lr: true, bound: req.bound, ..CompareOptions::default() };
        let c = compare(f, &specs, start, &options).map_err(|e| bad(e.to_string()))?;
        serde_json::to_value(&c).map_err(|e| bad(format!("internal: {e}")))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    #[serde(flatten)]
    landscape: Landscape,
    at: Option<Vec<f64>>,
}

async fn api_analyze(
    State(shared): State<Arc<Shared>>,
    body: std::result::Result<Json<AnalyzeRequest>, JsonRejection>,
) -> ApiResult {
    let Json(req) = body?;
    budgeted(&shared, move || {
        let f = req.landscape.objective()?;
        let at = point_or_default("at", req.at.as_deref(), f.as_ref())?;
        let doc = downhill::report::analyze(f.as_ref(), &at, None, 21).map_err(|e| bad(e.to_string()))?;
        serde_json::to_value(&doc).map_err(|e| bad(format!("internal: {e}")))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct ScheduleQuery {
    spec: String,
    #[serde(default = "default_steps")]
    steps: u64,
}

async fn api_schedule(
    query: std::result::Result<Query<ScheduleQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = query.map_err(|e| ApiError(e.status(), format!("query: {}", e.body_text())))?;
    if !(1..=MAX_SCHEDULE_STEPS).contains(&q.steps) {
        return Err(bad(format!("steps: {} is not in 1..={MAX_SCHEDULE_STEPS}", q.steps)));
    }
    let s = downhill::Schedule::parse(&q.spec).map_err(|e| bad(format!("spec: {e}")))?;
    let lr: Vec<f64> = (0..q.steps).map(|t| s.value(t)).collect();
    Ok(Json(json!({"spec": q.spec, "schedule": s, "steps": q.steps, "lr": lr})))
}

async fn api_objectives() -> ApiResult {
    let list = downhill::report::objective_listing().map_err(|e| bad(e.to_string()))?;
    Ok(Json(serde_json::to_value(list).map_err(|e| bad(format!("internal: {e}")))?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridRequest {
    #[serde(flatten)]
    landscape: Landscape,
    /// `[xmin, xmax, ymin, ymax]`; default the objective's domain.
    bounds: Option<[f64; 4]>,
    #[serde(default = "default_grid")]
    n: usize,
}

fn default_grid() -> usize {
    120
}

/// Objective values on an `n x n` grid (rows from ymin up), for the contour map.
async fn api_grid(
    State(shared): State<Arc<Shared>>,
    body: std::result::Result<Json<GridRequest>, JsonRejection>,
) -> ApiResult {
    let Json(req) = body?;
    if !(2..=MAX_GRID).contains(&req.n) {
        return Err(bad(format!("n: {} is not in 2..={MAX_GRID}", req.n)));
    }
    budgeted(&shared, move || {
        let f = req.landscape.build()?;
        if f.dim() != 2 {
            return Err(bad(format!("objective: the map needs 2 variables, this one has {}", f.dim())));
        }
        let b = req.bounds.or_else(|| f.domain()).unwrap_or([-3.0, 3.0, -3.0, 3.0]);
        if b.iter().any(|v| !v.is_finite()) || b[0] >= b[1] || b[2] >= b[3] {
            return Err(bad(format!("bounds: {b:?} must be finite with xmin < xmax and ymin < ymax")));
        }
        let n = req.n;
        let mut z = Vec::with_capacity(n * n);
        for i in 0..n {
            if downhill::run::cancelled() {
                return Err(bad("cancelled"));
            }
            let y = b[2] + (b[3] - b[2]) * i as f64 / (n - 1) as f64;
            for j in 0..n {
                let x = b[0] + (b[1] - b[0]) * j as f64 / (n - 1) as f64;
                let v = f.value(&[x, y]);
                z.push(if v.is_finite() { Some(v) } else { None });
            }
        }
        Ok(json!({"bounds": b, "n": n, "z": z, "name": f.name(), "formula": f.formula(), "minima": f.minima()}))
    })
    .await
}

async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

/// Host names (without port) that requests may be addressed to.
#[derive(Debug, Clone)]
pub struct Hosts {
    names: Vec<String>,
    /// Bound to every interface: any IP address literal is accepted too (a rebinding attack
    /// needs a name, and a page at an IP address can only be that address's own origin).
    any_ip: bool,
}

impl Hosts {
    /// Loopback names, the bound address and `extra`.
    pub fn new(bound: IpAddr, extra: &[String]) -> Hosts {
        let mut names: Vec<String> = ["127.0.0.1", "localhost", "[::1]"].map(String::from).to_vec();
        if !bound.is_unspecified() && !bound.is_loopback() {
            names.push(match bound {
                IpAddr::V4(a) => a.to_string(),
                IpAddr::V6(a) => format!("[{a}]"),
            });
        }
        names.extend(extra.iter().map(|n| n.to_ascii_lowercase()));
        Hosts { names, any_ip: bound.is_unspecified() }
    }

    /// Whether a `Host` header value (name and optional port) is accepted.
    pub fn accepts(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = if host.starts_with('[') {
            match host.find(']') {
                Some(end) if host[end + 1..].is_empty() || host[end + 1..].starts_with(':') => &host[..=end],
                _ => return false,
            }
        } else {
            match host.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                Some(_) => return false,
                None => &host,
            }
        };
        if self.names.iter().any(|n| n == name) {
            return true;
        }
        self.any_ip && name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok()
    }

    fn listed(&self) -> String {
        self.names.join(", ") + if self.any_ip { " and IP addresses" } else { "" }
    }
}

/// Refuses requests addressed to a name this server does not answer to (421), and reads the
/// body within the I/O timeout and size limit (408, 413), before any handler runs.
async fn guard(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
    match host {
        Some(h) if shared.hosts.accepts(&h) => {}
        other => {
            let shown: String = other.unwrap_or_default().chars().take(100).collect();
            return ApiError(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "host: '{shown}' is not a name this server answers to; accepted: {} (add names with --allow-host)",
                    shared.hosts.listed()
                ),
            )
            .into_response();
        }
    }
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(shared.io_timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body: larger than {MAX_BODY} bytes, or cut off"),
            )
            .into_response()
        }
        Err(_) => {
            return ApiError(
                StatusCode::REQUEST_TIMEOUT,
                format!("body: not received within {} s", shared.io_timeout.as_secs_f64()),
            )
            .into_response()
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

async fn not_found(req: Request) -> ApiError {
    let path: String = req.uri().path().chars().take(200).collect();
    ApiError(
        StatusCode::NOT_FOUND,
        format!("path: no such page '{path}'; the API is /api/run, /api/tune, /api/analyze, /api/grid (POST), /api/objectives, /api/schedule (GET)"),
    )
}

async fn wrong_method(req: Request) -> ApiError {
    let path: String = req.uri().path().chars().take(200).collect();
    ApiError(StatusCode::METHOD_NOT_ALLOWED, format!("method: {} is not accepted for {path}", req.method()))
}

/// The settings of a server, from its command line.
pub fn shared(args: &ServeArgs, bound: IpAddr) -> Result<Arc<Shared>> {
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if !(1..=1024).contains(&workers) {
        return Err(crate::BadInput(format!("--workers: {workers} is not in 1..=1024")).into());
    }
    for (flag, v) in [("--time-budget", args.time_budget), ("--io-timeout", args.io_timeout)] {
        if !(v.is_finite() && (0.01..=3600.0).contains(&v)) {
            return Err(crate::BadInput(format!("{flag}: {v} is not in [0.01, 3600] seconds")).into());
        }
    }
    if !(1..=10_000).contains(&args.max_connections) {
        return Err(crate::BadInput(format!(
            "--max-connections: {} is not in 1..=10000",
            args.max_connections
        ))
        .into());
    }
    Ok(Arc::new(Shared {
        workers: Arc::new(Semaphore::new(workers)),
        worker_count: workers,
        waiting: AtomicUsize::new(0),
        max_waiting: workers * QUEUE_PER_WORKER,
        time_budget: Duration::from_secs_f64(args.time_budget),
        io_timeout: Duration::from_secs_f64(args.io_timeout),
        hosts: Hosts::new(bound, &args.allow_hosts),
    }))
}

/// The application: the page and the API.
pub fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/run", post(api_run))
        .route("/api/tune", post(api_tune))
        .route("/api/analyze", post(api_analyze))
        .route("/api/grid", post(api_grid))
        .route("/api/objectives", get(api_objectives))
        .route("/api/schedule", get(api_schedule))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

/// The bind address: an IPv4 or IPv6 address, IPv6 with or without brackets.
fn bind_address(host: &str) -> Result<IpAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse::<IpAddr>().map_err(|_| {
        crate::BadInput(format!(
            "--host: '{host}' is not an IP address such as 127.0.0.1, ::1, 0.0.0.0 or ::"
        ))
        .into()
    })
}

/// Answers a connection over the limit with a 503 and closes it.
async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = r#"{"error":"busy: too many open connections; try again in a moment"}"#;
    let text = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // Write the answer, then read (and drop) what the client sends until it closes, at most a
    // second: closing with its request unread would reset the connection before it reads ours.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(text.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}

pub fn run(args: &ServeArgs) -> Result<String> {
    let ip = bind_address(&args.host)?;
    let addr = SocketAddr::new(ip, args.port);
    let shared = shared(args, ip)?;
    if ip.is_unspecified() {
        eprintln!(
            "warning: --host {ip} listens on every network interface. The API has no authentication: \
             anyone who can reach port {} can make this machine compute (within the request limits).",
            args.port
        );
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let max_connections = args.max_connections;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| crate::BadInput(format!("--port: cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr()?;
        println!("downhill playground: http://{local}/  (Ctrl-C to stop)");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let io_timeout = shared.io_timeout;
        let app = app(shared);
        let connections = Arc::new(Semaphore::new(max_connections));
        let stop = tokio::signal::ctrl_c();
        tokio::pin!(stop);
        loop {
            let stream = tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    // Out of file descriptors or a connection reset before it was accepted:
                    // wait a little rather than spin, and go on.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                tokio::spawn(refuse_connection(stream));
                continue;
            };
            let _ = stream.set_nodelay(true);
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(io_timeout)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
            });
        }
        Ok(String::new())
    })
}
