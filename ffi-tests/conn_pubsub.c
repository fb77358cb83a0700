/*
 * conn_pubsub.c - connect, connection info, synchronous subscriptions,
 * every publish flavour, queue groups, auto-unsubscribe, unsubscribe,
 * timeouts, close, and the statuses after close.
 */
#include "harness.h"

/* Receives one message on `sub` and checks subject, reply and payload. */
static void
expect_msg(natsSubscription *sub, const char *what, const char *subj, const char *reply,
           const char *data, int len)
{
    natsMsg   *msg = NULL;
    natsStatus s   = natsSubscription_NextMsg(&msg, sub, 5000);

    if (!CHECK_STATUSF(s, NATS_OK, "%s: NextMsg", what) || msg == NULL)
        return;
    CHECKF(natsMsg_GetSubject(msg) != NULL && strcmp(natsMsg_GetSubject(msg), subj) == 0,
           "%s: subject", what);
    if (reply == NULL)
        CHECKF(natsMsg_GetReply(msg) == NULL, "%s: no reply subject", what);
    else
        CHECKF(natsMsg_GetReply(msg) != NULL && strcmp(natsMsg_GetReply(msg), reply) == 0,
               "%s: reply subject", what);
    CHECKF(natsMsg_GetDataLength(msg) == len, "%s: data length %d", what, len);
    CHECKF(natsMsg_GetData(msg) != NULL && memcmp(natsMsg_GetData(msg), data, (size_t) len) == 0,
           "%s: data", what);
    CHECKF(natsMsg_GetData(msg) != NULL && natsMsg_GetData(msg)[len] == '\0',
           "%s: data is NUL-terminated", what);
    natsMsg_Destroy(msg);
}

static void
connection_info(natsConnection *nc)
{
    char    buf[256];
    char    tiny[8];
    int64_t maxp;

    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED, "Status is CONNECTED");
    CHECK(!natsConnection_IsClosed(nc), "IsClosed is false");
    CHECK(!natsConnection_IsReconnecting(nc), "IsReconnecting is false");

    memset(buf, 0, sizeof(buf));
    CHECK_STATUS(natsConnection_GetConnectedUrl(nc, buf, sizeof(buf)), NATS_OK,
                 "GetConnectedUrl");
    CHECK(buf[0] != '\0' && strlen(buf) < sizeof(buf), "GetConnectedUrl is non-empty");
    CHECK(strcmp(buf, test_url()) == 0, "GetConnectedUrl equals the URL connected to");
    CHECK_STATUS(natsConnection_GetConnectedUrl(nc, tiny, sizeof(tiny)),
                 NATS_INSUFFICIENT_BUFFER, "GetConnectedUrl into a too small buffer");

    memset(buf, 0, sizeof(buf));
    CHECK_STATUS(natsConnection_GetConnectedServerId(nc, buf, sizeof(buf)), NATS_OK,
                 "GetConnectedServerId");
    CHECK(buf[0] != '\0', "GetConnectedServerId is non-empty");
    CHECK_STATUS(natsConnection_GetConnectedServerId(nc, tiny, sizeof(tiny)),
                 NATS_INSUFFICIENT_BUFFER, "GetConnectedServerId into a too small buffer");

    maxp = natsConnection_GetMaxPayload(nc);
    CHECK(maxp > 0, "GetMaxPayload > 0");
}

