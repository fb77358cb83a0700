/* differential: no */
/*
 * health.c - connection health and lifecycle: natsConnection_GetHealth (an
 * extension), live ping interval changes, server lists, client id/IP, local
 * address, natsConnection_Reconnect with its callbacks and the cause of the
 * disconnection, the custom reconnect delay, retry on failed connect.
 *
 * It uses libnats-rs extensions (natsConnHealth, natsConnection_GetHealth,
 * natsConnection_SetPingInterval[Ms], NATS_ERR_STALE_CONNECTION) and keeps
 * the cause of a disconnection readable in the disconnected callback (nats.c
 * clears it), so tests/ffi_c.rs runs it against libnats-rs only.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef NATS_EXT_CONN_HEALTH
#error "the header must define NATS_EXT_CONN_HEALTH"
#endif

/* The extension's alias must be a natsStatus constant usable anywhere. */
_Static_assert(NATS_ERR_STALE_CONNECTION == NATS_STALE_CONNECTION,
               "NATS_ERR_STALE_CONNECTION is NATS_STALE_CONNECTION");

#define MAX_PINGS_OUT     3
#define PING_INTERVAL_MS  60000
/* Long enough that a reconnection within the test's waits proves the custom
 * delay callback replaced it. */
#define RECONNECT_WAIT_MS 10000
#define CUSTOM_DELAY_MS   10

/* What the callbacks saw; guarded by `mu`. The counters wake the waiters. */
static pthread_mutex_t  mu = PTHREAD_MUTEX_INITIALIZER;
static harness_counter  disconnected;
static harness_counter  reconnected;
static harness_counter  delays;
static harness_counter  connected;
static natsConnection   *expected_nc;
static bool             disc_right_nc;
static natsStatus       disc_read_status = NATS_OK;
static natsStatus       disc_get_status = NATS_OK;
static bool             disc_text_nonempty;
static bool             disc_text_truncated_ok;
static natsConnStatus   disc_conn_status = NATS_CONN_STATUS_CONNECTED;
static natsStatus       disc_local_addr_status = NATS_OK;
static natsStatus       disc_health_status = NATS_ERR;
static natsStatus       disc_health_last_error = NATS_OK;
static int              delay_min_attempts = -1;
static bool             delay_right_nc = true;

static void
on_disconnected(natsConnection *nc, void *closure)
{
    char        text[256];
    char        small[8];
    const char  *ptext = NULL;
    char        *ip    = NULL;
    int         port   = 0;
    natsStatus  rs, gs, ls;
    natsConnHealth h;
    natsStatus  hs;

    (void) closure;
    rs = natsConnection_ReadLastError(nc, text, sizeof(text));
    gs = natsConnection_GetLastError(nc, &ptext);
    ls = natsConnection_GetLocalIPAndPort(nc, &ip, &port);
    free(ip);
    memset(&h, 0, sizeof(h));
    hs = natsConnection_GetHealth(nc, &h);

    pthread_mutex_lock(&mu);
    disc_right_nc = (nc == expected_nc);
    disc_read_status = rs;
    disc_get_status = gs;
    disc_text_nonempty = (text[0] != '\0') && (ptext != NULL) && (strcmp(text, ptext) == 0);
    /* A text longer than the buffer is cut and ends with "..." (as nats.c). */
    if (strlen(text) >= sizeof(small)) {
        (void) natsConnection_ReadLastError(nc, small, sizeof(small));
        disc_text_truncated_ok = (strlen(small) == sizeof(small) - 1)
                                 && (strcmp(small + sizeof(small) - 4, "...") == 0)
                                 && (strncmp(small, text, sizeof(small) - 4) == 0);
    } else {
        disc_text_truncated_ok = false;
    }
    disc_conn_status = natsConnection_Status(nc);
    disc_local_addr_status = ls;
    disc_health_status = hs;
    disc_health_last_error = h.lastError;
    pthread_mutex_unlock(&mu);

    counter_add(&disconnected, 1);
}

static void
on_reconnected(natsConnection *nc, void *closure)
{
    (void) nc;
    (void) closure;
    counter_add(&reconnected, 1);
}

