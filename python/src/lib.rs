//! `downhill._downhill`: the Python extension module. A thin layer over the Rust library: every
//! number comes from `downhill` itself (optimizers, schedules, objectives, the run loop, the
//! analysis and the theory lab) and every document from `downhill::report`, the definitions the
//! command line prints, so the two front ends agree key for key and bit for bit.
//!
//! Conventions: a bad spec or out-of-range value raises `ValueError` with the message the command
//! line prints after `error: --` (the argument's name, then the library's one line naming the
//! field and the accepted range); an array of the wrong dtype or layout raises `TypeError`; long
//! computations release the GIL.

use std::path::PathBuf;

use numpy::{
    Element, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use downhill::optim::{self, Block, BuildOptions, Buildable, OptimizerState};
use downhill::{minimize, objectives, DescribedObjective, Real, RunOptions, Schedule};

/// Arrays at least this long are updated with the GIL released (shorter ones finish before the
/// release and re-acquisition would pay off).
const RELEASE_GIL_FROM: usize = 1 << 14;

/// The most values [`schedule`] returns (as `downhill schedule` prints at most).
const MAX_SCHEDULE_STEPS: u64 = 10_000_000;

/// `ValueError("{argument}: {message}")`: the command line's line after `error: --`.
fn bad(argument: &str, e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{argument}: {e}"))
}

/// A serde value as Python objects, through the JSON data model (so a NaN is `None`, as in the
/// command line's JSON).
fn to_python<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value).map_err(|e| PyValueError::new_err(e.to_string()))?;
    pythonize::pythonize(py, &json).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The floating-point types an array may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    F64,
}

impl Dtype {
    fn parse(text: &str) -> PyResult<Self> {
        match text {
            "f32" | "float32" => Ok(Dtype::F32),
            "f64" | "float64" => Ok(Dtype::F64),
            other => Err(bad("dtype", downhill::Error::unknown("dtype", other, &["f32", "f64"]))),
        }
    }

    fn numpy_name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
        }
    }

    /// The dtype of a float32 or float64 numpy array; `TypeError` naming `argument` otherwise.
    fn of(argument: &str, array: &Bound<'_, PyAny>) -> PyResult<Self> {
        let untyped = array.cast::<PyUntypedArray>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{argument}: expected a float32 or float64 numpy array, got {}",
                type_name(array)
            ))
        })?;
        let dtype = untyped.dtype();
        let py = array.py();
        if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
            Ok(Dtype::F64)
        } else if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
            Ok(Dtype::F32)
        } else {
            Err(PyTypeError::new_err(format!(
                "{argument}: expected a float32 or float64 array, got dtype {dtype}"
            )))
        }
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an unknown type".into())
}

/// `array` as a C-contiguous numpy array of `T` with `expected` values (any shape), or the
/// `TypeError` / `ValueError` that names `argument`.
fn typed<'a, 'py, T: Element>(
    argument: &str,
    array: &'a Bound<'py, PyAny>,
    dtype: Dtype,
    expected: Option<(usize, &str)>,
) -> PyResult<&'a Bound<'py, PyArrayDyn<T>>> {
    let got = Dtype::of(argument, array)?;
    if got != dtype {
        return Err(PyTypeError::new_err(format!(
            "{argument}: expected a {} array, got {} (the optimizer's dtype is fixed when it is created)",
            dtype.numpy_name(),
            got.numpy_name()
        )));
    }
    let typed =
        array.cast::<PyArrayDyn<T>>().map_err(|e| PyTypeError::new_err(format!("{argument}: {e}")))?;
    if !typed.is_c_contiguous() {
        return Err(PyTypeError::new_err(format!(
            "{argument}: the array is not C-contiguous (a slice or transpose); pass numpy.ascontiguousarray(...) \
             and write the result back, since the update happens in place"
        )));
    }
    if let Some((n, what)) = expected {
        if typed.len() != n {
            return Err(PyValueError::new_err(format!(
                "{argument}: expected {n} values ({what}), got {}",
                typed.len()
            )));
        }
    }
    Ok(typed)
}

