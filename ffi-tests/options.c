/*
 * options.c - natsOptions_Create/Destroy and the core setters: valid values,
 * invalid values and a NULL options pointer, with nats.c's statuses.
 * Ends with a connect that uses a configured natsOptions object.
 */
#include "harness.h"

static void
on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void) nc;
    (void) sub;
    (void) err;
    (void) closure;
}

static void
on_conn_event(natsConnection *nc, void *closure)
{
    (void) nc;
    (void) closure;
}

static void
setters_reject_null_options(void)
{
    const char *servers[] = {"nats://127.0.0.1:4222"};

#define NULLOPTS(call) CHECK_STATUS(call, NATS_INVALID_ARG, #call)
    NULLOPTS(natsOptions_SetURL(NULL, "nats://127.0.0.1:4222"));
    NULLOPTS(natsOptions_SetServers(NULL, servers, 1));
    NULLOPTS(natsOptions_SetTimeout(NULL, 1000));
    NULLOPTS(natsOptions_SetName(NULL, "name"));
    NULLOPTS(natsOptions_SetVerbose(NULL, true));
    NULLOPTS(natsOptions_SetPedantic(NULL, true));
    NULLOPTS(natsOptions_SetPingInterval(NULL, 1000));
    NULLOPTS(natsOptions_SetMaxPingsOut(NULL, 2));
    NULLOPTS(natsOptions_SetNoEcho(NULL, true));
    NULLOPTS(natsOptions_SetSendAsap(NULL, true));
    NULLOPTS(natsOptions_SetFailRequestsOnDisconnect(NULL, true));
    NULLOPTS(natsOptions_UseOldRequestStyle(NULL, true));
    NULLOPTS(natsOptions_IPResolutionOrder(NULL, 4));
    NULLOPTS(natsOptions_SetNoRandomize(NULL, true));
    NULLOPTS(natsOptions_SetUserInfo(NULL, "user", "pwd"));
    NULLOPTS(natsOptions_SetToken(NULL, "token"));
    NULLOPTS(natsOptions_SetMaxPendingMsgs(NULL, 100));
    NULLOPTS(natsOptions_SetIOBufSize(NULL, 1024));
    NULLOPTS(natsOptions_SetErrorHandler(NULL, on_error, NULL));
    NULLOPTS(natsOptions_SetClosedCB(NULL, on_conn_event, NULL));
    NULLOPTS(natsOptions_SetDisconnectedCB(NULL, on_conn_event, NULL));
    NULLOPTS(natsOptions_SetReconnectedCB(NULL, on_conn_event, NULL));
#undef NULLOPTS
}

