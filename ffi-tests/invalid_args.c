/*
 * invalid_args.c - hostile arguments with a meaning (the "Hostile input"
 * issue): negative data lengths, zero and negative timeouts, calls on a
 * closed connection and on an unsubscribed subscription, objects destroyed
 * and then made again, invalid subjects and queue names on every path that
 * takes one, and which check wins when two arguments are wrong.
 *
 * The plain NULL / 0 / -1 calls of every exported function are in the
 * generated sweep (scripts/gen_sweep.py, test `sweep_every_function`);
 * bad_input.c, hardening.c, conn_pubsub.c, sub_stats.c and drain.c already
 * check NULL handles, subject lists on the subscribe paths, queue names,
 * FlushTimeout(0/-1), closed-subscription statistics and drain states, so
 * this file does not repeat them.
 *
 * Runs differentially: everything outside `#ifdef NATS_LIBNATS_RS` gives the
 * same output with nats.c 3.4.1. Checks where nats.c crashes or answers
 * differently are inside `#ifdef NATS_LIBNATS_RS` (a macro only our header
 * defines) with the natsc-defects.md entry they follow.
 */
#include "harness.h"

/* A non-NULL pointer value that a failing call must overwrite with NULL. */
static double sentinel_storage;
#define SENTINEL ((void *) &sentinel_storage)

#define EXPECT(call, want) CHECK_STATUS((call), (want), #call)

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    if (closure != NULL)
        counter_add((harness_counter *) closure, 1);
    natsMsg_Destroy(msg);
}

/* Destroys `*m` unless it is NULL or the sentinel; sets it to NULL. */
static void
drop_msg(natsMsg **m)
{
    if (*m != NULL && *m != (natsMsg *) SENTINEL)
        natsMsg_Destroy(*m);
    *m = NULL;
}

static void
drop_sub(natsSubscription **s)
{
    if (*s != NULL && *s != (natsSubscription *) SENTINEL)
        natsSubscription_Destroy(*s);
    *s = NULL;
}

/* ------------------------------------------------------------------------ */
/* Negative data lengths.                                                   */

static void
negative_lengths(natsConnection *nc)
{
    natsMsg *m = NULL;

    /* A NULL payload with length 0 is an empty message. */
    if (CHECK_STATUS(natsMsg_Create(&m, "inv.neg", NULL, NULL, 0), NATS_OK,
                     "natsMsg_Create(NULL data, 0)")) {
        CHECK(natsMsg_GetDataLength(m) == 0, "empty message has length 0");
        drop_msg(&m);
    }

#ifdef NATS_LIBNATS_RS
    /* nats.c 3.4.1 does not check the length on the publish paths: it
     * returns NATS_OK and publishes an empty message (not in
     * natsc-defects.md; the nearest is #2, invalid required arguments give
     * NATS_INVALID_ARG). We refuse before anything is written. */
    EXPECT(natsConnection_Publish(nc, "inv.neg", "x", -1), NATS_INVALID_ARG);
    EXPECT(natsConnection_Publish(nc, "inv.neg", NULL, -1), NATS_INVALID_ARG);
    EXPECT(natsConnection_PublishRequest(nc, "inv.neg", "inv.r", "x", -1), NATS_INVALID_ARG);
    EXPECT(natsConnection_Send(nc, "inv.neg", "x", -1), NATS_INVALID_ARG);
    EXPECT(natsConnection_SendRequest(nc, "inv.neg", "inv.r", "x", -1), NATS_INVALID_ARG);
    m = (natsMsg *) SENTINEL;
    EXPECT(natsConnection_Request(&m, nc, "inv.neg", "x", -1, 100), NATS_INVALID_ARG);
    CHECK(m == NULL, "Request(dataLen -1) sets *reply = NULL");
    drop_msg(&m);
    EXPECT(natsConnection_Publish(nc, "inv.neg", "x", INT32_MIN), NATS_INVALID_ARG);
    /* nats.c 3.4.1 natsMsg_Create returns NATS_OK for "x" with length -1, and
     * aborts in malloc for NULL with length -1. */
    m = (natsMsg *) SENTINEL;
    EXPECT(natsMsg_Create(&m, "inv.neg", NULL, "x", -1), NATS_INVALID_ARG);
    CHECK(m == (natsMsg *) SENTINEL, "natsMsg_Create(dataLen -1) leaves *newMsg alone");
    m = NULL;
    EXPECT(natsMsg_Create(&m, "inv.neg", NULL, NULL, -1), NATS_INVALID_ARG);
    CHECK(m == NULL, "natsMsg_Create(NULL, -1) creates no message");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "flush after negative lengths");
    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED,
          "still CONNECTED after negative lengths");