static int64_t
custom_delay(natsConnection *nc, int attempts, void *closure)
{
    (void) closure;
    pthread_mutex_lock(&mu);
    if (delay_min_attempts < 0 || attempts < delay_min_attempts)
        delay_min_attempts = attempts;
    if (nc != expected_nc)
        delay_right_nc = false;
    pthread_mutex_unlock(&mu);
    counter_add(&delays, 1);
    return CUSTOM_DELAY_MS;
}

static void
on_connected(natsConnection *nc, void *closure)
{
    (void) nc;
    (void) closure;
    counter_add(&connected, 1);
}

/* A loopback URL where nothing listens: bind port 0, read the port, close. */
static bool
free_port_url(char *buf, size_t len)
{
    struct sockaddr_in  addr;
    socklen_t           alen = sizeof(addr);
    int                 fd   = socket(AF_INET, SOCK_STREAM, 0);
    bool                ok   = false;

    if (fd < 0)
        return false;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0
        && getsockname(fd, (struct sockaddr *) &addr, &alen) == 0) {
        snprintf(buf, len, "nats://127.0.0.1:%d", (int) ntohs(addr.sin_port));
        ok = true;
    }
    close(fd);
    return ok;
}

/* Non-NULL values that a call must overwrite. */
static char     sentinel_text[] = "sentinel";
static char     *sentinel_list[1];

static void
free_servers(char **servers, int count)
{
    int i;
    for (i = 0; i < count; i++)
        free(servers[i]);
    free(servers);
}

static void
null_args(void)
{
    natsOptions     *opts = NULL;
    natsConnHealth  h;
    char            **servers = NULL;
    char            *ip = NULL;
    char            buf[32];
    int             count = 0, port = 0;
    uint64_t        cid = 0;

    CHECK_STATUS(natsOptions_SetCustomReconnectDelay(NULL, custom_delay, NULL), NATS_INVALID_ARG,
                 "SetCustomReconnectDelay(NULL opts)");
    CHECK_STATUS(natsOptions_SetRetryOnFailedConnect(NULL, true, on_connected, NULL),
                 NATS_INVALID_ARG, "SetRetryOnFailedConnect(NULL opts)");
    CHECK_STATUS(natsOptions_SetIgnoreDiscoveredServers(NULL, true), NATS_INVALID_ARG,
                 "SetIgnoreDiscoveredServers(NULL opts)");
    CHECK_STATUS(natsOptions_SetDiscoveredServersCB(NULL, on_connected, NULL), NATS_INVALID_ARG,
                 "SetDiscoveredServersCB(NULL opts)");
    CHECK_STATUS(natsOptions_SetLameDuckModeCB(NULL, on_connected, NULL), NATS_INVALID_ARG,
                 "SetLameDuckModeCB(NULL opts)");
    CHECK_STATUS(natsOptions_SetIgnoreAuthErrorAbort(NULL, true), NATS_INVALID_ARG,
                 "SetIgnoreAuthErrorAbort(NULL opts)");
    CHECK_STATUS(natsOptions_SetReconnectOnProtocolError(NULL, true), NATS_INVALID_ARG,
                 "SetReconnectOnProtocolError(NULL opts)");
    CHECK_STATUS(natsOptions_SetReconnectJitter(NULL, 1, 1), NATS_INVALID_ARG,
                 "SetReconnectJitter(NULL opts)");

    if (CHECK_STATUS(natsOptions_Create(&opts), NATS_OK, "options for setters")) {
        CHECK_STATUS(natsOptions_SetReconnectJitter(opts, 10, -1), NATS_INVALID_ARG,
                     "SetReconnectJitter(negative TLS jitter)");
        CHECK_STATUS(natsOptions_SetReconnectJitter(opts, 10, 20), NATS_OK,
                     "SetReconnectJitter(10, 20)");
        CHECK_STATUS(natsOptions_SetCustomReconnectDelay(opts, NULL, NULL), NATS_OK,
                     "SetCustomReconnectDelay(NULL cb) clears");
        CHECK_STATUS(natsOptions_SetRetryOnFailedConnect(opts, false, NULL, NULL), NATS_OK,
                     "SetRetryOnFailedConnect(false)");
        CHECK_STATUS(natsOptions_SetIgnoreDiscoveredServers(opts, true), NATS_OK,
                     "SetIgnoreDiscoveredServers(true)");
        CHECK_STATUS(natsOptions_SetDiscoveredServersCB(opts, NULL, NULL), NATS_OK,
                     "SetDiscoveredServersCB(NULL cb)");
        CHECK_STATUS(natsOptions_SetLameDuckModeCB(opts, NULL, NULL), NATS_OK,
                     "SetLameDuckModeCB(NULL cb)");
        CHECK_STATUS(natsOptions_SetIgnoreAuthErrorAbort(opts, false), NATS_OK,
                     "SetIgnoreAuthErrorAbort(false)");
        CHECK_STATUS(natsOptions_SetReconnectOnProtocolError(opts, false), NATS_OK,
                     "SetReconnectOnProtocolError(false)");
        natsOptions_Destroy(opts);
    }

    CHECK_STATUS(natsConnection_Reconnect(NULL), NATS_INVALID_ARG, "Reconnect(NULL)");
    CHECK_STATUS(natsConnection_GetServers(NULL, &servers, &count), NATS_INVALID_ARG,
                 "GetServers(NULL nc)");
    CHECK_STATUS(natsConnection_GetDiscoveredServers(NULL, &servers, &count), NATS_INVALID_ARG,
                 "GetDiscoveredServers(NULL nc)");
    CHECK_STATUS(natsConnection_GetClientID(NULL, &cid), NATS_INVALID_ARG, "GetClientID(NULL nc)");
    CHECK_STATUS(natsConnection_GetClientIP(NULL, &ip), NATS_INVALID_ARG, "GetClientIP(NULL nc)");
    CHECK_STATUS(natsConnection_GetLocalIPAndPort(NULL, &ip, &port), NATS_INVALID_ARG,
                 "GetLocalIPAndPort(NULL nc)");
    CHECK_STATUS(natsConnection_ReadLastError(NULL, buf, sizeof(buf)), NATS_INVALID_ARG,
                 "ReadLastError(NULL nc)");
    CHECK_STATUS(natsConnection_GetHealth(NULL, &h), NATS_INVALID_ARG, "GetHealth(NULL nc)");
    CHECK_STATUS(natsConnection_SetPingInterval(NULL, 1), NATS_INVALID_ARG,
                 "SetPingInterval(NULL nc)");
    CHECK_STATUS(natsConnection_SetPingIntervalMs(NULL, 1), NATS_INVALID_ARG,
                 "SetPingIntervalMs(NULL nc)");
    CHECK(servers == NULL && ip == NULL, "NULL connection leaves out-pointers alone");
}

