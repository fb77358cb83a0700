#!/usr/bin/env python3
"""Generates the hostile-argument sweep of the C API (ffi-tests, "sweep").

Usage:
    gen_sweep.py HEADER OUT.c [--names-out FILE] [--only-names-in OTHER_HEADER]
    gen_sweep.py --self-test WORK_DIR

Reads HEADER (include/nats/nats.h), lists every function declared with
NATS_EXTERN, and writes OUT.c: a C program that calls each of them in a forked
child (a crash is a signal in the child, reported by name; a hang is killed
after a bounded wait) and checks the result. Nothing is skipped: a function
this script has no rule for is still called, with every pointer NULL and every
integer 0, and then judged by the default rules below. tests/ffi_c.rs
(`sweep_every_function`) generates, compiles and runs it against our static
library, and checks that every function exported by libnats.so was swept.

Calls ("modes"), per function:
  null   every pointer NULL, every integer 0 (bool false, enum value 0).
  neg    every pointer NULL, every integer -1 (bool true; unsigned types get
         their maximum); only for functions with at least one scalar argument.
  live   handle arguments (natsConnection*, natsSubscription*, natsOptions*,
         natsMsg*, natsHeader*, natsStatistics*, natsMsgList*, natsInbox*,
         natsClientConfig*) are live objects created in the child; every other
         pointer (out-pointers, strings, buffers, callbacks) is NULL, integers
         0; then once more with integers -1. Only for functions with a handle.
  closed as live, but the connection is closed and the subscription was
         unsubscribed first. Only for functions taking a connection or a
         subscription.
A connection needs a server: $NATS_URL (else nats://127.0.0.1:4222); failing to
connect is a failure of the call, not a skip.

Rules (what a call must do):
  * Every call: no crash (signal), no sanitizer report (non-zero exit), no hang
    (killed after SWEEP_TIMEOUT_MS, or its TIME_LIMIT_RULES entry). Built with
    AddressSanitizer (FFI_SANITIZE=1), each child also runs LeakSanitizer after
    its call: memory lost by the call fails it.
  * null/neg, natsStatus functions: NATS_INVALID_ARG, unless STATUS_RULES says
    otherwise (each exception is justified there).
  * null/neg, other functions with at least one pointer argument: the "nothing"
    value of the return type (NULL, false, 0), unless VALUE_RULES says
    otherwise. Functions without pointer arguments are only run (no check)
    unless VALUE_RULES has one. void functions: just no crash.
  * live/closed: no crash and no hang; a natsStatus result must be a valid
    status value (these calls pass NULL out-pointers to live objects, where the
    right status depends on the function: invalid_args.c checks the semantics).
  * PROCESS_RULES: calls that end the process by design (expected exit code).

Calls that could block or tear the process down, and how they are handled:
  * Every call runs in its own forked child, so nats_Close, nats_CloseAndWait,
    natsConnection_Destroy/Close etc. only tear down the child's library.
  * nats_CloseAndWait(0) means "wait forever" and (-1) too: in a fresh child the
    library was never opened, so it must return NATS_NOT_INITIALIZED at once.
  * nats_Sleep(0) / nats_Sleep(-1) must return at once: TIME_LIMIT_RULES gives
    them 1 s (nats.c 3.4.1 sleeps for ever on -1).
  * natsConnection_Connect(NULL, opts) and natsConnection_ConnectTo(NULL, ...)
    must fail before any I/O (natsc-defects.md #3): the sweep never passes a
    valid out-pointer, so no call here connects to the default URL.
  * nats_CheckCompatibilityImpl(0, 0, NULL) and (-1, -1, NULL) describe an
    incompatible header: like nats.c it prints and calls exit(1) (PROCESS_RULES).
  * natsSubscription_WaitForDrainCompletion(sub, 0/-1), natsConnection_Drain*,
    natsConnection_Flush on live objects: a live sync subscription that is not
    draining gives NATS_ILLEGAL_STATE at once; draining an idle connection
    finishes at once. All are bounded by SWEEP_TIMEOUT_MS anyway.
  * Enum arguments get value 0 in every mode: an out-of-range enum value is
    undefined behaviour on both sides of the ABI (nats.c indexes a table with
    it; Rust may assume the range), so it is not a meaningful input.

Exploration against nats.c (not part of CI): generate from the system header,
restricted to our functions, and link with -lnats:
    gen_sweep.py /usr/include/nats/nats.h /tmp/s.c --only-names-in include/nats/nats.h
    cc -std=c99 /tmp/s.c -lnats -lpthread -o /tmp/s && NATS_URL=... /tmp/s
(nats.c 3.4.1 crashes on many of these calls; see natsc-defects.md #2.)

`--self-test` builds a fixture header and library with a function that
crashes, one that hangs, one that returns the wrong status, one the wrong
value and one that exits, and checks that the generated program reports each
by name and fails (tests/ffi_c.rs runs it before the sweep).

Python 3 standard library only.
"""

