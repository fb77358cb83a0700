//! Runs the C API test programs in `ffi-tests/` (STYLE.md §3.8).
//!
//! For each `ffi-tests/<name>.c` there is one test here, which
//!  1. builds the library once per process (`cargo build --lib`, same profile
//!     and target dir as this test binary),
//!  2. compiles the program against `include/` + `target/<profile>/libnats.a`
//!     (`-Werror`, plus ASan/UBSan when `FFI_SANITIZE=1`) and runs it against
//!     a fresh nats-server; it must exit 0 with `N passed, 0 failed` last,
//!  3. unless the source says `/* differential: no */` or nats.c's header is
//!     missing, compiles the same source against the system nats.c
//!     (`/usr/include/nats/nats.h`, `-lnats`) and runs that binary twice:
//!     with the real libnats.so.3.4, then with ours put in front through
//!     `LD_LIBRARY_PATH` (proved with `LD_DEBUG=libs`); both stdouts must
//!     be identical.
//!
//! `examples_c_build` compiles every `examples/c/*.c` against ours.
//! `sweep_every_function` generates (scripts/gen_sweep.py), builds and runs
//! the NULL / 0 / -1 sweep of every function in include/nats/nats.h.

mod common;
#[path = "common/security.rs"]
mod security;

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::NatsServer;

/// Kill a C test program that runs longer than this.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const SYSTEM_HEADER: &str = "/usr/include/nats/nats.h";
const NO_DIFF_MARKER: &str = "/* differential: no */";
const C_FLAGS: &[&str] = &[
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
    "-g",
];
/// `cargo rustc -- --print native-static-libs` for this crate on Linux.
const STATIC_LIBS: &[&str] = &[
    "-lpthread",
    "-ldl",
    "-lm",
    "-lrt",
    "-lutil",
    "-lgcc_s",
    "-lc",
];
/// The SONAME of Debian's libnats3.4, which the system-compiled programs need.
const SYSTEM_SONAME: &str = "libnats.so.3.4";

macro_rules! c_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_c_test(stringify!($name));
            }
        )*
        /// Every C program that has a test above.
        const C_TESTS: &[&str] = &[$(stringify!($name)),*];
    };
}

c_tests!(
    abi_status,
    library,
    options,
    conn_pubsub,
    async_sub,
    request_reply,
    headers,
    header_api,
    bad_input,
    hardening,
    fork,
    health,
    sub_stats,
    drain,
    pool,
    diff_stats,
    tls_auth,
    invalid_args,
    threads,
    sigpipe,
    evloop_libuv,
    evloop_libevent,
    lifecycle,
);

// ---------------------------------------------------------------------------
// Build of the library, once per test process.

struct Artifacts {
    /// `target/<profile>`
    profile_dir: PathBuf,
    /// `target/<profile>/libnats.a`
    staticlib: PathBuf,
    /// `target/<profile>/ffi-tests`: compiled C programs.
    out_dir: PathBuf,
    /// `target/<profile>/ffi-tests/lib`: holds `libnats.so.3.4` -> our cdylib.
    preload_dir: PathBuf,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>` of this very test binary (`target/<profile>/deps/ffi_c-*`),
/// which honours CARGO_TARGET_DIR, `--target-dir` and the profile used.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary has a parent dir");
    if deps.file_name() == Some(OsStr::new("deps")) {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        // Unusual layout: fall back to CARGO_TARGET_DIR or ./target.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|p| {
                if p.is_absolute() {
                    p
                } else {
                    manifest_dir().join(p)
                }
            })
            .unwrap_or_else(|| manifest_dir().join("target"));
        target.join(if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        })
    }
}

fn artifacts() -> &'static Artifacts {
    static BUILD: OnceLock<Result<Artifacts, String>> = OnceLock::new();
    match BUILD.get_or_init(build_library) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    }
}

fn build_library() -> Result<Artifacts, String> {
    let profile_dir = profile_dir();
    let target_dir = profile_dir.parent().ok_or("target dir")?.to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|s| s.to_str())
        .ok_or("profile dir name")?
        .to_string();

    // `cargo test` leaves the C artifacts only in deps/ (STYLE.md §3.8), so
    // ask Cargo for the library proper, with the same profile and target dir.
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--lib"])
        .arg("--target-dir")
        .arg(&target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    cmd.current_dir(manifest_dir());
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo build --lib` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }

    let staticlib = profile_dir.join("libnats.a");
    let cdylib = profile_dir.join("libnats.so");
    for f in [&staticlib, &cdylib] {
        if !f.is_file() {
            return Err(format!("cargo build --lib did not produce {}", f.display()));
        }
    }

    let out_dir = profile_dir.join("ffi-tests");
    let preload_dir = out_dir.join("lib");
    fs::create_dir_all(&preload_dir)
        .map_err(|e| format!("mkdir {}: {e}", preload_dir.display()))?;
    let link = preload_dir.join(SYSTEM_SONAME);
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(&cdylib, &link)
        .map_err(|e| format!("symlink {} -> {}: {e}", link.display(), cdylib.display()))?;

    Ok(Artifacts {
        profile_dir,
        staticlib,
        out_dir,
        preload_dir,
    })
}

