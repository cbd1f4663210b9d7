//! Running a command as root in a QEMU guest booted on one of the matrix kernels, with the
//! host root shared read-only and a writable output folder ($VM_OUT in the guest).

use std::{
    env,
    ffi::OsString,
    fs,
    io::{BufRead as _, BufReader, Write as _},
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{initramfs, kernels, paths};

pub struct Options {
    pub kernel: String,
    /// Not with `terminal`: an interactive command ends when its user ends it.
    pub timeout: Duration,
    /// Host folder the guest sees as $VM_OUT (default target/vm/<kernel>/out).
    pub out: Option<PathBuf>,
    /// Echo the guest command's output to stdout as it comes.
    pub echo: bool,
    /// Give the guest command this terminal: the serial console becomes its controlling
    /// tty, wired to ours (raw), so interactive programs (the TUI) work.
    pub terminal: Option<Terminal>,
    pub clock: Clock,
}

/// What guest time measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Host time, as usual.
    Wall,
    /// Instructions executed, 1 ns each (QEMU's `-icount shift=0`; idle time skipped).
    /// Emulation distorts wall time unevenly — an instruction that is one host instruction
    /// and one that is a softmmu lookup or a helper call differ tenfold, and the same
    /// programs measured 2.5× apart between TCG's threading modes — while an instruction
    /// count repeats: the cost benchmark's figures agree within 1.5 % between rounds and boots.
    Instructions,
}

impl Clock {
    /// The name scenarios select it by (`# clock: NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::Instructions => "instructions",
        }
    }
}

/// The host terminal the guest's console stands in for. A serial line carries no size, so
/// the guest is told it once; resizes do not follow.
pub struct Terminal {
    pub rows: u16,
    pub cols: u16,
    pub term: String,
}

impl Terminal {
    /// The terminal on stdin/stdout, if both are one.
    pub fn of_stdio() -> Option<Terminal> {
        use std::io::IsTerminal as _;
        if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
            return None;
        }
        // SAFETY: TIOCGWINSZ fills a winsize we own.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } != 0
            || ws.ws_row == 0
        {
            return None;
        }
        let term = env::var("TERM").unwrap_or_else(|_| "xterm".into());
        // The kernel command line cannot carry spaces; a TERM never has any.
        (!term.contains(char::is_whitespace)).then_some(Terminal {
            rows: ws.ws_row,
            cols: ws.ws_col,
            term,
        })
    }
}

pub struct Outcome {
    /// The guest command's exit status.
    pub status: i32,
    /// What the command printed (console lines after the guest was ready).
    pub output: String,
    pub elapsed: Duration,
    pub console_log: PathBuf,
}

const READY: &str = "nt-vm: kernel ";
const VERDICT: &str = "NT-VM-EXIT ";

/// The guest died before the command started (it never printed its ready line): a boot
/// failure, not the command's. Software emulation occasionally trips over early-boot text
/// patching (seen once on 7.3: an int3 oops in sched_clock_cpu), so such a boot is retried.
#[derive(Debug, thiserror::Error)]
#[error("the guest kernel died during boot (kernel {kernel}); full console: {console}")]
struct BootFailed {
    kernel: String,
    console: String,
}

const BOOT_ATTEMPTS: u32 = 3;

pub fn run(opts: &Options, argv: &[String]) -> Result<Outcome> {
    for attempt in 1..=BOOT_ATTEMPTS {
        match run_once(opts, argv) {
            Err(e) if attempt < BOOT_ATTEMPTS && e.downcast_ref::<BootFailed>().is_some() => {
                eprintln!("xtask vm: {e:#}; booting again ({attempt}/{BOOT_ATTEMPTS})");
            }
            other => return other,
        }
    }
    unreachable!("the last attempt returns")
}

/// Console log, command script and lock of one kernel's VM.
fn vm_dir(kernel_id: &str) -> PathBuf {
    paths::target_dir().join("vm").join(kernel_id)
}

/// The host folder the guest sees as $VM_OUT unless `Options::out` says otherwise.
pub fn default_out(kernel_id: &str) -> PathBuf {
    vm_dir(kernel_id).join("out")
}

