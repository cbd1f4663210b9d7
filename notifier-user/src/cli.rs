//! Command-line interface.

use std::{collections::HashSet, net::SocketAddr, path::PathBuf, sync::LazyLock, time::Duration};

use clap::{Args, Parser, Subcommand};

use notifier_user::{
    pipeline::TraceFormat,
    probe::{Mode, capabilities::Keep, filter::Selection},
    rules::{Engine, RuleId, Thresholds, catalog},
    session::Config,
};

/// Audit period when none is given.
const DEFAULT_AUDIT_EVERY: Duration = Duration::from_secs(30);

/// The exit-status contract, the same for every command (README: "Exit status").
const EXIT_STATUS: &str = "Exit status: 0 ran and found nothing (or the command looks for \
nothing); 1 `check` found something (with --fail-on-loss: or lost, skipped or unobserved \
events); 2 could not run (usage, privileges, attach, I/O). A closed stdout ends the command \
quietly with 0.";

/// What a bug report needs to name the build: the version, the commit, and the event ABI
/// (which recordings it writes and reads).
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} (commit {}, event ABI {}, reads recordings of ABI {}..={})",
        env!("CARGO_PKG_VERSION"),
        env!("NOTIFIER_TOP_COMMIT"),
        notifier_common::ABI_VERSION,
        notifier_common::OLDEST_READABLE_ABI,
        notifier_common::ABI_VERSION,
    )
});

/// Live view of the kernel's mmu_interval_notifier trees: which processes and drivers
/// (GPU SVM, RDMA ODP, …) registered which intervals, the invalidations hitting them, and
/// the deferred inserts/removes in between.
#[derive(Debug, Parser)]
#[command(
    name = "notifier-top",
    version = VERSION.as_str(),
    propagate_version = true,
    after_help = EXIT_STATUS
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// More log output (-v info, -vv debug: includes verifier logs of failed attaches).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The interactive view (default when no command is given and stdout is a terminal).
    Top(TopArgs),
    /// Stream decoded events to stdout (default without a terminal).
    Trace(TraceArgs),
    /// Capture to a recording file that `replay` can read back.
    Record(RecordArgs),
    /// Feed a recording through the same mirror as a live session: the interactive view on
    /// a terminal, or headless with --trace / --summary-json.
    Replay(ReplayArgs),
    /// Convert a recording for another tool: `perfetto`, a trace to open in
    /// ui.perfetto.dev or query with trace_processor.
    Export(ExportArgs),
    /// Show how each hook is attached on this kernel, or why it cannot be.
    Probes(ProbesArgs),
    /// Run the hazard rules headless; exit status 1 when anything is found (for CI).
    Check(CheckArgs),
    /// Per-process snapshot of the intervals registered right now (walks the kernel's
    /// trees; schema: docs/snapshot.schema.json).
    Snapshot(SnapshotArgs),
    /// Run as a Prometheus exporter: /metrics (per-driver, low-cardinality), /snapshot
    /// (per-process detail) and /healthz, until SIGTERM.
    Serve(ServeArgs),
    /// Man pages or shell completions, for packagers (`cargo xtask dist`).
    #[command(hide = true)]
    Generate(GenerateArgs),
}

/// Which processes to watch. The kernel side drops everything else before it reaches the
/// ring buffer. Criteria combine with AND; repeated values of one criterion with OR.
#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    /// Only address spaces used by this process (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Only address spaces used by processes with this command name (repeatable).
    #[arg(long = "comm", value_name = "NAME")]
    pub comms: Vec<String>,
    /// Only address spaces holding an interval of this driver: a module (nouveau,
    /// rdma_rxe, amdgpu), a driver as the owner column names it, or a callback function.
    /// The module must be loaded when notifier-top starts.
    #[arg(long = "owner", value_name = "DRIVER")]
    pub owners: Vec<String>,
}

impl FilterArgs {
    pub fn selection(&self) -> Selection {
        Selection {
            pids: self.pids.clone(),
            comms: self.comms.clone(),
            owners: self.owners.clone(),
        }
    }
}

