/*
 * drain.c - natsSubscription_Drain / DrainTimeout / WaitForDrainCompletion /
 * DrainCompletionStatus, natsSubscription_SetOnCompleteCB, and
 * natsConnection_Drain / DrainTimeout / IsDraining with their status
 * transitions, argument checks and timeouts.
 *
 * Runs differentially: the same stdout against nats.c and libnats-rs.
 * Every wait is bounded; a "gate" (mutex + condition) holds callbacks until
 * the test opens it, so nothing depends on timing.
 */
#include "harness.h"

#define WAIT_MS 5000

typedef struct {
    harness_counter got;        /* messages handled */
    harness_counter completed;  /* OnComplete calls */
    harness_counter closed;     /* closed callback calls */
    harness_counter errors;     /* error handler calls */
    pthread_mutex_t mu;
    pthread_cond_t  cond;
    bool            open;       /* the gate */
    natsStatus      last_err;   /* status given to the error handler */
    bool            reply;      /* handler answers requests */
} gate_state;

/* Static storage, never destroyed: a library thread may still be returning
 * from a callback after the objects were destroyed. */
static gate_state g_async, g_conn, g_idle, g_slow, g_req, g_limit, g_unsub;

static void
gate_init(gate_state *g)
{
    memset(g, 0, sizeof(*g));
    counter_init(&g->got);
    counter_init(&g->completed);
    counter_init(&g->closed);
    counter_init(&g->errors);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->last_err = NATS_OK;
}

static void
gate_open(gate_state *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

/* Waits (bounded) for the gate. */
static void
gate_wait(gate_state *g)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&g->mu);
    while (!g->open) {
        if (pthread_cond_timedwait(&g->cond, &g->mu, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&g->mu);
}

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    gate_state *g = (gate_state *) closure;
    (void) sub;
    gate_wait(g);
    if (g->reply && natsMsg_GetReply(msg) != NULL)
        natsConnection_PublishString(nc, natsMsg_GetReply(msg), "answer");
    natsMsg_Destroy(msg);
    counter_add(&g->got, 1);
}

static void
on_complete(void *closure)
{
    counter_add(&((gate_state *) closure)->completed, 1);
}

static void
on_closed(natsConnection *nc, void *closure)
{
    (void) nc;
    counter_add(&((gate_state *) closure)->closed, 1);
}

static void
on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    gate_state *g = (gate_state *) closure;
    (void) nc;
    (void) sub;
    pthread_mutex_lock(&g->errors.mu);
    g->last_err = err;
    pthread_mutex_unlock(&g->errors.mu);
    counter_add(&g->errors, 1);
}

static natsConnection *
connect_with(gate_state *g)
{
    natsOptions    *opts = NULL;
    natsConnection *nc = NULL;
    natsStatus      s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, test_url());
    if (s == NATS_OK && g != NULL)
        s = natsOptions_SetClosedCB(opts, on_closed, g);
    if (s == NATS_OK && g != NULL)
        s = natsOptions_SetErrorHandler(opts, on_error, g);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    if (!CHECK_STATUS(s, NATS_OK, "connect"))
        return NULL;
    return nc;
}

static void
argument_checks(natsConnection *nc)
{
    natsSubscription *sub = NULL;

    CHECK_STATUS(natsConnection_Drain(NULL), NATS_INVALID_ARG, "Drain(NULL)");
    CHECK_STATUS(natsConnection_DrainTimeout(NULL, 10), NATS_INVALID_ARG,
                 "DrainTimeout(NULL)");
    CHECK(!natsConnection_IsDraining(NULL), "IsDraining(NULL) is false");
    CHECK(!natsConnection_IsDraining(nc), "IsDraining is false before a drain");
    CHECK_STATUS(natsSubscription_Drain(NULL), NATS_INVALID_ARG, "Subscription_Drain(NULL)");
    CHECK_STATUS(natsSubscription_DrainTimeout(NULL, 10), NATS_INVALID_ARG,
                 "Subscription_DrainTimeout(NULL)");
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(NULL, 10), NATS_INVALID_ARG,
                 "WaitForDrainCompletion(NULL)");
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(NULL), NATS_INVALID_ARG,
                 "DrainCompletionStatus(NULL)");
    CHECK_STATUS(natsSubscription_SetOnCompleteCB(NULL, on_complete, NULL), NATS_INVALID_ARG,
                 "SetOnCompleteCB(NULL)");
    if (CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "drain.args"), NATS_OK,
                     "SubscribeSync drain.args")) {
        CHECK_STATUS(natsSubscription_SetOnCompleteCB(sub, on_complete, NULL),
                     NATS_INVALID_SUBSCRIPTION, "SetOnCompleteCB on a sync subscription");
        CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, 10), NATS_ILLEGAL_STATE,
                     "WaitForDrainCompletion before a drain");
        CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_ILLEGAL_STATE,
                     "DrainCompletionStatus before a drain");
        CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_OK, "Unsubscribe drain.args");
        CHECK_STATUS(natsSubscription_Drain(sub), NATS_INVALID_SUBSCRIPTION,
                     "Drain after Unsubscribe");
        natsSubscription_Destroy(sub);
    }
}

