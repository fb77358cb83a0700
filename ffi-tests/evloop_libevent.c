/* differential: no */
/* links: -levent -levent_pthreads */
/*
 * evloop_libevent.c - the external event-loop API (natsOptions_SetEventLoop,
 * natsConnection_Process*Event) driven by libevent through libnats-rs's own
 * adapter, <nats/adapters/libevent.h>.
 *
 * The program starts its own nats-server processes ($NATS_SERVER_BIN) on free
 * loopback ports and stops each of them by PID at the end. Every scenario runs
 * a fresh event_base on the main thread: connect from that thread, then
 * event_base_loop(base, 0); a persistent loop timer drives the steps
 * (evloop_common.h) and is deleted when they are over. The loop must then
 * return 1 ("no events") by itself once the adapter has released everything;
 * libevent has no unreferenced timers, so the deadline is a watchdog thread
 * that breaks the loop (event_base_loopbreak is thread-safe here) if it has
 * not returned within the bound.
 *
 *   a   connect, subscribe, publish from the loop and from another thread,
 *       receive 100 messages through the loop;
 *   b   server killed and restarted on the same port: second attach;
 *   c   server frozen (SIGSTOP): stale connection detected with 100 ms
 *       pings, then resumed (SIGCONT): reconnected;
 *   d1  connection destroyed from a loop timer while a flood is read;
 *   d2  connection destroyed from its own message callback during a flood;
 *   e   close + destroy from the loop: detach exactly once, loop ends;
 *   g   reconnect while the loop thread is busy: the old socket stays open
 *       until the adapter's close event (the loop has not run yet);
 *   h   two connections on that busy loop reconnect one after the other
 *       (the second attached first): both still work afterwards.
 *
 * Counting wrappers around natsLibevent_* check the order of the library's
 * calls (evloop_common.h). Runs against libnats-rs only: nats.c 3.4.1's
 * adapters do not call natsConnection_ProcessCloseEvent/ProcessDetachedEvent.
 */
#include "harness.h"

#include <nats/adapters/libevent.h>

#include "evloop_common.h"

static struct event_base    *base;
static struct event         *stepEv;
static int                  (*stepFn)(void);
static bool                 stepsOver;
static bool                 timedOut;
static harness_counter      loopReturned;

static void *
evt_loop_new(const char *name)
{
    base = event_base_new();
    if (!CHECKF(base != NULL, "%s: event_base_new", name))
        return NULL;
    return base;
}

static void
evt_loop_discard(const char *name)
{
    (void) name;
    if (base != NULL) {
        /* A failed first attach leaves nothing behind; run once anyway. */
        (void) event_base_loop(base, EVLOOP_NONBLOCK);
        event_base_free(base);
        base = NULL;
    }
}

static void
on_step(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
    if (!stepsOver && stepFn() != 0) {
        stepsOver = true;
        event_del(stepEv);
    }
}

static void *
watchdog(void *arg)
{
    (void) arg;
    if (!counter_wait(&loopReturned, 1, EVT_DEADLINE_MS)) {
        timedOut = true;
        event_base_loopbreak(base);
    }
    return NULL;
}

static void
evt_loop_run(const char *name, int (*step)(void), int attaches)
{
    struct timeval  period;
    pthread_t       dog;
    bool            dogStarted;
    int             rc, left;

    timedOut = false;
    stepsOver = false;
    stepFn = step;
    evt_phase_reset();
    counter_init(&loopReturned);
    period.tv_sec = 0;
    period.tv_usec = EVT_STEP_MS * 1000;
    stepEv = event_new(base, -1, EV_PERSIST, on_step, NULL);
    if (!CHECKF(stepEv != NULL && event_add(stepEv, &period) == 0, "%s: step timer", name)) {
        (void) evt_finish();
        counter_destroy(&loopReturned);
        return; /* the loop is left as it is */
    }
    dogStarted = (pthread_create(&dog, NULL, watchdog, NULL) == 0);
    CHECKF(dogStarted, "%s: watchdog thread", name);

    rc = event_base_loop(base, 0);

    counter_add(&loopReturned, 1);
    if (dogStarted)
        pthread_join(dog, NULL);
    counter_destroy(&loopReturned);

    if (!CHECKF(!timedOut, "%s: finished within %d s", name, EVT_DEADLINE_MS / 1000)) {
        fprintf(stderr, "# %s: timed out in phase %d (steps over: %d)\n", name, evt_phase,
                (int) stepsOver);
        if (!stepsOver)
            (void) evt_finish();
        /* The base is left as it is (the adapter may still use it). */
        base = NULL;
        return;
    }
    CHECKF(rc == 1, "%s: event_base_loop returned 1 by itself (no event left)", name);
    left = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE);
    CHECKF(left == 0, "%s: no event left on the base (the adapter freed its events)", name);
    event_free(stepEv);
    stepEv = NULL;
    event_base_free(base);
    base = NULL;
    evt_check_end(name, attaches);
}

int
main(void)
{
    evt_server stable = {0, 0}, restart = {0, 0}, frozen = {0, 0};

    evt_init_once();
    /* Before any event_base is made. */
    CHECK_STATUS(natsLibevent_Init(), NATS_OK, "natsLibevent_Init");
    evt_realAttach = natsLibevent_Attach;
    evt_realRead = natsLibevent_Read;
    evt_realWrite = natsLibevent_Write;
    evt_realDetach = natsLibevent_Detach;

    CHECK_STATUS(nats_Open(-1), NATS_OK, "nats_Open");
    CHECK(evt_server_start(&stable), "start a nats-server (a, d, e)");
    CHECK(evt_server_start(&restart), "start a nats-server (b: restarted)");
    CHECK(evt_server_start(&frozen), "start a nats-server (c: frozen)");

    evt_scenario_pubsub(&stable);
    evt_scenario_restart(&restart);
    evt_scenario_frozen(&frozen);
    evt_scenario_destroy_timer(&stable);
    evt_scenario_destroy_cb(&stable);
    evt_scenario_close(&stable);
#ifdef NATS_LIBNATS_RS
    /* A reconnect without the loop's help: libnats-rs's io thread does it;
     * nats.c notices the loss only when the loop reads. */
    evt_scenario_busy_loop(&stable);
    evt_scenario_two_conns(&stable);
#endif

    nats_Close();
    evt_server_kill(&stable);
    evt_server_kill(&restart);
    evt_server_kill(&frozen);
    HARNESS_END();
}
