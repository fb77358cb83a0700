/*
 * nats/adapters/libuv.h - drive libnats-rs connections from a libuv loop.
 *
 * This adapter belongs to libnats-rs and is written for it. It keeps the
 * public names and signatures of nats.c's libuv adapter (natsLibuv_Init,
 * natsLibuv_SetThreadLocalLoop, natsLibuv_Attach, natsLibuv_Read,
 * natsLibuv_Write, natsLibuv_Detach), so a program written for nats.c builds
 * unchanged, but the implementation is its own. It is header only: every
 * function is `static inline`, nothing has to be linked besides -lnats -luv.
 *
 * How to use it:
 *
 *     natsLibuv_Init();                           once, before anything else
 *     natsLibuv_SetThreadLocalLoop(loop);         on the thread that runs loop
 *     natsOptions_SetEventLoop(opts, loop, natsLibuv_Attach, natsLibuv_Read,
 *                              natsLibuv_Write, natsLibuv_Detach);
 *     natsConnection_Connect(&nc, opts);          on that same thread
 *     uv_run(loop, UV_RUN_DEFAULT);
 *
 * Threads. libuv must only be touched from the thread that runs the loop.
 * The library calls the adapter from that thread (natsConnection_Connect,
 * natsConnection_ProcessWriteEvent, a close made by the program there) and
 * from its own threads (reconnects, pings, publishes made by other threads,
 * closes). A call made on the loop thread takes effect at once; a call made
 * anywhere else is put on a per-connection queue (guarded by a mutex) and the
 * loop thread is woken with a uv_async_t to carry it out, in order.
 * natsLibuv_SetThreadLocalLoop() is how the adapter tells the two apart: it
 * records, in a thread-local slot, which loop the calling thread runs. That
 * slot is a static of this header, so make every natsLibuv_* call of a given
 * loop from one source file.
 *
 * The FIRST attach of a connection must happen on the loop thread, that is,
 * natsConnection_Connect must be called on the thread that called
 * natsLibuv_SetThreadLocalLoop(loop), usually before uv_run(). Called from
 * any other thread, natsLibuv_Attach returns NATS_ILLEGAL_STATE (as nats.c's
 * adapter does) and the connect fails. Attaches after a reconnect may come
 * from any thread.
 *
 * Sockets and lifetime. When the library removes READ interest, the socket
 * is going away: the adapter closes its uv_poll_t on the loop thread (libuv
 * stops watching the descriptor right then) and hands the socket back with
 * natsConnection_ProcessCloseEvent(), which closes it. When the library
 * detaches, the adapter closes its uv_async_t; once libuv has released it,
 * the adapter frees its state and calls natsConnection_ProcessDetachedEvent()
 * to let the library release the connection. Both of these are always done
 * later, from the loop, never from inside the library's call.
 *
 * An attached connection keeps uv_run() busy (its uv_async_t is an active
 * handle), also between a disconnection and the next reconnect. After
 * natsConnection_Close or natsConnection_Destroy, keep running the loop: it
 * finishes the detach, and uv_run(UV_RUN_DEFAULT) returns once nothing of the
 * adapter (nor of the program) is left.
 *
 * If libuv refuses to watch the socket of a reconnect, the adapter closes the
 * connection (natsConnection_Close); the closed callback tells the program.
 */
#ifndef NATS_ADAPTERS_LIBUV_H_
#define NATS_ADAPTERS_LIBUV_H_

/* <uv.h> needs the POSIX types (pthread_rwlock_t, ...), which a strict
 * -std=c99 build hides unless a feature macro asks for them. */
