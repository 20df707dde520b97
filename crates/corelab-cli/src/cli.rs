//! The command line, as DESIGN.md's contract states it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// corelab: an open imaging core lab for clinical trials.
#[derive(Debug, Parser)]
#[command(name = "corelab", version, about, propagate_version = true)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The installation's data directory (SQLite file, blob folder, audit key).
    #[arg(
        long,
        global = true,
        env = "CORELAB_DATA",
        default_value = "./corelab-data"
    )]
    pub data: PathBuf,
    /// Metadata database URL (sqlite://… or postgres://…), instead of the installation's own.
    #[arg(long, global = true, env = "CORELAB_DATABASE")]
    pub database: Option<String>,
    /// Blob store URL (file:///… or s3://bucket/prefix), instead of the installation's own.
    #[arg(long, global = true, env = "CORELAB_STORE")]
    pub store: Option<String>,
    /// Print exactly one JSON document on stdout, nothing else.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is acting, as recorded in the audit trail (default: cli:$USER).
    #[arg(long, global = true, env = "CORELAB_ACTOR")]
    pub actor: Option<String>,
}

/// `corelab reads …`.
#[derive(Debug, Subcommand)]
pub enum ReadsCommand {
    /// Make the read tasks of subjects whose time points passed QC (idempotent).
    Plan {
        /// The trial.
        trial: String,
    },
    /// Every read and adjudication task with its reader, state, response and accepted flag.
    List {
        /// The trial.
        trial: String,
    },
    /// Per reader and pair: reads, time per read, adjudication rate, Cohen's κ, ICC.
    Stats {
        /// The trial.
        trial: String,
    },
    /// Every signature of the trial checked against its record now; exit 3 if any is invalid.
    Signatures {
        /// The trial.
        trial: String,
    },
}