#else
    (void) nc;
#endif
}

/* ------------------------------------------------------------------------ */
/* Zero and negative timeouts.                                              */

static void
timeouts(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *m   = NULL;

    if (!CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "inv.t"), NATS_OK,
                      "SubscribeSync inv.t"))
        return;

    /* NextMsg: 0 polls, and so does a negative timeout. */
    m = NULL;
    EXPECT(natsSubscription_NextMsg(&m, sub, -1), NATS_TIMEOUT);
    CHECK(m == NULL, "NextMsg(-1) with nothing pending gives no message");
    publish_and_flush(nc, "inv.t", 1, "one");
    /* Wait (bounded) until it is pending, then a 0 timeout returns it. */
    CHECK(wait_seen(sub, 1), "message pending");
    EXPECT(natsSubscription_NextMsg(&m, sub, 0), NATS_OK);
    CHECK(m != NULL && strcmp(natsMsg_GetData(m), "one") == 0, "NextMsg(0) returns a pending message");
    drop_msg(&m);
    publish_and_flush(nc, "inv.t", 1, "two");
    CHECK(wait_seen(sub, 1), "second message pending");
    EXPECT(natsSubscription_NextMsg(&m, sub, -1), NATS_OK);
    CHECK(m != NULL && strcmp(natsMsg_GetData(m), "two") == 0,
          "NextMsg(-1) returns a pending message");
    drop_msg(&m);

    /* *SubscribeTimeout needs a positive timeout. */
    {
        natsSubscription *s2 = NULL;
        EXPECT(natsConnection_SubscribeTimeout(&s2, nc, "inv.t2", 0, on_msg, NULL), NATS_INVALID_ARG);
        EXPECT(natsConnection_SubscribeTimeout(&s2, nc, "inv.t2", -1, on_msg, NULL), NATS_INVALID_ARG);
        EXPECT(natsConnection_QueueSubscribeTimeout(&s2, nc, "inv.t2", "q", 0, on_msg, NULL),
               NATS_INVALID_ARG);
        EXPECT(natsConnection_QueueSubscribeTimeout(&s2, nc, "inv.t2", "q", -1, on_msg, NULL),
               NATS_INVALID_ARG);
        CHECK(s2 == NULL, "no subscription with a timeout <= 0");
        drop_sub(&s2);
    }

    /* A subscription that is not draining: waiting for its drain is an
     * illegal state, whatever the timeout. */
    EXPECT(natsSubscription_WaitForDrainCompletion(sub, 0), NATS_ILLEGAL_STATE);
    EXPECT(natsSubscription_WaitForDrainCompletion(sub, -1), NATS_ILLEGAL_STATE);
    drop_sub(&sub);

    /* Drain timeouts 0 and -1 mean "no timeout", and so do the waits: the
     * drains complete. (Asynchronous subscriptions: nats.c completes the
     * drain of a synchronous one only in a later NextMsg.) */
    {
        harness_counter got;
        int             i;
        counter_init(&got);
        for (i = 0; i < 2; i++) {
            int64_t t = (i == 0) ? 0 : -1;
            if (!CHECK_STATUSF(natsConnection_Subscribe(&sub, nc, "inv.t4", on_msg, &got), NATS_OK,
                               "Subscribe inv.t4 (drain timeout %d)", (int) t))
                continue;
            publish_and_flush(nc, "inv.t4", 3, "d");
            CHECK_STATUSF(natsSubscription_DrainTimeout(sub, t), NATS_OK, "DrainTimeout(sub, %d)", (int) t);
            CHECK_STATUSF(natsSubscription_WaitForDrainCompletion(sub, t), NATS_OK,
                          "WaitForDrainCompletion(sub, %d)", (int) t);
            CHECK_STATUSF(natsSubscription_DrainCompletionStatus(sub), NATS_OK,
                          "DrainCompletionStatus after DrainTimeout(sub, %d)", (int) t);
            CHECKF(counter_get(&got) == 3 * (i + 1), "drain with timeout %d delivered everything", (int) t);
            drop_sub(&sub);
        }
        counter_destroy(&got);
    }
}

/* Request timeouts 0 and -1 do not wait. "inv.silent" has a subscriber that
 * never answers, so the result is a timeout at once, not NO_RESPONDERS. (With
 * a fast responder, a reply that comes back while the call is returning may
 * still be taken by ours: see the report of the hostile-input sweep.) */
