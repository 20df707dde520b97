//! Where a network runs: tract (pure Rust, CPU, every machine) or ONNX Runtime (loaded at run time from the
//! library of the PyPI `onnxruntime` wheel, CPU, or CUDA when a GPU and the GPU build are present).
//!
//! ONNX Runtime is never linked: its shared library is opened the first time a network asks for it
//! ([`library`] says which one), once per process. A failed attempt (no library, a library too old)
//! is not remembered, so a later call can still succeed once the library is provided.
//! `onnxruntime-cuda` never falls back to the CPU quietly: without a usable CUDA device it is
//! [`BackendError::Unavailable`].

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use ndarray::{Array5, ArrayView5, Ix5};
use ort::ep::ExecutionProvider;
use ort::session::Session;
use ort::value::TensorRef;
use tract_onnx::prelude::{
    DatumExt, Framework, InferenceFact, InferenceModelExt, IntoRunnable, IntoTValue, Tensor,
    TypedRunnableModel, tvec,
};

/// The tract-onnx release this crate is built against (checked against `Cargo.lock` by the tests).
pub const TRACT_VERSION: &str = "0.23.9";

/// The onnxruntime release the project documents and tests with (`pip install onnxruntime==…`).
pub const ONNXRUNTIME_VERSION: &str = "1.31.1";

/// Which engine runs the network. Text names: "tract", "onnxruntime", "onnxruntime-cuda".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// tract: pure Rust, CPU, available on every machine.
    Tract,
    /// ONNX Runtime on the CPU, from the installed `onnxruntime` library.
    OnnxRuntime,
    /// ONNX Runtime with its CUDA execution provider (needs the GPU build and a CUDA device).
    OnnxRuntimeCuda,
}

impl BackendKind {
    /// Every backend, in the order of the text names.
    pub const ALL: [BackendKind; 3] = [
        BackendKind::Tract,
        BackendKind::OnnxRuntime,
        BackendKind::OnnxRuntimeCuda,
    ];

    /// The text name: "tract", "onnxruntime" or "onnxruntime-cuda".
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Tract => "tract",
            BackendKind::OnnxRuntime => "onnxruntime",
            BackendKind::OnnxRuntimeCuda => "onnxruntime-cuda",
        }
    }

    /// The backend with this text name (exact, lower case), if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a network could not be loaded or run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BackendError {
    /// The model bytes are not an ONNX model this engine can run (message says why, e.g. the op).
    #[error("model: {0}")]
    Model(String),
    /// The engine is not available on this machine (no onnxruntime library found, no CUDA device): the message
    /// says what was looked for and where, and how to provide it (ORT_DYLIB_PATH / `pip install onnxruntime==1.31.1`).
    #[error("{0}")]
    Unavailable(String),
    /// Running failed (shape mismatch, engine error).
    #[error("inference: {0}")]
    Run(String),
}

/// The engine behind a [`Network`].
enum Engine {
    Tract(Arc<TypedRunnableModel>),
    Ort {
        session: Box<Session>,
        input: String,
        output: String,
    },
}

/// A loaded network for one fixed input shape [batch, channels, x, y, z].
pub struct Network {
    engine: Engine,
    kind: BackendKind,
    shape: [usize; 5],
    classes: Option<usize>,
    describe: String,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("kind", &self.kind)
            .field("shape", &self.shape)
            .field("classes", &self.classes)
            .field("describe", &self.describe)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// Loads `model` (ONNX bytes) for inputs of exactly `shape`. Uses the model's first input and first output.
    ///
    /// tract optimises the graph for `shape`; ONNX Runtime initialises its library once per process
    /// (see [`library`]) and builds a session with as many intra-op threads as the machine has.
    /// `OnnxRuntimeCuda` registers the CUDA execution provider and fails with
    /// [`BackendError::Unavailable`] instead of running on the CPU when CUDA cannot be used.
    pub fn load(
        model: &[u8],
        kind: BackendKind,
        shape: [usize; 5],
    ) -> Result<Network, BackendError> {
        if shape.contains(&0) {
            return Err(BackendError::Run(format!(
                "input shape {shape:?} has an empty axis"
            )));
        }
        match kind {
            BackendKind::Tract => {
                guarded("tract", BackendError::Model, || load_tract(model, shape))
            }
            BackendKind::OnnxRuntime | BackendKind::OnnxRuntimeCuda => {
                let runtime = runtime()?;
                let cuda = kind == BackendKind::OnnxRuntimeCuda;
                if cuda {
                    cuda_status().map_err(BackendError::Unavailable)?;
                }
                guarded("onnxruntime", BackendError::Model, || {
                    load_ort(runtime, model, shape, cuda)
                })
            }
        }
    }