static void
publish_flavours(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *out = NULL;
    natsMsg          *msg = NULL;
    const char        bin[] = {'a', '\0', 'b'};
    natsStatus        s;

    s = natsConnection_SubscribeSync(&sub, nc, "cps.foo");
    if (!CHECK_STATUS(s, NATS_OK, "SubscribeSync"))
        return;
    CHECK(natsSubscription_IsValid(sub), "new subscription IsValid");
    CHECK(natsSubscription_GetSubject(sub) != NULL
              && strcmp(natsSubscription_GetSubject(sub), "cps.foo") == 0,
          "natsSubscription_GetSubject");
    CHECK(natsSubscription_GetID(sub) > 0, "natsSubscription_GetID > 0");

    CHECK_STATUS(natsConnection_Publish(nc, "cps.foo", "hello", 5), NATS_OK, "Publish");
    CHECK_STATUS(natsConnection_Publish(nc, "cps.foo", bin, 3), NATS_OK,
                 "Publish binary data with a NUL byte");
    CHECK_STATUS(natsConnection_PublishString(nc, "cps.foo", "a string"), NATS_OK,
                 "PublishString");
    CHECK_STATUS(natsConnection_Publish(nc, "cps.foo", NULL, 0), NATS_OK,
                 "Publish empty payload (NULL, 0)");
    CHECK_STATUS(natsConnection_PublishString(nc, "cps.foo", ""), NATS_OK,
                 "PublishString empty string");
    CHECK_STATUS(natsConnection_PublishRequest(nc, "cps.foo", "cps.reply", "req", 3), NATS_OK,
                 "PublishRequest");
    CHECK_STATUS(natsConnection_PublishRequestString(nc, "cps.foo", "cps.reply2", "req2"),
                 NATS_OK, "PublishRequestString");

    s = natsMsg_Create(&out, "cps.foo", "cps.reply3", "msg data", 8);
    CHECK_STATUS(s, NATS_OK, "natsMsg_Create");
    if (s == NATS_OK) {
        CHECK_STATUS(natsConnection_PublishMsg(nc, out), NATS_OK, "PublishMsg");
        natsMsg_Destroy(out);
    }
    s = natsMsg_Create(&out, "cps.foo", NULL, NULL, 0);
    CHECK_STATUS(s, NATS_OK, "natsMsg_Create without reply or data");
    if (s == NATS_OK) {
        CHECK_STATUS(natsConnection_PublishMsg(nc, out), NATS_OK, "PublishMsg empty");
        natsMsg_Destroy(out);
    }

    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "Flush");
    CHECK(natsConnection_Buffered(nc) == 0, "Buffered is 0 after Flush");
    CHECK_STATUS(natsConnection_FlushTimeout(nc, 5000), NATS_OK, "FlushTimeout(5000)");

    expect_msg(sub, "Publish", "cps.foo", NULL, "hello", 5);
    expect_msg(sub, "Publish binary", "cps.foo", NULL, bin, 3);
    expect_msg(sub, "PublishString", "cps.foo", NULL, "a string", 8);
    expect_msg(sub, "Publish empty", "cps.foo", NULL, "", 0);
    expect_msg(sub, "PublishString empty", "cps.foo", NULL, "", 0);
    expect_msg(sub, "PublishRequest", "cps.foo", "cps.reply", "req", 3);
    expect_msg(sub, "PublishRequestString", "cps.foo", "cps.reply2", "req2", 4);
    expect_msg(sub, "PublishMsg", "cps.foo", "cps.reply3", "msg data", 8);
    expect_msg(sub, "PublishMsg empty", "cps.foo", NULL, "", 0);

    /* Nothing else is pending. */
    msg = NULL;
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 100), NATS_TIMEOUT,
                 "NextMsg with nothing pending times out");
    CHECK(msg == NULL, "no message returned on timeout");

    /* Wildcard subscriptions. */
    {
        natsSubscription *w1 = NULL, *w2 = NULL;
        s = natsConnection_SubscribeSync(&w1, nc, "cps.wild.*");
        if (s == NATS_OK) s = natsConnection_SubscribeSync(&w2, nc, "cps.wild.>");
        CHECK_STATUS(s, NATS_OK, "SubscribeSync with wildcards");
        CHECK(natsSubscription_GetID(w1) != natsSubscription_GetID(w2)
                  && natsSubscription_GetID(w1) != natsSubscription_GetID(sub),
              "subscription IDs are distinct");
        if (s == NATS_OK) s = natsConnection_PublishString(nc, "cps.wild.a", "1");
        if (s == NATS_OK) s = natsConnection_PublishString(nc, "cps.wild.a.b", "2");
        if (s == NATS_OK) s = natsConnection_Flush(nc);
        CHECK_STATUS(s, NATS_OK, "publish to wildcard subjects");
        if (s == NATS_OK) {
            expect_msg(w1, "'*' matches one token", "cps.wild.a", NULL, "1", 1);
            expect_msg(w2, "'>' matches one token", "cps.wild.a", NULL, "1", 1);
            expect_msg(w2, "'>' matches two tokens", "cps.wild.a.b", NULL, "2", 1);
            CHECK_STATUS(natsSubscription_NextMsg(&msg, w1, 100), NATS_TIMEOUT,
                         "'*' does not match two tokens");
        }
        natsSubscription_Destroy(w1);
        natsSubscription_Destroy(w2);
    }

    natsSubscription_Destroy(sub);
}