/* An async subscription drains what it has; later messages are not delivered;
 * the OnComplete callback runs once after the last message callback. */
static void
async_subscription(natsConnection *nc)
{
    natsSubscription *sub = NULL;

    gate_init(&g_async);
    if (!CHECK_STATUS(natsConnection_Subscribe(&sub, nc, "drain.async", on_msg, &g_async),
                      NATS_OK, "Subscribe drain.async"))
        return;
    CHECK_STATUS(natsSubscription_SetOnCompleteCB(sub, on_complete, &g_async), NATS_OK,
                 "SetOnCompleteCB");
    publish_and_flush(nc, "drain.async", 2, "x");
    CHECK_STATUS(natsSubscription_DrainTimeout(sub, -1), NATS_OK, "DrainTimeout(-1)");
    CHECK_STATUS(natsSubscription_Drain(sub), NATS_OK, "a second Drain is OK");
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, 20), NATS_TIMEOUT,
                 "WaitForDrainCompletion times out while the callback is held");
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_ILLEGAL_STATE,
                 "DrainCompletionStatus while draining");
    publish_and_flush(nc, "drain.async", 1, "x");
    gate_open(&g_async);
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, 0), NATS_OK,
                 "WaitForDrainCompletion (no limit)");
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_OK,
                 "DrainCompletionStatus is OK");
    CHECK(counter_wait(&g_async.completed, 1, WAIT_MS), "OnComplete called");
    CHECK(counter_get(&g_async.got) == 2, "exactly the 2 messages sent before the drain");
    CHECK(counter_get(&g_async.completed) == 1, "OnComplete called once");
    CHECK(!natsSubscription_IsValid(sub), "drained subscription is not valid");
    CHECK_STATUS(natsSubscription_Drain(sub), NATS_INVALID_SUBSCRIPTION,
                 "Drain on a drained subscription");
    natsSubscription_Destroy(sub);
}

/* Sync subscriptions complete their drain when NextMsg returned the last
 * message, including one auto-unsubscribed at its maximum. */
static void
sync_subscriptions(natsConnection *nc)
{
    natsSubscription *sub = NULL, *capped = NULL;
    natsMsg          *m = NULL;
    int               i, msgs = -1, bytes = -1;
    int64_t           delivered = -1;

    if (!CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "drain.sync"), NATS_OK,
                      "SubscribeSync drain.sync")
        || !CHECK_STATUS(natsConnection_SubscribeSync(&capped, nc, "drain.sync"), NATS_OK,
                         "SubscribeSync drain.sync (capped)"))
        return;
    CHECK_STATUS(natsSubscription_AutoUnsubscribe(capped, 2), NATS_OK, "AutoUnsubscribe(2)");
    publish_and_flush(nc, "drain.sync", 2, "x");
    CHECK_STATUS(natsSubscription_Drain(sub), NATS_OK, "Drain sync");
    CHECK_STATUS(natsSubscription_Drain(capped), NATS_OK, "Drain auto-unsubscribed sync");
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, 20), NATS_TIMEOUT,
                 "sync drain waits for NextMsg");
    publish_and_flush(nc, "drain.sync", 1, "x");
    for (i = 0; i < 2; i++) {
        CHECK_STATUSF(natsSubscription_NextMsg(&m, sub, WAIT_MS), NATS_OK, "NextMsg %d", i);
        natsMsg_Destroy(m);
        m = NULL;
        CHECK_STATUSF(natsSubscription_NextMsg(&m, capped, WAIT_MS), NATS_OK,
                      "NextMsg capped %d", i);
        natsMsg_Destroy(m);
        m = NULL;
    }
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, WAIT_MS), NATS_OK,
                 "sync drain completes after the last NextMsg");
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(capped, WAIT_MS), NATS_OK,
                 "capped drain completes");
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_OK, "sync status OK");
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(capped), NATS_OK, "capped status OK");
    CHECK_STATUS(natsSubscription_NextMsg(&m, sub, 10), NATS_INVALID_SUBSCRIPTION,
                 "NextMsg after the drain");
    CHECK(m == NULL, "no message after the drain");
    CHECK(natsSubscription_GetPending(sub, &msgs, &bytes) != NATS_OK,
          "GetPending fails on a drained subscription");
    CHECK(natsSubscription_GetDelivered(sub, &delivered) != NATS_OK,
          "GetDelivered fails on a drained subscription");
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(capped);
}