/* NULL out-pointers with a live connection. */
static void
null_out_pointers(natsConnection *nc)
{
    char        **servers = NULL;
    char        *ip = NULL;
    int         count = 0, port = 0;

    CHECK_STATUS(natsConnection_GetServers(nc, NULL, &count), NATS_INVALID_ARG,
                 "GetServers(NULL servers)");
    CHECK_STATUS(natsConnection_GetServers(nc, &servers, NULL), NATS_INVALID_ARG,
                 "GetServers(NULL count)");
    CHECK_STATUS(natsConnection_GetDiscoveredServers(nc, NULL, &count), NATS_INVALID_ARG,
                 "GetDiscoveredServers(NULL servers)");
    CHECK_STATUS(natsConnection_GetDiscoveredServers(nc, &servers, NULL), NATS_INVALID_ARG,
                 "GetDiscoveredServers(NULL count)");
    CHECK_STATUS(natsConnection_GetClientID(nc, NULL), NATS_INVALID_ARG, "GetClientID(NULL cid)");
    CHECK_STATUS(natsConnection_GetClientIP(nc, NULL), NATS_INVALID_ARG, "GetClientIP(NULL ip)");
    CHECK_STATUS(natsConnection_GetLocalIPAndPort(nc, NULL, &port), NATS_INVALID_ARG,
                 "GetLocalIPAndPort(NULL ip)");
    CHECK_STATUS(natsConnection_GetLocalIPAndPort(nc, &ip, NULL), NATS_INVALID_ARG,
                 "GetLocalIPAndPort(NULL port)");
    CHECK_STATUS(natsConnection_GetHealth(nc, NULL), NATS_INVALID_ARG, "GetHealth(NULL health)");
    CHECK(servers == NULL && ip == NULL, "failed calls allocate nothing");
    CHECK_STATUS(natsConnection_ReadLastError(nc, NULL, 0), NATS_OK,
                 "ReadLastError(NULL buf) returns the status (OK)");
}

