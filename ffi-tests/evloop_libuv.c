/* differential: no */
/* links: -luv */
/*
 * evloop_libuv.c - the external event-loop API (natsOptions_SetEventLoop,
 * natsConnection_Process*Event) driven by libuv through libnats-rs's own
 * adapter, <nats/adapters/libuv.h>.
 *
 * The program starts its own nats-server processes ($NATS_SERVER_BIN) on free
 * loopback ports and stops each of them by PID at the end. Every scenario runs
 * a fresh uv_loop_t on the main thread: connect from that thread, then
 * uv_run(); a repeating loop timer drives the steps (evloop_common.h), and an
 * unreferenced deadline timer stops the loop if a scenario hangs. Each
 * scenario must end with uv_run() returning by itself and uv_loop_close()
 * succeeding: that shows the adapter released everything after the detach.
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
 *       (the second attached first): both still work afterwards;
 *   f   the first attach from a thread that is not the loop's is refused
 *       (NATS_ILLEGAL_STATE) and the connect fails.
 *
 * Counting wrappers around natsLibuv_* check the order of the library's
 * calls (evloop_common.h). Runs against libnats-rs only: nats.c 3.4.1's
 * adapters do not call natsConnection_ProcessCloseEvent/ProcessDetachedEvent.
 */
#include "harness.h"

#include <nats/adapters/libuv.h>

#include "evloop_common.h"

static uv_loop_t    loop;
static bool         loopMade;
static uv_timer_t   stepTimer;
static uv_timer_t   deadlineTimer;
static int          (*stepFn)(void);
static bool         timedOut;

static void *
evt_loop_new(const char *name)
{
    if (!CHECKF(uv_loop_init(&loop) == 0, "%s: uv_loop_init", name))
        return NULL;
    loopMade = true;
    natsLibuv_SetThreadLocalLoop(&loop);
    return &loop;
}

static void
evt_loop_discard(const char *name)
{
    if (!loopMade)
        return;
    /* A failed first attach may have left a handle to close. */
    (void) uv_run(&loop, UV_RUN_NOWAIT);
    CHECKF(uv_loop_close(&loop) == 0, "%s: nothing left on the unused loop", name);
    loopMade = false;
    natsLibuv_SetThreadLocalLoop(NULL);
}

static void
on_step(uv_timer_t *t)
{
    if (stepFn() != 0) {
        uv_timer_stop(t);
        uv_close((uv_handle_t *) t, NULL);
    }
}

static void
on_deadline(uv_timer_t *t)
{
    (void) t;
    timedOut = true;
    uv_stop(&loop);
}

static void
evt_loop_run(const char *name, int (*step)(void), int attaches)
{
    int rc;

    timedOut = false;
    stepFn = step;
    evt_phase_reset();
    uv_timer_init(&loop, &stepTimer);
    uv_timer_start(&stepTimer, on_step, EVT_STEP_MS, EVT_STEP_MS);
    uv_timer_init(&loop, &deadlineTimer);
    uv_timer_start(&deadlineTimer, on_deadline, EVT_DEADLINE_MS, 0);
    /* The deadline alone must not keep the loop running. */
    uv_unref((uv_handle_t *) &deadlineTimer);

    rc = uv_run(&loop, UV_RUN_DEFAULT);

    if (!CHECKF(!timedOut, "%s: finished within %d s", name, EVT_DEADLINE_MS / 1000)) {
        fprintf(stderr, "# %s: timed out in phase %d\n", name, evt_phase);
        if (!uv_is_closing((uv_handle_t *) &stepTimer))
            (void) evt_finish();
        /* The loop is left as it is (the adapter may still use it). */
        loopMade = false;
        natsLibuv_SetThreadLocalLoop(NULL);
        return;
    }
    CHECKF(rc == 0, "%s: uv_run returned by itself (no active handle left)", name);
    uv_close((uv_handle_t *) &deadlineTimer, NULL);
    (void) uv_run(&loop, UV_RUN_DEFAULT);
    CHECKF(uv_loop_close(&loop) == 0,
           "%s: uv_loop_close succeeds (the adapter closed all its handles)", name);
    loopMade = false;
    natsLibuv_SetThreadLocalLoop(NULL);
    evt_check_end(name, attaches);
}

/* f. Connect from a thread that does not run the loop. */
static natsOptions      *fOpts;
static natsConnection   *fConn;
static natsStatus       fStatus;
static harness_counter  fDone;

static void *
connect_elsewhere(void *arg)
{
    (void) arg;
    fStatus = natsConnection_Connect(&fConn, fOpts);
    counter_add(&fDone, 1);
    return NULL;
}

static void
scenario_wrong_thread(evt_server *sv)
{
    pthread_t   th;
    void        *lp;

    evt_reset();
    if (!CHECK(sv->pid > 0, "f: its server is running"))
        return;
    lp = evt_loop_new("f");
    if (lp == NULL)
        return;
    fOpts = evt_options(sv, lp, "f");
    if (fOpts == NULL) {
        evt_loop_discard("f");
        return;
    }
    counter_init(&fDone);
    fConn = NULL;
    fStatus = NATS_OK;
    if (CHECK(pthread_create(&th, NULL, connect_elsewhere, NULL) == 0,
              "f: start a thread that connects")) {
        if (CHECK(counter_wait(&fDone, 1, 10000), "f: its connect returns")) {
            pthread_join(th, NULL);
            pthread_mutex_lock(&evt_mu);
            CHECK(evt_attachCalls == 1, "f: attach called once");
            CHECK_STATUS(evt_lastAttachStatus, NATS_ILLEGAL_STATE,
                         "f: the adapter refuses a first attach off the loop thread");
            pthread_mutex_unlock(&evt_mu);
            if (fStatus == NATS_OK)
                fprintf(stderr, "# f: connect returned NATS_OK despite the failed attach\n");
            else
                fprintf(stderr, "# f: connect returned %d (%s)\n", (int) fStatus,
                        natsStatus_GetText(fStatus));
            CHECK(fStatus != NATS_OK, "f: the connect fails");
            CHECK(fConn == NULL, "f: no connection is returned");
            natsConnection_Destroy(fConn);
            CHECK(counter_get(&evt_detaches) == 0, "f: no detach for a connection never attached");
        }
    }
    natsOptions_Destroy(fOpts);
    evt_loop_discard("f");
    counter_destroy(&fDone);
}

int
main(void)
{
    evt_server stable = {0, 0}, restart = {0, 0}, frozen = {0, 0};

    evt_init_once();
    natsLibuv_Init();
    evt_realAttach = natsLibuv_Attach;
    evt_realRead = natsLibuv_Read;
    evt_realWrite = natsLibuv_Write;
    evt_realDetach = natsLibuv_Detach;

    CHECK_STATUS(nats_Open(-1), NATS_OK, "nats_Open");
    CHECK(evt_server_start(&stable), "start a nats-server (a, d, e, f)");
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
    scenario_wrong_thread(&stable);

    nats_Close();
    evt_server_kill(&stable);
    evt_server_kill(&restart);
    evt_server_kill(&frozen);
    HARNESS_END();
}