/// A float32 or float64 optimizer.
enum AnyOptimizer {
    F32(Box<dyn optim::Optimizer<f32>>),
    F64(Box<dyn optim::Optimizer<f64>>),
}

macro_rules! with_optimizer {
    ($inner:expr, $o:ident => $body:expr) => {
        match $inner {
            AnyOptimizer::F32($o) => $body,
            AnyOptimizer::F64($o) => $body,
        }
    };
}

/// An optimizer with explicit state that updates numpy arrays in place.
///
/// `Optimizer(spec, params, layout=None)`: `spec` as on the command line (`"adam:lr=0.1"`);
/// `params`, a float32 or float64 array, fixes the size and the dtype (its values are not read).
/// `layout` tells Muon and Adafactor how the flat vector splits into weight matrices and vectors:
/// a list whose items are `(rows, cols)` for a matrix or an int `n` for a vector of `n` values.
#[pyclass(module = "downhill._downhill", name = "Optimizer")]
struct PyOptimizer {
    inner: AnyOptimizer,
    size: usize,
    dtype: Dtype,
}

fn build_optimizer<T: Buildable>(
    spec: &str,
    schedule: Option<&str>,
) -> PyResult<Box<dyn optim::Optimizer<T>>> {
    let schedule = match schedule {
        Some(text) => Some(Schedule::parse(text).map_err(|e| bad("schedule", e))?),
        None => None,
    };
    optim::build::<T>(spec, &BuildOptions { schedule }).map_err(|e| bad("optimizer", e))
}

fn parse_layout(items: &Bound<'_, PyAny>) -> PyResult<Vec<Block>> {
    let mut blocks = Vec::new();
    for item in items.try_iter()? {
        let item = item?;
        if let Ok(n) = item.extract::<usize>() {
            blocks.push(Block { len: n, shape: None });
        } else if let Ok((rows, cols)) = item.extract::<(usize, usize)>() {
            blocks.push(Block { len: rows * cols, shape: Some((rows, cols)) });
        } else {
            return Err(PyTypeError::new_err(format!(
                "layout: each block is (rows, cols) for a matrix or an int for a vector, got {}",
                item.repr()?
            )));
        }
    }
    Ok(blocks)
}

/// Optimizers whose saved buffers are not one value per parameter (factored, per block, a dense
/// matrix, a history of pairs, a radius): their lengths are checked by the library on load.
const WHOLE_STATE: &[&str] = &["adafactor", "novograd", "bfgs", "lbfgs", "newton-tr"];

fn state_to_dict<'py, T: Real + Element>(
    py: Python<'py>,
    state: OptimizerState<T>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("optimizer", state.optimizer)?;
    d.set_item("step", state.step)?;
    let buffers = PyDict::new(py);
    for (name, data) in state.buffers {
        buffers.set_item(name, PyArray1::from_vec(py, data))?;
    }
    d.set_item("buffers", buffers)?;
    // A wrapper's counters and the state of the optimizer it wraps, when there are any.
    if !state.counters.is_empty() {
        let counters = PyDict::new(py);
        for (name, n) in state.counters {
            counters.set_item(name, n)?;
        }
        d.set_item("counters", counters)?;
    }
    if let Some(inner) = state.inner {
        d.set_item("inner", state_to_dict(py, *inner)?)?;
    }
    Ok(d)
}

fn state_from_dict<T: Real + Element>(d: &Bound<'_, PyAny>, dtype: Dtype) -> PyResult<OptimizerState<T>> {
    let optimizer: String = d.get_item("optimizer")?.extract()?;
    let step: u64 = d.get_item("step")?.extract()?;
    let mut buffers = Vec::new();
    let items = d.get_item("buffers")?;
    let items = items.cast::<PyDict>().map_err(|_| PyTypeError::new_err("state.buffers: expected a dict"))?;
    for (name, value) in items.iter() {
        let name: String = name.extract()?;
        let array = typed::<T>(&format!("state.buffers['{name}']"), &value, dtype, None)?;
        buffers.push((name, array.readonly().as_slice()?.to_vec()));
    }
    let mut state = OptimizerState::new(optimizer, step, buffers);
    if let Some(counters) = d.get_item("counters").ok().filter(|c| !c.is_none()) {
        let counters =
            counters.cast::<PyDict>().map_err(|_| PyTypeError::new_err("state.counters: expected a dict"))?;
        for (name, value) in counters.iter() {
            state.counters.push((name.extract()?, value.extract()?));
        }
    }
    if let Some(inner) = d.get_item("inner").ok().filter(|i| !i.is_none()) {
        state.inner = Some(Box::new(state_from_dict(&inner, dtype)?));
    }
    Ok(state)
}

