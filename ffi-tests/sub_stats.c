/*
 * sub_stats.c - subscription statistics and pending limits: GetPending,
 * GetPendingLimits/SetPendingLimits, GetMaxPending/ClearMaxPending,
 * GetDelivered, GetDropped, GetStats, QueuedMsgs, NoDeliveryDelay, slow
 * consumer drops (by count and by size), and the statuses for a NULL, an
 * unsubscribed and a closed subscription. Also natsConnection_IsDraining.
 *
 * The checks of natsConnection_Send/SendMsg/SendRequest and
 * natsConnection_GetName are compiled only against a header that declares
 * them (nats.c >= 3.14 or libnats-rs; nats.c 3.4.1 lacks them), so the
 * differential run against nats.c 3.4.1 covers everything else.
 */
#include "harness.h"

#define NAME "sub-stats-test"

/* Checks every counter of GetStats against the expected values. */
static void
expect_stats(natsSubscription *sub, const char *what, int pm, int pb, int mm, int mb,
             int64_t delivered, int64_t dropped)
{
    int        a = -1, b = -1, c = -1, d = -1;
    int64_t    e = -1, f = -1;
    natsStatus s = natsSubscription_GetStats(sub, &a, &b, &c, &d, &e, &f);

    CHECK_STATUSF(s, NATS_OK, "%s: GetStats", what);
    CHECKF(a == pm && b == pb, "%s: GetStats pending %d/%d", what, pm, pb);
    CHECKF(c == mm && d == mb, "%s: GetStats max pending %d/%d", what, mm, mb);
    CHECKF(e == delivered, "%s: GetStats delivered %d", what, (int) delivered);
    CHECKF(f == dropped, "%s: GetStats dropped %d", what, (int) dropped);
}