/// Finding address spaces no process uses; one flag for every command that walks.
#[derive(Debug, Args, Clone, Default)]
pub struct DeepScanArgs {
    /// Skip the deep scan, which reads the mm_struct cache's slabs through /proc/kcore at
    /// start-up and in audits to find the address spaces of exited processes whose
    /// intervals a driver still holds.
    #[arg(long)]
    pub no_deep_scan: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct CaptureArgs {
    /// Attach mode for every hook instead of fentry-with-kprobe-fallback.
    #[arg(long, value_enum)]
    pub attach: Option<Mode>,
    /// Stop after this long (e.g. 10s, 2m); default: until Ctrl-C / SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Write a JSON summary (final mirror, counters, lost events) here at exit; `-` = stdout.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Show kernel pointers in exports instead of per-run hashes (they defeat KASLR).
    #[arg(long)]
    pub raw_pointers: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Re-walk the kernel's trees this often and compare them with the mirror (default
    /// 30s; 0 turns audits off).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "PERIOD")]
    pub audit_every: Option<Duration>,
    #[command(flatten)]
    pub deep_scan: DeepScanArgs,
}

impl CaptureArgs {
    pub fn config(&self, rules: bool) -> Config {
        Config {
            attach: self.attach,
            rules,
            selection: self.filter.selection(),
            audit_every: Some(self.audit_every.unwrap_or(DEFAULT_AUDIT_EVERY))
                .filter(|d| !d.is_zero()),
            no_deep_scan: self.deep_scan.no_deep_scan,
        }
    }
}

/// The rule options of every command that shows findings (`check`, `top`, `replay`),
/// defined once so that the view can be told to ignore what `check` is told to.
#[derive(Debug, Args, Clone, Default)]
pub struct RuleArgs {
    /// Rules to leave out (repeatable).
    #[arg(long, value_enum, value_name = "RULE")]
    pub disable: Vec<RuleId>,
    /// NT008: report callbacks slower than this (default 5ms).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub slow_callback: Option<Duration>,
    /// NT009: report read_begin calls blocked longer than this (default 10ms).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub read_begin_wait: Option<Duration>,
}

impl RuleArgs {
    /// Every rule but the disabled ones.
    pub fn enabled(&self) -> HashSet<RuleId> {
        catalog()
            .iter()
            .map(|r| r.id)
            .filter(|id| !self.disable.contains(id))
            .collect()
    }

    /// The defaults, with the latency thresholds given on the command line.
    pub fn thresholds(&self) -> Thresholds {
        let defaults = Thresholds::default();
        let ns = |d: Option<Duration>, default: u64| d.map_or(default, |d| d.as_nanos() as u64);
        Thresholds {
            slow_callback_ns: ns(self.slow_callback, defaults.slow_callback_ns),
            read_begin_wait_ns: ns(self.read_begin_wait, defaults.read_begin_wait_ns),
            ..defaults
        }
    }