/* A drain limit closes the subscription with NATS_TIMEOUT; Unsubscribe
 * during a drain ends it with NATS_INVALID_SUBSCRIPTION. Async subscriptions
 * (whose delivery thread completes the drain) in both libraries. */
static void
limits_and_interruptions(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    int               i;

    gate_init(&g_limit);
    if (CHECK_STATUS(natsConnection_Subscribe(&sub, nc, "drain.limit", on_msg, &g_limit),
                     NATS_OK, "Subscribe drain.limit")) {
        publish_and_flush(nc, "drain.limit", 3, "x");
        CHECK_STATUS(natsSubscription_DrainTimeout(sub, 100), NATS_OK, "DrainTimeout(100)");
        /* Held in its first callback, it cannot drain: the limit closes it. */
        for (i = 0; i < WAIT_MS / 5 && natsSubscription_IsValid(sub); i++)
            nats_Sleep(5);
        CHECK(!natsSubscription_IsValid(sub), "the drain limit closed the subscription");
        gate_open(&g_limit);
        CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, WAIT_MS), NATS_OK,
                     "drain with limit completes");
        CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_TIMEOUT,
                     "undelivered messages: status NATS_TIMEOUT");
        CHECK(counter_get(&g_limit.got) == 1, "only the message in the callback was handled");
        natsSubscription_Destroy(sub);
        sub = NULL;
    }
    gate_init(&g_unsub);
    if (CHECK_STATUS(natsConnection_Subscribe(&sub, nc, "drain.unsub", on_msg, &g_unsub),
                     NATS_OK, "Subscribe drain.unsub")) {
        publish_and_flush(nc, "drain.unsub", 3, "x");
        CHECK_STATUS(natsSubscription_Drain(sub), NATS_OK, "Drain drain.unsub");
        CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_OK, "Unsubscribe while draining");
        gate_open(&g_unsub);
        CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, WAIT_MS), NATS_OK,
                     "drain ends on Unsubscribe");
        CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_INVALID_SUBSCRIPTION,
                     "status after Unsubscribe: NATS_INVALID_SUBSCRIPTION");
        CHECK(counter_get(&g_unsub.got) <= 1, "nothing delivered after Unsubscribe");
        natsSubscription_Destroy(sub);
    }
}

#ifdef NATS_LIBNATS_RS
/* Compiled against our header only (the differential runs use nats.c's).
 * nats.c never completes the drain of a synchronous subscription closed with
 * messages still queued (by the drain limit or by Unsubscribe):
 * WaitForDrainCompletion(sub, 0) then blocks forever and
 * DrainCompletionStatus stays NATS_ILLEGAL_STATE. Here the drain completes,
 * with the status saying why. */
static void
sync_limits_and_interruptions(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *m = NULL;

    if (CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "drain.slimit"), NATS_OK,
                     "SubscribeSync drain.slimit")) {
        publish_and_flush(nc, "drain.slimit", 3, "x");
        CHECK_STATUS(natsSubscription_DrainTimeout(sub, 100), NATS_OK, "sync DrainTimeout(100)");
        CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, WAIT_MS), NATS_OK,
                     "sync drain with limit completes");
        CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_TIMEOUT,
                     "sync: unread messages: status NATS_TIMEOUT");
        CHECK(!natsSubscription_IsValid(sub), "sync: timed-out drain closed the subscription");
        natsSubscription_Destroy(sub);
        sub = NULL;
    }
    if (CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "drain.sunsub"), NATS_OK,
                     "SubscribeSync drain.sunsub")) {
        publish_and_flush(nc, "drain.sunsub", 3, "x");
        CHECK_STATUS(natsSubscription_Drain(sub), NATS_OK, "Drain drain.sunsub");
        CHECK_STATUS(natsSubscription_NextMsg(&m, sub, WAIT_MS), NATS_OK, "NextMsg one");
        natsMsg_Destroy(m);
        CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_OK, "sync Unsubscribe while draining");
        CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, WAIT_MS), NATS_OK,
                     "sync drain ends on Unsubscribe");
        CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_INVALID_SUBSCRIPTION,
                     "sync status after Unsubscribe: NATS_INVALID_SUBSCRIPTION");
        natsSubscription_Destroy(sub);
    }
}
#endif