static void
null_args(natsSubscription *sub)
{
    int     msgs = 0, bytes = 0;
    int64_t n = 0;
    uint64_t q = 0;

    CHECK_STATUS(natsSubscription_GetPending(NULL, &msgs, &bytes), NATS_INVALID_ARG,
                 "GetPending(NULL sub)");
    CHECK_STATUS(natsSubscription_GetPendingLimits(NULL, &msgs, &bytes), NATS_INVALID_ARG,
                 "GetPendingLimits(NULL sub)");
    CHECK_STATUS(natsSubscription_SetPendingLimits(NULL, 1, 1), NATS_INVALID_ARG,
                 "SetPendingLimits(NULL sub)");
    CHECK_STATUS(natsSubscription_GetMaxPending(NULL, &msgs, &bytes), NATS_INVALID_ARG,
                 "GetMaxPending(NULL sub)");
    CHECK_STATUS(natsSubscription_ClearMaxPending(NULL), NATS_INVALID_ARG,
                 "ClearMaxPending(NULL sub)");
    CHECK_STATUS(natsSubscription_GetStats(NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                 NATS_INVALID_ARG, "GetStats(NULL sub)");
    CHECK_STATUS(natsSubscription_GetDelivered(NULL, &n), NATS_INVALID_ARG,
                 "GetDelivered(NULL sub)");
    CHECK_STATUS(natsSubscription_GetDropped(NULL, &n), NATS_INVALID_ARG,
                 "GetDropped(NULL sub)");
    CHECK_STATUS(natsSubscription_QueuedMsgs(NULL, &q), NATS_INVALID_ARG,
                 "QueuedMsgs(NULL sub)");
    CHECK_STATUS(natsSubscription_NoDeliveryDelay(NULL), NATS_INVALID_ARG,
                 "NoDeliveryDelay(NULL sub)");

    /* Optional out-params may be NULL; GetDelivered/GetDropped need theirs. */
    CHECK_STATUS(natsSubscription_GetPending(sub, NULL, NULL), NATS_OK,
                 "GetPending with NULL out-params");
    CHECK_STATUS(natsSubscription_GetPendingLimits(sub, NULL, NULL), NATS_OK,
                 "GetPendingLimits with NULL out-params");
    CHECK_STATUS(natsSubscription_GetMaxPending(sub, NULL, NULL), NATS_OK,
                 "GetMaxPending with NULL out-params");
    CHECK_STATUS(natsSubscription_GetStats(sub, NULL, NULL, NULL, NULL, NULL, NULL), NATS_OK,
                 "GetStats with NULL out-params");
    CHECK_STATUS(natsSubscription_GetDelivered(sub, NULL), NATS_INVALID_ARG,
                 "GetDelivered(NULL msgs)");
    CHECK_STATUS(natsSubscription_GetDropped(sub, NULL), NATS_INVALID_ARG,
                 "GetDropped(NULL msgs)");
    CHECK_STATUS(natsSubscription_QueuedMsgs(sub, NULL), NATS_INVALID_ARG,
                 "QueuedMsgs(NULL queuedMsgs)");
    CHECK_STATUS(natsSubscription_NoDeliveryDelay(sub), NATS_OK, "NoDeliveryDelay");
}

static void
limits(natsSubscription *sub)
{
    int msgs = 0, bytes = 0;

    CHECK_STATUS(natsSubscription_GetPendingLimits(sub, &msgs, &bytes), NATS_OK,
                 "GetPendingLimits (defaults)");
    CHECK(msgs == 65536, "default pending messages limit is 65536");
    CHECK(bytes == 65536 * 1024, "default pending bytes limit is 64 MiB");

    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 0, 1), NATS_INVALID_ARG,
                 "SetPendingLimits(0 msgs)");
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 1, 0), NATS_INVALID_ARG,
                 "SetPendingLimits(0 bytes)");
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, -1, 100), NATS_OK,
                 "SetPendingLimits(-1 msgs)");
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 100, -1), NATS_OK,
                 "SetPendingLimits(-1 bytes)");
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, -10, -10), NATS_OK,
                 "SetPendingLimits(-10, -10)");
    msgs = bytes = 0;
    CHECK_STATUS(natsSubscription_GetPendingLimits(sub, &msgs, &bytes), NATS_OK,
                 "GetPendingLimits after negative limits");
    CHECK(msgs == -10 && bytes == -10, "negative limits read back unchanged");

    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 100, 100 * 1024), NATS_OK,
                 "SetPendingLimits(100, 102400)");
    msgs = bytes = 0;
    CHECK_STATUS(natsSubscription_GetPendingLimits(sub, &msgs, NULL), NATS_OK,
                 "GetPendingLimits(msgs only)");
    CHECK(msgs == 100, "messages limit reads back 100");
    CHECK_STATUS(natsSubscription_GetPendingLimits(sub, NULL, &bytes), NATS_OK,
                 "GetPendingLimits(bytes only)");
    CHECK(bytes == 100 * 1024, "bytes limit reads back 102400");
}

/* N messages queued, some consumed: pending, max pending, delivered. */
static void
pending_and_max(natsConnection *nc, natsSubscription *sub)
{
    int      msgs = -1, bytes = -1, i;
    uint64_t q = 0;
    int64_t  n = -1;

    expect_stats(sub, "fresh subscription", 0, 0, 0, 0, 0, 0);

    publish_and_flush(nc, "stats.foo", 10, "hello");
    CHECK(wait_seen(sub, 10), "10 messages queued");
    CHECK_STATUS(natsSubscription_GetPending(sub, &msgs, &bytes), NATS_OK, "GetPending");
    CHECK(msgs == 10 && bytes == 50, "pending is 10 messages, 50 bytes");
    CHECK_STATUS(natsSubscription_QueuedMsgs(sub, &q), NATS_OK, "QueuedMsgs");
    CHECK(q == 10, "QueuedMsgs is 10");
    msgs = bytes = -1;
    CHECK_STATUS(natsSubscription_GetMaxPending(sub, &msgs, &bytes), NATS_OK, "GetMaxPending");
    CHECK(msgs == 10 && bytes == 50, "max pending is 10 messages, 50 bytes");

    for (i = 0; i < 4; i++) {
        natsMsg *m = NULL;
        CHECK_STATUSF(natsSubscription_NextMsg(&m, sub, 5000), NATS_OK, "NextMsg %d", i + 1);
        natsMsg_Destroy(m);
    }
    expect_stats(sub, "after consuming 4", 6, 30, 10, 50, 4, 0);
    CHECK_STATUS(natsSubscription_GetDelivered(sub, &n), NATS_OK, "GetDelivered");
    CHECK(n == 4, "GetDelivered is 4");
    n = -1;
    CHECK_STATUS(natsSubscription_GetDropped(sub, &n), NATS_OK, "GetDropped");
    CHECK(n == 0, "GetDropped is 0");

    CHECK_STATUS(natsSubscription_ClearMaxPending(sub), NATS_OK, "ClearMaxPending");
    msgs = bytes = -1;
    CHECK_STATUS(natsSubscription_GetMaxPending(sub, &msgs, &bytes), NATS_OK,
                 "GetMaxPending after ClearMaxPending");
    CHECK(msgs == 0 && bytes == 0, "ClearMaxPending resets max pending to 0");
    CHECK_STATUS(natsSubscription_GetPending(sub, &msgs, &bytes), NATS_OK,
                 "GetPending after ClearMaxPending");
    CHECK(msgs == 6 && bytes == 30, "ClearMaxPending leaves pending alone");

    publish_and_flush(nc, "stats.foo", 1, "hello");
    CHECK(wait_seen(sub, 7), "one more message queued");
    expect_stats(sub, "one more after ClearMaxPending", 7, 35, 7, 35, 4, 0);
}