static void
request_timeouts(natsConnection *nc)
{
    natsMsg *m   = NULL;
    natsMsg *req = NULL;
    int64_t  start;

    start = nats_Now();
    m = (natsMsg *) SENTINEL;
    EXPECT(natsConnection_RequestString(&m, nc, "inv.silent", "x", 0), NATS_TIMEOUT);
    CHECK(m == NULL, "RequestString(timeout 0) gives no reply");
    drop_msg(&m);
    m = (natsMsg *) SENTINEL;
    EXPECT(natsConnection_RequestString(&m, nc, "inv.silent", "x", -1), NATS_TIMEOUT);
    CHECK(m == NULL, "RequestString(timeout -1) gives no reply");
    drop_msg(&m);
    m = (natsMsg *) SENTINEL;
    EXPECT(natsConnection_Request(&m, nc, "inv.silent", "x", 1, 0), NATS_TIMEOUT);
    drop_msg(&m);
    if (natsMsg_Create(&req, "inv.silent", NULL, "x", 1) == NATS_OK) {
        m = (natsMsg *) SENTINEL;
        EXPECT(natsConnection_RequestMsg(&m, nc, req, 0), NATS_TIMEOUT);
        drop_msg(&m);
        m = (natsMsg *) SENTINEL;
        EXPECT(natsConnection_RequestMsg(&m, nc, req, -1), NATS_TIMEOUT);
        drop_msg(&m);
        natsMsg_Destroy(req);
    }
    CHECK(nats_Now() - start < 2000, "requests with timeout <= 0 return at once");
    /* The connection is fine afterwards. */
    EXPECT(natsConnection_RequestString(&m, nc, "inv.service", "again", 5000), NATS_OK);
    CHECK(reply_is(m, "re:again"), "request after zero timeouts gets its own reply");
    drop_msg(&m);
}

/* ------------------------------------------------------------------------ */
/* Invalid subjects and queue names on the paths bad_input.c does not cover. */

static const char *const bad_subjects[] = {"", "a..b", "a b", "a\tb", ">.a"};
static const char *const shown_subjects[] = {"\"\"", "a..b", "a b", "a\\tb", ">.a"};