static void
fresh_health(natsConnection *nc)
{
    natsConnHealth  h;
    char            text[64];

    memset(&h, 0xAB, sizeof(h));
    if (!CHECK_STATUS(natsConnection_GetHealth(nc, &h), NATS_OK, "GetHealth on a fresh connection"))
        return;
    CHECK(h.status == NATS_CONN_STATUS_CONNECTED, "fresh: status CONNECTED");
    CHECK(h.pingsOut == 0, "fresh: pingsOut 0");
    CHECK(h.maxPingsOut == MAX_PINGS_OUT, "fresh: maxPingsOut as set");
    CHECK(h.pingIntervalMs == PING_INTERVAL_MS, "fresh: pingIntervalMs as set");
    CHECK(h.reconnects == 0, "fresh: reconnects 0");
    CHECK_STATUS(h.lastError, NATS_OK, "fresh: lastError NATS_OK");
    CHECK(h.unconfirmedLost == 0, "fresh: unconfirmedLost 0");

    strcpy(text, "garbage");
    CHECK_STATUS(natsConnection_ReadLastError(nc, text, sizeof(text)), NATS_OK,
                 "fresh: ReadLastError NATS_OK");
    CHECK(text[0] == '\0', "fresh: ReadLastError text empty");

    if (CHECK_STATUS(natsConnection_FlushTimeout(nc, 5000), NATS_OK, "FlushTimeout")
        && CHECK_STATUS(natsConnection_GetHealth(nc, &h), NATS_OK, "GetHealth after flush")) {
        CHECKF(h.lastRttNs > 0, "after flush: lastRttNs > 0");
        CHECKF(h.sinceLastReadMs >= 0, "after flush: sinceLastReadMs >= 0");
        fprintf(stderr, "# rtt %" PRId64 " ns, idle %" PRId64 " ms\n", h.lastRttNs,
                h.sinceLastReadMs);
    }
}

static void
live_ping_interval(natsConnection *nc)
{
    natsConnHealth  h;
    int64_t         rtt0;
    int64_t         deadline;
    int             max_out = 0;
    bool            changed = false, lazy = false, connected_all_along = true;

    if (!CHECK_STATUS(natsConnection_GetHealth(nc, &h), NATS_OK, "GetHealth before ping change"))
        return;
    rtt0 = h.lastRttNs;
    CHECK_STATUS(natsConnection_SetPingIntervalMs(nc, 50), NATS_OK, "SetPingIntervalMs(nc, 50)");
    deadline = nats_Now() + 2000;
    while (nats_Now() < deadline) {
        if (natsConnection_GetHealth(nc, &h) != NATS_OK)
            break;
        if (h.pingsOut > max_out)
            max_out = h.pingsOut;
        if (h.status != NATS_CONN_STATUS_CONNECTED || h.reconnects != 0)
            connected_all_along = false;
        if (h.lastRttNs != rtt0 && h.lastRttNs > 0)
            changed = true;
        if (h.lazyReads)
            lazy = true;
        if (changed && lazy)
            break;
        nats_Sleep(10);
    }
    CHECK(h.pingIntervalMs == 50, "pingIntervalMs 50 after SetPingIntervalMs");
    CHECK(lazy, "idle, no subscription, 50 ms pings: lazyReads within 2 s");
    CHECK(changed, "timer pings answered: lastRttNs changes within 2 s");
    CHECK(max_out <= 1, "answered pings: pingsOut stays <= 1");
    CHECK(connected_all_along, "fast pings keep the connection up");

    /* The seconds variant. */
    CHECK_STATUS(natsConnection_SetPingInterval(nc, 60), NATS_OK, "SetPingInterval(nc, 60 s)");
    CHECK(natsConnection_GetHealth(nc, &h) == NATS_OK && h.pingIntervalMs == 60000,
          "SetPingInterval takes seconds: pingIntervalMs 60000");
    CHECK_STATUS(natsConnection_SetPingIntervalMs(nc, 0), NATS_OK, "SetPingIntervalMs(nc, 0)");
    CHECK(natsConnection_GetHealth(nc, &h) == NATS_OK && h.pingIntervalMs == 0,
          "interval 0 disables pings: pingIntervalMs 0");
    CHECK_STATUS(natsConnection_SetPingInterval(nc, -5), NATS_OK, "SetPingInterval(nc, -5)");
    CHECK(natsConnection_GetHealth(nc, &h) == NATS_OK && h.pingIntervalMs == 0,
          "negative interval disables pings");
    CHECK_STATUS(natsConnection_SetPingIntervalMs(nc, PING_INTERVAL_MS), NATS_OK,
                 "SetPingIntervalMs back to the option's value");
}