fn run_once(opts: &Options, argv: &[String]) -> Result<Outcome> {
    let k = kernels::prepare(&opts.kernel)?;
    let vm_dir = vm_dir(k.id);
    fs::create_dir_all(&vm_dir).with_context(|| format!("creating {}", vm_dir.display()))?;
    let _lock = lock(&vm_dir, k.id)?;
    let initrd = initramfs::build(&k)?;
    let out = opts.out.clone().unwrap_or_else(|| default_out(k.id));
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize()?;
    // The guest reads the script through the read-only host root, at the same path.
    let script = vm_dir.canonicalize()?.join("command.sh");
    fs::write(&script, command_script(argv, k.id)?)?;
    let console_log = vm_dir.join(match opts.clock {
        Clock::Wall => "console.log".to_owned(),
        clock => format!("console-{}.log", clock.name()),
    });
    let append = kernel_append(
        &k.modules_dir(),
        &script,
        &keep_visible()?,
        opts.terminal.as_ref(),
    );
    let vmlinuz = k.vmlinuz();
    let spec = QemuSpec {
        clock: opts.clock,
        kvm: env::var("NOTIFIER_TOP_VM_ACCEL").as_deref() == Ok("kvm"),
        vmlinuz: &vmlinuz,
        initrd: &initrd,
        append: &append,
        out: &out,
    };
    if spec.kvm && spec.clock == Clock::Instructions {
        eprintln!("xtask vm: KVM has no instruction clock; guest time is wall time");
    }
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(qemu_args(&spec));
    if opts.terminal.is_some() {
        return run_attached(qemu, &out, k.id);
    }
    let log = fs::File::create(&console_log)
        .with_context(|| format!("creating {}", console_log.display()))?;
    let start = Instant::now();
    let console = watch_console(qemu, opts.timeout, opts.echo, log)?;
    if console.timed_out {
        bail!(
            "the guest did not finish within {:?} (kernel {}; raise --timeout if it needs longer); full console: {}",
            opts.timeout,
            k.id,
            console_log.display()
        );
    }
    if console.status.is_none() && !console.ready {
        return Err(BootFailed {
            kernel: k.id.to_owned(),
            console: console_log.display().to_string(),
        }
        .into());
    }
    let Some(status) = console.status else {
        bail!(
            "the guest stopped without reporting an exit status (kernel {}): {}; full console: {}",
            k.id,
            console.qemu_err.lines().last().unwrap_or("no qemu error"),
            console_log.display()
        );
    };
    Ok(Outcome {
        status,
        output: console.output,
        elapsed: start.elapsed(),
        console_log,
    })
}

/// The guest kernel's command line: console, where the modules and the command are, which
/// host paths to keep visible, and the terminal's size for an attached session.
fn kernel_append(modules: &Path, script: &Path, keep: &str, terminal: Option<&Terminal>) -> String {
    let mut append = format!(
        "console=ttyS0 loglevel=3 panic=-1 ntmods={} ntcmd={} ntkeep={keep}",
        modules.display(),
        script.display(),
    );
    if let Some(t) = terminal {
        append.push_str(&format!(
            " quiet ntterm={} ntrows={} ntcols={}",
            t.term, t.rows, t.cols
        ));
    }
    append
}

/// Everything QEMU's command line depends on.
struct QemuSpec<'a> {
    clock: Clock,
    /// NOTIFIER_TOP_VM_ACCEL=kvm.
    kvm: bool,
    vmlinuz: &'a Path,
    initrd: &'a Path,
    append: &'a str,
    /// The host folder shared writable as $VM_OUT.
    out: &'a Path,
}

/// QEMU's arguments (after the program name) for one guest: no network, the serial console
/// on stdio, the host root shared read-only and `out` writable over virtio-9p.
fn qemu_args(s: &QemuSpec) -> Vec<OsString> {
    let mut args: Vec<OsString> = accel(s.clock, s.kvm).into_iter().map(Into::into).collect();
    let fixed = [
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        "2G",
        "-nic",
        "none",
        "-display",
        "none",
        // signal=off: Ctrl-C goes to the guest program, not to QEMU.
        "-no-reboot",
        "-chardev",
        "stdio,id=con,signal=off",
        "-serial",
        "chardev:con",
        "-monitor",
        "none",
    ];
    args.extend(fixed.iter().map(OsString::from));
    args.push("-kernel".into());
    args.push(s.vmlinuz.into());
    args.push("-initrd".into());
    args.push(s.initrd.into());
    args.push("-append".into());
    args.push(s.append.into());
    args.push("-fsdev".into());
    args.push("local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap".into());
    args.push("-device".into());
    args.push("virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot".into());
    args.push("-fsdev".into());
    args.push(
        format!(
            "local,id=vmout,path={},security_model=none,multidevs=remap",
            s.out.display()
        )
        .into(),
    );
    args.push("-device".into());
    args.push("virtio-9p-pci,fsdev=vmout,mount_tag=vmout".into());
    args
}

/// What the guest's console said.
struct Console {
    /// From the `NT-VM-EXIT` line.
    status: Option<i32>,
    /// The guest printed its ready line (the command started).
    ready: bool,
    /// The command's output: console lines after the ready line.
    output: String,
    /// QEMU was killed at the time limit.
    timed_out: bool,
    qemu_err: String,
}