/// corelab's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new installation in --data (with --database/--store for PostgreSQL and S3).
    Init,
    /// What the installation holds.
    Status,
    /// Trials: create from trial.toml, list, show.
    #[command(subcommand)]
    Trial(TrialCommand),
    /// The audit trail: verify, log, key, checkpoint.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// De-identify DICOM files or folders to DICOM PS3.15 Annex E; OUT mirrors IN's tree.
    Deid(DeidArgs),
    /// Trial subjects: assign a site's own ID, reveal who a subject is (audited).
    #[command(subcommand)]
    Subject(SubjectCommand),
    /// A site gateway: a corelab installation at the site whose storage SCP de-identifies what
    /// the site's PACS sends (PHI never leaves) and keeps it, and which forwards each instance
    /// to the hub by STOW-RS until the hub acknowledges or refuses it; `gateway status` shows
    /// pending, sent and failed.
    Gateway(GatewayArgs),
    /// Users of the HTTP API and DICOMweb: add, list, disable, enable, passwd, token.
    #[command(subcommand)]
    User(UserCommand),
    /// Serve: the HTTP API and DICOMweb (--http), the DICOM storage SCP (--dicom) and in-process
    /// workers (--workers) that run the locked trials' jobs as their series pass QC; stops on
    /// Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Import files, folders (recursively) and zip archives into a trial, through the same
    /// pipeline as the network: de-identified, stored and catalogued, or quarantined with a reason.
    Import(ImportArgs),
    /// QC of a trial against its protocol: evaluate (the default) and print the subject × visit
    /// matrix with every problem; show the last evaluation; decide over a computed status.
    Qc(QcArgs),
    /// Run what the protocol asks for on what passed QC: evaluate QC, enqueue the locked
    /// algorithms' jobs (idempotent), and with --wait run them here until the trial's queue is
    /// empty.
    Run(RunArgs),
    /// A scale-out worker: claims jobs from the queue and runs them until stopped (Ctrl-C,
    /// SIGTERM).
    Worker {
        /// Only this trial's jobs.
        #[arg(long)]
        trial: Option<String>,
        /// The worker's name in the queue and audit trail (default: worker-HOST-PID).
        #[arg(long)]
        name: Option<String>,
        /// Stop when no job is claimable instead of waiting for more.
        #[arg(long)]
        once: bool,
        /// Seconds a claim holds without a heartbeat (renewed every third of it): how soon
        /// another worker takes over the job of one that died.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        lease_secs: u64,
    },
    /// A trial's jobs, with their state, attempts, errors and results.
    Jobs {
        /// The trial.
        trial: String,
    },
    /// A trial's endpoint dataset: one row per subject × visit × measure from its locked
    /// algorithms and signed central reads (value, UCUM unit, algorithm@version, lock version,
    /// provenance, QC status, reader, accepted flag), with its data dictionary.
    Results(ResultsArgs),
    /// The W3C PROV-JSON record of a job's outputs.
    Provenance {
        /// The trial.
        trial: String,
        /// The job's id.
        job: i64,
    },
    /// Queries to sites about QC findings: raise, answer, close, list.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Central reads (the trial's [reads] design): plan the worklists of subjects ready for
    /// reading, list the tasks with the accepted reads, reader statistics, check signatures.
    #[command(subcommand)]
    Reads(ReadsCommand),
    /// Objects held in quarantine: list, show, release (run the pipeline again), discard.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// One DICOM series (a folder) to a volume: OUT.nii[.gz] with a JSON sidecar of its
    /// geometry and provenance, or the reason it cannot be one.
    Convert(ConvertArgs),
    /// Rigid or affine registration of MOVING to FIXED (NIfTI files or DICOM series folders):
    /// the transform as ITK text (fixed → moving), optionally the moving image on the fixed grid.
    Register(RegisterArgs),
    /// The algorithm catalogue: ids, versions, inputs, parameters (with a JSON schema), outputs.
    Algorithms,
    /// Analytical validation of measurements against a reference (two CSV tables joined on their
    /// first column): Bland–Altman, ICC, repeatability, κ; DIR gets report.json and report.html.
    Validate(ValidateArgs),
    /// ComBat harmonisation of a feature table (one row per sample) across batches (sites or
    /// scanners), keeping covariates' effects; the same table with the features harmonised.
    Harmonise(HarmoniseArgs),
    /// Prediction models on feature tables: train (cross-validated, saved with a model card)
    /// and score subjects.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Run one algorithm on files, outside any trial.
    #[command(subcommand)]
    Algo(AlgoCommand),
    /// Digital phantoms (brain, ms-lesions, ct-tumor, pet, cardiac, qc, neuro-pet): DICOM series from
    /// several sites, with truth.json and truth masks (docs/phantoms.md).
    Phantom(PhantomArgs),
    /// The main job, end to end, on a fresh installation.
    Demo {
        /// Where to create the demo installation (must be absent or empty; default: a new temporary folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Then keep serving the demo installation: the storage SCP on this address (e.g.
        /// 127.0.0.1:11112, AE CORELAB) and two workers, until Ctrl-C or SIGTERM.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:11112")]
        serve: Option<String>,
        /// With --serve: the HTTP API, DICOMweb and the web UI on this address (port 0: any free
        /// port, printed as `http: listening on ADDR`). One login per role is made and written to
        /// `demo-logins.json` in the installation (mode 0600).
        #[arg(
            long,
            value_name = "ADDR",
            requires = "serve",
            default_value = "127.0.0.1:8080"
        )]
        http: String,
        /// With --serve: the built web UI's folder (default: ui/dist of this checkout).
        #[arg(long, value_name = "DIR", requires = "serve")]
        ui: Option<PathBuf>,
    },
}

/// `corelab convert SERIES_DIR OUT`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// A folder holding the files of one series (searched recursively).
    pub series_dir: PathBuf,
    /// The NIfTI file to write (.nii or .nii.gz); a series of several stacks (echoes, time
    /// points) gives OUT-1, OUT-2, ….
    pub out: PathBuf,
}

/// `corelab algo …`.
#[derive(Debug, Subcommand)]
pub enum AlgoCommand {
    /// Run algorithm ID on inputs (NIfTI files or DICOM series folders); DIR gets the derived
    /// images (NIfTI, in the input's space), result.json and provenance.json (W3C PROV-JSON).
    Run {
        /// The algorithm's id (`corelab algorithms` lists them).
        id: String,
        /// An input as ROLE=PATH (repeat for each role).
        #[arg(long, value_name = "ROLE=PATH")]
        input: Vec<String>,
        /// A parameter as NAME=VALUE (repeat; the rest take their defaults).
        #[arg(long, value_name = "NAME=VALUE")]
        param: Vec<String>,
        /// The output folder (absent or empty).
        #[arg(long)]
        out: PathBuf,
    },
}