/* A sync subscription over its message limit drops, and says so once. */
static void
slow_by_count(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *m   = NULL;
    int64_t           n   = -1;
    int               i;

    if (!CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "stats.slow"), NATS_OK,
                      "SubscribeSync stats.slow"))
        return;
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, 5, -1), NATS_OK,
                 "SetPendingLimits(5, -1)");
    publish_and_flush(nc, "stats.slow", 8, "hello");
    CHECK(wait_seen(sub, 8), "8 messages seen");
    expect_stats(sub, "over the messages limit", 5, 25, 5, 25, 0, 3);
    CHECK_STATUS(natsSubscription_GetDropped(sub, &n), NATS_OK, "GetDropped (slow)");
    CHECK(n == 3, "GetDropped is 3");

    CHECK_STATUS(natsSubscription_NextMsg(&m, sub, 1000), NATS_SLOW_CONSUMER,
                 "NextMsg reports the slow consumer");
    CHECK(m == NULL, "no message with NATS_SLOW_CONSUMER");
    for (i = 0; i < 5; i++) {
        m = NULL;
        CHECK_STATUSF(natsSubscription_NextMsg(&m, sub, 5000), NATS_OK,
                      "NextMsg %d after the slow consumer", i + 1);
        natsMsg_Destroy(m);
    }
    m = NULL;
    CHECK_STATUS(natsSubscription_NextMsg(&m, sub, 50), NATS_TIMEOUT,
                 "NextMsg times out once drained");
    expect_stats(sub, "slow consumer drained", 0, 0, 5, 25, 5, 3);
    natsSubscription_Destroy(sub);
}

/* A message that would take the pending size over the limit is dropped. */
static void
slow_by_size(natsConnection *nc)
{
    natsSubscription *sub = NULL;

    if (!CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "stats.big"), NATS_OK,
                      "SubscribeSync stats.big"))
        return;
    CHECK_STATUS(natsSubscription_SetPendingLimits(sub, -1, 12), NATS_OK,
                 "SetPendingLimits(-1, 12)");
    publish_and_flush(nc, "stats.big", 3, "hello");
    CHECK(wait_seen(sub, 3), "3 messages seen");
    expect_stats(sub, "over the bytes limit", 2, 10, 2, 10, 0, 1);
    natsSubscription_Destroy(sub);
}