    /// The rule engine these options ask for.
    pub fn engine(&self) -> Engine {
        Engine::new(Some(&self.enabled()), self.thresholds())
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct TopArgs {
    #[command(flatten)]
    pub capture: CaptureArgs,
    #[command(flatten)]
    pub rules: RuleArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct TraceArgs {
    #[command(flatten)]
    pub capture: CaptureArgs,
    /// One JSON object per line instead of human-readable lines.
    #[arg(long)]
    pub json: bool,
}

impl TraceArgs {
    pub fn format(&self) -> TraceFormat {
        TraceFormat::of(self.json)
    }
}

#[derive(Debug, Args, Clone)]
pub struct RecordArgs {
    #[command(flatten)]
    pub capture: CaptureArgs,
    /// Recording file to create (mode 0600; an existing file is never overwritten), or `-`
    /// for stdout. Written as it goes: a killed recorder leaves a file that replays.
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// Recording made by `notifier-top record`; `-` reads it from stdin. One whose
    /// recorder was killed replays up to its last complete block.
    pub file: PathBuf,
    /// Also print every event, as `trace` would.
    #[arg(long)]
    pub trace: bool,
    /// With --trace: JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Write the JSON summary here; `-` = stdout.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Show kernel pointers in exports instead of hashes.
    #[arg(long)]
    pub raw_pointers: bool,
    #[command(flatten)]
    pub rules: RuleArgs,
}

impl ReplayArgs {
    /// Trace lines only when asked for.
    pub fn trace_format(&self) -> Option<TraceFormat> {
        self.trace.then(|| TraceFormat::of(self.json))
    }
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// A Perfetto protobuf trace: per address space a process track, per interval a track
    /// (callbacks, read_begin waits, device faults), per task its invalidations and HMM
    /// migrations, live-interval and loss counters, findings as instants.
    Perfetto,
}

#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    #[arg(value_enum)]
    pub format: ExportFormat,
    /// Recording made by `notifier-top record`; `-` reads it from stdin. One whose
    /// recorder was killed is exported up to its last complete block.
    pub file: PathBuf,
    /// File to write (through a temporary renamed over it, mode 0600), or `-` for stdout.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Show kernel pointers instead of per-run hashes (they defeat KASLR).
    #[arg(long)]
    pub raw_pointers: bool,
    #[command(flatten)]
    pub rules: RuleArgs,
}

#[derive(Debug, Args, Clone)]
pub struct ProbesArgs {
    /// Attach mode to try instead of the automatic choice.
    #[arg(long, value_enum)]
    pub attach: Option<Mode>,
    /// Also try the hazard-rule hooks (allocations, locks, scheduler, teardown).
    #[arg(long)]
    pub rules: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum SnapshotFormat {
    #[default]
    Json,
    /// One row per interval, process columns repeated.
    Csv,
}

#[derive(Debug, Args, Clone)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: SnapshotFormat,
    /// File to write (atomically, mode 0600); default and `-`: stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Show kernel pointers instead of per-run hashes (they defeat KASLR).
    #[arg(long)]
    pub raw_pointers: bool,
    /// Attach mode for every hook instead of the automatic choice.
    #[arg(long, value_enum)]
    pub attach: Option<Mode>,
    #[command(flatten)]
    pub deep_scan: DeepScanArgs,
}

impl SnapshotArgs {
    pub fn config(&self) -> Config {
        Config {
            attach: self.attach,
            selection: self.filter.selection(),
            no_deep_scan: self.deep_scan.no_deep_scan,
            ..Config::default()
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub capture: CaptureArgs,
    /// Findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Exit status 1 also when events were lost, program runs skipped or callbacks
    /// unobserved: a clean result then means a complete one.
    #[arg(long)]
    pub fail_on_loss: bool,
    /// Print a rule's explanation, fix and what lockdep says of it, and exit (with --json:
    /// as one JSON object).
    #[arg(long, value_enum, value_name = "RULE")]
    pub explain: Option<RuleId>,
    #[command(flatten)]
    pub rules: RuleArgs,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address and port to serve on. Localhost by default: serving other hosts must be
    /// asked for (e.g. 0.0.0.0:9477), ideally with --web-config.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9477")]
    pub listen: SocketAddr,
    /// TLS and basic authentication, in the Prometheus exporter-toolkit web-config format
    /// (tls_server_config, basic_auth_users).
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// Capabilities kept once the probes are armed; the rest are dropped: `auto` (what
    /// hooking a driver that registers later needs here: CAP_PERFMON, CAP_SYSLOG, and
    /// CAP_SYS_ADMIN where kernel.perf_event_paranoid is 3), `none` (such a driver's
    /// callbacks are then counted as unobserved), `all`, or a list such as perfmon,syslog.
    #[arg(long, value_name = "LIST", default_value_t = Keep::Auto)]
    pub keep_capabilities: Keep,
    #[command(flatten)]
    pub capture: CaptureArgs,
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// What `generate` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Generated {
    /// notifier-top.1 and a notifier-top-<command>.1 per command.
    Man,
    /// notifier-top.bash
    CompleteBash,
    /// _notifier-top
    CompleteZsh,
    /// notifier-top.fish
    CompleteFish,
}

#[derive(Debug, Args, Clone)]
pub struct GenerateArgs {
    #[arg(value_enum)]
    pub what: Generated,
    /// Folder to write into (created when missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}