static void
identity(natsConnection *nc)
{
    char        **servers = NULL;
    char        *ip = NULL;
    int         count = -1, port = 0, i;
    uint64_t    cid = 0;
    bool        found = false;

    if (CHECK_STATUS(natsConnection_GetServers(nc, &servers, &count), NATS_OK, "GetServers")) {
        for (i = 0; i < count; i++)
            if (servers[i] != NULL && strcmp(servers[i], test_url()) == 0)
                found = true;
        CHECK(count >= 1 && found, "GetServers lists the URL");
        free_servers(servers, count);
    }
    servers = sentinel_list; /* must be overwritten */
    count = -1;
    if (CHECK_STATUS(natsConnection_GetDiscoveredServers(nc, &servers, &count), NATS_OK,
                     "GetDiscoveredServers")) {
        CHECK(count == 0 && servers == NULL, "no discovered servers: NULL, 0");
        if (servers != sentinel_list)
            free_servers(servers, count > 0 ? count : 0);
    }

    if (CHECK_STATUS(natsConnection_GetClientID(nc, &cid), NATS_OK, "GetClientID"))
        CHECK(cid > 0, "client id > 0");

    if (CHECK_STATUS(natsConnection_GetClientIP(nc, &ip), NATS_OK, "GetClientIP"))
        CHECK(ip != NULL && strcmp(ip, "127.0.0.1") == 0, "client IP is 127.0.0.1");
    free(ip);
    ip = NULL;

    if (CHECK_STATUS(natsConnection_GetLocalIPAndPort(nc, &ip, &port), NATS_OK,
                     "GetLocalIPAndPort")) {
        CHECK(ip != NULL && strcmp(ip, "127.0.0.1") == 0, "local IP is 127.0.0.1");
        CHECK(port > 0 && port <= 65535, "local port > 0");
    }
    free(ip);
}

static void
reconnect(natsConnection *nc)
{
    natsConnHealth  h;
    natsStatistics  *stats = NULL;
    uint64_t        recs = 0;
    char            text[64];

    if (!CHECK_STATUS(natsConnection_Reconnect(nc), NATS_OK, "Reconnect"))
        return;
    CHECK(counter_wait(&disconnected, 1, 5000), "Reconnect: disconnected callback within 5 s");
    CHECK(counter_wait(&reconnected, 1, 5000), "Reconnect: reconnected callback within 5 s");

    pthread_mutex_lock(&mu);
    CHECK(disc_right_nc, "disconnected callback gets the connection handle");
    CHECK(disc_read_status != NATS_OK, "in disconnected cb: ReadLastError reports the cause");
    CHECK(disc_get_status == disc_read_status,
          "in disconnected cb: GetLastError reports the same status");
    CHECK(disc_text_nonempty, "in disconnected cb: the cause has a text (same in both calls)");
    CHECK(disc_text_truncated_ok, "ReadLastError cuts a long text with \"...\"");
    CHECK(disc_conn_status == NATS_CONN_STATUS_RECONNECTING,
          "in disconnected cb: status RECONNECTING");
    CHECK_STATUS(disc_local_addr_status, NATS_CONNECTION_DISCONNECTED,
                 "in disconnected cb: GetLocalIPAndPort NATS_CONNECTION_DISCONNECTED");
    CHECK_STATUS(disc_health_status, NATS_OK, "in disconnected cb: GetHealth");
    CHECK(disc_health_last_error == disc_read_status,
          "in disconnected cb: health lastError is the cause");
    CHECK(delay_min_attempts >= 1, "custom reconnect delay called with attempts >= 1");
    CHECK(delay_right_nc, "custom reconnect delay gets the connection handle");
    pthread_mutex_unlock(&mu);
    CHECK(counter_get(&delays) >= 1,
          "custom delay replaced the 10 s reconnect wait (reconnected in < 5 s)");

    if (CHECK_STATUS(natsConnection_GetHealth(nc, &h), NATS_OK, "GetHealth after reconnect")) {
        CHECK(h.reconnects == 1, "health: reconnects 1");
        CHECK(h.status == NATS_CONN_STATUS_CONNECTED, "health: CONNECTED again");
        CHECK_STATUS(h.lastError, NATS_OK, "health: lastError cleared once reconnected");
    }
    CHECK_STATUS(natsConnection_ReadLastError(nc, text, sizeof(text)), NATS_OK,
                 "ReadLastError NATS_OK once reconnected");
    if (CHECK_STATUS(natsStatistics_Create(&stats), NATS_OK, "natsStatistics_Create")) {
        if (CHECK_STATUS(natsConnection_GetStats(nc, stats), NATS_OK, "GetStats")
            && CHECK_STATUS(natsStatistics_GetCounts(stats, NULL, NULL, NULL, NULL, &recs),
                            NATS_OK, "GetCounts"))
            CHECK(recs == 1, "statistics: reconnects 1");
        natsStatistics_Destroy(stats);
    }
    CHECK_STATUS(natsConnection_FlushTimeout(nc, 5000), NATS_OK, "flush after reconnect");
}