static void
subjects(natsConnection *nc)
{
    size_t i;

    for (i = 0; i < sizeof(bad_subjects) / sizeof(bad_subjects[0]); i++) {
        const char       *subj = bad_subjects[i];
        const char       *name = shown_subjects[i];
        natsSubscription *sub  = NULL;
        natsMsg          *m    = NULL;

        /* Subscribe paths validate the subject fully, before the queue name. */
        CHECK_STATUSF(natsConnection_QueueSubscribe(&sub, nc, subj, "q", on_msg, NULL),
                      NATS_INVALID_SUBJECT, "QueueSubscribe(%s)", name);
        CHECK_STATUSF(natsConnection_QueueSubscribeSync(&sub, nc, subj, "bad queue"),
                      NATS_INVALID_SUBJECT, "QueueSubscribeSync(%s, \"bad queue\")", name);
        CHECK_STATUSF(natsConnection_SubscribeTimeout(&sub, nc, subj, 100, on_msg, NULL),
                      NATS_INVALID_SUBJECT, "SubscribeTimeout(%s)", name);
        CHECK_STATUSF(natsConnection_QueueSubscribeTimeout(&sub, nc, subj, "q", 100, on_msg, NULL),
                      NATS_INVALID_SUBJECT, "QueueSubscribeTimeout(%s)", name);
        /* The same strings as queue names. */
        if (subj[0] != '\0')
            CHECK_STATUSF(natsConnection_QueueSubscribeTimeout(&sub, nc, "inv.q", subj, 100, on_msg, NULL),
                          (strchr(subj, ' ') || strchr(subj, '\t')) ? NATS_INVALID_QUEUE_NAME : NATS_OK,
                          "QueueSubscribeTimeout(queue %s)", name);
        drop_sub(&sub);
        CHECKF(sub == NULL, "no subscription on %s", name);
        drop_sub(&sub);

        if (strcmp(subj, "a..b") == 0 || strcmp(subj, ">.a") == 0) {
            /* Publish subjects are only checked for emptiness (and, in ours,
             * whitespace): the server takes these, and a request on them
             * finds no responders. */
            CHECK_STATUSF(natsConnection_Publish(nc, subj, "x", 1), NATS_OK, "Publish(%s)", name);
            CHECK_STATUSF(natsConnection_PublishRequest(nc, subj, "inv.r", "x", 1), NATS_OK,
                          "PublishRequest(%s)", name);
            m = (natsMsg *) SENTINEL;
            CHECK_STATUSF(natsConnection_Request(&m, nc, subj, "x", 1, 5000), NATS_NO_RESPONDERS,
                          "Request(%s)", name);
            CHECKF(m == NULL, "Request(%s) gives no reply", name);
            m = NULL;
            if (CHECK_STATUSF(natsMsg_Create(&m, subj, NULL, "x", 1), NATS_OK,
                              "natsMsg_Create(%s)", name)) {
                CHECK_STATUSF(natsConnection_PublishMsg(nc, m), NATS_OK, "PublishMsg(%s)", name);
                drop_msg(&m);
            }
            continue;
        }
        if (subj[0] == '\0') {
            /* Empty subjects: nats.c refuses them on every path too. */
            EXPECT(natsConnection_PublishRequest(nc, subj, "inv.r", "x", 1), NATS_INVALID_SUBJECT);
            m = (natsMsg *) SENTINEL;
            EXPECT(natsConnection_Request(&m, nc, subj, "x", 1, 100), NATS_INVALID_SUBJECT);
            EXPECT(natsMsg_Create(&m, subj, NULL, "x", 1), NATS_INVALID_ARG);
            drop_msg(&m);
            continue;
        }
#ifdef NATS_LIBNATS_RS
        if (strchr(subj, ' ') != NULL || strchr(subj, '\t') != NULL) {
            /* natsc-defects.md #1: nats.c writes these into the protocol line. */
            CHECK_STATUSF(natsConnection_Publish(nc, subj, "x", 1), NATS_INVALID_SUBJECT,
                          "Publish(%s)", name);
            CHECK_STATUSF(natsConnection_PublishRequest(nc, subj, "inv.r", "x", 1),
                          NATS_INVALID_SUBJECT, "PublishRequest(%s)", name);
            CHECK_STATUSF(natsConnection_PublishRequest(nc, "inv.ok", subj, "x", 1),
                          NATS_INVALID_ARG, "PublishRequest(reply %s)", name);
            CHECK_STATUSF(natsConnection_Send(nc, subj, "x", 1), NATS_INVALID_SUBJECT,
                          "Send(%s)", name);
            m = (natsMsg *) SENTINEL;
            CHECK_STATUSF(natsConnection_Request(&m, nc, subj, "x", 1, 100),
                          NATS_INVALID_SUBJECT, "Request(%s)", name);
            CHECKF(m == NULL, "Request(%s) sets *reply = NULL", name);
            m = NULL;
            /* natsMsg_Create says NATS_INVALID_ARG for subjects, as nats.c
             * does for an empty one. */
            CHECK_STATUSF(natsMsg_Create(&m, subj, NULL, "x", 1), NATS_INVALID_ARG,
                          "natsMsg_Create(%s)", name);
            CHECK_STATUSF(natsMsg_Create(&m, "inv.ok", subj, "x", 1), NATS_INVALID_ARG,
                          "natsMsg_Create(reply %s)", name);
            CHECKF(m == NULL, "natsMsg_Create(%s) creates no message", name);
            drop_msg(&m);
        }
#endif
    }
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "flush after invalid subjects");
    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED,
          "still CONNECTED after invalid subjects");
}

/* Which check wins when two arguments are wrong (nats.c's order). */
static void
check_order(natsConnection *nc)
{
    natsSubscription *sub = NULL;

    /* The reply is checked before the connection and the subject. */
    EXPECT(natsConnection_PublishRequest(NULL, NULL, NULL, "x", 1), NATS_INVALID_ARG);
    EXPECT(natsConnection_PublishRequest(nc, NULL, NULL, "x", 1), NATS_INVALID_ARG);
    EXPECT(natsConnection_PublishRequest(nc, "", "", "x", 1), NATS_INVALID_ARG);
    EXPECT(natsConnection_PublishRequestString(nc, NULL, "", "x"), NATS_INVALID_ARG);
    /* Connection, then subject, then queue name. */
    EXPECT(natsConnection_SubscribeSync(&sub, NULL, "a..b"), NATS_INVALID_ARG);
    EXPECT(natsConnection_QueueSubscribeSync(&sub, nc, "a..b", "bad queue"), NATS_INVALID_SUBJECT);
    EXPECT(natsConnection_Publish(NULL, NULL, NULL, 5), NATS_INVALID_ARG);
    EXPECT(natsConnection_Publish(nc, NULL, NULL, 5), NATS_INVALID_SUBJECT);
    CHECK(sub == NULL, "no subscription created");
#ifdef NATS_LIBNATS_RS
    /* nats.c checks the subject first and then crashes writing *sub
     * (natsc-defects.md #2); we give the subject's status, as it does, and
     * NATS_INVALID_ARG for the out-pointer only once the rest is valid. */
    EXPECT(natsConnection_SubscribeSync(NULL, nc, "a..b"), NATS_INVALID_SUBJECT);
    EXPECT(natsConnection_SubscribeSync(NULL, nc, NULL), NATS_INVALID_SUBJECT);
    EXPECT(natsConnection_QueueSubscribeSync(NULL, nc, "foo", "bad queue"), NATS_INVALID_QUEUE_NAME);
    EXPECT(natsConnection_SubscribeSync(NULL, nc, "foo"), NATS_INVALID_ARG);
#endif
}