    /// Runs one batch: `input` must have exactly the loaded shape; returns the first output as [batch, classes, x, y, z].
    pub fn run(&mut self, input: ArrayView5<f32>) -> Result<Array5<f32>, BackendError> {
        if input.shape() != self.shape {
            return Err(BackendError::Run(format!(
                "input shape {:?} differs from the shape the network was loaded for {:?}",
                input.shape(),
                self.shape
            )));
        }
        let output = match &mut self.engine {
            Engine::Tract(plan) => guarded("tract", BackendError::Run, || run_tract(plan, input))?,
            Engine::Ort {
                session,
                input: name,
                output,
            } => guarded("onnxruntime", BackendError::Run, || {
                run_ort(session, name, output, input)
            })?,
        };
        self.classes = Some(output.shape()[1]);
        Ok(output)
    }

    /// What runs it, for provenance: e.g. "tract-onnx 0.23.9", "onnxruntime 1.31.1 CPU (…/libonnxruntime.so.1.31.1)",
    /// "onnxruntime 1.31.1 CUDA (…)".
    pub fn describe(&self) -> String {
        self.describe.clone()
    }

    /// The engine running this network.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// The input shape the network was loaded for, [batch, channels, x, y, z].
    pub fn shape(&self) -> [usize; 5] {
        self.shape
    }

    /// The output's channel count (from a first run or the model's output fact), if known.
    pub fn classes(&self) -> Option<usize> {
        self.classes
    }
}

/// Runs `f`, turning a panic inside an engine into `wrap`'s error instead of unwinding into the caller.
fn guarded<T>(
    engine: &str,
    wrap: fn(String) -> BackendError,
    f: impl FnOnce() -> Result<T, BackendError>,
) -> Result<T, BackendError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(wrap(format!("{engine} panicked: {what}")))
    })
}

// ---------------------------------------------------------------------------------------------
// tract

/// tract's matrix products on every core: its default executor is single-threaded. Set once
/// per process (a rayon pool of the machine's parallelism), before the first tract network.
fn tract_threads() {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        if n > 1 {
            tract_linalg::multithread::set_default_executor(
                tract_linalg::multithread::Executor::multithread(n),
            );
        }
    });
}

fn load_tract(model: &[u8], shape: [usize; 5]) -> Result<Network, BackendError> {
    tract_threads();
    let model_err = |e: tract_onnx::prelude::TractError| BackendError::Model(format!("{e:#}"));
    let inference = tract_onnx::onnx()
        .model_for_read(&mut &model[..])
        .map_err(model_err)?;
    // Planned for one patch: a batch runs patch by patch (run_tract). tract 0.23.9 took about
    // 25 times longer for a batch of two 64³ patches than for the two one at a time (measured
    // on the shared tiny U-Net, debug build).
    let single = [1, shape[1], shape[2], shape[3], shape[4]];
    let fact: InferenceFact = f32::fact(single).into();
    let plan = inference
        .with_input_fact(0, fact)
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(model_err)?;
    let classes = plan
        .model()
        .output_fact(0)
        .ok()
        .and_then(|f| f.shape.as_concrete().and_then(|s| s.get(1).copied()));
    Ok(Network {
        engine: Engine::Tract(plan),
        kind: BackendKind::Tract,
        shape,
        classes,
        describe: format!("tract-onnx {TRACT_VERSION}"),
    })
}