static void
queue_group(natsConnection *nc)
{
    enum { N = 20 };
    natsSubscription *q1 = NULL, *q2 = NULL;
    int               seen[N];
    int               total = 0, dup = 0, bad = 0, i, k;
    natsStatus        s;

    memset(seen, 0, sizeof(seen));
    s = natsConnection_QueueSubscribeSync(&q1, nc, "cps.queue", "workers");
    if (s == NATS_OK) s = natsConnection_QueueSubscribeSync(&q2, nc, "cps.queue", "workers");
    if (!CHECK_STATUS(s, NATS_OK, "QueueSubscribeSync x2")) {
        natsSubscription_Destroy(q1);
        return;
    }
    for (i = 0; i < N && s == NATS_OK; i++) {
        char data[16];
        snprintf(data, sizeof(data), "%d", i);
        s = natsConnection_PublishString(nc, "cps.queue", data);
    }
    if (s == NATS_OK) s = natsConnection_Flush(nc);
    CHECK_STATUS(s, NATS_OK, "publish 20 messages to the queue subject");

    /* After the flush returned, every message is already queued locally. */
    for (k = 0; k < 2; k++) {
        natsSubscription *q = (k == 0) ? q1 : q2;
        natsMsg          *m = NULL;
        while (natsSubscription_NextMsg(&m, q, 200) == NATS_OK) {
            int v = atoi(natsMsg_GetData(m));
            if (v < 0 || v >= N) bad++;
            else if (seen[v]++) dup++;
            total++;
            natsMsg_Destroy(m);
            m = NULL;
        }
    }
    CHECK(total == N, "queue members received 20 messages in total");
    CHECK(dup == 0 && bad == 0, "each message went to exactly one member");

    natsSubscription_Destroy(q1);
    natsSubscription_Destroy(q2);
}

static void
auto_unsubscribe(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;
    natsStatus        s;
    int               i;

    s = natsConnection_SubscribeSync(&sub, nc, "cps.auto");
    if (s == NATS_OK) s = natsSubscription_AutoUnsubscribe(sub, 3);
    if (!CHECK_STATUS(s, NATS_OK, "SubscribeSync + AutoUnsubscribe(3)")) {
        natsSubscription_Destroy(sub);
        return;
    }
    for (i = 0; i < 5 && s == NATS_OK; i++)
        s = natsConnection_PublishString(nc, "cps.auto", "x");
    if (s == NATS_OK) s = natsConnection_Flush(nc);
    CHECK_STATUS(s, NATS_OK, "publish 5 messages");

    for (i = 0; i < 3; i++) {
        msg = NULL;
        CHECK_STATUSF(natsSubscription_NextMsg(&msg, sub, 2000), NATS_OK,
                      "AutoUnsubscribe(3): message %d delivered", i + 1);
        natsMsg_Destroy(msg);
    }
    msg = NULL;
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 200), NATS_MAX_DELIVERED_MSGS,
                 "AutoUnsubscribe(3): 4th NextMsg is NATS_MAX_DELIVERED_MSGS");
    CHECK(!natsSubscription_IsValid(sub), "AutoUnsubscribe(3): then not valid");
    natsSubscription_Destroy(sub);
}

static void
unsubscribe(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;
    natsStatus        s;

    s = natsConnection_SubscribeSync(&sub, nc, "cps.unsub");
    if (!CHECK_STATUS(s, NATS_OK, "SubscribeSync for unsubscribe"))
        return;
    CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_OK, "Unsubscribe");
    CHECK(!natsSubscription_IsValid(sub), "IsValid is false after Unsubscribe");
    CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_INVALID_SUBSCRIPTION,
                 "second Unsubscribe");
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 100), NATS_INVALID_SUBSCRIPTION,
                 "NextMsg after Unsubscribe");
    CHECK_STATUS(natsSubscription_AutoUnsubscribe(sub, 1), NATS_INVALID_SUBSCRIPTION,
                 "AutoUnsubscribe after Unsubscribe");

    /* An unsubscribed subject no longer delivers to that subscription. */
    CHECK_STATUS(natsConnection_PublishString(nc, "cps.unsub", "late"), NATS_OK,
                 "publish after Unsubscribe");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "flush after Unsubscribe");
    natsSubscription_Destroy(sub);
}