/* Buffers of 1..8 bytes, allocated to their exact size so that the
 * sanitizers see any write past the end. */
static void
tiny_buffers(natsConnection *nc)
{
    size_t n;

    for (n = 1; n <= 8; n++) {
        char *buf = (char *) malloc(n);
        if (buf == NULL)
            return;
        memset(buf, 'x', n);
        CHECK_STATUSF(natsConnection_GetConnectedUrl(nc, buf, n), NATS_INSUFFICIENT_BUFFER,
                      "GetConnectedUrl(buffer of %d)", (int) n);
        CHECKF(buf[0] == '\0', "GetConnectedUrl(buffer of %d) leaves \"\"", (int) n);
        memset(buf, 'x', n);
        CHECK_STATUSF(natsConnection_GetConnectedServerId(nc, buf, n), NATS_INSUFFICIENT_BUFFER,
                      "GetConnectedServerId(buffer of %d)", (int) n);
        CHECKF(buf[0] == '\0', "GetConnectedServerId(buffer of %d) leaves \"\"", (int) n);
#ifdef NATS_LIBNATS_RS
        {
            /* The error texts and stacks differ from nats.c's, so their
             * truncation is only checked here: NUL-terminated, no overflow. */
            natsStatus s;
            (void) natsConnection_Publish(nc, "", "x", 1); /* an error to read */
            memset(buf, 'x', n);
            s = nats_GetLastErrorStack(buf, n);
            CHECKF((s == NATS_OK || s == NATS_INSUFFICIENT_BUFFER) && memchr(buf, '\0', n) != NULL,
                   "nats_GetLastErrorStack(buffer of %d) is NUL-terminated", (int) n);
            memset(buf, 'x', n);
            s = natsConnection_ReadLastError(nc, buf, n);
            CHECKF(s == NATS_OK && memchr(buf, '\0', n) != NULL,
                   "natsConnection_ReadLastError(buffer of %d) is NUL-terminated", (int) n);
        }
#endif
        free(buf);
    }
}

/* ------------------------------------------------------------------------ */
/* A subscription after Unsubscribe.                                         */

static void
unsubscribed(natsConnection *nc)
{
    natsSubscription *sub = NULL;

    if (!CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "inv.unsub"), NATS_OK,
                      "SubscribeSync inv.unsub"))
        return;
    EXPECT(natsSubscription_Unsubscribe(sub), NATS_OK);
    EXPECT(natsSubscription_AutoUnsubscribe(sub, 0), NATS_INVALID_SUBSCRIPTION);
    EXPECT(natsSubscription_AutoUnsubscribe(sub, -1), NATS_INVALID_SUBSCRIPTION);
    EXPECT(natsSubscription_NoDeliveryDelay(sub), NATS_OK);
    EXPECT(natsSubscription_Drain(sub), NATS_INVALID_SUBSCRIPTION);
    EXPECT(natsSubscription_DrainTimeout(sub, 0), NATS_INVALID_SUBSCRIPTION);
    EXPECT(natsSubscription_DrainTimeout(sub, -1), NATS_INVALID_SUBSCRIPTION);
    EXPECT(natsSubscription_WaitForDrainCompletion(sub, 0), NATS_ILLEGAL_STATE);
    EXPECT(natsSubscription_SetPendingLimits(sub, -1, -1), NATS_INVALID_SUBSCRIPTION);
    CHECK(!natsSubscription_IsValid(sub), "IsValid is false");
    drop_sub(&sub);
}

/* AutoUnsubscribe with 0 unsubscribes at once (nats.c); the sync
 * subscription that reached its max reports NATS_MAX_DELIVERED_MSGS. */
