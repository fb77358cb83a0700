//! Installs the library with `scripts/install.sh` and builds programs against
//! the installed tree the ways nats.c users do (README "Installing (like
//! nats.c)").
//!
//! Once per test process, `bash scripts/install.sh <prefix>` installs into a
//! fresh `target/tmp/install-<pid>/prefix`. Then:
//!  - `pkg_config_shared`: `packaging/test/main.c` built with
//!    `pkg-config --cflags --libs libnats`; it must run, and `ldd` must show
//!    the installed `libnats.so.3.4`;
//!  - `pkg_config_static`: the same program built with `pkg-config --static`
//!    against `libnats.a`; no libnats may be loaded at run time;
//!  - `cmake_find_package`: `packaging/test/CMakeLists.txt`
//!    (`find_package(cnats CONFIG REQUIRED)`, `cnats::nats` and
//!    `cnats::nats_static`) configured, built and both programs run;
//!  - `cxx_headers`: `packaging/test/main.cpp` built with
//!    `g++ -std=c++11 -Wall -Wextra -Werror -pedantic` and run;
//!  - `installed_layout`: the files, symlinks, SONAME and pkg-config file;
//!  - `destdir_install_is_relocatable_and_rerunnable`: a `DESTDIR` install,
//!    run twice, found by CMake from the staged location.
//!
//! cmake, pkg-config, g++ and ldd must be installed (`scripts/setup.sh`);
//! a missing one fails the test rather than skipping it. The system may also
//! have nats.c installed (libnats-dev), so every step checks that what it used
//! is ours.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The version the installed library must report (include/nats/nats.h).
const VERSION: &str = "3.14.0";
/// Our SONAME (build.rs): what programs linked against the install need.
const SONAME: &str = "libnats.so.3.4";
/// The checks `packaging/test/main.c` makes; all must pass.
const C_CHECKS: u32 = 23;
/// The checks `packaging/test/main.cpp` makes; all must pass.
const CXX_CHECKS: u32 = 13;
const C_FLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];
const CXX_FLAGS: &[&str] = &["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn test_src(name: &str) -> PathBuf {
    manifest_dir().join("packaging/test").join(name)
}

// ---------------------------------------------------------------------------
// Running commands.

fn describe(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    s.push_str(&format!("{:?}", cmd.get_program()));
    for a in cmd.get_args() {
        s.push_str(&format!(" {a:?}"));
    }
    s
}

/// Runs `cmd`; panics, naming `what` and showing the command, its exit status,
/// stdout and stderr, unless it exits 0.
fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("{what}: cannot run {}: {e}", describe(cmd)),
    };
    assert!(
        out.status.success(),
        "{what} failed ({}):\n$ {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        describe(cmd),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails unless `tool` can be started; the install tests need it.
fn require_tool(tool: &str, version_arg: &str) {
    if let Err(e) = Command::new(tool).arg(version_arg).output() {
        panic!(
            "`{tool}` is needed by the install tests but cannot be run ({e}); \
             install it with `bash scripts/setup.sh` (Debian package: {})",
            match tool {
                "ldd" => "libc-bin",
                "readelf" => "binutils",
                "cc" => "gcc",
                other => other,
            }
        );
    }
}

// ---------------------------------------------------------------------------
// The install, once per process.

struct Installed {
    /// `target/tmp/install-<pid>`: everything this process writes.
    root: PathBuf,
    /// `<root>/prefix`: where install.sh put the library.
    prefix: PathBuf,
    /// install.sh's stdout.
    log: String,
}

impl Installed {
    fn lib(&self) -> PathBuf {
        self.prefix.join("lib")
    }

    /// A fresh directory `<root>/<name>` for one test's outputs.
    fn work_dir(&self, name: &str) -> PathBuf {
        let d = self.root.join(name);
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        d
    }
}

fn installed() -> &'static Installed {
    static INSTALL: OnceLock<Installed> = OnceLock::new();
    INSTALL.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_roots(&base);
        let root = base.join(format!("install-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let prefix = root.join("prefix");
        fs::create_dir_all(&root).unwrap_or_else(|e| panic!("mkdir {}: {e}", root.display()));
        let out = run_install(&prefix, None);
        Installed {
            root,
            prefix,
            log: stdout_of(&out),
        }
    })
}