// ---------------------------------------------------------------------------
// Compiling and running C programs.

fn sanitize() -> bool {
    std::env::var("FFI_SANITIZE")
        .map(|v| v == "1")
        .unwrap_or(false)
}

fn compile(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run cc for {what}: {e}"));
    if !out.status.success() {
        panic!(
            "compiling {what} failed ({}):\n{:?}\n{}{}",
            out.status,
            cmd,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `cc` against our header and static library.
fn compile_ours(src: &Path, exe: &Path) {
    compile_ours_with(src, exe, &[]);
}

/// `cc` against our header and static library, with extra flags last.
fn compile_ours_with(src: &Path, exe: &Path, extra: &[&str]) {
    let a = artifacts();
    let mut cmd = Command::new("cc");
    cmd.args(C_FLAGS);
    cmd.args(extra);
    if sanitize() {
        cmd.args(["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]);
    }
    cmd.arg(format!("-I{}", manifest_dir().join("include").display()))
        .arg(src)
        .arg(&a.staticlib)
        .args(link_marker(src))
        .args(STATIC_LIBS)
        .arg("-o")
        .arg(exe);
    compile(&mut cmd, &src.display().to_string());
}

/// Extra libraries a program names in a `/* links: -luv */` comment within
/// its first three lines (the event-loop programs).
fn link_marker(src: &Path) -> Vec<String> {
    let text = fs::read_to_string(src).unwrap_or_default();
    text.lines()
        .take(3)
        .find_map(|l| {
            l.trim()
                .strip_prefix("/* links:")
                .and_then(|r| r.strip_suffix("*/"))
                .map(|r| r.split_whitespace().map(str::to_string).collect())
        })
        .unwrap_or_default()
}

/// `cc` against the system nats.c header and library.
fn compile_system(src: &Path, exe: &Path) {
    let mut cmd = Command::new("cc");
    cmd.args(C_FLAGS)
        .arg(src)
        .args(["-lnats", "-lpthread", "-o"])
        .arg(exe);
    compile(&mut cmd, &format!("{} (system nats.c)", src.display()));
}

struct RunResult {
    status: Option<ExitStatus>, // None: killed after RUN_TIMEOUT
    stdout: String,
    stderr: String,
}

impl RunResult {
    fn ok(&self) -> bool {
        self.status.map(|s| s.success()).unwrap_or(false)
    }

    /// stderr without the dynamic loader's `LD_DEBUG` lines.
    fn stderr_filtered(&self) -> String {
        self.stderr
            .lines()
            .filter(|l| !is_ld_debug_line(l))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn describe(&self, what: &str) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => format!("killed after {RUN_TIMEOUT:?}"),
        };
        format!(
            "{what}: {status}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.stdout,
            self.stderr_filtered()
        )
    }
}

/// `  12345:\t...`: a line printed by ld.so for LD_DEBUG.
fn is_ld_debug_line(l: &str) -> bool {
    let t = l.trim_start();
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    digits > 0 && t[digits..].starts_with(':')
}

/// Runs `exe` with `env`, killing it after RUN_TIMEOUT.
fn run(exe: &Path, env: &[(&str, &str)], remove_env: &[&str]) -> RunResult {
    let mut cmd = Command::new(exe);
    for k in remove_env {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));

    // Drain both pipes on their own threads so a chatty program cannot block.
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });

    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {}: {e}", exe.display()),
        }
    };
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    RunResult {
        status,
        stdout,
        stderr,
    }
}