#[pymethods]
impl PyOptimizer {
    #[new]
    #[pyo3(signature = (spec, params, layout = None, schedule = None))]
    fn new(
        spec: &str,
        params: &Bound<'_, PyAny>,
        layout: Option<&Bound<'_, PyAny>>,
        schedule: Option<&str>,
    ) -> PyResult<Self> {
        let dtype = Dtype::of("params", params)?;
        let size = params.cast::<PyUntypedArray>()?.len();
        let mut inner = match dtype {
            Dtype::F32 => AnyOptimizer::F32(build_optimizer::<f32>(spec, schedule)?),
            Dtype::F64 => AnyOptimizer::F64(build_optimizer::<f64>(spec, schedule)?),
        };
        if let Some(layout) = layout {
            let blocks = parse_layout(layout)?;
            let total: usize = blocks.iter().map(|b| b.len).sum();
            if total != size {
                return Err(PyValueError::new_err(format!(
                    "layout: the blocks hold {total} values, params has {size}"
                )));
            }
            with_optimizer!(&mut inner, o => o.set_layout(&blocks)).map_err(|e| bad("layout", e))?;
        }
        Ok(PyOptimizer { inner, size, dtype })
    }

    /// One update of `params` in place, given the gradient `grads` at `params` (same dtype and
    /// size, C-contiguous). Releases the GIL for large arrays.
    fn step(&mut self, py: Python<'_>, params: &Bound<'_, PyAny>, grads: &Bound<'_, PyAny>) -> PyResult<()> {
        let n = self.size;
        let release = n >= RELEASE_GIL_FROM;
        let fail = |e: downhill::Error| bad("step", e);
        match &mut self.inner {
            AnyOptimizer::F32(o) => {
                let p = typed::<f32>(
                    "params",
                    params,
                    Dtype::F32,
                    Some((n, "the size the optimizer was created with")),
                )?;
                let g = typed::<f32>("grads", grads, Dtype::F32, Some((n, "as params")))?;
                let mut pw = p.try_readwrite().map_err(|e| PyValueError::new_err(format!("params: {e}")))?;
                let gr = g.try_readonly().map_err(|e| {
                    PyValueError::new_err(format!("grads: {e} (grads must not be params itself)"))
                })?;
                let (ps, gs) = (pw.as_slice_mut()?, gr.as_slice()?);
                (if release { py.detach(|| o.update(ps, gs)) } else { o.update(ps, gs) }).map_err(fail)
            }
            AnyOptimizer::F64(o) => {
                let p = typed::<f64>(
                    "params",
                    params,
                    Dtype::F64,
                    Some((n, "the size the optimizer was created with")),
                )?;
                let g = typed::<f64>("grads", grads, Dtype::F64, Some((n, "as params")))?;
                let mut pw = p.try_readwrite().map_err(|e| PyValueError::new_err(format!("params: {e}")))?;
                let gr = g.try_readonly().map_err(|e| {
                    PyValueError::new_err(format!("grads: {e} (grads must not be params itself)"))
                })?;
                let (ps, gs) = (pw.as_slice_mut()?, gr.as_slice()?);
                (if release { py.detach(|| o.update(ps, gs)) } else { o.update(ps, gs) }).map_err(fail)
            }
        }
    }

    /// The learning rate the next update uses. Setting it replaces the rate (or schedule) from the
    /// next update on, as a PyTorch scheduler writes a group's `lr`.
    #[getter]
    fn get_lr(&self) -> f64 {
        with_optimizer!(&self.inner, o => o.learning_rate())
    }