/// `corelab model …`.
#[derive(Clone, Debug, Subcommand)]
pub enum ModelCommand {
    /// Train a model on a feature table (one row per subject) and its outcome: stratified
    /// k-fold cross-validation (AUC, Brier score and calibration, or Harrell's C), then the fit
    /// on every row; writes DIR/NAME.model.json and DIR/NAME.card.md.
    Train(ModelTrainArgs),
    /// Score the subjects of a feature table with a saved model; writes a CSV of id and score.
    Predict {
        /// The model (NAME.model.json).
        model: PathBuf,
        /// The feature table (CSV with the model's feature columns).
        table: PathBuf,
        /// The column identifying the subject (the row number when absent).
        #[arg(long)]
        id: Option<String>,
        /// The scores to write (CSV).
        #[arg(long)]
        out: PathBuf,
    },
}

/// `corelab model train TABLE --kind KIND --name NAME (--outcome COL | --time COL --event COL)`.
#[derive(Clone, Debug, Args)]
pub struct ModelTrainArgs {
    /// The training table (CSV: a header, one row per subject).
    pub table: PathBuf,
    /// random-forest, svm, knn, logistic (elastic net) or cox (elastic net, time to event).
    #[arg(long)]
    pub kind: String,
    /// The model's name (lower-case letters, digits, hyphens).
    #[arg(long)]
    pub name: String,
    /// The binary outcome column (1/0, true/false, yes/no).
    #[arg(long, conflicts_with_all = ["time", "event"])]
    pub outcome: Option<String>,
    /// The time-to-event column (cox).
    #[arg(long, requires = "event")]
    pub time: Option<String>,
    /// The event column, 1 for the event and 0 for censored (cox).
    #[arg(long, requires = "time")]
    pub event: Option<String>,
    /// The column identifying the subject (left out of the features).
    #[arg(long)]
    pub id: Option<String>,
    /// The feature columns (default: every column but the id and the outcome's).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// The seed of the folds and of the models' randomness.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A hyper-parameter as NAME=VALUE (repeat): trees, min_leaf, mtry, max_depth
    /// (random-forest); c, gamma (svm); k (knn); lambda, alpha (logistic, cox).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// The folder to write the model and its card to.
    #[arg(long)]
    pub out: PathBuf,
}

/// `corelab validate --reference FILE --measured FILE --out DIR`.
#[derive(Clone, Debug, Args)]
pub struct ValidateArgs {
    /// The reference values (CSV: the case in the first column, one column per measure).
    #[arg(long)]
    pub reference: PathBuf,
    /// The method's values, the same layout; a case on several rows is a set of replicates.
    #[arg(long)]
    pub measured: PathBuf,
    /// The report's folder (absent or empty).
    #[arg(long)]
    pub out: PathBuf,
}

