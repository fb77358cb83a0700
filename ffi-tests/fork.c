/* differential: no */
/*
 * Fork safety: the parent uses the library first (its io and event threads
 * start), then forks a worker that connects and does a round trip. Threads do
 * not survive fork(), so the library must start its own in the child.
 * (Not run against nats.c: whether it survives this is not what we test.)
 */
#define _POSIX_C_SOURCE 200809L
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int
round_trip(const char *tag)
{
    natsConnection   *nc  = NULL;
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;
    natsStatus       s;

    s = natsConnection_ConnectTo(&nc, test_url());
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&sub, nc, tag);
    if (s == NATS_OK)
        s = natsConnection_PublishString(nc, tag, tag);
    if (s == NATS_OK)
        s = natsSubscription_NextMsg(&msg, sub, 5000);
    if ((s == NATS_OK) && (strcmp(natsMsg_GetData(msg), tag) != 0))
        s = NATS_ERR;
    natsMsg_Destroy(msg);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return (int) s;
}

int
main(void)
{
    pid_t child;
    int   wstatus = 0;

    CHECK_STATUS(nats_Open(-1), NATS_OK, "nats_Open in the parent");
    CHECK_STATUS((natsStatus) round_trip("fork.parent"), NATS_OK, "round trip in the parent");

    child = fork();
    if (child == 0)
    {
        /* The worker: a fresh connection must work without the parent's threads. */
        _exit(round_trip("fork.child") == NATS_OK ? 0 : 1);
    }
    CHECK(child > 0, "fork succeeded");
    if (child > 0)
    {
        CHECK(waitpid(child, &wstatus, 0) == child, "waited for the child");
        CHECK(WIFEXITED(wstatus) && (WEXITSTATUS(wstatus) == 0), "round trip in the forked child");
    }
    CHECK_STATUS((natsStatus) round_trip("fork.parent2"), NATS_OK, "parent still works after fork");
    nats_Close();
    HARNESS_END();
}