static void
after_close(natsConnection *nc)
{
    natsConnHealth  h;
    char            **servers = NULL;
    char            *ip = sentinel_text;
    int             port = 7, count = 0;
    uint64_t        cid = 0;

    natsConnection_Close(nc);
    CHECK_STATUS(natsConnection_GetClientID(nc, &cid), NATS_CONNECTION_CLOSED,
                 "closed: GetClientID NATS_CONNECTION_CLOSED");
    CHECK_STATUS(natsConnection_GetLocalIPAndPort(nc, &ip, &port), NATS_CONNECTION_CLOSED,
                 "closed: GetLocalIPAndPort NATS_CONNECTION_CLOSED");
    CHECK(ip == NULL && port == 0, "closed: GetLocalIPAndPort clears ip and port");
    ip = NULL;
    CHECK_STATUS(natsConnection_GetClientIP(nc, &ip), NATS_CONNECTION_CLOSED,
                 "closed: GetClientIP NATS_CONNECTION_CLOSED");
    CHECK(ip == NULL, "closed: GetClientIP leaves ip NULL");
    CHECK_STATUS(natsConnection_Reconnect(nc), NATS_CONNECTION_CLOSED,
                 "closed: Reconnect NATS_CONNECTION_CLOSED");
    CHECK_STATUS(natsConnection_SetPingIntervalMs(nc, 10), NATS_CONNECTION_CLOSED,
                 "closed: SetPingIntervalMs NATS_CONNECTION_CLOSED");
    CHECK_STATUS(natsConnection_SetPingInterval(nc, 10), NATS_CONNECTION_CLOSED,
                 "closed: SetPingInterval NATS_CONNECTION_CLOSED");
    if (CHECK_STATUS(natsConnection_GetHealth(nc, &h), NATS_OK, "closed: GetHealth works"))
        CHECK(h.status == NATS_CONN_STATUS_CLOSED, "closed: health status CLOSED");
    /* As nats.c: the server list is still readable. */
    if (CHECK_STATUS(natsConnection_GetServers(nc, &servers, &count), NATS_OK,
                     "closed: GetServers works"))
        CHECK(count >= 1, "closed: GetServers still lists the URL");
    free_servers(servers, count);
}