/* Every statistics call on a closed subscription, whatever closed it. */
static void
closed_sub(natsSubscription *sub, const char *why)
{
    int      msgs = 0, bytes = 0;
    int64_t  n = 0;
    uint64_t q = 0;

    CHECK_STATUSF(natsSubscription_GetPending(sub, &msgs, &bytes), NATS_INVALID_SUBSCRIPTION,
                  "GetPending on %s sub", why);
    CHECK_STATUSF(natsSubscription_GetPendingLimits(sub, NULL, NULL), NATS_INVALID_SUBSCRIPTION,
                  "GetPendingLimits on %s sub", why);
    CHECK_STATUSF(natsSubscription_SetPendingLimits(sub, 1, 1), NATS_INVALID_SUBSCRIPTION,
                  "SetPendingLimits on %s sub", why);
    CHECK_STATUSF(natsSubscription_SetPendingLimits(sub, 0, 1), NATS_INVALID_ARG,
                  "SetPendingLimits(0) on %s sub", why);
    CHECK_STATUSF(natsSubscription_GetMaxPending(sub, &msgs, &bytes), NATS_INVALID_SUBSCRIPTION,
                  "GetMaxPending on %s sub", why);
    CHECK_STATUSF(natsSubscription_ClearMaxPending(sub), NATS_INVALID_SUBSCRIPTION,
                  "ClearMaxPending on %s sub", why);
    CHECK_STATUSF(natsSubscription_GetStats(sub, NULL, NULL, NULL, NULL, NULL, NULL),
                  NATS_INVALID_SUBSCRIPTION, "GetStats on %s sub", why);
    CHECK_STATUSF(natsSubscription_GetDelivered(sub, &n), NATS_INVALID_SUBSCRIPTION,
                  "GetDelivered on %s sub", why);
    CHECK_STATUSF(natsSubscription_GetDropped(sub, &n), NATS_INVALID_SUBSCRIPTION,
                  "GetDropped on %s sub", why);
    CHECK_STATUSF(natsSubscription_QueuedMsgs(sub, &q), NATS_INVALID_SUBSCRIPTION,
                  "QueuedMsgs on %s sub", why);
    CHECK_STATUSF(natsSubscription_NoDeliveryDelay(sub), NATS_OK,
                  "NoDeliveryDelay on %s sub", why);
}

#if NATS_VERSION_NUMBER >= 0x030E00
/* Receives one message on `sub` and checks subject, reply and payload. */
static void
expect_msg(natsSubscription *sub, const char *what, const char *reply, const char *data)
{
    natsMsg   *msg = NULL;
    natsStatus s   = natsSubscription_NextMsg(&msg, sub, 5000);

    if (!CHECK_STATUSF(s, NATS_OK, "%s: delivered", what) || msg == NULL)
        return;
    CHECKF(strcmp(natsMsg_GetSubject(msg), "stats.send") == 0, "%s: subject", what);
    if (reply == NULL)
        CHECKF(natsMsg_GetReply(msg) == NULL, "%s: no reply subject", what);
    else
        CHECKF(natsMsg_GetReply(msg) != NULL && strcmp(natsMsg_GetReply(msg), reply) == 0,
               "%s: reply subject", what);
    CHECKF(natsMsg_GetDataLength(msg) == (int) strlen(data)
               && memcmp(natsMsg_GetData(msg), data, strlen(data)) == 0,
           "%s: data", what);
    natsMsg_Destroy(msg);
}