/// Deletes `install-<pid>` directories left by earlier runs whose process is
/// gone (each holds a copy of the ~100 MB libraries).
fn remove_stale_roots(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("install-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// `bash scripts/install.sh <prefix>`, with `DESTDIR` if given.
fn run_install(prefix: &Path, destdir: Option<&Path>) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(manifest_dir().join("scripts/install.sh"))
        .arg(prefix)
        .current_dir(manifest_dir());
    match destdir {
        Some(d) => cmd.env("DESTDIR", d),
        None => cmd.env_remove("DESTDIR"),
    };
    run_ok(&mut cmd, "scripts/install.sh")
}

// ---------------------------------------------------------------------------
// Checking the programs.

/// Runs a test program built against the install: it must exit 0 and end
/// with `<expected> passed, 0 failed`.
fn run_program(exe: &Path, lib_dir: Option<&Path>, expected: u32, what: &str) -> String {
    let mut cmd = Command::new(exe);
    match lib_dir {
        Some(d) => cmd.env("LD_LIBRARY_PATH", d),
        None => cmd.env_remove("LD_LIBRARY_PATH"),
    };
    let out = run_ok(&mut cmd, what);
    let stdout = stdout_of(&out);
    let last = stdout.lines().last().unwrap_or("");
    assert_eq!(
        last,
        format!("{expected} passed, 0 failed"),
        "{what}: unexpected summary; stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `ldd exe` (with LD_LIBRARY_PATH=`lib_dir` if given).
fn ldd(exe: &Path, lib_dir: Option<&Path>) -> String {
    require_tool("ldd", "--version");
    let mut cmd = Command::new("ldd");
    cmd.arg(exe);
    match lib_dir {
        Some(d) => cmd.env("LD_LIBRARY_PATH", d),
        None => cmd.env_remove("LD_LIBRARY_PATH"),
    };
    stdout_of(&run_ok(&mut cmd, &format!("ldd {}", exe.display())))
}

/// The program loads `libnats.so.3.4` from the installed `lib/`.
fn assert_loads_installed(exe: &Path, inst: &Installed, what: &str) {
    let lib = inst.lib();
    let out = ldd(exe, Some(&lib));
    let want = format!("{SONAME} => {}", lib.join(SONAME).display());
    assert!(
        out.lines().any(|l| l.trim_start().starts_with(&want)),
        "{what}: ldd does not show `{want}`:\n{out}"
    );
    let other = out
        .lines()
        .filter(|l| l.contains("libnats") && !l.trim_start().starts_with(&want))
        .collect::<Vec<_>>();
    assert!(other.is_empty(), "{what}: other libnats loaded: {other:?}");
}

/// The program has no libnats shared library at all (it was linked statically).
fn assert_no_shared_libnats(exe: &Path, what: &str) {
    let out = ldd(exe, None);
    assert!(
        !out.contains("libnats"),
        "{what}: a statically linked program depends on libnats:\n{out}"
    );
}

/// `pkg-config <args> libnats` against the install only.
fn pkg_config(inst: &Installed, args: &[&str]) -> Vec<String> {
    require_tool("pkg-config", "--version");
    let mut cmd = Command::new("pkg-config");
    cmd.env("PKG_CONFIG_PATH", inst.lib().join("pkgconfig"))
        .args(args)
        .arg("libnats");
    let out = run_ok(&mut cmd, "pkg-config");
    stdout_of(&out)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn assert_prefix_has_no_spaces(inst: &Installed) {
    assert!(
        !inst.prefix.to_string_lossy().contains(char::is_whitespace),
        "the test prefix {} holds whitespace, which pkg-config output cannot carry",
        inst.prefix.display()
    );
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn installed_layout() {
    let inst = installed();
    let lib = inst.lib();
    let real = format!("libnats.so.{VERSION}");

    let meta = fs::symlink_metadata(lib.join(&real)).expect("libnats.so.<version>");
    assert!(meta.file_type().is_file(), "{real} must be a regular file");
    for (link, target) in [
        (SONAME, real.as_str()),
        ("libnats.so.3.14", real.as_str()),
        ("libnats.so", SONAME),
    ] {
        let got = fs::read_link(lib.join(link))
            .unwrap_or_else(|e| panic!("{link} is not a symlink: {e}\n{}", inst.log));
        assert_eq!(got, Path::new(target), "{link} points elsewhere");
    }
    assert!(lib.join("libnats.a").is_file(), "libnats.a missing");
    // libnats_static.a: a symlink to libnats.a, or a copy of it.
    assert_eq!(
        fs::read(lib.join("libnats_static.a")).expect("read libnats_static.a"),
        fs::read(lib.join("libnats.a")).expect("read libnats.a"),
        "libnats_static.a differs from libnats.a"
    );

    // The SONAME recorded in the installed library.
    require_tool("readelf", "--version");
    let dynamic = stdout_of(&run_ok(
        Command::new("readelf").arg("-d").arg(lib.join(&real)),
        "readelf -d",
    ));
    assert!(
        dynamic
            .lines()
            .any(|l| l.contains("(SONAME)") && l.contains(&format!("[{SONAME}]"))),
        "installed library's SONAME is not {SONAME}:\n{dynamic}"
    );

    // Headers: the real one is a copy; the others forward to it.
    let inc = inst.prefix.join("include");
    assert_eq!(
        fs::read_to_string(inc.join("nats/nats.h")).expect("include/nats/nats.h"),
        fs::read_to_string(manifest_dir().join("include/nats/nats.h")).expect("repo header"),
        "installed nats/nats.h differs from include/nats/nats.h"
    );
    for (h, fwd) in [
        ("nats.h", "#include \"nats/nats.h\""),
        ("nats/status.h", "#include \"nats.h\""),
        ("nats/version.h", "#include \"nats.h\""),
    ] {
        let text = fs::read_to_string(inc.join(h)).unwrap_or_else(|e| panic!("{h}: {e}"));
        assert!(
            text.contains(fwd),
            "{h} does not forward with `{fwd}`:\n{text}"
        );
    }

    // pkg-config file.
    let pc = fs::read_to_string(lib.join("pkgconfig/libnats.pc")).expect("libnats.pc");
    for line in [
        format!("prefix={}", inst.prefix.display()),
        format!("Version: {VERSION}"),
        "Libs: -L${libdir} -lnats".to_string(),
        "Cflags: -I${includedir}".to_string(),
    ] {
        assert!(
            pc.lines().any(|l| l == line),
            "libnats.pc lacks `{line}`:\n{pc}"
        );
    }
    let private = pc
        .lines()
        .find_map(|l| l.strip_prefix("Libs.private:"))
        .unwrap_or_else(|| panic!("libnats.pc has no Libs.private:\n{pc}"));
    for l in ["-lpthread", "-ldl", "-lm"] {
        assert!(
            private.split_whitespace().any(|w| w == l),
            "Libs.private lacks {l}: {private}"
        );
    }

    // CMake package.
    for f in ["cnats-config.cmake", "cnats-config-version.cmake"] {
        assert!(lib.join("cmake/cnats").join(f).is_file(), "{f} missing");
    }

    // install.sh lists what it installed.
    for f in [&real, SONAME, "libnats.pc", "cnats-config.cmake", "nats.h"] {
        assert!(
            inst.log.contains(f),
            "install.sh did not report {f}:\n{}",
            inst.log
        );
    }
}

#[test]
fn pkg_config_shared() {
    let inst = installed();
    assert_prefix_has_no_spaces(inst);
    let work = inst.work_dir("pkg-config-shared");

    let flags = pkg_config(inst, &["--cflags", "--libs"]);
    let want_inc = format!("-I{}", inst.prefix.join("include").display());
    assert!(
        flags.contains(&want_inc) && flags.contains(&"-lnats".to_string()),
        "pkg-config --cflags --libs libnats gave {flags:?}, expected {want_inc} and -lnats"
    );

    let exe = work.join("main");
    cc_main(
        &flags,
        &exe,
        "cc main.c $(pkg-config --cflags --libs libnats)",
    );
    let out = run_program(
        &exe,
        Some(&inst.lib()),
        C_CHECKS,
        "main (pkg-config, shared)",
    );
    assert!(
        out.contains(&format!("library version {VERSION}")),
        "unexpected output:\n{out}"
    );
    assert_loads_installed(&exe, inst, "main (pkg-config, shared)");
}

#[test]
fn pkg_config_static() {
    let inst = installed();
    assert_prefix_has_no_spaces(inst);
    let work = inst.work_dir("pkg-config-static");

    let flags = pkg_config(inst, &["--static", "--cflags", "--libs"]);
    for l in ["-lnats", "-lpthread", "-ldl", "-lm"] {
        assert!(
            flags.iter().any(|f| f == l),
            "pkg-config --static --libs libnats lacks {l}: {flags:?}"
        );
    }
    // `-lnats` would pick libnats.so, which sits next to libnats.a: ask the
    // linker for the archive by its file name.
    let flags: Vec<String> = flags
        .into_iter()
        .map(|f| {
            if f == "-lnats" {
                "-l:libnats.a".to_string()
            } else {
                f
            }
        })
        .collect();

    let exe = work.join("main");
    cc_main(
        &flags,
        &exe,
        "cc main.c $(pkg-config --static --cflags --libs libnats) (libnats.a)",
    );
    assert_no_shared_libnats(&exe, "main (pkg-config, static)");
    let out = run_program(&exe, None, C_CHECKS, "main (pkg-config, static)");
    assert!(
        out.contains(&format!("library version {VERSION}")),
        "unexpected output:\n{out}"
    );
}

/// Configures and builds packaging/test with CMake against `prefix`; returns
/// the build directory.
fn cmake_build(prefix: &Path, build: &Path) -> PathBuf {
    require_tool("cmake", "--version");
    let configure = run_ok(
        Command::new("cmake")
            .arg("-S")
            .arg(manifest_dir().join("packaging/test"))
            .arg("-B")
            .arg(build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())),
        "cmake configure of packaging/test",
    );
    let log = stdout_of(&configure);
    let want = format!(
        "cnats {VERSION} from {}",
        prefix.join("lib/cmake/cnats").display()
    );
    assert!(
        log.contains(&want),
        "CMake did not use the installed package (`{want}` not printed):\n{log}"
    );
    run_ok(
        Command::new("cmake")
            .arg("--build")
            .arg(build)
            .args(["-j", "2"]),
        "cmake --build of packaging/test",
    );
    build.to_path_buf()
}

#[test]
fn cmake_find_package() {
    let inst = installed();
    let build = cmake_build(&inst.prefix, &inst.work_dir("cmake"));

    let shared = build.join("main_shared");
    run_program(
        &shared,
        Some(&inst.lib()),
        C_CHECKS,
        "main_shared (cnats::nats)",
    );
    assert_loads_installed(&shared, inst, "main_shared (cnats::nats)");

    let fixed = build.join("main_static");
    assert_no_shared_libnats(&fixed, "main_static (cnats::nats_static)");
    run_program(&fixed, None, C_CHECKS, "main_static (cnats::nats_static)");
}

#[test]
fn cxx_headers() {
    let inst = installed();
    let work = inst.work_dir("cxx");
    let exe = work.join("main_cpp");
    require_tool("g++", "--version");
    run_ok(
        Command::new("g++")
            .args(CXX_FLAGS)
            .arg(format!("-I{}", inst.prefix.join("include").display()))
            .arg(test_src("main.cpp"))
            .arg(format!("-L{}", inst.lib().display()))
            .arg("-lnats")
            .arg("-o")
            .arg(&exe),
        "g++ -std=c++11 -Wall -Wextra -Werror -pedantic main.cpp -lnats",
    );
    run_program(&exe, Some(&inst.lib()), CXX_CHECKS, "main_cpp");
    assert_loads_installed(&exe, inst, "main_cpp");
}

#[test]
fn destdir_install_is_relocatable_and_rerunnable() {
    // After the main install, so the two do not build at the same time.
    let inst = installed();
    let work = inst.work_dir("destdir");
    let stage = work.join("stage");
    let prefix = Path::new("/opt/libnats-rs");

    let first = stdout_of(&run_install(prefix, Some(&stage)));
    let second = stdout_of(&run_install(prefix, Some(&stage)));
    let listing = |log: &str| {
        log.lines()
            .filter(|l| l.starts_with("  "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(
        !listing(&first).is_empty(),
        "install.sh listed nothing:\n{first}"
    );
    assert_eq!(
        listing(&first),
        listing(&second),
        "a second install.sh run installed something else"
    );

    let staged = stage.join(prefix.strip_prefix("/").expect("absolute"));
    assert!(
        staged.join(format!("lib/libnats.so.{VERSION}")).is_file(),
        "DESTDIR install did not put the library under {}",
        staged.display()
    );
    // The pkg-config file names the final prefix, not the staging directory.
    let pc = fs::read_to_string(staged.join("lib/pkgconfig/libnats.pc")).expect("staged .pc");
    assert!(
        pc.lines().any(|l| l == "prefix=/opt/libnats-rs"),
        "staged libnats.pc does not name the final prefix:\n{pc}"
    );
    // The CMake package finds its files relative to itself: it works staged.
    let build = cmake_build(&staged, &work.join("cmake"));
    run_program(
        &build.join("main_static"),
        None,
        C_CHECKS,
        "main_static (staged cnats::nats_static)",
    );
    let shared = build.join("main_shared");
    let lib = staged.join("lib");
    run_program(
        &shared,
        Some(&lib),
        C_CHECKS,
        "main_shared (staged cnats::nats)",
    );
    let deps = ldd(&shared, Some(&lib));
    let want = format!("{SONAME} => {}", lib.join(SONAME).display());
    assert!(
        deps.contains(&want),
        "main_shared (staged) does not load {want}:\n{deps}"
    );

    // Leave only the main install behind (each copy is ~100 MB).
    let _ = fs::remove_dir_all(&work);
}

/// Compiles packaging/test/main.c with `flags` into `exe`.
fn cc_main(flags: &[String], exe: &Path, what: &str) {
    require_tool("cc", "--version");
    run_ok(
        Command::new("cc")
            .args(C_FLAGS)
            .arg(test_src("main.c"))
            .args(flags)
            .arg("-o")
            .arg(exe),
        what,
    );
}