/// Runs QEMU to its end (killing it after `timeout`), logging every console line and
/// collecting the command's output and exit status.
fn watch_console(
    mut qemu: Command,
    timeout: Duration,
    echo: bool,
    mut log: fs::File,
) -> Result<Console> {
    qemu.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = qemu
        .spawn()
        .context("starting qemu-system-x86_64 (run `cargo xtask setup`)")?;
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    {
        let (done, timed_out) = (done.clone(), timed_out.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            timed_out.store(true, Ordering::Relaxed);
            // SAFETY: kill(2) of our own child, which we have not reaped yet.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        });
    }
    let stderr = child.stderr.take().context("qemu stderr")?;
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    let mut console = Console {
        status: None,
        ready: false,
        output: String::new(),
        timed_out: false,
        qemu_err: String::new(),
    };
    let stdout = child.stdout.take().context("qemu stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    while reader.read_until(b'\n', &mut buf)? > 0 {
        let line = String::from_utf8_lossy(&buf).replace('\r', "");
        buf.clear();
        log.write_all(line.as_bytes())?;
        let text = line.trim_end_matches('\n');
        if let Some(code) = text.strip_prefix(VERDICT) {
            console.status = code.trim().parse().ok();
            continue;
        }
        if !console.ready || console.status.is_some() {
            console.ready = text.starts_with(READY);
            continue;
        }
        if echo {
            println!("{text}");
        }
        console.output.push_str(text);
        console.output.push('\n');
    }
    let _ = child.wait();
    done.store(true, Ordering::Relaxed);
    console.qemu_err = stderr.join().unwrap_or_default();
    log.write_all(console.qemu_err.as_bytes())?;
    console.timed_out = timed_out.load(Ordering::Relaxed);
    Ok(console)
}

/// The guest on our terminal: QEMU's console is the terminal itself (QEMU puts it in raw
/// mode and restores it), so nothing can be read from it; the guest's init leaves the
/// command's status in $VM_OUT instead.
fn run_attached(mut qemu: Command, out: &Path, kernel: &str) -> Result<Outcome> {
    let status_file = out.join(EXIT_FILE);
    let _ = fs::remove_file(&status_file);
    let start = Instant::now();
    let qemu_status = qemu
        .status()
        .context("starting qemu-system-x86_64 (run `cargo xtask setup`)")?;
    let status = fs::read_to_string(&status_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .with_context(|| {
            format!("the guest (kernel {kernel}) stopped without reporting an exit status (qemu: {qemu_status})")
        })?;
    Ok(Outcome {
        status,
        output: String::new(),
        elapsed: start.elapsed(),
        console_log: PathBuf::from("(the terminal)"),
    })
}

/// Where the guest's init writes the command's exit status in $VM_OUT (attached mode).
const EXIT_FILE: &str = ".nt-vm-exit";

/// The host paths the guest command needs (project root, target dir, cwd), for the guest's
/// init to bind back from the host root when they lie under a guest tmpfs (/tmp, /run,
/// /var/tmp): a clone in /tmp is common in CI. Colon-separated for the kernel command line,
/// which cannot carry spaces.
fn keep_visible() -> Result<String> {
    let paths = [
        paths::project_root().canonicalize()?,
        paths::target_dir().canonicalize()?,
        env::current_dir()?.canonicalize()?,
    ];
    let joined = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    if joined.contains(char::is_whitespace)
        || paths.iter().any(|p| p.to_string_lossy().contains(':'))
    {
        bail!(
            "the guest learns where the project is from the kernel command line, which cannot \
             carry spaces or (here) colons: {joined}; move the project, set CARGO_TARGET_DIR or \
             run from another directory"
        );
    }
    Ok(joined)
}

/// One VM per kernel at a time in a tree: engineers share the tree, and a second run would
/// overwrite the first one's console log, command and $VM_OUT. A second run waits. The lock
/// goes with the returned file.
fn lock(vm_dir: &Path, kernel: &str) -> Result<fs::File> {
    let path = vm_dir.join(".lock");
    let file = fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    // SAFETY: flock on a descriptor we own for the duration of the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!(
            "xtask vm: another VM on kernel {kernel} is running in this tree ({}); waiting",
            path.display()
        );
        // SAFETY: as above.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("locking {}", path.display()));
        }
    }
    Ok(file)
}

