/*
 * A full open / connect / subscribe / publish / receive / destroy /
 * nats_CloseAndWait cycle, twice (the library may be opened again). Run
 * under valgrind by scripts/sanitize.sh: nothing may be lost, and after
 * nats_CloseAndWait no library thread is left to hold memory.
 */
#include "harness.h"

static void
cycle(const char *tag)
{
    natsConnection   *nc  = NULL;
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;

    CHECK_STATUSF(nats_Open(-1), NATS_OK, "%s: nats_Open", tag);
    CHECK_STATUSF(natsConnection_ConnectTo(&nc, test_url()), NATS_OK, "%s: connect", tag);
    CHECK_STATUSF(natsConnection_SubscribeSync(&sub, nc, "lifecycle"), NATS_OK, "%s: subscribe",
                  tag);
    CHECK_STATUSF(natsConnection_PublishString(nc, "lifecycle", tag), NATS_OK, "%s: publish", tag);
    if (CHECK_STATUSF(natsSubscription_NextMsg(&msg, sub, 5000), NATS_OK, "%s: receive", tag))
        CHECKF(strcmp(natsMsg_GetData(msg), tag) == 0, "%s: payload", tag);
    natsMsg_Destroy(msg);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    CHECK_STATUSF(nats_CloseAndWait(10000), NATS_OK, "%s: nats_CloseAndWait", tag);
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