static void
idle_connection(void)
{
    natsConnection *nc;

    gate_init(&g_idle);
    nc = connect_with(&g_idle);
    if (nc == NULL)
        return;
    CHECK_STATUS(natsConnection_Drain(nc), NATS_OK, "Drain an idle connection");
    CHECK(counter_wait(&g_idle.closed, 1, WAIT_MS), "idle drain: closed callback");
    CHECK(natsConnection_IsClosed(nc), "idle drain: closed");
    CHECK(counter_get(&g_idle.errors) == 0, "idle drain: no async error");
    CHECK_STATUS(natsConnection_Drain(nc), NATS_CONNECTION_CLOSED, "Drain after close");
    natsConnection_Destroy(nc);
}

/* Connection drain: status transitions, no new subscriptions, publishing
 * allowed, queued messages processed, closed callback once. Against our
 * header also: a reply published by a callback during the drain reaches a
 * request pending on the same connection (the request inbox is drained
 * last, as nats.c does since 3.5; 3.4.1 fails the request with
 * NATS_CONNECTION_CLOSED). */
#ifdef NATS_LIBNATS_RS
typedef struct {
    natsConnection *nc;
    natsStatus      s;
    char            data[16];
} req_arg;

static void *
requester(void *p)
{
    req_arg *a = (req_arg *) p;
    natsMsg *reply = NULL;
    a->s = natsConnection_RequestString(&reply, a->nc, "drain.conn", "q", WAIT_MS);
    if (a->s == NATS_OK) {
        snprintf(a->data, sizeof(a->data), "%s", natsMsg_GetData(reply));
        natsMsg_Destroy(reply);
    }
    return NULL;
}
#endif

static void
connection_drain(void)
{
    natsConnection   *nc;
    natsSubscription *sub = NULL, *other = NULL;
#ifdef NATS_LIBNATS_RS
    pthread_t         t;
    req_arg           ra;
    natsStatistics   *stats = NULL;
    uint64_t          out = 0;
    int               i;
#endif

    gate_init(&g_conn);
    g_conn.reply = true;
    nc = connect_with(&g_conn);
    if (nc == NULL)
        return;
    if (!CHECK_STATUS(natsConnection_Subscribe(&sub, nc, "drain.conn", on_msg, &g_conn),
                      NATS_OK, "Subscribe drain.conn"))
        return;
    CHECK_STATUS(natsSubscription_SetOnCompleteCB(sub, on_complete, &g_conn), NATS_OK,
                 "SetOnCompleteCB drain.conn");
    publish_and_flush(nc, "drain.conn", 6, "x");
#ifdef NATS_LIBNATS_RS
    memset(&ra, 0, sizeof(ra));
    ra.nc = nc;
    CHECK(pthread_create(&t, NULL, requester, &ra) == 0, "start the requester");
    /* Wait (bounded) until the request went out (7 messages published). */
    natsStatistics_Create(&stats);
    for (i = 0; i < WAIT_MS / 5 && out < 7; i++) {
        natsConnection_GetStats(nc, stats);
        natsStatistics_GetCounts(stats, NULL, NULL, &out, NULL, NULL);
        if (out < 7)
            nats_Sleep(5);
    }
    natsStatistics_Destroy(stats);
    CHECK(out >= 7, "the request was sent");
#endif
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "flush before the drain");

    CHECK_STATUS(natsConnection_DrainTimeout(nc, -1), NATS_OK, "DrainTimeout(-1)");
    CHECK(natsConnection_IsDraining(nc), "IsDraining while draining");
    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_DRAINING_SUBS,
          "status DRAINING_SUBS");
    CHECK_STATUS(natsConnection_Drain(nc), NATS_OK, "a second Drain is OK");
    CHECK_STATUS(natsConnection_SubscribeSync(&other, nc, "drain.new"), NATS_DRAINING,
                 "Subscribe while draining: NATS_DRAINING");
    CHECK(other == NULL, "no subscription while draining");
    CHECK_STATUS(natsSubscription_Drain(sub), NATS_DRAINING,
                 "Subscription_Drain during a connection drain: NATS_DRAINING");
    CHECK_STATUS(natsConnection_PublishString(nc, "drain.elsewhere", "ok"), NATS_OK,
                 "Publish while draining subscriptions");
    gate_open(&g_conn);
    CHECK(counter_wait(&g_conn.closed, 1, WAIT_MS), "closed callback after the drain");
