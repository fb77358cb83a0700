/*
 * Thread budget and shutdown (issue "Drop-in and embedding", daemons):
 *
 *  - threads the library uses for 1 connection, for 1 connection with 10
 *    async subscriptions, and for 1000 connections with one subscription
 *    each (figures on stderr: "FIGURE threads ...");
 *  - the closed callback fires exactly once per connection;
 *  - nats_CloseAndWait leaves no library thread behind (only main is left),
 *    and the library can be opened and used again afterwards.
 *
 * Run on both libraries; stdout holds no figure, so it is the same. The
 * budget checks (thread count flat in connections) are ours only.
 */
#include "harness.h"

#include <dirent.h>
#include <sys/resource.h>

#define MANY 1000

static int closed_count = 0;
static pthread_mutex_t closed_mu = PTHREAD_MUTEX_INITIALIZER;

static void
on_closed(natsConnection *nc, void *closure)
{
    (void) nc;
    (void) closure;
    pthread_mutex_lock(&closed_mu);
    closed_count++;
    pthread_mutex_unlock(&closed_mu);
}

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    (void) closure;
    natsMsg_Destroy(msg);
}

/* Threads of this process, from /proc/self/task. */
static int
thread_count(void)
{
    DIR           *d = opendir("/proc/self/task");
    struct dirent *e;
    int            n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
    {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n;
}

/* Names of the threads still there (stderr), for a failure. */
static void
print_threads(void)
{
    DIR           *d = opendir("/proc/self/task");
    struct dirent *e;
    char           path[300], name[64];
    FILE          *f;

    while ((d != NULL) && ((e = readdir(d)) != NULL))
    {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        name[0] = '\0';
        if ((f = fopen(path, "r")) != NULL)
        {
            if (fgets(name, sizeof(name), f) == NULL)
                name[0] = '\0';
            fclose(f);
        }
        fprintf(stderr, "thread %s: %s", e->d_name, name);
    }
    if (d != NULL)
        closedir(d);
}

static natsOptions *
new_opts(void)
{
    natsOptions *o = NULL;

    if (natsOptions_Create(&o) != NATS_OK)
        return NULL;
    natsOptions_SetURL(o, test_url());
    natsOptions_SetClosedCB(o, on_closed, NULL);
    return o;
}

int
main(void)
{
    natsOptions      *o      = NULL;
    natsConnection   *nc     = NULL;
    natsConnection  **many   = NULL;
    natsSubscription *subs[10];
    natsSubscription **msubs = NULL;
    struct rlimit     rl;
    int               base, one, ten, lots, connected = 0, i;
    natsStatus        s;

    memset(subs, 0, sizeof(subs));
    /* 1000 sockets: raise the soft descriptor limit to the hard one. */
    if ((getrlimit(RLIMIT_NOFILE, &rl) == 0) && (rl.rlim_cur < rl.rlim_max))
    {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    base = thread_count();
    CHECK(base == 1, "only the main thread before the library is used");
    CHECK_STATUS(nats_Open(-1), NATS_OK, "nats_Open");

    /* One connection. */
    o = new_opts();
    CHECK(o != NULL, "options");
    s = natsConnection_Connect(&nc, o);
    CHECK_STATUS(s, NATS_OK, "connect one");
    one = thread_count() - base;

    /* Ten async subscriptions on it. */
    for (i = 0; (s == NATS_OK) && (i < 10); i++)
        s = natsConnection_Subscribe(&subs[i], nc, "threads.ten", on_msg, NULL);
    CHECK_STATUS(s, NATS_OK, "ten async subscriptions");
    if (s == NATS_OK)
        s = natsConnection_PublishString(nc, "threads.ten", "x");
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    CHECK_STATUS(s, NATS_OK, "publish to them");
    ten = thread_count() - base;
    for (i = 0; i < 10; i++)
        natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(nc);
    nc = NULL;

    /* A thousand connections, one subscription each. */
    many  = calloc(MANY, sizeof(*many));
    msubs = calloc(MANY, sizeof(*msubs));
    CHECK((many != NULL) && (msubs != NULL), "allocations");
    for (i = 0; (many != NULL) && (msubs != NULL) && (i < MANY); i++)
    {
        s = natsConnection_Connect(&many[i], o);
        if (s == NATS_OK)
            s = natsConnection_SubscribeSync(&msubs[i], many[i], "threads.many");
        if (s != NATS_OK)
        {
            fprintf(stderr, "connection %d: %d %s\n", i, (int) s, nats_GetLastError(NULL));
            break;
        }
        connected++;
    }
    CHECK(connected == MANY, "1000 connections with a subscription each");
    lots = thread_count() - base;
    for (i = 0; i < connected; i++)
    {
        natsSubscription_Destroy(msubs[i]);
        natsConnection_Destroy(many[i]);
    }
    free(many);
    free(msubs);
    natsOptions_Destroy(o);

    fprintf(stderr,
            "FIGURE threads (library threads, besides main): 1 connection: %d; "
            "1 connection + 10 async subscriptions: %d; %d connections: %d\n",
            one, ten, connected, lots);
#ifdef NATS_LIBNATS_RS
    /* io loops (at most 4) + the event thread; one delivery thread per
     * async subscription, as nats.c; nothing per connection. */
    CHECK((one >= 1) && (one <= 5), "1 connection: at most 5 library threads");
    CHECK(ten <= one + 10 + 1, "10 async subscriptions: one delivery thread each");
    CHECK(lots <= 5, "1000 connections: at most 5 library threads");
#endif

    /* Every connection closed once, and no thread is left after CloseAndWait. */
    s = nats_CloseAndWait(10000);
    if (!CHECK_STATUS(s, NATS_OK, "nats_CloseAndWait"))
        fprintf(stderr, "nats_CloseAndWait: %s\n", nats_GetLastError(NULL));
    pthread_mutex_lock(&closed_mu);
    CHECK(closed_count == 1 + connected, "closed callback exactly once per connection");
    pthread_mutex_unlock(&closed_mu);
    fprintf(stderr, "FIGURE threads after nats_CloseAndWait: %d\n", thread_count() - base);
    if (!CHECK(thread_count() == base, "no library thread left after nats_CloseAndWait"))
        print_threads();
    HARNESS_END();
}