/// Runs `exe` against a fresh nats-server.
fn run_with_server(exe: &Path, extra_env: &[(&str, &str)], remove_env: &[&str]) -> RunResult {
    let server = NatsServer::start();
    let url = server.url();
    // Programs that start servers of their own (the event-loop ones) use
    // the same binary as the harness.
    let bin = common::server_binary().to_string_lossy().into_owned();
    let mut env = vec![
        ("NATS_URL", url.as_str()),
        ("NATS_SERVER_BIN", bin.as_str()),
    ];
    env.extend_from_slice(extra_env);
    run(exe, &env, remove_env)
}

/// The summary line must be last: `N passed, 0 failed` with N > 0.
fn check_summary(r: &RunResult, what: &str) {
    let last = r
        .stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let parsed = last.split_once(" passed, ").and_then(|(p, f)| {
        let failed = f.strip_suffix(" failed")?;
        Some((p.parse::<u64>().ok()?, failed.parse::<u64>().ok()?))
    });
    match parsed {
        Some((passed, 0)) if passed > 0 => {}
        _ => panic!(
            "{what}: last stdout line is {last:?}, want \"N passed, 0 failed\" with N > 0\n{}",
            r.describe(what)
        ),
    }
}

/// A short line diff (LCS) of two outputs: `-` only in `a`, `+` only in `b`.
fn line_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+{:>4}: {}\n", j + 1, b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{:>4}: {}\n", i + 1, a[i]));
            i += 1;
        }
    }
    out
}

/// True if ld.so loaded libnats.so.3.4 from `dir` (per LD_DEBUG=libs output).
fn loaded_from(stderr: &str, dir: &Path) -> bool {
    let ours = format!("{}/{SYSTEM_SONAME}", dir.display());
    let init = stderr
        .lines()
        .any(|l| l.contains(&format!("calling init: {ours}")));
    let tried_ours = stderr
        .lines()
        .any(|l| l.trim_end().ends_with(&format!("trying file={ours}")));
    // Any other candidate path tried means ours was not found first.
    let in_dir = format!("{}/", dir.display());
    let tried_other = stderr.lines().any(|l| {
        l.contains("trying file=")
            && l.trim_end().ends_with(&format!("/{SYSTEM_SONAME}"))
            && !l.contains(&in_dir)
    });
    init || (tried_ours && !tried_other)
}