import argparse
import os
import re
import sys

# Pointer types that stand for a live library object in the live/closed modes,
# with the C code (in the generated program) that makes one.
HANDLE_TYPES = {
    "natsConnection": "sweep_conn()",
    "natsSubscription": "sweep_sub()",
    "natsOptions": "sweep_opts()",
    "natsMsg": "sweep_msg()",
    "natsHeader": "sweep_header()",
    "natsStatistics": "sweep_stats()",
    "natsMsgList": "sweep_msglist()",
    "natsInbox": "sweep_inbox()",
    "natsClientConfig": "sweep_config()",
}

# C code making one live object of each handle type (emitted when used).
MAKERS = {
    "natsConnection": r"""static int sweep_closed_mode = 0;

static const char *
sweep_url(void)
{
    const char *u = getenv("NATS_URL");
    return (u != NULL && u[0] != '\0') ? u : "nats://127.0.0.1:4222";
}

static natsConnection *sweep_nc_obj = NULL;
static natsSubscription *sweep_sub_obj = NULL;

static natsConnection *
sweep_conn(void)
{
    natsStatus s;
    if (sweep_nc_obj != NULL)
        return sweep_nc_obj;
    s = natsConnection_ConnectTo(&sweep_nc_obj, sweep_url());
    if (s != NATS_OK)
        setup_failed("natsConnection_ConnectTo($NATS_URL)", s);
    if (sweep_closed_mode) {
        /* closed mode: the subscription is made and unsubscribed before the
         * connection closes. */
        s = natsConnection_SubscribeSync(&sweep_sub_obj, sweep_nc_obj, "sweep.>");
        if (s == NATS_OK)
            s = natsSubscription_Unsubscribe(sweep_sub_obj);
        if (s != NATS_OK)
            setup_failed("subscribe + unsubscribe", s);
        natsConnection_Close(sweep_nc_obj);
    }
    return sweep_nc_obj;
}

""",
    "natsSubscription": r"""static natsSubscription *
sweep_sub(void)
{
    natsStatus s;
    natsConnection *nc = sweep_conn();
    if (sweep_sub_obj != NULL)
        return sweep_sub_obj;
    s = natsConnection_SubscribeSync(&sweep_sub_obj, nc, "sweep.>");
    if (s != NATS_OK)
        setup_failed("natsConnection_SubscribeSync", s);
    return sweep_sub_obj;
}

""",
    "natsOptions": r"""static natsOptions *
sweep_opts(void)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s != NATS_OK)
        setup_failed("natsOptions_Create", s);
    return (natsOptions *) sweep_keep(o);
}

""",
    "natsMsg": r"""static natsMsg *
sweep_msg(void)
{
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, "sweep.subj", "sweep.reply", "data", 4);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Key", "value");
    if (s != NATS_OK)
        setup_failed("natsMsg_Create + natsMsgHeader_Set", s);
    return (natsMsg *) sweep_keep(m);
}

""",
    "natsHeader": r"""static natsHeader *
sweep_header(void)
{
    natsHeader *h = NULL;
    natsStatus s = natsHeader_New(&h);
    if (s == NATS_OK)
        s = natsHeader_Set(h, "Key", "value");
    if (s != NATS_OK)
        setup_failed("natsHeader_New + natsHeader_Set", s);
    return (natsHeader *) sweep_keep(h);
}

""",
    "natsStatistics": r"""static natsStatistics *
sweep_stats(void)
{
    natsStatistics *st = NULL;
    natsStatus s = natsStatistics_Create(&st);
    if (s != NATS_OK)
        setup_failed("natsStatistics_Create", s);
    return (natsStatistics *) sweep_keep(st);
}

""",
    "natsMsgList": r"""static natsMsgList *
sweep_msglist(void)
{
    static natsMsgList l;
    l.Msgs = (natsMsg **) calloc(2, sizeof(natsMsg *));
    if (l.Msgs == NULL)
        setup_failed("calloc", NATS_NO_MEMORY);
    l.Msgs[0] = sweep_msg(); /* [1] stays NULL: Destroy skips NULL entries */
    l.Count = 2;
    return &l;
}

""",
    "natsInbox": r"""static natsInbox *
sweep_inbox(void)
{
    natsInbox *i = NULL;
    natsStatus s = natsInbox_Create(&i);
    if (s != NATS_OK)
        setup_failed("natsInbox_Create", s);
    return (natsInbox *) sweep_keep(i);
}

""",
    "natsClientConfig": r"""static natsClientConfig *
sweep_config(void)
{
    static natsClientConfig c; /* all zero: valid, the defaults */
    return &c;
}

""",
}