/// `corelab harmonise TABLE --batch COLUMN --out OUT.csv`.
#[derive(Clone, Debug, Args)]
pub struct HarmoniseArgs {
    /// The feature table (CSV, one row per sample, a header).
    pub table: PathBuf,
    /// The column naming each sample's batch (site, scanner).
    #[arg(long)]
    pub batch: String,
    /// Categorical covariates to preserve (columns, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Continuous covariates to preserve (columns, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub continuous: Vec<String>,
    /// The feature columns (default: every numeric column but the first, the batch and the
    /// covariates).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Non-parametric empirical Bayes priors.
    #[arg(long)]
    pub nonparametric: bool,
    /// Adjust batch means only.
    #[arg(long)]
    pub mean_only: bool,
    /// No empirical Bayes: each batch's own location and scale.
    #[arg(long)]
    pub no_eb: bool,
    /// Also save the fitted estimates (JSON), to harmonise later subjects the same way.
    #[arg(long, conflicts_with = "model")]
    pub save_model: Option<PathBuf>,
    /// Harmonise with saved estimates (from --save-model) instead of fitting: the features and
    /// covariates are the model's, by column name, and every batch must be one it was fitted on.
    #[arg(long, conflicts_with_all = ["categorical", "continuous", "features", "nonparametric", "mean_only", "no_eb"])]
    pub model: Option<PathBuf>,
    /// The harmonised table to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// `corelab register FIXED MOVING --out TRANSFORM.txt`.
#[derive(Clone, Debug, Args)]
pub struct RegisterArgs {
    /// The image that stays put (NIfTI, or a folder of one DICOM series).
    pub fixed: PathBuf,
    /// The image to align to it.
    pub moving: PathBuf,
    /// The transform file to write (ITK text, as ANTs and SimpleITK read it).
    #[arg(long)]
    pub out: PathBuf,
    /// Rigid (6 degrees of freedom) or affine (a rigid stage, then 12).
    #[arg(long, value_enum, default_value = "rigid")]
    pub kind: RegisterKind,
    /// Mattes mutual information (any contrasts) or mean squares (same contrast and scale).
    #[arg(long, value_enum, default_value = "mi")]
    pub metric: RegisterMetric,
    /// Histogram bins of mutual information.
    #[arg(long, default_value_t = 32)]
    pub bins: usize,
    /// Fixed-image voxels sampled per pyramid level.
    #[arg(long, default_value_t = 100_000)]
    pub samples: usize,
    /// Seed of the sampling: the same inputs and seed give the same transform.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start from this transform (ITK text) instead of aligning the centres of mass.
    #[arg(long)]
    pub initial: Option<PathBuf>,
    /// Also write the moving image resampled onto the fixed grid (NIfTI).
    #[arg(long)]
    pub resampled: Option<PathBuf>,
}

/// The transform `corelab register` finds.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RegisterKind {
    /// Rotation and translation.
    Rigid,
    /// A rigid stage, then a full affine one.
    Affine,
}

/// The similarity `corelab register` optimises.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RegisterMetric {
    /// Mattes mutual information.
    Mi,
    /// Mean squared difference.
    Ms,
}

/// `corelab results TRIAL [--format F] [--out PATH]`.
#[derive(Debug, Args)]
pub struct ResultsArgs {
    /// The trial.
    pub trial: String,
    /// The format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ResultsFormat,
    /// The file to write (the dictionary goes beside it as NAME.dictionary.csv), or the folder
    /// for SDTM; without it, CSV and JSON go to standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With --format dicom: also send the objects by C-STORE to this DICOM node
    /// (`AE@host:port`, a PACS), or, given without a node, each subject's objects to its site's
    /// `pacs` in trial.toml.
    #[arg(long, value_name = "AE@HOST:PORT", num_args = 0..=1, default_missing_value = "")]
    pub send: Option<String>,
    /// The calling AE title for --send.
    #[arg(long, default_value = "CORELAB")]
    pub calling: String,
}

/// The formats of `corelab results`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ResultsFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON document with the dictionary and the rows.
    Json,
    /// Apache Parquet (ZSTD), column descriptions in the schema.
    Parquet,
    /// CDISC SDTM into the folder --out names: NV, and TU, TR and RS from signed oncology
    /// reads, each as CSV and SAS transport v5, with define.xml.
    Sdtm,
    /// DICOM into the folder --out names: a SEG of every derived segmentation and an SR TID
    /// 1500 of every job's measurements, on their source series.
    Dicom,
    /// PDF reports into the folder --out names: the trial's QC report (qc.pdf) and one per
    /// subject (key images with their masks, measurements over time, the table).
    Pdf,
}

/// `corelab phantom KIND --out DIR`.
#[derive(Debug, Args)]
pub struct PhantomArgs {
    /// brain, ms-lesions, ct-tumor, pet, cardiac or qc.
    #[arg(value_parser = phantom_kind)]
    pub kind: corelab_image::phantom::Kind,
    /// The folder to write (absent or empty): SUBJECT/VISIT/SERIES/NNNN.dcm, truth.json, truth/.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of anatomy, lesions and noise: the same seed gives the same files, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Subjects, each at the next of three sites (scanners of different vendors).
    #[arg(long, default_value_t = 2)]
    pub subjects: usize,
    /// In-plane voxel size in mm (default 2, PET 4; 1 for a full-resolution brain).
    #[arg(long)]
    pub voxel_mm: Option<f64>,
    /// brain: add a second visit a year later with this percentage of brain volume lost;
    /// ms-lesions: lose it at follow-up.
    #[arg(long)]
    pub atrophy: Option<f64>,
    /// Samples per voxel along each axis for the partial-volume fractions.
    #[arg(long, default_value_t = 4)]
    pub subsamples: usize,
}