static void
setters_on(natsOptions *o)
{
    const char *one[]  = {"nats://127.0.0.1:4222"};
    const char *two[]  = {"nats://127.0.0.1:4222", "nats://127.0.0.1:4223"};

#define EXPECT(call, want) CHECK_STATUS(call, want, #call)
    /* URL / servers */
    EXPECT(natsOptions_SetURL(o, "nats://127.0.0.1:4222"), NATS_OK);
    EXPECT(natsOptions_SetURL(o, "nats://a:4222, nats://b:4222"), NATS_OK);
    EXPECT(natsOptions_SetURL(o, NULL), NATS_OK);
    EXPECT(natsOptions_SetServers(o, one, 1), NATS_OK);
    EXPECT(natsOptions_SetServers(o, two, 2), NATS_OK);
    EXPECT(natsOptions_SetServers(o, NULL, 0), NATS_OK);
    EXPECT(natsOptions_SetServers(o, two, 0), NATS_INVALID_ARG);
    EXPECT(natsOptions_SetServers(o, two, -1), NATS_INVALID_ARG);
    EXPECT(natsOptions_SetServers(o, NULL, 1), NATS_INVALID_ARG);

    /* Timeout: < 0 invalid, 0 accepted */
    EXPECT(natsOptions_SetTimeout(o, -1), NATS_INVALID_ARG);
    EXPECT(natsOptions_SetTimeout(o, 0), NATS_OK);
    EXPECT(natsOptions_SetTimeout(o, 2000), NATS_OK);

    /* Name */
    EXPECT(natsOptions_SetName(o, "options-test"), NATS_OK);
    EXPECT(natsOptions_SetName(o, NULL), NATS_OK);
    EXPECT(natsOptions_SetName(o, ""), NATS_OK);

    /* Booleans */
    EXPECT(natsOptions_SetVerbose(o, true), NATS_OK);
    EXPECT(natsOptions_SetVerbose(o, false), NATS_OK);
    EXPECT(natsOptions_SetPedantic(o, true), NATS_OK);
    EXPECT(natsOptions_SetPedantic(o, false), NATS_OK);
    EXPECT(natsOptions_SetNoEcho(o, true), NATS_OK);
    EXPECT(natsOptions_SetNoEcho(o, false), NATS_OK);
    EXPECT(natsOptions_SetSendAsap(o, true), NATS_OK);
    EXPECT(natsOptions_SetSendAsap(o, false), NATS_OK);
    EXPECT(natsOptions_SetFailRequestsOnDisconnect(o, true), NATS_OK);
    EXPECT(natsOptions_UseOldRequestStyle(o, true), NATS_OK);
    EXPECT(natsOptions_IPResolutionOrder(o, 0), NATS_OK);
    EXPECT(natsOptions_IPResolutionOrder(o, 4), NATS_OK);
    EXPECT(natsOptions_IPResolutionOrder(o, 6), NATS_OK);
    EXPECT(natsOptions_IPResolutionOrder(o, 46), NATS_OK);
    EXPECT(natsOptions_IPResolutionOrder(o, 64), NATS_OK);
    EXPECT(natsOptions_IPResolutionOrder(o, 5), NATS_INVALID_ARG);
    EXPECT(natsOptions_IPResolutionOrder(o, -1), NATS_INVALID_ARG);
    EXPECT(natsOptions_IPResolutionOrder(o, 644), NATS_INVALID_ARG);
    EXPECT(natsOptions_SetNoRandomize(o, true), NATS_OK);
    EXPECT(natsOptions_SetNoRandomize(o, false), NATS_OK);

    /* Ping interval and max pings out accept any value */
    EXPECT(natsOptions_SetPingInterval(o, -1), NATS_OK);
    EXPECT(natsOptions_SetPingInterval(o, 0), NATS_OK);
    EXPECT(natsOptions_SetPingInterval(o, 120000), NATS_OK);
    EXPECT(natsOptions_SetMaxPingsOut(o, -1), NATS_OK);
    EXPECT(natsOptions_SetMaxPingsOut(o, 0), NATS_OK);
    EXPECT(natsOptions_SetMaxPingsOut(o, 2), NATS_OK);

    /* Credentials: set and clear */
    EXPECT(natsOptions_SetUserInfo(o, "user", "pwd"), NATS_OK);
    EXPECT(natsOptions_SetUserInfo(o, "user", NULL), NATS_OK);
    EXPECT(natsOptions_SetUserInfo(o, NULL, NULL), NATS_OK);
    EXPECT(natsOptions_SetToken(o, "token"), NATS_OK);
    EXPECT(natsOptions_SetToken(o, NULL), NATS_OK);

    /* Pending messages: <= 0 invalid */
    EXPECT(natsOptions_SetMaxPendingMsgs(o, 0), NATS_INVALID_ARG);
    EXPECT(natsOptions_SetMaxPendingMsgs(o, -1), NATS_INVALID_ARG);
    EXPECT(natsOptions_SetMaxPendingMsgs(o, 1), NATS_OK);
    EXPECT(natsOptions_SetMaxPendingMsgs(o, 65536), NATS_OK);

    /* IO buffer size: < 0 invalid, 0 means default */
    EXPECT(natsOptions_SetIOBufSize(o, -1), NATS_INVALID_ARG);
    EXPECT(natsOptions_SetIOBufSize(o, 0), NATS_OK);
    EXPECT(natsOptions_SetIOBufSize(o, 64 * 1024), NATS_OK);

    /* Callbacks: set and clear (NULL error handler restores the default) */
    EXPECT(natsOptions_SetErrorHandler(o, on_error, NULL), NATS_OK);
    EXPECT(natsOptions_SetErrorHandler(o, NULL, NULL), NATS_OK);
    EXPECT(natsOptions_SetClosedCB(o, on_conn_event, NULL), NATS_OK);
    EXPECT(natsOptions_SetClosedCB(o, NULL, NULL), NATS_OK);
    EXPECT(natsOptions_SetDisconnectedCB(o, on_conn_event, NULL), NATS_OK);
    EXPECT(natsOptions_SetDisconnectedCB(o, NULL, NULL), NATS_OK);
    EXPECT(natsOptions_SetReconnectedCB(o, on_conn_event, NULL), NATS_OK);
    EXPECT(natsOptions_SetReconnectedCB(o, NULL, NULL), NATS_OK);
#undef EXPECT
}