#if !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE) && !defined(_GNU_SOURCE) \
    && !defined(_DEFAULT_SOURCE) && !defined(_BSD_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdbool.h>
#include <stdlib.h>

#include <uv.h>
#include "../nats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Internal state (names starting with natsUvAd_ are not part of the API).  */

/* What a queued request asks the loop thread to do. */
enum {
    natsUvAd_ATTACH = 1,
    natsUvAd_READ   = 2,
    natsUvAd_WRITE  = 3,
    natsUvAd_DETACH = 4
};

typedef struct natsUvAd_Req {
    int                  what;
    bool                 add;
    natsSock             sock;   /* natsUvAd_ATTACH: the socket to watch */
    struct natsUvAd_Req  *next;
} natsUvAd_Req;

/* One per connection; *userData of the library's callbacks. */
typedef struct natsUvAd_Conn {
    natsConnection  *nc;
    uv_loop_t       *loop;
    uv_async_t      wake;       /* wakes the loop thread; closed on detach */
    uv_poll_t       *poll;      /* watcher of `sock`, NULL when there is none */
    natsSock        sock;       /* the attached socket, -1 when there is none */
    int             interest;   /* UV_READABLE | UV_WRITABLE as requested */
    bool            detached;   /* detach carried out: ignore anything else */
    bool            notify;     /* call ProcessDetachedEvent once released */
    uv_mutex_t      lock;       /* guards first/last */
    natsUvAd_Req    *first;
    natsUvAd_Req    *last;
} natsUvAd_Conn;

/* The thread-local "which loop does this thread run" slot. */
static uv_once_t    natsUvAd_keyOnce = UV_ONCE_INIT;
static uv_key_t     natsUvAd_key;
static bool         natsUvAd_keyOk = false;

static inline void
natsUvAd_makeKey(void)
{
    natsUvAd_keyOk = (uv_key_create(&natsUvAd_key) == 0);
}

static inline bool
natsUvAd_onLoopThread(const uv_loop_t *loop)
{
    uv_once(&natsUvAd_keyOnce, natsUvAd_makeKey);
    return natsUvAd_keyOk && (uv_key_get(&natsUvAd_key) == (const void *) loop);
}

/* ------------------------------------------------------------------------ */
/* Public API (1/2)                                                         */

/* Prepares the adapter (creates the thread-local slot). Call it once, before
 * any other natsLibuv_* function; calling it again does nothing. */
static inline void
natsLibuv_Init(void)
{
    uv_once(&natsUvAd_keyOnce, natsUvAd_makeKey);
}

/* Declares that the calling thread is the one that runs uv_run(loop). Call it
 * on that thread before connecting; NULL clears the declaration. */
static inline void
natsLibuv_SetThreadLocalLoop(uv_loop_t *loop)
{
    natsLibuv_Init();
    if (natsUvAd_keyOk)
        uv_key_set(&natsUvAd_key, (void *) loop);
}

/* ------------------------------------------------------------------------ */
/* Work done on the loop thread                                             */

static inline void
natsUvAd_freePoll(uv_handle_t *h)
{
    free(h);
}

/* The poll handle fired: let the library read and/or write. An error (say,
 * the peer reset the socket) is reported as readable: the library's read
 * finds the error and starts its disconnection handling. */
static inline void
natsUvAd_onPoll(uv_poll_t *h, int status, int events)
{
    natsUvAd_Conn *c = (natsUvAd_Conn *) h->data;

    if (status < 0 || (events & UV_READABLE))
        natsConnection_ProcessReadEvent(c->nc);
    /* The read may have made this watcher stale (it is never freed before
     * the close phase, so looking at it is safe). */
    if (status >= 0 && (events & UV_WRITABLE) && c->poll == h)
        natsConnection_ProcessWriteEvent(c->nc);
}

/* Stops watching the current socket for good (uv_close takes the descriptor
 * out of the kernel's poll set at once; the memory goes in the close phase). */
static inline void
natsUvAd_dropPoll(natsUvAd_Conn *c)
{
    if (c->poll != NULL) {
        uv_close((uv_handle_t *) c->poll, natsUvAd_freePoll);
        c->poll = NULL;
    }
}

/* Applies c->interest to the watcher. */
static inline natsStatus
natsUvAd_rearm(natsUvAd_Conn *c)
{
    int rc;

    if (c->poll == NULL)
        return NATS_OK; /* remembered; nothing to watch right now */
    if (c->interest == 0)
        rc = uv_poll_stop(c->poll);
    else
        rc = uv_poll_start(c->poll, c->interest, natsUvAd_onPoll);
    return (rc == 0) ? NATS_OK : NATS_ERR;
}

/* Starts watching `sock` for reading (a new connection or a reconnect). */
static inline natsStatus
natsUvAd_startSocket(natsUvAd_Conn *c, natsSock sock)
{
    uv_poll_t *h;

    /* A watcher left from a socket the library never removed: stop it. */
    natsUvAd_dropPoll(c);

    c->sock = sock;
    c->interest = UV_READABLE;
    h = (uv_poll_t *) malloc(sizeof(uv_poll_t));
    if (h == NULL)
        return NATS_NO_MEMORY;
    if (uv_poll_init_socket(c->loop, h, (uv_os_sock_t) sock) != 0) {
        free(h);
        return NATS_ERR;
    }
    h->data = (void *) c;
    c->poll = h;
    return natsUvAd_rearm(c);
}

/* READ removed: the socket is going away. Stop watching it, then give it
 * back to the library, which closes it. */
static inline void
natsUvAd_releaseSocket(natsUvAd_Conn *c)
{
    natsSock sock = c->sock;

    natsUvAd_dropPoll(c);
    c->interest = 0;
    c->sock = -1;
    if (sock != -1)
        natsConnection_ProcessCloseEvent(&sock);
}

static inline natsStatus
natsUvAd_setInterest(natsUvAd_Conn *c, int flag, bool add)
{
    if (add)
        c->interest |= flag;
    else
        c->interest &= ~flag;
    return natsUvAd_rearm(c);
}

/* The last step of a detach: libuv is done with the wake handle. */
static inline void
natsUvAd_onWakeClosed(uv_handle_t *h)
{
    natsUvAd_Conn   *c      = (natsUvAd_Conn *) h->data;
    natsConnection  *nc     = c->nc;
    bool            notify  = c->notify;
    natsUvAd_Req    *r;

    while ((r = c->first) != NULL) {
        c->first = r->next;
        free(r);
    }
    uv_mutex_destroy(&c->lock);
    free(c);
    if (notify)
        natsConnection_ProcessDetachedEvent(nc);
}

static inline void
natsUvAd_finish(natsUvAd_Conn *c)
{
    c->detached = true;
    /* A socket still attached at detach time is released as well, so that
     * nothing is left behind. */
    if (c->sock != -1 || c->poll != NULL)
        natsUvAd_releaseSocket(c);
    uv_close((uv_handle_t *) &c->wake, natsUvAd_onWakeClosed);
}

/* Pops the oldest queued request, or NULL. */
static inline natsUvAd_Req *
natsUvAd_pop(natsUvAd_Conn *c)
{
    natsUvAd_Req *r;

    uv_mutex_lock(&c->lock);
    r = c->first;
    if (r != NULL) {
        c->first = r->next;
        if (c->first == NULL)
            c->last = NULL;
    }
    uv_mutex_unlock(&c->lock);
    return r;
}

/* The wake handle fired: carry out the queued requests one at a time, so
 * that a request queued meanwhile still comes after the ones before it. */
static inline void
natsUvAd_onWake(uv_async_t *h)
{
    natsUvAd_Conn   *c      = (natsUvAd_Conn *) h->data;
    natsUvAd_Req    *r;
    natsStatus      s       = NATS_OK;

    while (!c->detached && (r = natsUvAd_pop(c)) != NULL) {
        switch (r->what) {
        case natsUvAd_ATTACH:
            s = natsUvAd_startSocket(c, r->sock);
            break;
        case natsUvAd_READ:
            if (r->add)
                s = natsUvAd_setInterest(c, UV_READABLE, true);
            else
                natsUvAd_releaseSocket(c);
            break;
        case natsUvAd_WRITE:
            s = natsUvAd_setInterest(c, UV_WRITABLE, r->add);
            break;
        case natsUvAd_DETACH:
            natsUvAd_finish(c);
            break;
        default:
            break;
        }
        free(r);
        if (s != NATS_OK) {
            /* The socket cannot be watched: the connection is unusable. The
             * library's removals and detach get queued and handled later. */
            natsConnection_Close(c->nc);
            break;
        }
    }
    /* After a detach, `c` lives until natsUvAd_onWakeClosed. */
}

/* ------------------------------------------------------------------------ */
/* Hand-over from other threads                                             */

static inline natsStatus
natsUvAd_post(natsUvAd_Conn *c, int what, bool add, natsSock sock)
{
    natsUvAd_Req    *r = (natsUvAd_Req *) malloc(sizeof(natsUvAd_Req));
    int             rc;

    if (r == NULL)
        return NATS_NO_MEMORY;
    r->what = what;
    r->add = add;
    r->sock = sock;
    r->next = NULL;

    uv_mutex_lock(&c->lock);
    if (c->last != NULL)
        c->last->next = r;
    else
        c->first = r;
    c->last = r;
    /* Signalled with the lock held: as soon as it is released the loop
     * thread may carry out a queued detach and free `c`. */
    rc = uv_async_send(&c->wake);
    uv_mutex_unlock(&c->lock);
    return (rc == 0) ? NATS_OK : NATS_ERR;
}

/* True if a request must go through the queue: it comes from another thread,
 * or earlier requests are still waiting there (order must be kept). */
static inline bool
natsUvAd_mustPost(natsUvAd_Conn *c)
{
    bool pending;

    if (!natsUvAd_onLoopThread(c->loop))
        return true;
    uv_mutex_lock(&c->lock);
    pending = (c->first != NULL);
    uv_mutex_unlock(&c->lock);
    return pending;
}

/* ------------------------------------------------------------------------ */
/* Public API (2/2): the callbacks given to natsOptions_SetEventLoop         */

/* The library connected (or reconnected) `nc` on `socket`: watch it for
 * reading. The first time (*userData == NULL) this must run on the loop
 * thread, else NATS_ILLEGAL_STATE is returned; the adapter's state is stored
 * in *userData. On a reconnect (*userData set) it may run on any thread. */
static inline natsStatus
natsLibuv_Attach(void **userData, void *loop, natsConnection *nc, natsSock socket)
{
    uv_loop_t       *uvLoop = (uv_loop_t *) loop;
    natsUvAd_Conn   *c;
    natsStatus      s;

    if (userData == NULL || uvLoop == NULL || nc == NULL)
        return NATS_INVALID_ARG;

    c = (natsUvAd_Conn *) *userData;
    if (c != NULL) {
        if (natsUvAd_mustPost(c))
            return natsUvAd_post(c, natsUvAd_ATTACH, true, socket);
        return natsUvAd_startSocket(c, socket);
    }

    if (!natsUvAd_onLoopThread(uvLoop))
        return NATS_ILLEGAL_STATE;

    c = (natsUvAd_Conn *) calloc(1, sizeof(natsUvAd_Conn));
    if (c == NULL)
        return NATS_NO_MEMORY;
    c->nc = nc;
    c->loop = uvLoop;
    c->sock = -1;
    c->notify = true;
    if (uv_mutex_init(&c->lock) != 0) {
        free(c);
        return NATS_ERR;
    }
    if (uv_async_init(uvLoop, &c->wake, natsUvAd_onWake) != 0) {
        uv_mutex_destroy(&c->lock);
        free(c);
        return NATS_ERR;
    }
    c->wake.data = (void *) c;

    s = natsUvAd_startSocket(c, socket);
    if (s != NATS_OK) {
        /* The connect fails and the library keeps its socket: undo quietly
         * (the handles are released by the loop's next run). */
        natsUvAd_dropPoll(c);
        c->sock = -1;
        c->notify = false;
        c->detached = true;
        uv_close((uv_handle_t *) &c->wake, natsUvAd_onWakeClosed);
        return s;
    }
    *userData = (void *) c;
    return NATS_OK;
}

/* Starts (add) or stops watching for readability. Stopping means that the
 * socket is going away: it is unwatched and handed back to the library with
 * natsConnection_ProcessCloseEvent, always later, from the loop. */
static inline natsStatus
natsLibuv_Read(void *userData, bool add)
{
    natsUvAd_Conn *c = (natsUvAd_Conn *) userData;

    if (c == NULL)
        return NATS_INVALID_ARG;
    if (!add || natsUvAd_mustPost(c))
        return natsUvAd_post(c, natsUvAd_READ, add, -1);
    return natsUvAd_setInterest(c, UV_READABLE, true);
}

/* Starts (add) or stops watching for writability; when writable, the loop
 * calls natsConnection_ProcessWriteEvent. */
static inline natsStatus
natsLibuv_Write(void *userData, bool add)
{
    natsUvAd_Conn *c = (natsUvAd_Conn *) userData;

    if (c == NULL)
        return NATS_INVALID_ARG;
    if (natsUvAd_mustPost(c))
        return natsUvAd_post(c, natsUvAd_WRITE, add, -1);
    return natsUvAd_setInterest(c, UV_WRITABLE, add);
}

/* The connection is closed: release everything, from the loop, then call
 * natsConnection_ProcessDetachedEvent. Must be the library's last call for
 * this connection. */
static inline natsStatus
natsLibuv_Detach(void *userData)
{
    natsUvAd_Conn *c = (natsUvAd_Conn *) userData;

    if (c == NULL)
        return NATS_INVALID_ARG;
    return natsUvAd_post(c, natsUvAd_DETACH, true, -1);
}

#ifdef __cplusplus
}
#endif

#endif /* NATS_ADAPTERS_LIBUV_H_ */
