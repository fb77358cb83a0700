/*
 * A full open / connect / subscribe / publish / receive / destroy /
 * nats_CloseAndWait cycle, twice (the library may be opened again). Run
 * under valgrind by scripts/sanitize.sh: nothing may be lost, and after
 * nats_CloseAndWait no library thread is left to hold memory.
 */
#include "harness.h"

/* Event-loop callbacks that must never run: the options get them only
 * after the connection was made (options are copied at connect). */
static int never_called = 0;

static natsStatus
ev_attach(void **userData, void *loop, natsConnection *nc, natsSock socket)
{
    (void) userData;
    (void) loop;
    (void) nc;
    (void) socket;
    never_called++;
    return NATS_OK;
}

static natsStatus
ev_add_remove(void *userData, bool add)
{
    (void) userData;
    (void) add;
    never_called++;
    return NATS_OK;
}

static natsStatus
ev_detach(void *userData)
{
    (void) userData;
    never_called++;
    return NATS_OK;
}

static void
cycle(const char *tag)
{
    natsConnection   *nc   = NULL;
    natsSubscription *sub  = NULL;
    natsMsg          *msg  = NULL;
    natsOptions      *opts = NULL;
    int               loop = 0;

    CHECK_STATUSF(nats_Open(-1), NATS_OK, "%s: nats_Open", tag);
    CHECK_STATUSF(natsOptions_Create(&opts), NATS_OK, "%s: options", tag);
    CHECK_STATUSF(natsOptions_SetURL(opts, test_url()), NATS_OK, "%s: url", tag);
    CHECK_STATUSF(natsConnection_Connect(&nc, opts), NATS_OK, "%s: connect", tag);
    /* An event loop set after connecting changes nothing for this connection. */
    CHECK_STATUSF(natsOptions_SetEventLoop(opts, &loop, ev_attach, ev_add_remove, ev_add_remove,
                                           ev_detach),
                  NATS_OK, "%s: SetEventLoop after connecting", tag);
    CHECK_STATUSF(natsConnection_SubscribeSync(&sub, nc, "lifecycle"), NATS_OK, "%s: subscribe",
                  tag);
    CHECK_STATUSF(natsConnection_PublishString(nc, "lifecycle", tag), NATS_OK, "%s: publish", tag);
    if (CHECK_STATUSF(natsSubscription_NextMsg(&msg, sub, 5000), NATS_OK, "%s: receive", tag))
        CHECKF(strcmp(natsMsg_GetData(msg), tag) == 0, "%s: payload", tag);
    natsMsg_Destroy(msg);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    CHECK_STATUSF(nats_CloseAndWait(10000), NATS_OK, "%s: nats_CloseAndWait", tag);
    CHECKF(never_called == 0, "%s: the late event loop was never called", tag);
}

int
main(void)
{
    cycle("first");
#ifdef NATS_LIBNATS_RS
    /* nats.c cannot be opened again after nats_CloseAndWait; we can. */
    cycle("second");
#endif
    HARNESS_END();
}