fn run_tract(
    plan: &Arc<TypedRunnableModel>,
    input: ArrayView5<f32>,
) -> Result<Array5<f32>, BackendError> {
    let run_err = |e: tract_onnx::prelude::TractError| BackendError::Run(format!("{e:#}"));
    let mut parts = Vec::with_capacity(input.shape()[0]);
    for b in 0..input.shape()[0] {
        let one = input.slice(ndarray::s![b..b + 1, .., .., .., ..]);
        let tensor = Tensor::from(one.to_owned());
        let outputs = plan.run(tvec!(tensor.into_tvalue())).map_err(run_err)?;
        let first = outputs
            .first()
            .ok_or_else(|| BackendError::Run("the network has no output".into()))?;
        let view = first.to_plain_array_view::<f32>().map_err(run_err)?;
        parts.push(to_array5(view)?);
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(ndarray::Axis(0), &views)
        .map_err(|e| BackendError::Run(format!("joining the batch's outputs: {e}")))
}

fn to_array5(view: ndarray::ArrayViewD<f32>) -> Result<Array5<f32>, BackendError> {
    let shape = view.shape().to_vec();
    view.into_dimensionality::<Ix5>()
        .map(|v| v.to_owned())
        .map_err(|_| {
            BackendError::Run(format!(
                "the output has shape {shape:?}, not [batch, classes, x, y, z]"
            ))
        })
}

// ---------------------------------------------------------------------------------------------
// ONNX Runtime: the library, the process-wide environment, sessions

/// The ONNX Runtime environment of this process, and where its library came from.
struct OrtRuntime {
    /// Kept alive for the whole process: ort allows one environment per process, ever.
    env: ort::environment::Environment,
    path: PathBuf,
    version: String,
}

static RUNTIME: OnceLock<OrtRuntime> = OnceLock::new();
static RUNTIME_INIT: Mutex<()> = Mutex::new(());

/// The `onnxruntime` Python package's directory and version, asked of `python3` once per process.
static PYTHON_ORT: OnceLock<Result<(PathBuf, String), String>> = OnceLock::new();

const HOW_TO_INSTALL: &str = "install it with `pip install onnxruntime==1.31.1` (`onnxruntime-gpu` for CUDA), \
     or set ORT_DYLIB_PATH to the path of libonnxruntime.so";

/// The onnxruntime shared library to load, if one is installed: `ORT_DYLIB_PATH` if set (it must name an
/// existing file, else there is none, and loading says why), else the PyPI wheel's
/// `onnxruntime/capi/libonnxruntime.so*`, found by asking `python3` once per process.
pub fn library() -> Option<PathBuf> {
    match locate() {
        Ok((path, _)) => Some(path),
        Err(why) => {
            tracing::debug!("no onnxruntime library: {why}");
            None
        }
    }
}

/// The library to load and, when Python told it, its version; or why there is none.
fn locate() -> Result<(PathBuf, Option<String>), String> {
    if let Some(value) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        // Absolute, so that what is checked here is what ort opens (it resolves a relative path
        // against the executable's folder first).
        let path = std::path::absolute(&path).unwrap_or(path);
        return if path.is_file() {
            Ok((path, None))
        } else {
            Err(format!(
                "ORT_DYLIB_PATH is {} but no such file exists; point it at libonnxruntime.so, \
                 or unset it to use the library of the `onnxruntime` Python package",
                path.display()
            ))
        };
    }
    let (dir, version) = PYTHON_ORT.get_or_init(ask_python).clone()?;
    let capi = dir.join("capi");
    let found = std::fs::read_dir(&capi)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_runtime_library)
        })
        .min();
    match found {
        Some(path) => Ok((path, Some(version))),
        None => Err(format!(
            "the onnxruntime {version} Python package at {} has no ONNX Runtime library in {}; {HOW_TO_INSTALL}",
            dir.display(),
            capi.display()
        )),
    }
}

/// Whether `name` is the main ONNX Runtime library (`libonnxruntime.so.1.31.1`, `libonnxruntime.1.31.1.dylib`,
/// `onnxruntime.dll`), not one of its providers (`libonnxruntime_providers_cuda.so`).
fn is_runtime_library(name: &str) -> bool {
    let stem = format!("{}onnxruntime", std::env::consts::DLL_PREFIX);
    name.strip_prefix(&stem).is_some_and(|rest| {
        (rest.is_empty() || rest.starts_with('.')) && name.contains(std::env::consts::DLL_SUFFIX)
    })
}