static void
closed_connection(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsSubscription *sub2 = NULL;
    natsMsg          *msg = NULL;
    char              buf[256];

    /* A subscription that exists when the connection closes. */
    CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "cps.closing"), NATS_OK,
                 "SubscribeSync before close");

    natsConnection_Close(nc);
    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CLOSED, "Status is CLOSED after Close");
    CHECK(natsConnection_IsClosed(nc), "IsClosed is true after Close");
    natsConnection_Close(nc); /* closing twice is harmless */
    CHECK(natsConnection_IsClosed(nc), "second Close is harmless");

    CHECK_STATUS(natsConnection_Publish(nc, "cps.foo", "x", 1), NATS_CONNECTION_CLOSED,
                 "Publish after Close");
    CHECK_STATUS(natsConnection_PublishString(nc, "cps.foo", "x"), NATS_CONNECTION_CLOSED,
                 "PublishString after Close");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_CONNECTION_CLOSED, "Flush after Close");
    CHECK_STATUS(natsConnection_SubscribeSync(&sub2, nc, "cps.foo"), NATS_CONNECTION_CLOSED,
                 "SubscribeSync after Close");
    CHECK(sub2 == NULL, "no subscription created after Close");
    if (sub != NULL) {
        CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 100), NATS_CONNECTION_CLOSED,
                     "NextMsg on an existing subscription after Close");
        CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_CONNECTION_CLOSED,
                     "Unsubscribe after Close");
        natsSubscription_Destroy(sub);
    }
    memset(buf, 'x', sizeof(buf));
    CHECK_STATUS(natsConnection_GetConnectedUrl(nc, buf, sizeof(buf)), NATS_OK,
                 "GetConnectedUrl after Close");
    CHECK(buf[0] == '\0', "GetConnectedUrl is empty after Close");
}

static void
connect_with_options(void)
{
    natsOptions    *opts = NULL;
    natsConnection *nc   = NULL;
    natsStatus      s;

    s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, test_url());
    if (s == NATS_OK) s = natsOptions_SetName(opts, "conn_pubsub");
    if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
    CHECK_STATUS(s, NATS_OK, "natsConnection_Connect with URL and name options");
    CHECK(nc != NULL, "natsConnection_Connect sets the connection");
    if (nc != NULL) {
        CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED,
              "options connection is CONNECTED");
        CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "Flush on options connection");
    }
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
}

static void
connect_no_server(void)
{
    natsConnection *nc = NULL;
    natsOptions    *opts = NULL;
    natsStatus      s;

    s = natsConnection_ConnectTo(&nc, test_dead_url());
    CHECK_STATUS(s, NATS_NO_SERVER, "ConnectTo a port with no server");
    CHECK(nc == NULL, "connection stays NULL after NATS_NO_SERVER");

    s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, test_dead_url());
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts, false);
    if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
    CHECK_STATUS(s, NATS_NO_SERVER, "Connect (options) to a port with no server");
    CHECK(nc == NULL, "connection stays NULL after NATS_NO_SERVER (options)");
    natsOptions_Destroy(opts);
}

int
main(void)
{
    natsConnection *nc = NULL;
    natsStatus      s;

    s = natsConnection_ConnectTo(&nc, test_url());
    if (!CHECK_STATUS(s, NATS_OK, "natsConnection_ConnectTo(NATS_URL)") || nc == NULL) {
        HARNESS_END();
    }

    connection_info(nc);
    publish_flavours(nc);
    queue_group(nc);
    auto_unsubscribe(nc);
    unsubscribe(nc);

    CHECK_STATUS(natsConnection_FlushTimeout(nc, 0), NATS_INVALID_TIMEOUT, "FlushTimeout(nc, 0)");
    CHECK_STATUS(natsConnection_FlushTimeout(nc, -1), NATS_INVALID_TIMEOUT,
                 "FlushTimeout(nc, -1)");

    closed_connection(nc);
    natsConnection_Destroy(nc);

    connect_with_options();
    connect_no_server();

    nats_Close();
    HARNESS_END();
}