# natsStatus expected from the null/neg calls when it is not NATS_INVALID_ARG.
# A value is a status name, or a dict {mode: status name}.
STATUS_RULES = {
    # No pointer argument: 0 and -1 are valid spin counts ("-1: default").
    "nats_Open": "NATS_OK",
    # A NULL config means the defaults (nats.c: same as nats_Open(-1)).
    "nats_OpenWithConfig": "NATS_OK",
    # A fresh child never opened the library: nats.c answers NOT_INITIALIZED
    # (and would wait forever with timeout 0 if it had been opened).
    "nats_CloseAndWait": "NATS_NOT_INITIALIZED",
    # nats.c: "Pool size cannot be negative or zero" is NATS_ERR.
    "nats_SetMessageDeliveryPoolSize": "NATS_ERR",
}

# Return values of non-natsStatus functions in the null/neg modes, when the
# default (NULL / false / 0 for functions with a pointer argument, nothing for
# the others) does not apply. A value is a C expression compared with ==, or
# "nonnull" for a pointer that must not be NULL.
VALUE_RULES = {
    "natsConnection_IsClosed": "true",  # nats.c: a NULL connection is closed
    "natsConnection_Status": "NATS_CONN_STATUS_CLOSED",  # nats.c
    # nats.h: "-1 if the connection is closed"; nats.c 3.4.1 returns 16
    # (NATS_INVALID_ARG as an int) for NULL, which reads as 16 bytes buffered.
    "natsConnection_Buffered": "-1",
    "natsStatus_GetText": "nonnull",  # status 0 has a text ("OK")
    "nats_GetVersion": "nonnull",
}

# Calls that end the process by design: {name: expected exit status}.
PROCESS_RULES = {
    # Header version 0 / required 0xFFFFFFFF: incompatible, nats.c exits(1).
    "nats_CheckCompatibilityImpl": 1,
}

# Every call is killed after this long (a hang)...
SWEEP_TIMEOUT_MS = 10000
# ...or after this, for calls that must return at once with 0 / -1 (nats.c
# 3.4.1's nats_Sleep(-1) sleeps for ever).
TIME_LIMIT_RULES = {
    "nats_Sleep": 1000,
    "nats_CloseAndWait": 2000,
}

SCALAR_UNSIGNED = {"size_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t",
                   "unsigned", "unsigned int", "unsigned long",
                   "unsigned long long", "unsigned char", "unsigned short"}


C_TYPE_WORDS = {"void", "char", "short", "int", "long", "signed", "unsigned", "float",
                "double", "bool", "_Bool", "const", "volatile"}


def norm_type(t):
    """`const char*` / `char * * *` -> `const char *` / `char ***`."""
    t = re.sub(r"\s*\*\s*", "*", " ".join(t.split()))
    return re.sub(r"(?<=[\w)])\*", " *", t)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def split_top(s, sep=","):
    """Splits on `sep` outside parentheses/brackets."""
    out, depth, cur = [], 0, []
    for ch in s:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p.strip() for p in out if p.strip()]