static void
live_connection(void)
{
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    natsStatus      s;

    s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, test_url());
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, MAX_PINGS_OUT);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, PING_INTERVAL_MS);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, RECONNECT_WAIT_MS);
    if (s == NATS_OK) s = natsOptions_SetReconnectJitter(opts, 0, 0);
    if (s == NATS_OK) s = natsOptions_SetCustomReconnectDelay(opts, custom_delay, NULL);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetIgnoreDiscoveredServers(opts, true);
    if (!CHECK_STATUS(s, NATS_OK, "options for the live connection")) {
        natsOptions_Destroy(opts);
        return;
    }
    /* The callbacks compare against this; set before any can run. */
    pthread_mutex_lock(&mu);
    expected_nc = NULL;
    pthread_mutex_unlock(&mu);
    s = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    if (!CHECK_STATUS(s, NATS_OK, "connect"))
        return;
    pthread_mutex_lock(&mu);
    expected_nc = nc;
    pthread_mutex_unlock(&mu);

    null_out_pointers(nc);
    fresh_health(nc);
    live_ping_interval(nc);
    identity(nc);
    reconnect(nc);
    after_close(nc);
    natsConnection_Destroy(nc);
}

static void
retry_on_failed_connect(void)
{
    natsOptions     *opts = NULL;
    natsConnection  *nc   = NULL;
    natsConnHealth  h;
    char            url[64];
    natsStatus      s;
    int64_t         start;

    if (!CHECK(free_port_url(url, sizeof(url)), "found a free loopback port"))
        return;

    /* With a connected callback: NATS_NOT_YET_CONNECTED and a usable nc. */
    if (!CHECK_STATUS(natsOptions_Create(&opts), NATS_OK, "retry options"))
        return;
    s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 100);
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, NULL);
    if (CHECK_STATUS(s, NATS_OK, "retry options (with callback)")) {
        s = natsConnection_Connect(&nc, opts);
        CHECK_STATUS(s, NATS_NOT_YET_CONNECTED, "retry + callback: NATS_NOT_YET_CONNECTED");
        if (CHECK(nc != NULL, "retry + callback: nc is set")) {
            CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_RECONNECTING,
                  "retry + callback: status RECONNECTING");
            CHECK(natsConnection_GetHealth(nc, &h) == NATS_OK
                      && h.status == NATS_CONN_STATUS_RECONNECTING,
                  "retry + callback: health status RECONNECTING");
            CHECK_STATUS(natsConnection_PublishString(nc, "health.buffered", "x"), NATS_OK,
                         "retry + callback: publish is buffered");
            CHECK(counter_get(&connected) == 0, "retry + callback: connected cb not called");
            natsConnection_Destroy(nc);
            nc = NULL;
        }
    }

    /* retry=false clears the callback: a plain NATS_NO_SERVER. */
    s = natsOptions_SetRetryOnFailedConnect(opts, false, on_connected, NULL);
    if (CHECK_STATUS(s, NATS_OK, "SetRetryOnFailedConnect(false, cb)")) {
        CHECK_STATUS(natsConnection_Connect(&nc, opts), NATS_NO_SERVER,
                     "no retry: NATS_NO_SERVER");
        CHECK(nc == NULL, "no retry: nc stays NULL");
        natsConnection_Destroy(nc);
        nc = NULL;
    }

    /* Retry without a callback: Connect itself retries, then NATS_NO_SERVER. */
    s = natsOptions_SetRetryOnFailedConnect(opts, true, NULL, NULL);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, 1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 10);
    if (CHECK_STATUS(s, NATS_OK, "retry options (no callback)")) {
        start = nats_Now();
        CHECK_STATUS(natsConnection_Connect(&nc, opts), NATS_NO_SERVER,
                     "retry, no callback: NATS_NO_SERVER");
        CHECK(nats_Now() - start < 5000, "retry, no callback: gives up within 5 s");
        CHECK(nc == NULL, "retry, no callback: nc stays NULL");
        natsConnection_Destroy(nc);
    }
    natsOptions_Destroy(opts);
    CHECK(counter_get(&connected) == 0, "connected callback never called without a server");
}

int
main(void)
{
    natsStatus stale = NATS_ERR_STALE_CONNECTION;

    counter_init(&disconnected);
    counter_init(&reconnected);
    counter_init(&delays);
    counter_init(&connected);

    CHECK(stale == NATS_STALE_CONNECTION, "NATS_ERR_STALE_CONNECTION == NATS_STALE_CONNECTION");
    null_args();
    live_connection();
    retry_on_failed_connect();

    nats_Close();
    counter_destroy(&disconnected);
    counter_destroy(&reconnected);
    counter_destroy(&delays);
    counter_destroy(&connected);
    HARNESS_END();
}