fn phantom_kind(s: &str) -> Result<corelab_image::phantom::Kind, String> {
    corelab_image::phantom::Kind::parse(s).map_err(|_| {
        format!(
            "unknown phantom kind; one of {}",
            corelab_image::phantom::Kind::ALL
                .map(corelab_image::phantom::Kind::name)
                .join(", ")
        )
    })
}

/// `corelab trial …`.
#[derive(Debug, Subcommand)]
pub enum TrialCommand {
    /// Create a trial, its sites and their AE titles from a trial.toml file.
    Create {
        /// The trial file.
        file: PathBuf,
    },
    /// List trials.
    List,
    /// Show one trial with its sites.
    Show {
        /// The trial id.
        trial: String,
        /// Print the trial file exactly as it was created (read back from the blob store and
        /// checked against its digest) instead of the summary.
        #[arg(long)]
        file: bool,
    },
    /// Lock the trial's algorithms: each resolved to an exact version, its parameters complete,
    /// its fingerprint computed; stored and audited (lock version 1). Runs that differ later are
    /// refused as version drift.
    Lock {
        /// The trial id.
        trial: String,
        /// Also write the lock (JSON) to this file, e.g. trial.lock.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A new lock version from an amended trial file (same trial, same sites), with the reason;
    /// earlier results keep the lock they were made under.
    Amend {
        /// The trial id.
        trial: String,
        /// The amended trial file.
        file: PathBuf,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
        /// Also write the new lock (JSON) to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Every lock version of a trial.
    Locks {
        /// The trial id.
        trial: String,
    },
}

/// `corelab audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain, checkpoint signatures and anchors; exit 3 naming the first bad event.
    Verify,
    /// List events.
    Log {
        /// Only events at or after this UTC time (RFC 3339, or a prefix such as 2026-11-22).
        #[arg(long)]
        since: Option<String>,
        /// At most this many events.
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Print the installation's audit public key (ed25519, hex).
    Key,
    /// Sign the current head of the chain now.
    Checkpoint,
}

/// `corelab deid IN OUT …`.
#[derive(Debug, Args)]
pub struct DeidArgs {
    /// A DICOM file or a folder of them (with --verify: the de-identified ones to check).
    pub input: PathBuf,
    /// Where the de-identified files go (a file for a file, a folder for a folder).
    #[arg(required_unless_present = "verify")]
    pub output: Option<PathBuf>,
    /// Check already de-identified files instead: anything the profile removes or replaces, and
    /// with --against every original identifying value; exit 3 on any finding.
    #[arg(long, conflicts_with = "output")]
    pub verify: bool,
    /// With --verify: the original files, whose identifying values must appear nowhere.
    #[arg(long, requires = "verify")]
    pub against: Option<PathBuf>,
    /// The confidentiality profile (only `basic`, PS3.15 Table E.1-1).
    #[arg(long, default_value = "basic")]
    pub profile: String,
    /// Profile options in kebab case, comma-separated (e.g. retain-long-modified-dates,clean-descriptors).
    #[arg(long = "option", value_delimiter = ',')]
    pub options: Vec<String>,
    /// File holding the trial's de-identification secret: 64 hexadecimal characters.
    #[arg(long, conflicts_with = "trial")]
    pub secret_file: Option<PathBuf>,
    /// De-identify for a trial of this installation: its options, subject-ID rule, private and
    /// blackout rules and key; subjects are linked (sealed) in the catalogue and the Clinical
    /// Trial modules are filled in.
    #[arg(long)]
    pub trial: Option<String>,
    /// With --trial: the site the objects come from.
    #[arg(long, requires = "trial")]
    pub site: Option<String>,
    /// With --trial: the time point (visit) written to ClinicalTrialTimePointID.
    #[arg(long, requires = "site")]
    pub time_point: Option<String>,
}

/// `corelab serve …`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP API and DICOMweb, e.g. 127.0.0.1:8080 (port 0: any free port, printed).
    #[arg(long)]
    pub http: Option<String>,
    /// The built web UI served under / with --http (default: ui/dist in the working folder or
    /// in this checkout; without one, / says how to build it).
    #[arg(long, value_name = "DIR", env = "CORELAB_UI")]
    pub ui: Option<std::path::PathBuf>,
    /// Serve --http over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Address of the DICOM storage SCP, e.g. 0.0.0.0:11112 (port 0: any free port, printed).
    #[arg(long)]
    pub dicom: Option<String>,
    /// This node's AE title (the called AE title senders use).
    #[arg(long, default_value = "CORELAB")]
    pub aet: String,
    /// Associations served at once.
    #[arg(long, default_value_t = 64)]
    pub max_associations: usize,
    /// Seconds an association may stay silent before it is aborted.
    #[arg(long, default_value_t = 60)]
    pub idle_timeout: u64,
    /// Largest object accepted, in MiB.
    #[arg(long, default_value_t = 2048)]
    pub max_mib: u64,
    /// Memory the objects being processed at once may take, in MiB (each counts three times its
    /// size; a larger one is processed alone). Objects being received are held on disk past 8 MiB.
    #[arg(long, default_value_t = 4096)]
    pub memory_mib: u64,
    /// In-process workers running jobs; with any, every locked trial that received new
    /// instances has its QC evaluated and its jobs enqueued every --plan-every seconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub workers: u16,
    /// Seconds between two plannings of the locked trials (with --workers).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub plan_every: u64,
    /// Seconds the workers' claims hold without a heartbeat (renewed every third of it): how
    /// soon, after this process dies, a worker elsewhere or this one restarted takes its jobs over.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_secs: u64,
}

/// `corelab import …`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The trial id.
    pub trial: String,
    /// The site the objects come from.
    #[arg(long)]
    pub site: String,
    /// Files, folders and zip archives.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The trial subject every object belongs to, for objects that carry no usable Patient ID
    /// (created at the site if new); otherwise subjects are found from the Patient ID.
    #[arg(long)]
    pub subject: Option<String>,
    /// Largest object accepted, in MiB; larger ones are refused.
    #[arg(long, default_value_t = 2048)]
    pub max_mib: u64,
}