fn ask_python() -> Result<(PathBuf, String), String> {
    let script = "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__)); print(onnxruntime.__version__)";
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .map_err(|e| {
            format!(
                "ORT_DYLIB_PATH is not set and python3 could not be run ({e}); {HOW_TO_INSTALL}"
            )
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(format!(
            "ORT_DYLIB_PATH is not set and python3 cannot import onnxruntime ({}); {HOW_TO_INSTALL}",
            last.trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines[..] {
        [.., dir, version] => Ok((PathBuf::from(dir), version.to_string())),
        _ => Err(format!(
            "python3 did not say where onnxruntime is installed; {HOW_TO_INSTALL}"
        )),
    }
}

/// The process's ONNX Runtime, initialised on first use. A failure is returned, not remembered.
fn runtime() -> Result<&'static OrtRuntime, BackendError> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let _init = RUNTIME_INIT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let (path, version) =
        locate().map_err(|why| BackendError::Unavailable(format!("onnxruntime: {why}")))?;
    let rt = guarded("onnxruntime", BackendError::Unavailable, || {
        init_runtime(&path, version)
    })?;
    Ok(RUNTIME.get_or_init(|| rt))
}

fn init_runtime(path: &Path, version: Option<String>) -> Result<OrtRuntime, BackendError> {
    let unavailable = |e: &dyn fmt::Display| {
        BackendError::Unavailable(format!(
            "onnxruntime: cannot use {}: {e}; {HOW_TO_INSTALL}",
            path.display()
        ))
    };
    let env = ort::init_from(path)
        .map_err(|e| unavailable(&e))?
        .with_name("corelab")
        .with_telemetry(false)
        .build()
        .map_err(|e| unavailable(&e))?;
    let version = version
        .or_else(|| version_from_build_info(ort::info()))
        .or_else(|| version_from_file_name(path))
        .unwrap_or_else(|| "(unknown version)".to_string());
    tracing::info!("onnxruntime {version} loaded from {}", path.display());
    Ok(OrtRuntime {
        env,
        path: path.to_path_buf(),
        version,
    })
}

/// "1.31.1" from ONNX Runtime's build string ("ORT Build Info: git-branch=rel-1.31.1, …").
fn version_from_build_info(info: &str) -> Option<String> {
    let rest = &info[info.find("git-branch=rel-")? + "git-branch=rel-".len()..];
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    version.contains('.').then_some(version)
}

/// "1.31.1" from "libonnxruntime.so.1.31.1" or "libonnxruntime.1.31.1.dylib".
fn version_from_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let digits = name.find(|c: char| c.is_ascii_digit())?;
    let version: String = name[digits..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let version = version.trim_end_matches('.').to_string();
    version.contains('.').then_some(version)
}

fn intra_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A session builder with this process's settings and, for CUDA, the CUDA execution provider registered
/// so that failing to register it is an error (not a quiet fall back to the CPU).
fn session_builder(
    rt: &OrtRuntime,
    cuda: bool,
) -> Result<ort::session::builder::SessionBuilder, BackendError> {
    let model_err = |e: &dyn fmt::Display| BackendError::Model(format!("onnxruntime: {e}"));
    let builder = Session::builder(&rt.env)
        .map_err(|e| model_err(&e))?
        .with_intra_threads(intra_threads())
        .map_err(|e| model_err(&e))?;
    if !cuda {
        return Ok(builder);
    }
    builder
        .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
        .map_err(|e| {
            BackendError::Unavailable(format!(
                "onnxruntime-cuda: the CUDA execution provider of {} could not be registered: {e}",
                rt.path.display()
            ))
        })
}

fn load_ort(
    rt: &OrtRuntime,
    model: &[u8],
    shape: [usize; 5],
    cuda: bool,
) -> Result<Network, BackendError> {
    let model_err = |e: &dyn fmt::Display| BackendError::Model(format!("onnxruntime: {e}"));
    let session = session_builder(rt, cuda)?
        .commit_from_memory(model)
        .map_err(|e| model_err(&e))?;
    let first_input = session
        .inputs()
        .first()
        .ok_or_else(|| model_err(&"the model has no input"))?;
    let first_output = session
        .outputs()
        .first()
        .ok_or_else(|| model_err(&"the model has no output"))?;
    if let Some(dims) = first_input.dtype().tensor_shape() {
        let fixed_mismatch = dims.len() != 5
            || dims
                .iter()
                .zip(shape)
                .any(|(&d, s)| d > 0 && usize::try_from(d).ok() != Some(s));
        if fixed_mismatch {
            return Err(model_err(&format!(
                "the model's input `{}` has shape {:?} (-1: any), which does not accept {shape:?}",
                first_input.name(),
                &dims[..]
            )));
        }
    }
    let classes = first_output
        .dtype()
        .tensor_shape()
        .and_then(|dims| dims.get(1).copied())
        .and_then(|c| usize::try_from(c).ok())
        .filter(|&c| c > 0);
    let (input, output) = (
        first_input.name().to_string(),
        first_output.name().to_string(),
    );
    let device = if cuda { "CUDA" } else { "CPU" };
    Ok(Network {
        engine: Engine::Ort {
            session: Box::new(session),
            input,
            output,
        },
        kind: if cuda {
            BackendKind::OnnxRuntimeCuda
        } else {
            BackendKind::OnnxRuntime
        },
        shape,
        classes,
        describe: format!(
            "onnxruntime {} {device} ({})",
            rt.version,
            rt.path.display()
        ),
    })
}

fn run_ort(
    session: &mut Session,
    input_name: &str,
    output_name: &str,
    input: ArrayView5<f32>,
) -> Result<Array5<f32>, BackendError> {
    let run_err = |e: &dyn fmt::Display| BackendError::Run(format!("onnxruntime: {e}"));
    let contiguous = input.as_standard_layout();
    let tensor = TensorRef::from_array_view(&contiguous).map_err(|e| run_err(&e))?;
    let outputs = session
        .run(ort::inputs![input_name => tensor])
        .map_err(|e| run_err(&e))?;
    let value = outputs
        .get(output_name)
        .ok_or_else(|| run_err(&format!("the output `{output_name}` is missing")))?;
    let view = value.try_extract_array::<f32>().map_err(|e| run_err(&e))?;
    to_array5(view)
}

// ---------------------------------------------------------------------------------------------
// CUDA

static CUDA: OnceLock<Result<(), String>> = OnceLock::new();

/// Whether a CUDA device can be used through onnxruntime here (the library is found, the CUDA EP is available in
/// it, and registering it on a tiny session works). Cached. Never panics.
pub fn cuda_available() -> bool {
    cuda_status().is_ok()
}

/// `Ok` when CUDA works through onnxruntime, else why not (cached for the process once the library is loaded;
/// a missing library is not cached, it may still be provided later).
fn cuda_status() -> Result<(), String> {
    if let Err(e) = runtime() {
        return Err(format!(
            "onnxruntime-cuda needs the GPU build of onnxruntime: {e}"
        ));
    }
    CUDA.get_or_init(
        || match guarded("onnxruntime", BackendError::Unavailable, probe_cuda) {
            Ok(()) => Ok(()),
            Err(
                BackendError::Unavailable(why) | BackendError::Model(why) | BackendError::Run(why),
            ) => {
                tracing::info!("CUDA through onnxruntime is not available: {why}");
                Err(why)
            }
        },
    )
    .clone()
}

/// Registers the CUDA execution provider on a one-node session and runs it once.
fn probe_cuda() -> Result<(), BackendError> {
    let rt = runtime()?;
    let has_cuda =
        ort::ep::CUDA::is_available().map_err(|e| BackendError::Unavailable(e.to_string()))?;
    if !has_cuda {
        return Err(BackendError::Unavailable(format!(
            "onnxruntime-cuda: the onnxruntime {} library at {} is a CPU-only build (no CUDAExecutionProvider); \
             install the GPU build with `pip install onnxruntime-gpu=={ONNXRUNTIME_VERSION}` (it needs CUDA and cuDNN \
             libraries on the loader's path) or point ORT_DYLIB_PATH at a GPU build",
            rt.version,
            rt.path.display()
        )));
    }
    let mut session = session_builder(rt, true)?
        .commit_from_memory(&tiny_relu_model())
        .map_err(|e| {
            BackendError::Unavailable(format!("onnxruntime-cuda: no usable CUDA device: {e}"))
        })?;
    let x = ndarray::Array2::<f32>::from_elem((1, 8), -1.0);
    let tensor =
        TensorRef::from_array_view(&x).map_err(|e| BackendError::Unavailable(e.to_string()))?;
    session.run(ort::inputs![tensor]).map(|_| ()).map_err(|e| {
        BackendError::Unavailable(format!(
            "onnxruntime-cuda: a run on the CUDA device failed: {e}"
        ))
    })
}

/// A one-node ONNX model, `y = Relu(x)` with x, y float [1, 8], encoded by hand (protobuf wire format).
fn tiny_relu_model() -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn int(out: &mut Vec<u8>, field: u64, v: u64) {
        varint(out, field << 3);
        varint(out, v);
    }
    fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        varint(out, (field << 3) | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    let value_info = |name: &str| {
        let mut shape = Vec::new();
        for d in [1, 8] {
            let mut dim = Vec::new();
            int(&mut dim, 1, d); // Dimension.dim_value
            bytes(&mut shape, 1, &dim); // TensorShapeProto.dim
        }
        let mut tensor = Vec::new();
        int(&mut tensor, 1, 1); // elem_type FLOAT
        bytes(&mut tensor, 2, &shape);
        let mut ty = Vec::new();
        bytes(&mut ty, 1, &tensor); // TypeProto.tensor_type
        let mut vi = Vec::new();
        bytes(&mut vi, 1, name.as_bytes());
        bytes(&mut vi, 2, &ty);
        vi
    };
    let mut node = Vec::new();
    bytes(&mut node, 1, b"x");
    bytes(&mut node, 2, b"y");
    bytes(&mut node, 3, b"relu");
    bytes(&mut node, 4, b"Relu");
    let mut graph = Vec::new();
    bytes(&mut graph, 1, &node);
    bytes(&mut graph, 2, b"probe");
    bytes(&mut graph, 11, &value_info("x"));
    bytes(&mut graph, 12, &value_info("y"));
    let mut opset = Vec::new();
    bytes(&mut opset, 1, b"");
    int(&mut opset, 2, 17);
    let mut model = Vec::new();
    int(&mut model, 1, 8); // ir_version
    bytes(&mut model, 7, &graph);
    bytes(&mut model, 8, &opset);
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in BackendKind::ALL {
            assert_eq!(BackendKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(BackendKind::parse("cuda"), None);
    }

    #[test]
    fn runtime_library_names() {
        assert!(is_runtime_library("libonnxruntime.so.1.31.1"));
        assert!(is_runtime_library("libonnxruntime.so"));
        assert!(!is_runtime_library("libonnxruntime_providers_shared.so"));
        assert!(!is_runtime_library("libonnxruntime_providers_cuda.so"));
        assert!(!is_runtime_library(
            "onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so"
        ));
    }

    #[test]
    fn versions_from_names() {
        let info = "ORT Build Info: git-branch=rel-1.31.1, git-commit-id=abc, build type=Release";
        assert_eq!(version_from_build_info(info).as_deref(), Some("1.31.1"));
        assert_eq!(version_from_build_info("nothing"), None);
        let so = Path::new("/x/capi/libonnxruntime.so.1.31.1");
        assert_eq!(version_from_file_name(so).as_deref(), Some("1.31.1"));
        let dylib = Path::new("/x/libonnxruntime.1.22.0.dylib");
        assert_eq!(version_from_file_name(dylib).as_deref(), Some("1.22.0"));
        assert_eq!(
            version_from_file_name(Path::new("/x/libonnxruntime.so")),
            None
        );
    }

    /// The probe model runs on onnxruntime's CPU provider too (when the library is installed).
    #[test]
    fn probe_model_runs_on_onnxruntime_cpu() {
        let Ok(rt) = runtime() else {
            println!("no onnxruntime library: skipped");
            return;
        };
        let mut session = session_builder(rt, false)
            .unwrap()
            .commit_from_memory(&tiny_relu_model())
            .unwrap();
        let x = ndarray::Array2::<f32>::from_shape_fn((1, 8), |(_, j)| j as f32 - 4.0);
        let outputs = session
            .run(ort::inputs![TensorRef::from_array_view(&x).unwrap()])
            .unwrap();
        let y = outputs["y"].try_extract_array::<f32>().unwrap();
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            [0., 0., 0., 0., 0., 1., 2., 3.]
        );
    }

    /// The hand-encoded probe model is a valid ONNX model: tract runs it.
    #[test]
    fn probe_model_is_valid_onnx() {
        let model = tract_onnx::onnx()
            .model_for_read(&mut &tiny_relu_model()[..])
            .unwrap();
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        let x = Tensor::from(ndarray::Array2::<f32>::from_shape_fn((1, 8), |(_, j)| {
            j as f32 - 4.0
        }));
        let y = plan.run(tvec!(x.into_tvalue())).unwrap();
        let y = y[0].to_plain_array_view::<f32>().unwrap();
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            [0., 0., 0., 0., 0., 1., 2., 3.]
        );
    }
}