/// Software emulation by default: the nested KVM on these machines cannot run stock kernels.
/// NOTIFIER_TOP_VM_ACCEL=kvm opts in where KVM really works.
///
/// The wall clock runs a host thread per vCPU (`thread=multi`), what the suites have always
/// passed on. It has one known artefact: kernel text patching (a tracer's attach or detach)
/// can race the other vCPU's translated code, which then spins at one guest instruction
/// with interrupts off while the patching CPU waits for it (soft lockups on both; seen in 2
/// of 8 runs of 6.1's hazards scenario with a build of the programs that woke the reader on
/// a 20 ms tick, never with the released ones). The instruction clock needs one TCG thread
/// for both vCPUs (`-icount` requires it), which also rules that race out.
fn accel(clock: Clock, kvm: bool) -> Vec<&'static str> {
    if kvm {
        return vec!["-accel", "kvm"];
    }
    match clock {
        Clock::Wall => vec!["-accel", "tcg,thread=multi"],
        Clock::Instructions => vec![
            "-accel",
            "tcg,thread=single",
            "-icount",
            "shift=0,sleep=off",
        ],
    }
}

/// The guest runs this: PATH with the project's tools, $VM_OUT, the caller's cwd, argv.
fn command_script(argv: &[String], kernel: &str) -> Result<String> {
    if argv.is_empty() {
        bail!("no command given: cargo xtask vm --kernel K -- <command...>");
    }
    let root = paths::project_root();
    let target = paths::target_dir();
    let cwd = env::current_dir()?;
    let path = [
        root.join("vm/guest/bin"),
        target.join("fixtures/bin"),
        target.join("release"),
        PathBuf::from("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
    ]
    .iter()
    .map(|p| p.display().to_string())
    .collect::<Vec<_>>()
    .join(":");
    let args: Vec<String> = argv.iter().map(|a| quote(a)).collect();
    Ok(format!(
        "export PATH={path}\nexport VM_OUT=/run/vm-out HOME=/root TERM=${{TERM:-dumb}} LANG=C.UTF-8\n\
         export NT_ROOT={root} NT_KERNEL={kernel} NT_TARGET={target}\ncd {cwd} || exit 126\n{}\n",
        args.join(" "),
        root = quote(&root.display().to_string()),
        target = quote(&target.display().to_string()),
        cwd = quote(&cwd.display().to_string()),
    ))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_survive_the_shell() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        let script = command_script(&["echo".into(), "a b".into(), "$HOME".into()], "7.3").unwrap();
        assert!(script.contains("'echo' 'a b' '$HOME'"));
    }

    fn argv(clock: Clock, kvm: bool) -> Vec<String> {
        let spec = QemuSpec {
            clock,
            kvm,
            vmlinuz: Path::new("/k/vmlinuz"),
            initrd: Path::new("/k/initrd"),
            append: "console=ttyS0 ntcmd=/x/command.sh",
            out: Path::new("/t/out"),
        };
        qemu_args(&spec)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    /// The value after `flag`, for every occurrence.
    fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn qemu_argv() {
        let wall = argv(Clock::Wall, false);
        let instr = argv(Clock::Instructions, false);
        let kvm = argv(Clock::Instructions, true);
        for args in [&wall, &instr, &kvm] {
            assert_eq!(values(args, "-nic"), ["none"], "{args:?}");
            assert_eq!(values(args, "-kernel"), ["/k/vmlinuz"]);
            assert_eq!(values(args, "-initrd"), ["/k/initrd"]);
            assert_eq!(
                values(args, "-append"),
                ["console=ttyS0 ntcmd=/x/command.sh"]
            );
            let fsdev = values(args, "-fsdev");
            assert!(fsdev[0].contains("path=/,readonly=on"), "{fsdev:?}");
            assert!(fsdev[1].contains("path=/t/out,") && !fsdev[1].contains("readonly"));
        }
        assert_eq!(values(&wall, "-accel"), ["tcg,thread=multi"]);
        assert!(values(&wall, "-icount").is_empty());
        // -icount needs one TCG thread for both vCPUs.
        assert_eq!(values(&instr, "-accel"), ["tcg,thread=single"]);
        assert_eq!(values(&instr, "-icount"), ["shift=0,sleep=off"]);
        assert_eq!(values(&kvm, "-accel"), ["kvm"]);
        assert!(values(&kvm, "-icount").is_empty());
    }

    #[test]
    fn kernel_command_line() {
        let t = Terminal {
            rows: 40,
            cols: 120,
            term: "xterm".into(),
        };
        let plain = kernel_append(Path::new("/m"), Path::new("/c.sh"), "/a:/b", None);
        assert_eq!(
            plain,
            "console=ttyS0 loglevel=3 panic=-1 ntmods=/m ntcmd=/c.sh ntkeep=/a:/b"
        );
        let tty = kernel_append(Path::new("/m"), Path::new("/c.sh"), "/a", Some(&t));
        assert!(tty.ends_with(" quiet ntterm=xterm ntrows=40 ntcols=120"));
    }
}