    #[setter]
    fn set_lr(&mut self, lr: f64) -> PyResult<()> {
        // 0 is allowed here (a scheduler may anneal to it), unlike in a spec.
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(PyValueError::new_err(
                downhill::Error::out_of_range("lr", lr, "[0, inf)").to_string(),
            ));
        }
        with_optimizer!(&mut self.inner, o => o.set_learning_rate(Schedule::constant(lr)))
            .map_err(|e| bad("lr", e))
    }

    /// Registry name, e.g. `adam`.
    #[getter]
    fn name(&self) -> &'static str {
        with_optimizer!(&self.inner, o => o.name())
    }

    /// Updates applied so far.
    #[getter]
    fn steps(&self) -> u64 {
        with_optimizer!(&self.inner, o => o.steps())
    }

    /// `"float32"` or `"float64"`.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.dtype.numpy_name()
    }

    /// Number of parameters.
    #[getter]
    fn size(&self) -> usize {
        self.size
    }

    /// Every resolved hyperparameter (a schedule as a dict), in the optimizer's order.
    #[getter]
    fn hyperparameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let info = with_optimizer!(&self.inner, o => downhill::report::OptimizerInfo::of(o.as_ref()));
        let dict = to_python(py, &info)?;
        dict.del_item("name")?;
        Ok(dict)
    }

    /// `{"optimizer": name, "step": int, "buffers": {name: numpy array}}`, copies of the state;
    /// a wrapper adds `counters` and `inner`, the state of the optimizer it wraps.
    fn state_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        match &self.inner {
            AnyOptimizer::F32(o) => state_to_dict(py, o.state()),
            AnyOptimizer::F64(o) => state_to_dict(py, o.state()),
        }
    }

    /// Replaces the state with one from [`state_dict`] (checked for name, buffers and lengths);
    /// the run then continues bit for bit.
    fn load_state_dict(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let dtype = self.dtype;
        let check = |lens: Vec<usize>| -> PyResult<()> {
            match lens.iter().find(|&&l| l != self.size) {
                Some(l) => Err(PyValueError::new_err(format!(
                    "state: a buffer has {l} values, the optimizer updates {}",
                    self.size
                ))),
                None => Ok(()),
            }
        };
        match &mut self.inner {
            AnyOptimizer::F32(o) => {
                let s = state_from_dict::<f32>(state, dtype)?;
                if !WHOLE_STATE.contains(&o.name()) {
                    check(s.buffers.iter().map(|b| b.1.len()).collect())?;
                }
                o.load_state(s).map_err(|e| PyValueError::new_err(e.to_string()))
            }
            AnyOptimizer::F64(o) => {
                let s = state_from_dict::<f64>(state, dtype)?;
                if !WHOLE_STATE.contains(&o.name()) {
                    check(s.buffers.iter().map(|b| b.1.len()).collect())?;
                }
                o.load_state(s).map_err(|e| PyValueError::new_err(e.to_string()))
            }
        }
    }

    /// The parameters to evaluate when they differ from the ones the gradient is taken at
    /// (Schedule-Free AdamW's average `x`); `None` means `params` themselves.
    fn eval_params<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let n = Some((self.size, "the size the optimizer was created with"));
        Ok(match &self.inner {
            AnyOptimizer::F32(o) => {
                let p = typed::<f32>("params", params, Dtype::F32, n)?.readonly();
                o.eval_params(p.as_slice()?).map(|x| PyArray1::from_vec(py, x).into_any())
            }
            AnyOptimizer::F64(o) => {
                let p = typed::<f64>("params", params, Dtype::F64, n)?.readonly();
                o.eval_params(p.as_slice()?).map(|x| PyArray1::from_vec(py, x).into_any())
            }
        })
    }

    /// Forgets all state, as if newly built.
    fn reset(&mut self) {
        with_optimizer!(&mut self.inner, o => o.reset())
    }

    fn __repr__(&self) -> String {
        format!(
            "downhill.Optimizer('{}', size={}, dtype={}, steps={})",
            self.name(),
            self.size,
            self.dtype(),
            self.steps()
        )
    }
}