static void
auto_unsubscribed(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *m   = NULL;
    natsStatus        s;

    if (CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "inv.auto0"), NATS_OK,
                     "SubscribeSync inv.auto0")) {
        EXPECT(natsSubscription_AutoUnsubscribe(sub, 0), NATS_OK);
        CHECK(!natsSubscription_IsValid(sub), "AutoUnsubscribe(0) unsubscribes");
        EXPECT(natsSubscription_AutoUnsubscribe(sub, 0), NATS_INVALID_SUBSCRIPTION);
        EXPECT(natsSubscription_AutoUnsubscribe(sub, 1), NATS_INVALID_SUBSCRIPTION);
        EXPECT(natsSubscription_NextMsg(&m, sub, 0), NATS_INVALID_SUBSCRIPTION);
        drop_sub(&sub);
    }
#ifdef NATS_LIBNATS_RS
    /* nats.c 3.4.1 returns NATS_OK for a negative max and sends a plain
     * UNSUB: the server stops delivering, but the subscription still looks
     * valid (not in natsc-defects.md). Ours unsubscribes and says so. */
    if (CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "inv.autoneg"), NATS_OK,
                     "SubscribeSync inv.autoneg")) {
        EXPECT(natsSubscription_AutoUnsubscribe(sub, -1), NATS_OK);
        CHECK(!natsSubscription_IsValid(sub), "AutoUnsubscribe(-1) unsubscribes");
        EXPECT(natsSubscription_NextMsg(&m, sub, 0), NATS_INVALID_SUBSCRIPTION);
        drop_sub(&sub);
    }
#endif

    s = natsConnection_SubscribeSync(&sub, nc, "inv.auto");
    if (s == NATS_OK) s = natsSubscription_AutoUnsubscribe(sub, 1);
    if (!CHECK_STATUS(s, NATS_OK, "SubscribeSync + AutoUnsubscribe(1)")) {
        drop_sub(&sub);
        return;
    }
    publish_and_flush(nc, "inv.auto", 2, "x");
    EXPECT(natsSubscription_NextMsg(&m, sub, 5000), NATS_OK);
    drop_msg(&m);
    EXPECT(natsSubscription_NextMsg(&m, sub, 100), NATS_MAX_DELIVERED_MSGS);
    EXPECT(natsSubscription_NextMsg(&m, sub, 0), NATS_MAX_DELIVERED_MSGS);
    EXPECT(natsSubscription_NextMsg(&m, sub, -1), NATS_MAX_DELIVERED_MSGS);
    EXPECT(natsSubscription_AutoUnsubscribe(sub, 0), NATS_INVALID_SUBSCRIPTION);
    EXPECT(natsSubscription_Unsubscribe(sub), NATS_INVALID_SUBSCRIPTION);
    drop_msg(&m);
    drop_sub(&sub);
}

/* ------------------------------------------------------------------------ */
/* A closed connection, on the calls conn_pubsub.c and drain.c do not make. */