class Param:
    def __init__(self, decl, typedefs):
        self.decl = decl
        fnptr = re.match(r"^(.*?)\(\s*\*\s*(\w*)\s*\)\s*\((.*)\)$", decl)
        if fnptr:  # an inline function pointer: void (*cb)(int)
            self.kind = "pointer"
            self.ctype = "%s (*)(%s)" % (fnptr.group(1).strip(), fnptr.group(3))
            self.base = None
            self.stars = 1
            return
        array = re.match(r"^(.*?)\s*\[[^\]]*\]$", decl)
        is_array = array is not None
        if is_array:
            decl = array.group(1)
        m = re.match(r"^(.*?[\s*])(\w+)$", decl)
        if m and m.group(1).strip() and m.group(2) not in C_TYPE_WORDS:
            ctype = m.group(1).strip()
        else:
            ctype = decl.strip()  # unnamed parameter
        self.stars = ctype.count("*") + (1 if is_array else 0)
        if is_array:
            ctype = ctype + " *"
        self.ctype = norm_type(ctype)
        words = [w for w in re.sub(r"[*]", " ", ctype).split() if w not in ("const", "volatile", "struct", "enum")]
        self.base = " ".join(words)
        if self.stars > 0 or self.base in typedefs["fnptr"]:
            self.kind = "pointer"
        elif self.base in typedefs["struct"]:
            self.kind = "struct"
        elif self.base in typedefs["enum"]:
            self.kind = "enum"
        elif self.base == "bool" or self.base == "_Bool":
            self.kind = "bool"
        else:
            self.kind = "int"

    @property
    def handle(self):
        return self.kind == "pointer" and self.stars == 1 and self.base in HANDLE_TYPES

    def value(self, mode):
        """The C expression passed for this parameter in `mode`."""
        if self.kind == "pointer":
            if mode in ("live", "live_neg", "closed", "closed_neg") and self.handle:
                return "(%s)%s" % (self.ctype, HANDLE_TYPES[self.base])
            return "(%s)NULL" % self.ctype
        neg = mode.endswith("neg")
        if self.kind == "struct":
            return "(%s){0}" % self.ctype
        if self.kind == "enum":
            return "(%s)0" % self.ctype
        if self.kind == "bool":
            return "true" if neg else "false"
        return "(%s)-1" % self.ctype if neg else "(%s)0" % self.ctype


class Func:
    def __init__(self, ret, name, params):
        self.ret = ret
        self.name = name
        self.params = params

    @property
    def has_pointer(self):
        return any(p.kind == "pointer" for p in self.params)

    @property
    def has_scalar(self):
        return any(p.kind in ("int", "bool") for p in self.params)

    @property
    def has_handle(self):
        return any(p.handle for p in self.params)

    @property
    def has_conn_or_sub(self):
        return any(p.handle and p.base in ("natsConnection", "natsSubscription") for p in self.params)