/// The objective from `objective` (a spec) or `expr` (a formula, with `vars` ordering its
/// variables), with the command line's messages.
fn build_objective<T: Real>(
    objective: Option<&str>,
    expr: Option<&str>,
    vars: Option<Vec<String>>,
) -> PyResult<Box<dyn DescribedObjective<T>>> {
    match (objective, expr) {
        (Some(_), Some(_)) => {
            Err(PyValueError::new_err("objective: give either objective or expr, not both"))
        }
        (Some(spec), None) => {
            if vars.is_some() {
                return Err(PyValueError::new_err("vars: only with expr"));
            }
            objectives::build::<T>(spec).map_err(|e| bad("objective", e))
        }
        (None, Some(formula)) => {
            objectives::from_expression::<T>(formula, vars.as_deref()).map_err(|e| bad("expr", e))
        }
        (None, None) => {
            Err(PyValueError::new_err("objective: give an objective spec (e.g. 'rosenbrock') or expr"))
        }
    }
}

/// `point`, or the objective's usual start (the origin for a formula), checked for its length.
fn point_or_default<T: Real>(
    field: &str,
    point: Option<Vec<f64>>,
    objective: &dyn DescribedObjective<T>,
) -> PyResult<Vec<f64>> {
    let point =
        point.unwrap_or_else(|| objective.default_start().unwrap_or_else(|| vec![0.0; objective.dim()]));
    if point.len() != objective.dim() {
        let e =
            downhill::Error::Dimension { field: field.into(), expected: objective.dim(), got: point.len() };
        return Err(bad(&format!("{field} for {}", objective.name()), e));
    }
    Ok(point)
}

/// Everything `run` needs, parsed.
struct RunRequest<'a> {
    objective: Option<&'a str>,
    optimizer: &'a str,
    start: Option<Vec<f64>>,
    schedule: Option<&'a str>,
    options: RunOptions,
    expr: Option<&'a str>,
    vars: Option<Vec<String>>,
}

fn run_typed<T: Buildable + serde::Serialize>(py: Python<'_>, r: RunRequest<'_>) -> PyResult<Py<PyAny>> {
    let objective = build_objective::<T>(r.objective, r.expr, r.vars)?;
    let mut optimizer = build_optimizer::<T>(r.optimizer, r.schedule)?;
    let start = point_or_default("start", r.start, objective.as_ref())?;
    r.options.validate().map_err(|e| PyValueError::new_err(e.to_string()))?;
    let start_t: Vec<T> = start.iter().map(|&x| T::from_f64(x)).collect();
    let (f, opt) = (objective.as_ref(), optimizer.as_mut());
    let result = py
        .detach(|| minimize(f, opt, &start_t, &r.options, None))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let doc = downhill::report::RunDocument::new(objective.as_ref(), optimizer.as_ref(), &start, &result);
    Ok(to_python(py, &doc)?.unbind())
}

/// Runs `optimizer` on an objective and returns the document of `downhill run --format json`.
#[pyfunction]
#[pyo3(signature = (objective = None, optimizer = "gd", start = None, steps = 1000, schedule = None, bound = None,
    tol = None, loss_tol = None, dtype = "f64", expr = None, vars = None, loss_bound = None, every = None))]
#[allow(clippy::too_many_arguments)]
fn run(
    py: Python<'_>,
    objective: Option<&str>,
    optimizer: &str,
    start: Option<Vec<f64>>,
    steps: u64,
    schedule: Option<&str>,
    bound: Option<f64>,
    tol: Option<f64>,
    loss_tol: Option<f64>,
    dtype: &str,
    expr: Option<&str>,
    vars: Option<Vec<String>>,
    loss_bound: Option<f64>,
    every: Option<u64>,
) -> PyResult<Py<PyAny>> {
    if every == Some(0) {
        return Err(PyValueError::new_err(
            downhill::Error::out_of_range("every", 0, "[1, steps]").to_string(),
        ));
    }
    let options = RunOptions {
        max_steps: steps,
        grad_tol: tol,
        loss_tol,
        bound,
        loss_bound,
        record_every: every.unwrap_or(1),
    };
    let request = RunRequest { objective, optimizer, start, schedule, options, expr, vars };
    match Dtype::parse(dtype)? {
        Dtype::F32 => run_typed::<f32>(py, request),
        Dtype::F64 => run_typed::<f64>(py, request),
    }
}