/// `corelab quarantine …`.
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Objects held (with --all, also released and discarded ones), newest first.
    List {
        /// Include released and discarded objects.
        #[arg(long)]
        all: bool,
    },
    /// One object: where it came from, why it is held, what it is.
    Show {
        /// The quarantine id.
        id: i64,
    },
    /// Run the pipeline again (after fixing the trial, e.g. registering the site); released
    /// only if the object is now stored.
    Release {
        /// The quarantine id.
        id: i64,
        /// The trial to ingest into, when not the recorded one.
        #[arg(long)]
        trial: Option<String>,
        /// The site, when not the recorded one.
        #[arg(long)]
        site: Option<String>,
        /// The trial subject, for an object without a usable Patient ID.
        #[arg(long)]
        subject: Option<String>,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Give up on an object; it stays sealed in the store, marked discarded.
    Discard {
        /// The quarantine id.
        id: i64,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
}

/// `corelab gateway …`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayArgs {
    /// `status`: what is pending, sent and failed.
    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
    /// The hub's base URL, e.g. https://hub.example.org.
    #[arg(long)]
    pub hub: Option<String>,
    /// A file holding the API token of the site's account at the hub (`corelab user token`).
    #[arg(long)]
    pub token_file: Option<std::path::PathBuf>,
    /// Trust only these PEM certificates for an https:// hub (default: the system's roots).
    #[arg(long)]
    pub hub_ca: Option<std::path::PathBuf>,
    /// Address of the gateway's storage SCP, e.g. 0.0.0.0:11112 (port 0: any free port, printed).
    #[arg(long)]
    pub dicom: Option<String>,
    /// The gateway's AE title.
    #[arg(long, default_value = "CORELAB")]
    pub aet: String,
    /// The longest wait between attempts while the hub is unavailable, in seconds.
    #[arg(long, default_value_t = 30)]
    pub max_backoff: u64,
}

/// `corelab gateway status`.
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Instances pending, sent, and failed (the dead-letter list, with the hub's reasons).
    Status,
}