static void
closed(void)
{
    natsConnection   *nc  = NULL;
    natsSubscription *sub = NULL;
    natsSubscription *asub = NULL;
    natsSubscription *s2  = NULL;
    natsMsg          *m   = NULL;
    natsMsg          *req = NULL;
    natsStatistics   *st  = NULL;
    const char       *txt = NULL;
    int64_t           rtt = 0;
    char              buf[64];

    if (!CHECK_STATUS(natsConnection_ConnectTo(&nc, test_url()), NATS_OK, "connect (closed)"))
        return;
    EXPECT(natsConnection_SubscribeSync(&sub, nc, "inv.closed"), NATS_OK);
    EXPECT(natsConnection_Subscribe(&asub, nc, "inv.closed", on_msg, NULL), NATS_OK);
    EXPECT(natsMsg_Create(&req, "inv.closed", NULL, "x", 1), NATS_OK);
    natsConnection_Close(nc);

    EXPECT(natsConnection_PublishMsg(nc, req), NATS_CONNECTION_CLOSED);
    EXPECT(natsConnection_PublishRequest(nc, "inv.closed", "inv.r", "x", 1), NATS_CONNECTION_CLOSED);
    EXPECT(natsConnection_PublishRequestString(nc, "inv.closed", "inv.r", "x"),
           NATS_CONNECTION_CLOSED);
    EXPECT(natsConnection_FlushTimeout(nc, 100), NATS_CONNECTION_CLOSED);
    EXPECT(natsConnection_Subscribe(&s2, nc, "inv.closed", on_msg, NULL), NATS_CONNECTION_CLOSED);
    EXPECT(natsConnection_SubscribeTimeout(&s2, nc, "inv.closed", 100, on_msg, NULL),
           NATS_CONNECTION_CLOSED);
    EXPECT(natsConnection_QueueSubscribe(&s2, nc, "inv.closed", "q", on_msg, NULL),
           NATS_CONNECTION_CLOSED);
    EXPECT(natsConnection_QueueSubscribeSync(&s2, nc, "inv.closed", "q"), NATS_CONNECTION_CLOSED);
    CHECK(s2 == NULL, "no subscription on a closed connection");
    m = (natsMsg *) SENTINEL;
    EXPECT(natsConnection_Request(&m, nc, "inv.closed", "x", 1, 100), NATS_CONNECTION_CLOSED);
    CHECK(m == NULL, "Request on a closed connection sets *reply = NULL");
    m = (natsMsg *) SENTINEL;
    EXPECT(natsConnection_RequestMsg(&m, nc, req, 100), NATS_CONNECTION_CLOSED);
    CHECK(m == NULL, "RequestMsg on a closed connection sets *reply = NULL");
    m = NULL;
    /* Invalid arguments still come first. */
    EXPECT(natsConnection_Publish(nc, "", "x", 1), NATS_INVALID_SUBJECT);
    EXPECT(natsConnection_SubscribeSync(&s2, nc, "a..b"), NATS_INVALID_SUBJECT);
    EXPECT(natsConnection_FlushTimeout(nc, 0), NATS_INVALID_TIMEOUT);
    EXPECT(natsConnection_DrainTimeout(nc, -1), NATS_CONNECTION_CLOSED);
    EXPECT(natsConnection_GetRTT(nc, &rtt), NATS_CONNECTION_CLOSED);

    /* Reading state is fine. */
    EXPECT(natsStatistics_Create(&st), NATS_OK);
    EXPECT(natsConnection_GetStats(nc, st), NATS_OK);
    natsStatistics_Destroy(st);
    memset(buf, 'x', sizeof(buf));
    EXPECT(natsConnection_GetConnectedServerId(nc, buf, sizeof(buf)), NATS_OK);
    CHECK(buf[0] == '\0', "GetConnectedServerId is empty after Close");
    EXPECT(natsConnection_GetLastError(nc, &txt), NATS_OK);
    CHECK(natsConnection_Buffered(nc) == -1, "Buffered is -1 after Close");
    CHECK(!natsConnection_IsReconnecting(nc), "not reconnecting after Close");

    /* Subscriptions made before the close. */
    EXPECT(natsSubscription_AutoUnsubscribe(sub, 5), NATS_CONNECTION_CLOSED);
    EXPECT(natsSubscription_NextMsg(&m, sub, 0), NATS_CONNECTION_CLOSED);
    EXPECT(natsSubscription_NextMsg(&m, sub, -1), NATS_CONNECTION_CLOSED);
    EXPECT(natsSubscription_DrainTimeout(sub, 0), NATS_CONNECTION_CLOSED);
    EXPECT(natsSubscription_Unsubscribe(asub), NATS_CONNECTION_CLOSED);
    CHECK(!natsSubscription_IsValid(asub), "async subscription invalid after Close");
    drop_msg(&m);
    drop_sub(&sub);
    drop_sub(&asub);
    natsMsg_Destroy(req);
    natsConnection_Destroy(nc);
}

/* ------------------------------------------------------------------------ */
/* Objects destroyed, then made again.                                       */