/// The learning rate at steps `0..steps` as a float64 array.
#[pyfunction]
fn schedule<'py>(py: Python<'py>, spec: &str, steps: u64) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let s = Schedule::parse(spec).map_err(|e| bad("schedule", e))?;
    if steps == 0 || steps > MAX_SCHEDULE_STEPS {
        let e = downhill::Error::out_of_range("steps", steps, &format!("[1, {MAX_SCHEDULE_STEPS}]"));
        return Err(PyValueError::new_err(e.to_string()));
    }
    let values = py.detach(|| (0..steps).map(|t| s.value(t)).collect::<Vec<f64>>());
    Ok(PyArray1::from_vec(py, values))
}

/// An objective with exact derivatives, evaluated in float64.
#[pyclass(module = "downhill._downhill", name = "Objective")]
struct PyObjective {
    inner: Box<dyn DescribedObjective<f64>>,
}

impl PyObjective {
    fn point(&self, x: Vec<f64>) -> PyResult<Vec<f64>> {
        if x.len() != self.inner.dim() {
            return Err(PyValueError::new_err(format!(
                "x: expected {} values ({} has dimension {}), got {}",
                self.inner.dim(),
                self.inner.name(),
                self.inner.dim(),
                x.len()
            )));
        }
        Ok(x)
    }
}

#[pymethods]
impl PyObjective {
    /// `f(x)`.
    fn value(&self, x: Vec<f64>) -> PyResult<f64> {
        let x = self.point(x)?;
        Ok(self.inner.value(&x))
    }

    /// The exact gradient at `x`.
    fn gradient<'py>(&self, py: Python<'py>, x: Vec<f64>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let x = self.point(x)?;
        let mut g = vec![0.0; x.len()];
        self.inner.gradient(&x, &mut g);
        Ok(PyArray1::from_vec(py, g))
    }

    /// The exact Hessian at `x`, a `(dim, dim)` array.
    fn hessian<'py>(&self, py: Python<'py>, x: Vec<f64>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let x = self.point(x)?;
        let n = x.len();
        let mut h = vec![0.0; n * n];
        self.inner.hessian(&x, &mut h).map_err(|e| bad("hessian", e))?;
        let rows: Vec<Vec<f64>> = h.chunks(n.max(1)).map(|r| r.to_vec()).collect();
        PyArray2::from_vec2(py, &rows).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Number of variables.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Spec name (or the formula).
    #[getter]
    fn name(&self) -> String {
        self.inner.name()
    }

    /// The formula in words.
    #[getter]
    fn formula(&self) -> String {
        self.inner.formula()
    }

    /// Known minima: a list of `{"point": [...], "value": f}`.
    #[getter]
    fn minima<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.minima())
    }

    /// The usual start point, if the objective has one.
    #[getter]
    fn default_start(&self) -> Option<Vec<f64>> {
        self.inner.default_start()
    }

    /// The plotting box `[xmin, xmax, ymin, ymax]` of a 2-D objective.
    #[getter]
    fn domain(&self) -> Option<[f64; 4]> {
        self.inner.domain()
    }

    fn __repr__(&self) -> String {
        format!(
            "downhill.Objective('{}', dim={}, f = {})",
            self.inner.name(),
            self.inner.dim(),
            self.inner.formula()
        )
    }
}

/// An objective from a spec (`"rosenbrock:a=1,b=10"`) or a formula (`expr`, with `vars`).
#[pyfunction]
#[pyo3(signature = (spec = None, expr = None, vars = None))]
fn objective(spec: Option<&str>, expr: Option<&str>, vars: Option<Vec<String>>) -> PyResult<PyObjective> {
    Ok(PyObjective { inner: build_objective::<f64>(spec, expr, vars)? })
}