static void
send_calls(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;
    natsMsg          *got = NULL;
    const char       *v   = NULL;

    if (!CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "stats.send"), NATS_OK,
                      "SubscribeSync stats.send"))
        return;
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "Flush after subscribe");

    CHECK_STATUS(natsConnection_Send(nc, "stats.send", "abc", 3), NATS_OK, "Send");
    expect_msg(sub, "Send", NULL, "abc");
    CHECK_STATUS(natsConnection_Send(nc, "stats.send", NULL, 0), NATS_OK, "Send empty");
    expect_msg(sub, "Send empty", NULL, "");
    CHECK_STATUS(natsConnection_SendRequest(nc, "stats.send", "stats.reply", "req", 3), NATS_OK,
                 "SendRequest");
    expect_msg(sub, "SendRequest", "stats.reply", "req");

    if (CHECK_STATUS(natsMsg_Create(&msg, "stats.send", NULL, "hdr", 3), NATS_OK,
                     "natsMsg_Create")) {
        CHECK_STATUS(natsMsgHeader_Set(msg, "K", "V"), NATS_OK, "natsMsgHeader_Set");
        CHECK_STATUS(natsConnection_SendMsg(nc, msg), NATS_OK, "SendMsg");
        if (CHECK_STATUS(natsSubscription_NextMsg(&got, sub, 5000), NATS_OK,
                         "SendMsg: delivered")) {
            CHECK(natsMsgHeader_Get(got, "K", &v) == NATS_OK && v != NULL && strcmp(v, "V") == 0,
                  "SendMsg: header carried");
            CHECK(natsMsg_GetDataLength(got) == 3, "SendMsg: data length");
            natsMsg_Destroy(got);
        }
        natsMsg_Destroy(msg);
    }

    CHECK_STATUS(natsConnection_Send(NULL, "stats.send", "x", 1), NATS_INVALID_ARG,
                 "Send(NULL nc)");
    CHECK_STATUS(natsConnection_Send(nc, NULL, "x", 1), NATS_INVALID_SUBJECT,
                 "Send(NULL subject)");
    CHECK_STATUS(natsConnection_Send(nc, "", "x", 1), NATS_INVALID_SUBJECT,
                 "Send(empty subject)");
    CHECK_STATUS(natsConnection_SendRequest(nc, "stats.send", NULL, "x", 1), NATS_INVALID_ARG,
                 "SendRequest(NULL reply)");
    CHECK_STATUS(natsConnection_SendRequest(nc, "stats.send", "", "x", 1), NATS_INVALID_ARG,
                 "SendRequest(empty reply)");
    CHECK_STATUS(natsConnection_SendRequest(NULL, "stats.send", "r", "x", 1), NATS_INVALID_ARG,
                 "SendRequest(NULL nc)");
    CHECK_STATUS(natsConnection_SendMsg(nc, NULL), NATS_INVALID_ARG, "SendMsg(NULL msg)");
    CHECK_STATUS(natsConnection_SendMsg(NULL, NULL), NATS_INVALID_ARG, "SendMsg(NULL nc)");
    natsSubscription_Destroy(sub);
}

static void
names(natsConnection *nc)
{
    natsConnection *anon = NULL;

    CHECK(natsConnection_GetName(NULL) == NULL, "GetName(NULL) is NULL");
    CHECK(natsConnection_GetName(nc) != NULL && strcmp(natsConnection_GetName(nc), NAME) == 0,
          "GetName returns the option name");
    if (CHECK_STATUS(natsConnection_ConnectTo(&anon, test_url()), NATS_OK,
                     "connect without a name")) {
        CHECK(natsConnection_GetName(anon) == NULL, "GetName without a name is NULL");
        natsConnection_Destroy(anon);
    }
}
#endif

int
main(void)
{
    natsOptions      *opts = NULL;
    natsConnection   *nc   = NULL;
    natsSubscription *sub  = NULL;
    natsSubscription *live = NULL;
    natsStatus        s;

    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, test_url());
    if (s == NATS_OK)
        s = natsOptions_SetName(opts, NAME);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, opts);
    if (!CHECK_STATUS(s, NATS_OK, "connect"))
        HARNESS_END();

    CHECK(!natsConnection_IsDraining(NULL), "IsDraining(NULL) is false");
    CHECK(!natsConnection_IsDraining(nc), "IsDraining is false");

    if (CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "stats.foo"), NATS_OK,
                     "SubscribeSync stats.foo")) {
        null_args(sub);
        limits(sub);
        pending_and_max(nc, sub);
        CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_OK, "Unsubscribe");
        closed_sub(sub, "an unsubscribed");
        natsSubscription_Destroy(sub);
    }
    slow_by_count(nc);
    slow_by_size(nc);

#if NATS_VERSION_NUMBER >= 0x030E00
    send_calls(nc);
    names(nc);
#endif

    CHECK_STATUS(natsConnection_SubscribeSync(&live, nc, "stats.live"), NATS_OK,
                 "SubscribeSync stats.live");
    natsConnection_Close(nc);
    if (live != NULL) {
        closed_sub(live, "a connection-closed");
        natsSubscription_Destroy(live);
    }
#if NATS_VERSION_NUMBER >= 0x030E00
    CHECK_STATUS(natsConnection_Send(nc, "stats.send", "x", 1), NATS_CONNECTION_CLOSED,
                 "Send after close");
    CHECK(natsConnection_GetName(nc) != NULL && strcmp(natsConnection_GetName(nc), NAME) == 0,
          "GetName after close");
#endif
    CHECK(!natsConnection_IsDraining(nc), "IsDraining is false after close");

    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    nats_Close();
    HARNESS_END();
}