fn run_c_test(name: &str) {
    let a = artifacts();
    let src = manifest_dir().join("ffi-tests").join(format!("{name}.c"));
    let source = fs::read_to_string(&src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));

    // TLS and authentication programs get their own servers too.
    let sec = source.contains(security::SECURITY_MARKER).then(|| {
        security::SecurityServers::start(
            &common::artifacts_dir().join(format!("c-{name}-{}", std::process::id())),
        )
    });
    let sec_env: Vec<(&str, &str)> = sec
        .iter()
        .flat_map(|s| s.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();

    // 1. Against ours, statically linked.
    let exe = a.out_dir.join(name);
    compile_ours(&src, &exe);
    let r = run_with_server(&exe, &sec_env, &[]);
    if !r.ok() {
        panic!("{}", r.describe(&format!("{name} (libnats-rs, static)")));
    }
    check_summary(&r, &format!("{name} (libnats-rs, static)"));

    // 2. Differential against the real nats.c.
    if source.contains(NO_DIFF_MARKER) {
        eprintln!("note: {name}: differential run skipped ({NO_DIFF_MARKER})");
        return;
    }
    if !Path::new(SYSTEM_HEADER).is_file() {
        eprintln!(
            "note: {name}: differential run skipped ({SYSTEM_HEADER} not found; run scripts/setup.sh)"
        );
        return;
    }
    let sys_exe = a.out_dir.join(format!("{name}.natsc"));
    compile_system(&src, &sys_exe);

    let natsc = run_with_server(&sys_exe, &sec_env, &["LD_LIBRARY_PATH", "LD_PRELOAD"]);
    if !natsc.ok() {
        panic!(
            "{}\n(the C test fails against the real nats.c: the test itself is wrong)",
            natsc.describe(&format!("{name} (nats.c 3.4.1)"))
        );
    }
    check_summary(&natsc, &format!("{name} (nats.c 3.4.1)"));

    let dir = a.preload_dir.to_string_lossy().into_owned();
    let mut env = vec![("LD_LIBRARY_PATH", dir.as_str()), ("LD_DEBUG", "libs")];
    env.extend_from_slice(&sec_env);
    let ours = run_with_server(&sys_exe, &env, &["LD_PRELOAD"]);
    assert!(
        loaded_from(&ours.stderr, &a.preload_dir),
        "{name}: the drop-in run did not load {}/{SYSTEM_SONAME} (LD_DEBUG=libs):\n{}",
        dir,
        ours.stderr
            .lines()
            .filter(|l| l.contains("libnats"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    if !ours.ok() {
        panic!(
            "{}",
            ours.describe(&format!("{name} (libnats-rs as libnats.so.3.4)"))
        );
    }
    if natsc.stdout != ours.stdout {
        panic!(
            "{name}: stdout differs between nats.c 3.4.1 (-) and libnats-rs as {SYSTEM_SONAME} (+):\n{}\n{}",
            line_diff(&natsc.stdout, &ours.stdout),
            ours.describe(&format!("{name} (libnats-rs as libnats.so.3.4)"))
        );
    }
}

/// The hostile-argument sweep: `scripts/gen_sweep.py` reads `include/nats/nats.h`
/// and writes a C program calling every `NATS_EXTERN` function with NULL
/// pointers and 0 / -1 integers (and with live, closed and unsubscribed
/// objects next to NULL out-pointers), each call in a forked child, so a
/// crash, a hang or a wrong status fails the run naming the function. Then
/// every function our `libnats.so` exports must be among those swept.
#[test]
fn sweep_every_function() {
    let a = artifacts();
    let dir = a.out_dir.join("sweep");
    fs::create_dir_all(&dir).expect("mkdir ffi-tests/sweep");
    // First, the generator proves on a fixture library that it reports a
    // crash, a hang, a wrong status and an exit by name.
    let selftest = Command::new("python3")
        .arg(manifest_dir().join("scripts/gen_sweep.py"))
        .arg("--self-test")
        .arg(dir.join("selftest"))
        .output()
        .expect("cannot run python3 scripts/gen_sweep.py --self-test");
    assert!(
        selftest.status.success(),
        "gen_sweep.py --self-test failed:\n{}",
        String::from_utf8_lossy(&selftest.stderr)
    );
    let src = dir.join("sweep.c");
    let names = dir.join("sweep-functions.txt");
    let gen_out = Command::new("python3")
        .arg(manifest_dir().join("scripts/gen_sweep.py"))
        .arg(manifest_dir().join("include/nats/nats.h"))
        .arg(&src)
        .arg("--names-out")
        .arg(&names)
        .output()
        .expect("cannot run python3 scripts/gen_sweep.py");
    assert!(
        gen_out.status.success(),
        "gen_sweep.py failed:\n{}",
        String::from_utf8_lossy(&gen_out.stderr)
    );
    let exe = dir.join("sweep");
    compile_ours(&src, &exe);
    let r = run_with_server(&exe, &[], &[]);
    if !r.ok() {
        panic!("{}", r.describe("sweep (libnats-rs, static)"));
    }
    check_summary(&r, "sweep (libnats-rs, static)");
    if let Some(line) = r.stderr.lines().find(|l| l.starts_with("SWEEP ")) {
        eprintln!("FIGURE {line}");
    }

    // Nothing exported escapes the sweep (a header parse gone wrong, or a
    // function missing from the header).
    let swept: Vec<String> = fs::read_to_string(&names)
        .expect("read sweep-functions.txt")
        .lines()
        .map(str::to_string)
        .collect();
    let cdylib = a.profile_dir.join("libnats.so");
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&cdylib)
        .output()
        .expect("cannot run nm");
    assert!(nm.status.success(), "nm -D {} failed", cdylib.display());
    let nm_out = String::from_utf8_lossy(&nm.stdout);
    // Only the C API is exported: functions, nothing of Rust's (a
    // version script keeps the rest local).
    let not_functions: Vec<&str> = nm_out
        .lines()
        .filter(|l| l.split_whitespace().rev().nth(1).is_none_or(|k| k != "T"))
        .collect();
    assert!(
        not_functions.is_empty(),
        "exported symbols that are not API functions: {not_functions:?}"
    );
    let exported: Vec<String> = nm_out
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect();
    let missing: Vec<&String> = exported.iter().filter(|n| !swept.contains(n)).collect();
    assert!(
        exported.len() >= 100 && missing.is_empty(),
        "{} exported functions, {} swept; exported but not swept: {missing:?}",
        exported.len(),
        swept.len()
    );
    // And every function the header declares is exported.
    let unexported: Vec<&String> = swept.iter().filter(|n| !exported.contains(n)).collect();
    assert!(
        unexported.is_empty(),
        "declared in include/nats/nats.h but not exported: {unexported:?}"
    );
}

/// Every `ffi-tests/*.c` has a test in `c_tests!` (so none is forgotten).
#[test]
fn every_c_program_has_a_test() {
    let dir = manifest_dir().join("ffi-tests");
    let mut missing = Vec::new();
    for entry in fs::read_dir(&dir).expect("read ffi-tests/") {
        let path = entry.expect("dir entry").path();
        if path.extension() == Some(OsStr::new("c")) {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            if !C_TESTS.contains(&stem.as_str()) {
                missing.push(stem);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ffi-tests/*.c without a test in tests/ffi_c.rs c_tests!: {missing:?}"
    );
}

/// Every `examples/c/*.c` compiles with -Werror against include/ + libnats.a.
#[test]
fn examples_c_build() {
    let a = artifacts();
    let out = a.profile_dir.join("examples-c-check");
    fs::create_dir_all(&out).expect("mkdir examples-c-check");
    let mut n = 0;
    let mut entries: Vec<PathBuf> = fs::read_dir(manifest_dir().join("examples/c"))
        .expect("read examples/c")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension() == Some(OsStr::new("c")))
        .collect();
    entries.sort();
    for src in entries {
        let stem = src.file_stem().expect("file stem").to_owned();
        // Examples may use C11 (atomics) and POSIX (fork, kill, clocks).
        compile_ours_with(&src, &out.join(stem), &["-std=c11", "-D_GNU_SOURCE"]);
        n += 1;
    }
    assert!(n >= 4, "expected at least 4 C examples, found {n}");
}

/// The seed's story in C (`examples/c/stale_demo.c`) on our library: server 1
/// frozen, stale detected within the ping arithmetic, the cause visible in
/// the disconnected callback, failover to server 2, everything published
/// while reconnecting delivered once, and the loss of publishes written into
/// the frozen socket reported by the first flush. `scripts/stale_demo.sh`
/// runs the same program on nats.c for comparison.
#[test]
fn stale_demo_story() {
    let a = artifacts();
    let out = a.profile_dir.join("stale-demo-check");
    fs::create_dir_all(&out).expect("mkdir stale-demo-check");
    let exe = out.join("stale_demo");
    let src = manifest_dir().join("examples/c/stale_demo.c");
    compile_ours_with(&src, &exe, &["-std=c11", "-D_GNU_SOURCE"]);
    let bin = common::server_binary();
    let r = run(
        &exe,
        &[("NATS_SERVER_BIN", bin.to_str().expect("utf8 path"))],
        &[],
    );
    assert!(
        r.status.is_some_and(|s| s.success()),
        "{}",
        r.describe("stale_demo")
    );
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line\n{}", r.describe("stale_demo")));
    let get = |k: &str| -> String {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {line}"))
            .to_string()
    };
    let num = |k: &str| -> i64 { get(k).parse().unwrap_or_else(|_| panic!("{k} in {line}")) };
    eprintln!("FIGURE stale_demo (ours): {line}");
    let figures = common::artifacts_dir().join("health-figures.txt");
    if let Ok(mut f) = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(figures)
    {
        use std::io::Write;
        let _ = writeln!(f, "stale_demo (C, ours): {line}");
    }
    let why = r.describe("stale_demo");
    assert_eq!(get("cb_last_error"), "Stale_Connection", "{why}");
    // 500 ms interval, 2 pings out: stale on the 3rd tick without a PONG.
    let detection = num("detection_ms");
    assert!(
        (900..=2500).contains(&detection),
        "detection {detection} ms\n{why}"
    );
    assert!(num("reconnect_ms") >= detection, "{why}");
    assert_eq!(num("reconnects"), 1, "{why}");
    assert_eq!(num("duplicates"), 0, "{why}");
    assert_eq!(num("failed"), 0, "{why}");
    assert_eq!(num("lost_after_detection"), 0, "{why}");
    // Publishes made while server 2 was paused went through the buffer.
    assert!(num("delivered") > 10, "{why}");
    if num("lost") > 0 {
        assert_eq!(
            num("first_flush"),
            10,
            "NATS_CONNECTION_DISCONNECTED\n{why}"
        );
    }
}