static void
remade(void)
{
    natsOptions      *o   = NULL;
    natsConnection   *nc  = NULL;
    natsSubscription *sub = NULL;
    natsMsg          *m   = NULL;
    natsInbox        *ib  = NULL;
    natsStatus        s;
    int               i;

    /* Options: destroyed after Connect (which copies them), then made again. */
    s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, test_url());
    if (s == NATS_OK) s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    o = NULL;
    if (!CHECK_STATUS(s, NATS_OK, "connect, then destroy the options"))
        return;
    EXPECT(natsConnection_SubscribeSync(&sub, nc, "inv.remade"), NATS_OK);
    publish_and_flush(nc, "inv.remade", 1, "a");
    EXPECT(natsSubscription_NextMsg(&m, sub, 5000), NATS_OK);
    drop_msg(&m);

    /* The connection destroyed while a subscription still exists: the
     * subscription outlives it, closed. */
    natsConnection_Destroy(nc);
    nc = NULL;
    EXPECT(natsSubscription_NextMsg(&m, sub, 0), NATS_CONNECTION_CLOSED);
    EXPECT(natsSubscription_Unsubscribe(sub), NATS_CONNECTION_CLOSED);
    CHECK(!natsSubscription_IsValid(sub), "subscription of a destroyed connection is invalid");
    drop_sub(&sub);

    /* Made again: same subject, one delivery per message. */
    s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, test_url());
    if (s == NATS_OK) s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (!CHECK_STATUS(s, NATS_OK, "connect again with new options"))
        return;
    for (i = 0; i < 3; i++) {
        s = natsConnection_SubscribeSync(&sub, nc, "inv.remade");
        if (s == NATS_OK) s = natsConnection_PublishString(nc, "inv.remade", "b");
        if (s == NATS_OK) s = natsConnection_Flush(nc);
        if (s == NATS_OK) s = natsSubscription_NextMsg(&m, sub, 5000);
        drop_msg(&m);
        if (s == NATS_OK) {
            s = natsSubscription_NextMsg(&m, sub, 100);
            if (s == NATS_TIMEOUT) s = NATS_OK; else s = NATS_ERR;
        }
        drop_msg(&m);
        CHECK_STATUSF(s, NATS_OK, "subscription #%d made again gets each message once", i + 1);
        drop_sub(&sub);
    }

    /* Messages and inboxes destroyed and made again. */
    for (i = 0; i < 3; i++) {
        s = natsMsg_Create(&m, "inv.remade", "inv.r", "c", 1);
        if (s == NATS_OK) s = natsMsgHeader_Set(m, "K", "v");
        if (s == NATS_OK) s = natsConnection_PublishMsg(nc, m);
        drop_msg(&m);
        if (s == NATS_OK) s = natsInbox_Create(&ib);
        natsInbox_Destroy(ib);
        ib = NULL;
        CHECK_STATUSF(s, NATS_OK, "message and inbox #%d made again", i + 1);
    }
    EXPECT(natsConnection_Flush(nc), NATS_OK);

    /* A closed connection destroyed, and another one made. */
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    nc = NULL;
    if (CHECK_STATUS(natsConnection_ConnectTo(&nc, test_url()), NATS_OK, "connect after destroy")) {
        EXPECT(natsConnection_PublishString(nc, "inv.remade", "d"), NATS_OK);
        EXPECT(natsConnection_Flush(nc), NATS_OK);
        /* A connection drain with timeout 0 ("no timeout", nats.c) ends
         * with the connection closed; a second drain with -1 is harmless. */
        EXPECT(natsConnection_DrainTimeout(nc, 0), NATS_OK);
        for (i = 0; i < 500 && !natsConnection_IsClosed(nc); i++)
            nats_Sleep(10);
        CHECK(natsConnection_IsClosed(nc), "closed after DrainTimeout(nc, 0)");
        EXPECT(natsConnection_DrainTimeout(nc, -1), NATS_CONNECTION_CLOSED);
    }
    natsConnection_Destroy(nc);
}

int
main(void)
{
    natsConnection   *nc      = NULL;
    natsConnection   *srv     = NULL;
    natsSubscription *service = NULL;
    natsSubscription *silent  = NULL;
    natsStatus        s;

    s = natsConnection_ConnectTo(&nc, test_url());
    if (s == NATS_OK) s = natsConnection_ConnectTo(&srv, test_url());
    if (s == NATS_OK) s = natsConnection_Subscribe(&service, srv, "inv.service", on_request, NULL);
    if (s == NATS_OK) s = natsConnection_SubscribeSync(&silent, srv, "inv.silent");
    if (s == NATS_OK) s = natsConnection_Flush(srv);
    if (CHECK_STATUS(s, NATS_OK, "connect, a replier on inv.service, a silent inv.silent")) {
        negative_lengths(nc);
        timeouts(nc);
        request_timeouts(nc);
        subjects(nc);
        check_order(nc);
        tiny_buffers(nc);
        unsubscribed(nc);
        auto_unsubscribed(nc);
    }
    natsSubscription_Destroy(service);
    natsSubscription_Destroy(silent);
    natsConnection_Destroy(srv);
    natsConnection_Destroy(nc);
    closed();
    remade();
    /* Wait for the library's threads, so that leak checkers see no memory
     * still held by them. */
    s = nats_CloseAndWait(5000);
    CHECK_STATUS(s, NATS_OK, "nats_CloseAndWait");
    HARNESS_END();
}