/* Options configured with every setter above still connect, and the
 * connection works; destroying the options after connect is allowed
 * (the connection keeps its own copy). */
static void
connect_with_options(void)
{
    natsOptions    *o   = NULL;
    natsConnection *nc  = NULL;
    natsSubscription *sub = NULL;
    natsMsg        *msg = NULL;
    const char     *servers[1];
    natsStatus      s;

    servers[0] = test_url();
    s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetServers(o, servers, 1);
    if (s == NATS_OK) s = natsOptions_SetNoRandomize(o, true);
    if (s == NATS_OK) s = natsOptions_SetName(o, "options-test");
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 5000);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(o, 60000);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(o, 3);
    if (s == NATS_OK) s = natsOptions_SetMaxPendingMsgs(o, 1000);
    if (s == NATS_OK) s = natsOptions_SetIOBufSize(o, 4096);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, on_error, NULL);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(o, on_conn_event, NULL);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, on_conn_event, NULL);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, on_conn_event, NULL);
    CHECK_STATUS(s, NATS_OK, "configure options for connect");

    if (s == NATS_OK) s = natsConnection_Connect(&nc, o);
    CHECK_STATUS(s, NATS_OK, "natsConnection_Connect(configured options)");

    /* The connection has its own copy of the options. */
    natsOptions_Destroy(o);
    o = NULL;

    if (s == NATS_OK) {
        s = natsConnection_SubscribeSync(&sub, nc, "opts.test");
        if (s == NATS_OK) s = natsConnection_PublishString(nc, "opts.test", "hello");
        if (s == NATS_OK) s = natsConnection_Flush(nc);
        if (s == NATS_OK) s = natsSubscription_NextMsg(&msg, sub, 5000);
        CHECK_STATUS(s, NATS_OK, "pub/sub works after destroying the options");
        CHECK(msg != NULL && strcmp(natsMsg_GetData(msg), "hello") == 0,
              "message received on a connection made from options");
        natsMsg_Destroy(msg);
        natsSubscription_Destroy(sub);
    }
    natsConnection_Destroy(nc);
}

/* NoEcho: a connection does not receive its own messages. */
static void
no_echo(void)
{
    natsOptions      *o   = NULL;
    natsConnection   *nc  = NULL;
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;
    natsStatus        s;

    s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, test_url());
    if (s == NATS_OK) s = natsOptions_SetNoEcho(o, true);
    if (s == NATS_OK) s = natsConnection_Connect(&nc, o);
    CHECK_STATUS(s, NATS_OK, "connect with NoEcho");
    if (s == NATS_OK) {
        s = natsConnection_SubscribeSync(&sub, nc, "opts.echo");
        if (s == NATS_OK) s = natsConnection_PublishString(nc, "opts.echo", "self");
        if (s == NATS_OK) s = natsConnection_Flush(nc);
        CHECK_STATUS(s, NATS_OK, "NoEcho: subscribe, publish, flush");
        CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 200), NATS_TIMEOUT,
                     "NoEcho: own message is not delivered");
        natsSubscription_Destroy(sub);
    }
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
}

int
main(void)
{
    natsOptions *o = NULL;

    CHECK_STATUS(natsOptions_Create(&o), NATS_OK, "natsOptions_Create");
    CHECK(o != NULL, "natsOptions_Create sets the pointer");
    if (o != NULL) {
        setters_on(o);
        natsOptions_Destroy(o);
    }
    natsOptions_Destroy(NULL); /* must be a no-op */
    CHECK(true, "natsOptions_Destroy(NULL) is a no-op");

    setters_reject_null_options();

    connect_with_options();
    no_echo();

    nats_Close();
    HARNESS_END();
}