def parse_header(path):
    raw = open(path, encoding="utf-8").read()
    # Follow `#include "x.h"` next to the header (nats.c keeps natsStatus in
    # status.h); our generated header is self-contained.
    for inc in re.findall(r'(?m)^\s*#\s*include\s+"([^"]+)"', raw):
        inc_path = os.path.join(os.path.dirname(path), inc)
        if os.path.isfile(inc_path):
            raw += "\n" + open(inc_path, encoding="utf-8").read()
    text = strip_comments(raw)
    # Drop preprocessor lines (with their continuations): `#define NATS_EXTERN`.
    text = re.sub(r"(?m)^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text)
    status_body = re.search(r"typedef\s+enum\s*(?:\w+\s*)?\{([^}]*)\}\s*natsStatus\s*;", text)
    max_status = -1
    if status_body:
        value = -1
        for entry in split_top(status_body.group(1)):
            em = re.match(r"^(\w+)\s*(?:=\s*(\w+))?$", entry)
            if em:
                value = int(em.group(2), 0) if em.group(2) else value + 1
                if not em.group(1).endswith("MAX_STATUS_VALUE"):
                    max_status = max(max_status, value)
    typedefs = {
        "max_status": max_status,
        "fnptr": set(re.findall(r"typedef[^;]*?\(\s*\*\s*(\w+)\s*\)\s*\(", text)),
        "struct": set(re.findall(r"typedef\s+struct\s*(?:\w+\s*)?\{[^}]*\}\s*(\w+)\s*;", text)),
        "enum": set(re.findall(r"typedef\s+enum\s*(?:\w+\s*)?\{[^}]*\}\s*(\w+)\s*;", text)),
    }
    funcs = []
    seen = set()
    for m in re.finditer(r"\bNATS_EXTERN\b([^;{}]*?)\(([^;{}]*)\)\s*;", text, re.S):
        head = " ".join(m.group(1).split())
        hm = re.match(r"^(.*?)\s*\b(\w+)$", head)
        if not hm:
            raise SystemExit("gen_sweep.py: cannot parse declaration: NATS_EXTERN %s(...)" % head)
        ret, name = hm.group(1).strip(), hm.group(2)
        if not ret:
            raise SystemExit("gen_sweep.py: no return type for %s" % name)
        ret = norm_type(ret)
        args = " ".join(m.group(2).split())
        params = [] if args in ("", "void") else [Param(a, typedefs) for a in split_top(args)]
        if name in seen:
            continue
        seen.add(name)
        funcs.append(Func(ret, name, params))
    # Sanity: the number of NATS_EXTERN tokens on declarations must match.
    n_extern = len(re.findall(r"\bNATS_EXTERN\b", text))
    if n_extern != len(funcs):
        raise SystemExit("gen_sweep.py: %d NATS_EXTERN declarations but %d parsed"
                         % (n_extern, len(funcs)))
    return funcs, typedefs


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def modes_of(f):
    modes = ["null"]
    if f.has_scalar:
        modes.append("neg")
    if f.has_handle:
        modes.append("live")
        if f.has_scalar:
            modes.append("live_neg")
    if f.has_conn_or_sub:
        modes.append("closed")
        if f.has_scalar:
            modes.append("closed_neg")
    return modes


def check_code(f, mode, typedefs):
    """C statements that describe `r` (the result) in `detail` and judge it:
    `bad = 1` when it breaks the rule of `mode`."""
    null_mode = mode in ("null", "neg")
    ret = f.ret
    if ret == "void":
        return ""
    if ret == "natsStatus":
        code = ("    snprintf(detail, n, \"returned %%d (%%s)\", (int) r, "
                "((int) r >= 0 && (int) r <= %d) ? natsStatus_GetText(r) : \"?\");\n"
                % typedefs["max_status"])
        if null_mode:
            rule = STATUS_RULES.get(f.name, "NATS_INVALID_ARG")
            if isinstance(rule, dict):
                rule = rule.get(mode, "NATS_INVALID_ARG")
            return code + ("    if (r != %s) { bad = 1; snprintf(detail, n, \"returned %%d (%%s), want %%d (%%s)\", "
                           "(int) r, natsStatus_GetText(r), (int) %s, natsStatus_GetText(%s)); }\n"
                           % (rule, rule, rule))
        return code + ("    if ((int) r < 0 || (int) r > %d) { bad = 1; "
                       "snprintf(detail, n, \"returned %%d: not a natsStatus value\", (int) r); }\n"
                       % typedefs["max_status"])
    is_ptr = "*" in ret
    if is_ptr:
        code = "    snprintf(detail, n, \"returned %s\", r == NULL ? \"NULL\" : \"non-NULL\");\n"
    else:
        code = "    snprintf(detail, n, \"returned %lld\", (long long) r);\n"
    rule = VALUE_RULES.get(f.name) if null_mode else None
    if not null_mode or (rule is None and not f.has_pointer):
        return code
    if rule == "nonnull":
        return code + "    if (r == NULL) { bad = 1; snprintf(detail, n, \"returned NULL\"); }\n"
    if rule is None:
        rule = "NULL" if is_ptr else ("false" if ret == "bool" else "0")
    if is_ptr:
        return code + ("    if (r != %s) { bad = 1; snprintf(detail, n, \"returned non-NULL, want %s\"); }\n"
                       % (rule, rule))
    return code + ("    if (r != %s) { bad = 1; snprintf(detail, n, \"returned %%lld, want %%s\", "
                   "(long long) r, %s); }\n" % (rule, c_str(rule)))


def generate(funcs, typedefs, header_path, timeout_ms=None):
    out = []
    w = out.append
    w("/* Generated by scripts/gen_sweep.py from %s. Do not edit:\n" % header_path)
    w(" * every NATS_EXTERN function called with NULL / 0 / -1 arguments, each call\n")
    w(" * in a forked child. See the script for the modes and rules. */\n")
    w("#define _POSIX_C_SOURCE 200809L\n")
    w("#include <errno.h>\n#include <signal.h>\n#include <stdbool.h>\n#include <stdint.h>\n")
    w("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <time.h>\n")
    w("#include <sys/types.h>\n#include <sys/wait.h>\n#include <unistd.h>\n\n")
    w("#include <nats/nats.h>\n\n")
    w(r'''#define SETUP_FAILED 11
#define WRONG_RESULT 10
#define LEAKED       12

/* Under AddressSanitizer (FFI_SANITIZE=1), each child asks LeakSanitizer
 * after its call: memory the call lost is a failure. The live objects a child
 * made stay reachable from here (the children exit with _exit). */
#if defined(__SANITIZE_ADDRESS__)
#define SWEEP_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SWEEP_LSAN 1
#endif
#endif
#ifdef SWEEP_LSAN
#include <sanitizer/lsan_interface.h>
#endif


''')
    used = {p.base for f in funcs for p in f.params if p.handle}
    if used:
        w(r'''static void *sweep_kept[16];
static int   sweep_nkept = 0;

static void *
sweep_keep(void *p)
{
    if (sweep_nkept < (int) (sizeof(sweep_kept) / sizeof(sweep_kept[0])))
        sweep_kept[sweep_nkept++] = p;
    return p;
}

static void
setup_failed(const char *what, natsStatus s)
{
    fprintf(stderr, "sweep: setup failed: %s: %d (%s)\n", what, (int) s, natsStatus_GetText(s));
    _exit(SETUP_FAILED);
}

''')
    if used & {"natsConnection", "natsSubscription"}:
        used |= {"natsConnection", "natsSubscription"}
    if "natsMsgList" in used:
        used.add("natsMsg")
    for base in sorted(used, key=list(HANDLE_TYPES).index):
        w(MAKERS[base])

    calls = []
    for f in funcs:
        for mode in modes_of(f):
            idx = len(calls)
            fn = "call_%d" % idx
            args = ", ".join(p.value(mode) for p in f.params)
            w("/* %s %s(%s) */\n" % (f.ret, f.name, ", ".join(p.decl for p in f.params) or "void"))
            w("static int\n%s(char *detail, size_t n)\n{\n    int bad = 0;\n" % fn)
            w("    (void) detail;\n    (void) n;\n")
            if mode.startswith("closed"):
                w("    sweep_closed_mode = 1;\n")
            if f.ret == "void":
                w("    %s(%s);\n" % (f.name, args))
            else:
                w("    %s r = %s(%s);\n" % (f.ret, f.name, args))
                w(check_code(f, mode, typedefs))
            w("    return bad ? WRONG_RESULT : 0;\n}\n\n")
            limit = timeout_ms or TIME_LIMIT_RULES.get(f.name, SWEEP_TIMEOUT_MS)
            calls.append((f.name, mode, fn, PROCESS_RULES.get(f.name, 0), limit))
    w("typedef int (*sweep_fn)(char *, size_t);\n")
    w("static const struct {\n    const char *name;\n    const char *mode;\n    sweep_fn    fn;\n"
      "    int         want_exit;\n    long        limit_ms;\n} calls[] = {\n")
    for name, mode, fn, want_exit, limit in calls:
        w("    {%s, %s, %s, %d, %d},\n" % (c_str(name), c_str(mode), fn, want_exit, limit))
    w("};\n\n")
    w("#define N_FUNCTIONS %d\n\n" % len(funcs))
    w(r'''static int
run_one(int i, char *why, size_t n)
{
    int   p[2];
    pid_t pid;
    int   status = 0;
    char  detail[512];
    ssize_t got;
    struct timespec tick = {0, 200000L}, start, now;

    why[0] = '\0';
    if (pipe(p) != 0) {
        snprintf(why, n, "pipe: %s", strerror(errno));
        return 0;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        snprintf(why, n, "fork: %s", strerror(errno));
        return 0;
    }
    if (pid == 0) {
        int rc;
        close(p[0]);
        /* Whatever the library prints goes to stderr, not into the report. */
        dup2(2, 1);
        detail[0] = '\0';
        rc = calls[i].fn(detail, sizeof(detail));
#ifdef SWEEP_LSAN
        if (rc == 0 && __lsan_do_recoverable_leak_check() != 0) {
            snprintf(detail, sizeof(detail), "memory leaked (LeakSanitizer report on stderr)");
            rc = LEAKED;
        }
#endif
        if (write(p[1], detail, strlen(detail)) < 0) { /* nothing to do */ }
        _exit(rc);
    }
    close(p[1]);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        long waited_ms;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            snprintf(why, n, "waitpid: %s", strerror(errno));
            close(p[0]);
            return 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited_ms = (long) (now.tv_sec - start.tv_sec) * 1000L
                    + (now.tv_nsec - start.tv_nsec) / 1000000L;
        if (waited_ms >= calls[i].limit_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(why, n, "hang: killed after %ld ms", calls[i].limit_ms);
            close(p[0]);
            return 0;
        }
        /* Most calls end within a few ms: poll finely first. */
        tick.tv_nsec = (waited_ms < 20) ? 200000L : 2000000L;
        nanosleep(&tick, NULL);
    }
    got = read(p[0], detail, sizeof(detail) - 1);
    detail[got > 0 ? got : 0] = '\0';
    close(p[0]);
    if (WIFSIGNALED(status)) {
        snprintf(why, n, "crash: signal %d", WTERMSIG(status));
        return 0;
    }
    if (!WIFEXITED(status)) {
        snprintf(why, n, "unexpected wait status %d", status);
        return 0;
    }
    if (WEXITSTATUS(status) == calls[i].want_exit) {
        if (calls[i].want_exit != 0)
            snprintf(why, n, "exit(%d) as wanted", calls[i].want_exit);
        else
            snprintf(why, n, "%s", detail);
        return 1;
    }
    if (WEXITSTATUS(status) == WRONG_RESULT)
        snprintf(why, n, "wrong result: %s", detail);
    else if (WEXITSTATUS(status) == LEAKED)
        snprintf(why, n, "leak: %s", detail);
    else if (WEXITSTATUS(status) == SETUP_FAILED)
        snprintf(why, n, "setup of live objects failed (see stderr)");
    else if (calls[i].want_exit != 0 && WEXITSTATUS(status) == 0)
        snprintf(why, n, "returned, want exit(%d)", calls[i].want_exit);
    else
        snprintf(why, n, "exit status %d (sanitizer report or exit() in the library? see stderr)",
                 WEXITSTATUS(status));
    return 0;
}

int
main(int argc, char **argv)
{
    int    i, passed = 0, failed = 0;
    size_t ncalls = sizeof(calls) / sizeof(calls[0]);
    const char *only = (argc > 1) ? argv[1] : NULL;
    char   why[640];

    /* A client of a killed child may leave the server side of a socket; a
     * write to a dead peer must not kill the parent. */
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < (int) ncalls; i++) {
        if (only != NULL && strcmp(only, calls[i].name) != 0)
            continue;
        if (run_one(i, why, sizeof(why))) {
            passed++;
            printf("ok - %s [%s]%s%s\n", calls[i].name, calls[i].mode, why[0] ? ": " : "", why);
        } else {
            failed++;
            printf("not ok - %s [%s]: %s\n", calls[i].name, calls[i].mode, why);
            fprintf(stderr, "FAILED: %s [%s]: %s\n", calls[i].name, calls[i].mode, why);
        }
        fflush(stdout);
    }
    fprintf(stderr, "SWEEP functions=%d calls=%d passed=%d failed=%d\n", N_FUNCTIONS,
            passed + failed, passed, failed);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
''')
    return "".join(out), calls


SELF_TEST_HEADER = """#include <stdbool.h>
#include <stdint.h>
#define NATS_EXTERN
typedef enum { NATS_OK = 0, NATS_ERR = 1, NATS_INVALID_ARG = 16 } natsStatus;
NATS_EXTERN const char *natsStatus_GetText(natsStatus s);
NATS_EXTERN natsStatus st_crash(int *p);
NATS_EXTERN natsStatus st_hang(int64_t t);
NATS_EXTERN natsStatus st_ok_on_null(const char *s);
NATS_EXTERN void st_exit(int x);
NATS_EXTERN bool st_true_on_null(const char *s);
NATS_EXTERN natsStatus st_good(const char *s, int n);
"""

SELF_TEST_IMPL = """#include <nats/nats.h>
#include <stdlib.h>
#include <unistd.h>
const char *natsStatus_GetText(natsStatus s) { return s == NATS_OK ? "OK" : "not OK"; }
natsStatus st_crash(int *p) { return (natsStatus) *(volatile int *) p; }
natsStatus st_hang(int64_t t) { (void) t; for (;;) pause(); }
natsStatus st_ok_on_null(const char *s) { (void) s; return NATS_OK; }
void st_exit(int x) { exit(x + 3); }
bool st_true_on_null(const char *s) { return s == NULL; }
natsStatus st_good(const char *s, int n) { (void) s; (void) n; return NATS_INVALID_ARG; }
"""

# What the generated program must report for the fixture above.
SELF_TEST_EXPECT = [
    ("ok", "natsStatus_GetText [null]"),
    ("not ok", "st_crash [null]: crash: signal"),
    ("not ok", "st_hang [null]: hang: killed after"),
    ("not ok", "st_hang [neg]: hang: killed after"),
    ("not ok", "st_ok_on_null [null]: wrong result: returned 0"),
    ("not ok", "st_exit [null]: exit status 3"),
    ("not ok", "st_exit [neg]: exit status 2"),
    ("not ok", "st_true_on_null [null]: wrong result: returned 1, want false"),
    ("ok", "st_good [null]"),
    ("ok", "st_good [neg]"),
]


def self_test(work_dir):
    """Proves that the generated program catches crashes, hangs, wrong
    results and unexpected exits, naming the function: a fixture header and
    library with one function of each kind. Returns 0 on success."""
    import subprocess
    os.makedirs(os.path.join(work_dir, "nats"), exist_ok=True)
    header = os.path.join(work_dir, "nats", "nats.h")
    with open(header, "w", encoding="utf-8") as fh:
        fh.write(SELF_TEST_HEADER)
    impl = os.path.join(work_dir, "impl.c")
    with open(impl, "w", encoding="utf-8") as fh:
        fh.write(SELF_TEST_IMPL)
    funcs, typedefs = parse_header(header)
    code, _ = generate(funcs, typedefs, header, timeout_ms=300)
    src = os.path.join(work_dir, "selftest.c")
    with open(src, "w", encoding="utf-8") as fh:
        fh.write(code)
    exe = os.path.join(work_dir, "selftest")
    cc = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", work_dir,
                         src, impl, "-o", exe], capture_output=True, text=True)
    if cc.returncode != 0:
        print("self-test: cc failed:\n" + cc.stdout + cc.stderr, file=sys.stderr)
        return 1
    run = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    lines = run.stdout.splitlines()
    bad = []
    for status, text in SELF_TEST_EXPECT:
        if not any(l.startswith(status + " - " + text) for l in lines):
            bad.append("%s - %s" % (status, text))
    if run.returncode == 0:
        bad.append("exit status 0 (want non-zero)")
    if not lines or lines[-1] != "3 passed, 7 failed":
        bad.append("summary %r (want '3 passed, 7 failed')" % (lines[-1] if lines else ""))
    if bad:
        print("self-test: missing:\n  " + "\n  ".join(bad) + "\n--- output ---\n" + run.stdout,
              file=sys.stderr)
        return 1
    print("gen_sweep.py self-test: crash, hang, wrong status, wrong value and exit all "
          "reported by name", file=sys.stderr)
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        sys.exit(self_test(sys.argv[2]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("header")
    ap.add_argument("out")
    ap.add_argument("--names-out", help="write the swept function names here, one a line")
    ap.add_argument("--only-names-in", help="sweep only functions also declared in this header")
    a = ap.parse_args()
    funcs, typedefs = parse_header(a.header)
    if a.only_names_in:
        keep = {f.name for f in parse_header(a.only_names_in)[0]}
        funcs = [f for f in funcs if f.name in keep]
    if not funcs:
        raise SystemExit("gen_sweep.py: no NATS_EXTERN function found in %s" % a.header)
    code, calls = generate(funcs, typedefs, a.header)
    with open(a.out, "w", encoding="utf-8") as fh:
        fh.write(code)
    if a.names_out:
        with open(a.names_out, "w", encoding="utf-8") as fh:
            fh.write("".join(f.name + "\n" for f in funcs))
    print("gen_sweep.py: %d functions, %d calls -> %s" % (len(funcs), len(calls), a.out),
          file=sys.stderr)


if __name__ == "__main__":
    main()
