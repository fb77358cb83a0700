/*
 * harness.h - a tiny header-only test harness for the C API tests.
 *
 * Every program in ffi-tests/ is run twice by tests/ffi_c.rs: once against
 * the real nats.c (Debian libnats3.4) and once against libnats-rs, and the
 * two stdouts are compared line by line.  So everything printed on stdout
 * must be deterministic: check names, status numbers and status texts only.
 * Never print timings, pointers, ports, server ids or error-stack text on
 * stdout; diagnostics of that kind go to stderr.
 *
 * Output (stdout):
 *     ok - <name>                                  for each passing check
 *     not ok - <name>                              for each failing check
 *     N passed, M failed                           always the last line
 * Exit status is 0 iff M == 0.
 *
 * Include this header FIRST: it selects POSIX.1-2008 so that pthread
 * timed waits and clock_gettime are declared under -std=c99.
 */
#ifndef NATS_FFI_TESTS_HARNESS_H
#define NATS_FFI_TESTS_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

static int harness_passed = 0;
static int harness_failed = 0;

/* Records one result. Returns `ok` so that a check can guard dependent code:
 *     if (CHECK_STATUS(s, NATS_OK, "connect")) { ... use nc ... }          */
static inline bool
harness_report(bool ok, const char *name, const char *file, int line)
{
    if (ok) {
        harness_passed++;
        printf("ok - %s\n", name);
    } else {
        harness_failed++;
        printf("not ok - %s\n", name);
        fprintf(stderr, "FAILED: %s (%s:%d)\n", name, file, line);
    }
    fflush(stdout);
    return ok;
}

static inline bool
harness_check_status(natsStatus got, natsStatus want, const char *name,
                     const char *file, int line)
{
    bool ok = (got == want);
    if (!ok) {
        /* Status numbers and texts are deterministic, so they may go to
         * stdout: a differential mismatch then shows both sides' statuses. */
        printf("# %s: got %d (%s), want %d (%s)\n", name, (int) got,
               natsStatus_GetText(got), (int) want, natsStatus_GetText(want));
    }
    return harness_report(ok, name, file, line);
}

/* CHECK(cond, name): `name` is a plain string. Evaluates to a bool. */
#define CHECK(cond, name) harness_report((cond) ? true : false, (name), __FILE__, __LINE__)

/* CHECK_STATUS(got, want, name): compares two natsStatus values. */
#define CHECK_STATUS(got, want, name) \
    harness_check_status((got), (want), (name), __FILE__, __LINE__)

/* CHECKF(cond, fmt, ...): like CHECK with a printf-formatted name. */
static inline bool
harness_checkf(bool ok, const char *file, int line, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    return harness_report(ok, name, file, line);
}
#define CHECKF(cond, ...) harness_checkf((cond) ? true : false, __FILE__, __LINE__, __VA_ARGS__)

/* CHECK_STATUSF(got, want, fmt, ...): CHECK_STATUS with a formatted name. */
static inline bool
harness_check_statusf(natsStatus got, natsStatus want, const char *file, int line,
                      const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    return harness_check_status(got, want, name, file, line);
}
#define CHECK_STATUSF(got, want, ...) \
    harness_check_statusf((got), (want), __FILE__, __LINE__, __VA_ARGS__)

/* The server under test: $NATS_URL, else the default local server. */
static inline const char *
test_url(void)
{
    const char *u = getenv("NATS_URL");
    return (u != NULL && u[0] != '\0') ? u : "nats://127.0.0.1:4222";
}

/* A URL on which nothing listens (TCP port 1 on loopback is never served in
 * CI).  Used for NATS_NO_SERVER checks. */
static inline const char *
test_dead_url(void)
{
    return "nats://127.0.0.1:1";
}

/* Prints the summary as the last stdout line; returns the exit status. */
static inline int
harness_end(void)
{
    printf("%d passed, %d failed\n", harness_passed, harness_failed);
    fflush(stdout);
    return harness_failed == 0 ? 0 : 1;
}
#define HARNESS_END() return harness_end()

/* ------------------------------------------------------------------------ */
/* Bounded waiting helpers (for async callbacks): a counter protected by a  */
/* mutex and a condition variable.  Never use plain sleeps to synchronize.  */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t  cond;
    int             count;
} harness_counter;

static inline void
counter_init(harness_counter *c)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->count = 0;
}

static inline void
counter_destroy(harness_counter *c)
{
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
}

/* Adds `n` and wakes waiters; returns the new value. */
static inline int
counter_add(harness_counter *c, int n)
{
    int v;
    pthread_mutex_lock(&c->mu);
    c->count += n;
    v = c->count;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return v;
}

static inline int
counter_get(harness_counter *c)
{
    int v;
    pthread_mutex_lock(&c->mu);
    v = c->count;
    pthread_mutex_unlock(&c->mu);
    return v;
}

/* Waits until count >= target or `timeout_ms` elapsed. True if reached. */
static inline bool
counter_wait(harness_counter *c, int target, int64_t timeout_ms)
{
    struct timespec deadline;
    bool reached;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t) (timeout_ms / 1000);
    deadline.tv_nsec += (long) ((timeout_ms % 1000) * 1000000L);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while (c->count < target) {
        if (pthread_cond_timedwait(&c->cond, &c->mu, &deadline) == ETIMEDOUT)
            break;
    }
    reached = (c->count >= target);
    pthread_mutex_unlock(&c->mu);
    return reached;
}

/* ------------------------------------------------------------------------ */
/* Helpers shared by several programs.                                      */

/* Publishes `n` copies of `data` on `subj`; stops at the first failure. */
static inline natsStatus
publish_many(natsConnection *nc, const char *subj, int n, const char *data)
{
    natsStatus s = NATS_OK;
    int        i;
    for (i = 0; i < n && s == NATS_OK; i++)
        s = natsConnection_PublishString(nc, subj, data);
    return s;
}

/* publish_many, then a flush, as one check. */
static inline void
publish_and_flush(natsConnection *nc, const char *subj, int n, const char *data)
{
    natsStatus s = publish_many(nc, subj, n, data);
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    CHECK_STATUSF(s, NATS_OK, "publish %d on %s and flush", n, subj);
}

/* Waits (bounded, 5 s) until pending + dropped on `sub` reaches `want`. */
static inline bool
wait_seen(natsSubscription *sub, int want)
{
    int i;
    for (i = 0; i < 500; i++) {
        int     msgs    = 0;
        int64_t dropped = 0;
        if (natsSubscription_GetPending(sub, &msgs, NULL) != NATS_OK
            || natsSubscription_GetDropped(sub, &dropped) != NATS_OK)
            return false;
        if (msgs + (int) dropped >= want)
            return true;
        nats_Sleep(10);
    }
    return false;
}

/* Message handler of a replier: answers "re:<request data>" to requests. */
static inline void
on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    char        buf[256];
    const char *reply = natsMsg_GetReply(msg);

    (void) sub;
    (void) closure;
    if (reply != NULL) {
        snprintf(buf, sizeof(buf), "re:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
        (void) natsConnection_PublishString(nc, reply, buf);
    }
    natsMsg_Destroy(msg);
}

/* True if `reply` carries exactly the string `want`. */
static inline bool
reply_is(natsMsg *reply, const char *want)
{
    return reply != NULL && natsMsg_GetData(reply) != NULL
           && natsMsg_GetDataLength(reply) == (int) strlen(want)
           && strcmp(natsMsg_GetData(reply), want) == 0;
}

#endif /* NATS_FFI_TESTS_HARNESS_H */