#ifdef NATS_LIBNATS_RS
    pthread_join(t, NULL);
    CHECK_STATUS(ra.s, NATS_OK, "the pending request got its reply");
    CHECK(strcmp(ra.data, "answer") == 0, "reply content");
    CHECK(counter_get(&g_conn.got) == 7, "all 7 queued messages processed");
#else
    CHECK(counter_get(&g_conn.got) == 6, "all 6 queued messages processed");
#endif
    CHECK(counter_wait(&g_conn.completed, 1, WAIT_MS), "OnComplete after the connection drain");
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_OK,
                 "subscription drain status OK");
    CHECK(natsConnection_IsClosed(nc), "closed after the drain");
    CHECK(!natsConnection_IsDraining(nc), "not draining once closed");
    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CLOSED, "status CLOSED");
    natsConnection_Close(nc);
    CHECK(counter_get(&g_conn.closed) == 1, "closed callback exactly once");
    CHECK(counter_get(&g_conn.errors) == 0, "no async error");
    CHECK_STATUS(natsConnection_DrainTimeout(nc, 1), NATS_CONNECTION_CLOSED,
                 "DrainTimeout after close");
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

/* A connection drain limit: subscriptions end with NATS_TIMEOUT, the error
 * handler gets NATS_TIMEOUT, the connection closes. */
static void
connection_drain_timeout(void)
{
    natsConnection   *nc;
    natsSubscription *sub = NULL;

    gate_init(&g_slow);
    nc = connect_with(&g_slow);
    if (nc == NULL)
        return;
    if (!CHECK_STATUS(natsConnection_Subscribe(&sub, nc, "drain.slow", on_msg, &g_slow),
                      NATS_OK, "Subscribe drain.slow"))
        return;
    publish_and_flush(nc, "drain.slow", 3, "x");
    CHECK_STATUS(natsConnection_DrainTimeout(nc, 100), NATS_OK, "DrainTimeout(100)");
    CHECK(counter_wait(&g_slow.closed, 1, WAIT_MS), "closed after the drain limit");
    CHECK(counter_wait(&g_slow.errors, 1, WAIT_MS), "error handler called");
    pthread_mutex_lock(&g_slow.errors.mu);
    CHECK_STATUS(g_slow.last_err, NATS_TIMEOUT, "error handler got NATS_TIMEOUT");
    pthread_mutex_unlock(&g_slow.errors.mu);
    gate_open(&g_slow);
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, WAIT_MS), NATS_OK,
                 "subscription drain completes");
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_TIMEOUT,
                 "subscription drain status NATS_TIMEOUT");
    CHECK_STATUS(natsSubscription_Drain(sub), NATS_CONNECTION_CLOSED,
                 "Subscription_Drain on a closed connection");
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

/* Close during a connection drain: the closed callback still fires once. */
static void
close_during_drain(void)
{
    natsConnection   *nc;
    natsSubscription *sub = NULL;

    gate_init(&g_req);
    nc = connect_with(&g_req);
    if (nc == NULL)
        return;
    if (!CHECK_STATUS(natsConnection_Subscribe(&sub, nc, "drain.close", on_msg, &g_req),
                      NATS_OK, "Subscribe drain.close"))
        return;
    publish_and_flush(nc, "drain.close", 2, "x");
    CHECK_STATUS(natsConnection_Drain(nc), NATS_OK, "Drain drain.close");
    natsConnection_Close(nc);
    gate_open(&g_req);
    CHECK(counter_wait(&g_req.closed, 1, WAIT_MS), "closed callback");
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(sub, WAIT_MS), NATS_OK,
                 "subscription drain ends on close");
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(sub), NATS_CONNECTION_CLOSED,
                 "status after close: NATS_CONNECTION_CLOSED");
    natsConnection_Close(nc);
    CHECK(counter_get(&g_req.closed) == 1, "closed callback exactly once");
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

int
main(void)
{
    natsConnection *nc;

    nc = connect_with(NULL);
    if (nc != NULL) {
        argument_checks(nc);
        async_subscription(nc);
        sync_subscriptions(nc);
        limits_and_interruptions(nc);
#ifdef NATS_LIBNATS_RS
        sync_limits_and_interruptions(nc);
#endif
        natsConnection_Destroy(nc);
    }
    idle_connection();
    connection_drain();
    connection_drain_timeout();
    close_during_drain();
    nats_Close();
    HARNESS_END();
}