/// `corelab user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user with their grants: `admin`, `ROLE@TRIAL` (qc, reader, adjudicator, sponsor,
    /// auditor, admin) or `site@TRIAL/SITE`; a grant without @TRIAL covers every trial.
    Add {
        /// The user name (letters, digits, '.', '_', '-', '@').
        username: String,
        /// The printed name, shown on signatures.
        #[arg(long)]
        name: String,
        /// A grant; repeat for more.
        #[arg(long = "grant", required = true)]
        grants: Vec<String>,
        /// A file holding the password on its first line (`-`: standard input).
        #[arg(long)]
        password_file: String,
    },
    /// Every user with their grants.
    List,
    /// Disable an account: its sessions end and its tokens stop working.
    Disable {
        /// The user name.
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The user name.
        username: String,
    },
    /// Set a user's password; their sessions end.
    Passwd {
        /// The user name.
        username: String,
        /// A file holding the new password on its first line (`-`: standard input).
        #[arg(long)]
        password_file: String,
    },
    /// Issue an API token for a user (a site gateway's, a script's); printed once, stored only
    /// as its hash.
    Token {
        /// The user name.
        username: String,
        /// The token's name (unique per user).
        #[arg(long)]
        name: String,
        /// Days until it expires (never, when absent).
        #[arg(long)]
        days: Option<u32>,
        /// Write the token to this file (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// `corelab subject …`.
#[derive(Debug, Subcommand)]
pub enum SubjectCommand {
    /// Record a site's own subject ID for one of its patients (before images arrive).
    Assign {
        /// The trial id.
        trial: String,
        /// The site.
        #[arg(long)]
        site: String,
        /// The patient's ID at the site (PatientID in its images).
        #[arg(long)]
        patient_id: String,
        /// The patient's name at the site (sealed with the link; optional).
        #[arg(long, default_value = "")]
        patient_name: String,
        /// The trial subject ID the site assigned.
        #[arg(long)]
        subject: String,
    },
    /// Show who a subject is (or every subject with no SUBJECT): needs the trial key, and is
    /// recorded in the audit trail with the reason.
    Reveal {
        /// The trial id.
        trial: String,
        /// The subject ID.
        subject: Option<String>,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
}

/// `corelab qc TRIAL [decide …]`.
#[derive(Debug, Args)]
pub struct QcArgs {
    /// The trial.
    pub trial: String,
    /// Print the last stored evaluation instead of evaluating again.
    #[arg(long)]
    pub last: bool,
    /// What to do instead of evaluating.
    #[command(subcommand)]
    pub action: Option<QcAction>,
}

/// `corelab qc TRIAL decide …`.
#[derive(Debug, Subcommand)]
pub enum QcAction {
    /// Decide a series' or a visit's status over the computed one (audited; a reason is required).
    Decide {
        /// `series:SERIES_UID` or `visit:SUBJECT/VISIT`.
        #[arg(long)]
        target: String,
        /// `pass` or `fail`.
        #[arg(long, value_parser = ["pass", "fail"])]
        status: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `corelab query …`.
#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Raise a query to the site about a QC target.
    Raise {
        /// The trial.
        trial: String,
        /// `series:SERIES_UID` or `visit:SUBJECT/VISIT`.
        #[arg(long)]
        target: String,
        /// The question put to the site.
        #[arg(long)]
        text: String,
    },
    /// The site's answer to an open query.
    Answer {
        /// The trial.
        trial: String,
        /// The query's id.
        id: i64,
        /// The answer.
        #[arg(long)]
        text: String,
    },
    /// Close an open or answered query.
    Close {
        /// The trial.
        trial: String,
        /// The query's id.
        id: i64,
        /// How it was resolved.
        #[arg(long)]
        text: String,
    },
    /// A trial's queries that are not closed (all with --all).
    List {
        /// The trial.
        trial: String,
        /// Closed ones too.
        #[arg(long)]
        all: bool,
    },
}

/// `corelab run TRIAL [--wait] [--workers N]`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The trial.
    pub trial: String,
    /// Run the jobs here, and wait until none is queued or running.
    #[arg(long)]
    pub wait: bool,
    /// Workers to run here with --wait.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,
}