/// The document of `downhill analyze --format json`.
#[pyfunction]
#[pyo3(signature = (objective = None, at = None, r#box = None, grid = 41, expr = None, vars = None))]
fn analyze(
    py: Python<'_>,
    objective: Option<&str>,
    at: Option<Vec<f64>>,
    r#box: Option<Vec<f64>>,
    grid: usize,
    expr: Option<&str>,
    vars: Option<Vec<String>>,
) -> PyResult<Py<PyAny>> {
    let f = build_objective::<f64>(objective, expr, vars)?;
    let at = point_or_default("at", at, f.as_ref())?;
    let bounds = match r#box {
        Some(b) if b.len() == 4 => Some([b[0], b[1], b[2], b[3]]),
        Some(b) => {
            return Err(bad(
                "box",
                downhill::Error::Dimension { field: "box".into(), expected: 4, got: b.len() },
            ))
        }
        None => None,
    };
    let f_ref = f.as_ref();
    let doc = py
        .detach(|| downhill::report::analyze(f_ref, &at, bounds, grid))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(to_python(py, &doc)?.unbind())
}

/// The theory lab's checks (all, one id, or a list of ids): a list of dicts as in
/// `downhill theory --format json`.
#[pyfunction]
#[pyo3(signature = (check = None))]
fn theory(py: Python<'_>, check: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
    let ids: Vec<String> = match check {
        None => downhill_theory::IDS.iter().map(|s| s.to_string()).collect(),
        Some(c) => match c.extract::<String>() {
            Ok(one) => vec![one],
            Err(_) => c.extract::<Vec<String>>()?,
        },
    };
    let checks = py
        .detach(|| ids.iter().map(|id| downhill_theory::run(id)).collect::<downhill::Result<Vec<_>>>())
        .map_err(|e| bad("check", e))?;
    Ok(to_python(py, &checks)?.unbind())
}

/// Writes the seed article's three figures into `out_dir` (`.png`, `.svg` and `.json` each, as
/// `downhill figures`); returns `{"files": [...], "notes": {figure: [...]}}`.
#[pyfunction]
fn figures(py: Python<'_>, out_dir: PathBuf) -> PyResult<Py<PyAny>> {
    let (files, notes) = py
        .detach(|| downhill_plot::figures::write_all(&out_dir))
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    let d = PyDict::new(py);
    d.set_item("files", PyList::new(py, files.iter().map(|p| p.display().to_string()))?)?;
    let n = PyDict::new(py);
    for (name, lines) in notes {
        n.set_item(name, lines)?;
    }
    d.set_item("notes", n)?;
    Ok(d.into_any().unbind())
}

/// Every optimizer: `{"name", "aliases", "keys"}` as `downhill optimizers --format json`.
#[pyfunction]
fn optimizers(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(to_python(py, &downhill::report::optimizer_listing())?.unbind())
}

/// Every built-in objective as `downhill objectives --format json`.
#[pyfunction]
#[pyo3(name = "objectives")]
fn objectives_listing(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let list = downhill::report::objective_listing().map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(to_python(py, &list)?.unbind())
}

/// Splits a spec into its registry name and `(key, value)` entries, with the library's parser:
/// `"adam:lr=0.1"` -> `("adam", [("lr", "0.1")])`. Aliases are resolved for optimizers.
#[pyfunction]
fn parse_optimizer_spec(spec: &str) -> PyResult<(String, Vec<(String, String)>)> {
    let parsed = downhill::spec::Spec::parse(spec, "optimizer").map_err(|e| bad("optimizer", e))?;
    let entry = optim::lookup(&parsed.name).map_err(|e| bad("optimizer", e))?;
    Ok((entry.name.to_string(), parsed.entries))
}

/// The Python extension module.
#[pymodule]
fn _downhill(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOptimizer>()?;
    m.add_class::<PyObjective>()?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(schedule, m)?)?;
    m.add_function(wrap_pyfunction!(objective, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(theory, m)?)?;
    m.add_function(wrap_pyfunction!(figures, m)?)?;
    m.add_function(wrap_pyfunction!(optimizers, m)?)?;
    m.add_function(wrap_pyfunction!(objectives_listing, m)?)?;
    m.add_function(wrap_pyfunction!(parse_optimizer_spec, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
