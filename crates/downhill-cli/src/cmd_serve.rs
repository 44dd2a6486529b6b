//! `downhill serve`: the playground. One embedded page and a JSON API over the same code as the
//! command line, with limits on every request.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Query};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Args;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cmd_analyze::AnalyzeArgs;
use crate::cmd_compare::CompareArgs;
use crate::cmd_run::{Dtype, RunArgs};
use crate::objective_args::ObjectiveArgs;
use crate::output::Format;

const PAGE: &str = include_str!("../assets/playground.html");

/// Request limits.
pub const MAX_BODY: usize = 64 * 1024;
pub const MAX_STEPS: u64 = 100_000;
pub const MAX_OPTIMIZERS: usize = 8;
pub const MAX_DIM: usize = 10;
pub const MAX_GRID: usize = 300;
pub const MAX_SCHEDULE_STEPS: u64 = 100_000;
pub const TIME_BUDGET: Duration = Duration::from_secs(10);

/// Serve the playground: a local web page where you click a start point and watch optimizers race.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to bind. The default serves this machine only.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
}

/// An API error: a status and `{"error": "<field>: <message>"}`.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
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
    fn args(&self) -> std::result::Result<ObjectiveArgs, ApiError> {
        if self.objective.is_some() == self.expr.is_some() {
            return Err(bad("objective: give exactly one of objective and expr"));
        }
        if let Some(v) = &self.vars {
            if v.len() > MAX_DIM {
                return Err(bad(format!("vars: {} names is not in 1..={MAX_DIM}", v.len())));
            }
        }
        Ok(ObjectiveArgs {
            objective: self.objective.clone(),
            expr: self.expr.clone(),
            vars: self.vars.as_ref().map(|v| v.join(",")),
        })
    }

    fn check_dim(&self) -> std::result::Result<usize, ApiError> {
        let f = self.args()?.build::<f64>()?;
        if f.dim() > MAX_DIM {
            return Err(bad(format!("objective: dimension {} is not in 1..={MAX_DIM}", f.dim())));
        }
        Ok(f.dim())
    }
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

    fn start_text(&self) -> Option<String> {
        self.start.as_deref().map(point_text)
    }
}

/// A point as the command line's `X,Y,...` text, each coordinate written so it reads back exactly.
fn point_text(point: &[f64]) -> String {
    point.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(",")
}

/// Runs blocking work on the blocking pool within the time budget.
async fn budgeted<F>(work: F) -> ApiResult
where
    F: FnOnce() -> std::result::Result<Value, ApiError> + Send + 'static,
{
    match tokio::time::timeout(TIME_BUDGET, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(result)) => result.map(Json),
        Ok(Err(e)) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("internal: {e}"))),
        Err(_) => Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "time: the request took over the {} s budget; ask for fewer steps",
                TIME_BUDGET.as_secs()
            ),
        )),
    }
}

fn run_all(req: RunRequest) -> std::result::Result<Value, ApiError> {
    let specs = req.specs()?;
    req.landscape.check_dim()?;
    let mut runs = Vec::new();
    for spec in specs {
        let args = RunArgs {
            landscape: req.landscape.args()?,
            optimizer: spec,
            schedule: req.schedule.clone(),
            start: req.start_text(),
            steps: req.steps,
            bound: req.bound,
            loss_bound: None,
            tol: req.tol,
            loss_tol: None,
            dtype: Dtype::F64,
            format: Format::Json,
            every: None,
            checkpoint: None,
            checkpoint_every: None,
            quiet: true,
            resume: None,
        };
        let report = crate::cmd_run::execute::<f64>(&args)?;
        let mut v = crate::cmd_run::to_json(&report);
        if req.gradients {
            let f = report.objective.as_ref();
            let mut g = vec![0.0; f.dim()];
            if let Some(points) = v["trajectory"].as_array_mut() {
                for (p, point) in points.iter_mut().zip(&report.result.trajectory) {
                    f.gradient(&point.params, &mut g);
                    p["gradient"] = json!(g);
                }
            }
        }
        runs.push(v);
    }
    Ok(json!({ "runs": runs }))
}

async fn api_run(body: std::result::Result<Json<RunRequest>, JsonRejection>) -> ApiResult {
    let Json(req) = body?;
    req.specs()?;
    budgeted(move || run_all(req)).await
}

/// Tunes each optimizer's learning rate over downhill's grid (as `compare --tune-lr`).
async fn api_tune(body: std::result::Result<Json<RunRequest>, JsonRejection>) -> ApiResult {
    let Json(req) = body?;
    let specs = req.specs()?;
    if req.steps > 10_000 {
        return Err(bad(format!("steps: {} is not in 1..=10000 for tuning", req.steps)));
    }
    budgeted(move || {
        req.landscape.check_dim()?;
        let args = CompareArgs {
            landscape: req.landscape.args()?,
            optimizers: specs,
            start: req.start_text(),
            steps: req.steps,
            tune_lr: true,
            tol: 1e-6,
            bound: req.bound,
            plot: None,
            format: Format::Json,
        };
        let c = crate::cmd_compare::compare(&args)?;
        Ok(crate::cmd_compare::to_json(&c))
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

async fn api_analyze(body: std::result::Result<Json<AnalyzeRequest>, JsonRejection>) -> ApiResult {
    let Json(req) = body?;
    budgeted(move || {
        req.landscape.check_dim()?;
        if let Some(at) = &req.at {
            if at.iter().any(|x| !x.is_finite()) {
                return Err(bad("at: coordinates must be finite"));
            }
        }
        let args = AnalyzeArgs {
            landscape: req.landscape.args()?,
            at: req.at.as_deref().map(point_text),
            bounds: None,
            grid: 21,
            format: Format::Json,
        };
        let text = crate::cmd_analyze::run(&args)?;
        serde_json::from_str(&text).map_err(|e| bad(format!("internal: {e}")))
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
    let text = crate::cmd_list::objectives(&crate::cmd_list::ListArgs { format: Format::Json })?;
    Ok(Json(serde_json::from_str(&text).map_err(|e| bad(format!("internal: {e}")))?))
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
async fn api_grid(body: std::result::Result<Json<GridRequest>, JsonRejection>) -> ApiResult {
    let Json(req) = body?;
    if !(2..=MAX_GRID).contains(&req.n) {
        return Err(bad(format!("n: {} is not in 2..={MAX_GRID}", req.n)));
    }
    budgeted(move || {
        let f = req.landscape.args()?.build::<f64>()?;
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

/// The application: the page and the API.
pub fn app() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/run", post(api_run))
        .route("/api/tune", post(api_tune))
        .route("/api/analyze", post(api_analyze))
        .route("/api/grid", post(api_grid))
        .route("/api/objectives", get(api_objectives))
        .route("/api/schedule", get(api_schedule))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

pub fn run(args: &ServeArgs) -> Result<String> {
    let addr: SocketAddr = format!("{}:{}", args.host, args.port).parse().map_err(|_| {
        crate::BadInput(format!("--host: '{}' is not an IP address such as 127.0.0.1", args.host))
    })?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| crate::BadInput(format!("--port: cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr()?;
        println!("downhill playground: http://{local}/  (Ctrl-C to stop)");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(listener, app())
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")?;
        Ok(String::new())
    })
}
