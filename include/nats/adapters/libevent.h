/*
 * nats/adapters/libevent.h - drive libnats-rs connections from a libevent
 * event_base.
 *
 * This adapter belongs to libnats-rs and is written for it. It keeps the
 * public names and signatures of nats.c's libevent adapter (natsLibevent_Init,
 * natsLibevent_Attach, natsLibevent_Read, natsLibevent_Write,
 * natsLibevent_Detach), so a program written for nats.c builds unchanged, but
 * the implementation is its own. It is header only: every function is
 * `static inline`; link with -levent -levent_pthreads (and -lnats).
 *
 * How to use it:
 *
 *     natsLibevent_Init();                        once, BEFORE event_base_new
 *     base = event_base_new();
 *     natsOptions_SetEventLoop(opts, base, natsLibevent_Attach,
 *                              natsLibevent_Read, natsLibevent_Write,
 *                              natsLibevent_Detach);
 *     natsConnection_Connect(&nc, opts);
 *     event_base_loop(base, 0);
 *
 * Threads. natsLibevent_Init turns on libevent's locking
 * (evthread_use_pthreads), after which adding and deleting events is safe
 * from any thread and wakes the loop; a base made before that call is not
 * protected. The library calls the adapter from the loop thread and from its
 * own threads (reconnects, pings, publishes made by other threads, closes);
 * the adapter also serializes those calls with a mutex of its own.
 *
 * Sockets and lifetime. Each attached socket gets its own pair of events.
 * When the library removes READ interest the socket is going away: both
 * events are deleted at once (without waiting for a callback that may be
 * running), and a one-shot callback queued on the base then frees them on the
 * loop thread and hands the socket back with natsConnection_ProcessCloseEvent,
 * which closes it. Detaching is deferred the same way: a one-shot callback
 * frees the adapter's state on the loop thread, then calls
 * natsConnection_ProcessDetachedEvent to let the library release the
 * connection. Both one-shot callbacks run in the order they were queued, so
 * a socket is closed before its connection is released.
 *
 * While a connection is attached (also between a disconnection and the next
 * reconnect) the adapter keeps a long, idle timer on the base, so that
 * event_base_loop(base, 0) does not return. After natsConnection_Close or
 * natsConnection_Destroy, keep running the loop: it finishes the detach, and
 * event_base_loop returns 1 ("nothing left") once neither the adapter nor the
 * program has an event on the base.
 */
#ifndef NATS_ADAPTERS_LIBEVENT_H_
#define NATS_ADAPTERS_LIBEVENT_H_

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <event2/event.h>
#include <event2/thread.h>
#include "../nats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Internal state (names starting with natsEvAd_ are not part of the API).  */

struct natsEvAd_Conn;

/* One attached socket and its two events. */
typedef struct natsEvAd_Sock {
    struct natsEvAd_Conn    *conn;
    natsSock                fd;
    struct event            *readEv;
    struct event            *writeEv;
} natsEvAd_Sock;

/* One per connection; *userData of the library's callbacks. */
typedef struct natsEvAd_Conn {
    natsConnection      *nc;
    struct event_base   *base;
    struct event        *holder;    /* idle timer: keeps the loop running */
    pthread_mutex_t     lock;       /* guards `current` */
    natsEvAd_Sock       *current;   /* NULL between a removal and an attach */
} natsEvAd_Conn;

/* An idle period far longer than any test or program cares about: the
 * holder timer re-arms itself if it ever expires. */
#define natsEvAd_HOLD_SECONDS (7 * 24 * 3600)

/* ------------------------------------------------------------------------ */
/* Callbacks run by the loop                                                */

static inline void
natsEvAd_onIO(evutil_socket_t fd, short what, void *arg)
{
    natsEvAd_Sock *s = (natsEvAd_Sock *) arg;

    (void) fd;
    if (what & EV_READ)
        natsConnection_ProcessReadEvent(s->conn->nc);
    if (what & EV_WRITE)
        natsConnection_ProcessWriteEvent(s->conn->nc);
}

static inline void
natsEvAd_onHold(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
}

/* Frees the events of a socket and gives the socket back to the library.
 * Loop thread only (event_free then cannot race with a running callback). */
static inline void
natsEvAd_closeSock(natsEvAd_Sock *s)
{
    natsSock fd = s->fd;

    if (s->readEv != NULL)
        event_free(s->readEv);
    if (s->writeEv != NULL)
        event_free(s->writeEv);
    free(s);
    natsConnection_ProcessCloseEvent(&fd);
}

static inline void
natsEvAd_onCloseSock(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    natsEvAd_closeSock((natsEvAd_Sock *) arg);
}

/* Takes a socket out of service: deletes its events now (any thread, no
 * waiting), and queues the rest on the loop. */
static inline int
natsEvAd_retire(natsEvAd_Conn *c, natsEvAd_Sock *s)
{
    if (s->readEv != NULL)
        (void) event_del_noblock(s->readEv);
    if (s->writeEv != NULL)
        (void) event_del_noblock(s->writeEv);
    return event_base_once(c->base, -1, EV_TIMEOUT, natsEvAd_onCloseSock, (void *) s, NULL);
}

static inline void
natsEvAd_onRelease(evutil_socket_t fd, short what, void *arg)
{
    natsEvAd_Conn   *c = (natsEvAd_Conn *) arg;
    natsConnection  *nc = c->nc;
    natsEvAd_Sock   *s;

    (void) fd;
    (void) what;
    pthread_mutex_lock(&c->lock);
    s = c->current;
    c->current = NULL;
    pthread_mutex_unlock(&c->lock);
    /* A socket still attached at detach time is released as well, so that
     * nothing is left behind. */
    if (s != NULL)
        natsEvAd_closeSock(s);
    if (c->holder != NULL)
        event_free(c->holder);
    pthread_mutex_destroy(&c->lock);
    free(c);
    natsConnection_ProcessDetachedEvent(nc);
}

static inline natsEvAd_Sock *
natsEvAd_newSock(natsEvAd_Conn *c, natsSock fd)
{
    natsEvAd_Sock *s = (natsEvAd_Sock *) calloc(1, sizeof(natsEvAd_Sock));

    if (s == NULL)
        return NULL;
    s->conn = c;
    s->fd = fd;
    s->readEv = event_new(c->base, (evutil_socket_t) fd, EV_READ | EV_PERSIST, natsEvAd_onIO,
                          (void *) s);
    s->writeEv = event_new(c->base, (evutil_socket_t) fd, EV_WRITE | EV_PERSIST, natsEvAd_onIO,
                           (void *) s);
    if (s->readEv == NULL || s->writeEv == NULL || event_add(s->readEv, NULL) != 0) {
        if (s->readEv != NULL)
            event_free(s->readEv);
        if (s->writeEv != NULL)
            event_free(s->writeEv);
        free(s);
        return NULL;
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

/* Turns on libevent's thread support. Call it once, before creating the
 * event_base used with the library. */
static inline natsStatus
natsLibevent_Init(void)
{
    return (evthread_use_pthreads() == 0) ? NATS_OK : NATS_ERR;
}

/* The library connected (or reconnected) `nc` on `socket`: watch it for
 * reading. The adapter's state is created on the first call and stored in
 * *userData; a reconnect (*userData set) just brings a new socket. */
static inline natsStatus
natsLibevent_Attach(void **userData, void *loop, natsConnection *nc, natsSock socket)
{
    struct event_base   *base = (struct event_base *) loop;
    natsEvAd_Conn       *c;
    natsEvAd_Sock       *s;
    natsEvAd_Sock       *old;
    bool                created = false;

    if (userData == NULL || base == NULL || nc == NULL)
        return NATS_INVALID_ARG;

    c = (natsEvAd_Conn *) *userData;
    if (c == NULL) {
        struct timeval hold;

        c = (natsEvAd_Conn *) calloc(1, sizeof(natsEvAd_Conn));
        if (c == NULL)
            return NATS_NO_MEMORY;
        c->nc = nc;
        c->base = base;
        if (pthread_mutex_init(&c->lock, NULL) != 0) {
            free(c);
            return NATS_ERR;
        }
        hold.tv_sec = natsEvAd_HOLD_SECONDS;
        hold.tv_usec = 0;
        c->holder = event_new(base, -1, EV_PERSIST, natsEvAd_onHold, NULL);
        if (c->holder == NULL || event_add(c->holder, &hold) != 0) {
            if (c->holder != NULL)
                event_free(c->holder);
            pthread_mutex_destroy(&c->lock);
            free(c);
            return NATS_ERR;
        }
        created = true;
    }

    s = natsEvAd_newSock(c, socket);
    if (s == NULL) {
        if (created) {
            event_free(c->holder);
            pthread_mutex_destroy(&c->lock);
            free(c);
        }
        return NATS_ERR;
    }

    pthread_mutex_lock(&c->lock);
    old = c->current;
    c->current = s;
    /* A socket the library never removed: retire it now. */
    if (old != NULL)
        (void) natsEvAd_retire(c, old);
    pthread_mutex_unlock(&c->lock);

    *userData = (void *) c;
    return NATS_OK;
}

/* Starts (add) or stops watching for readability. Stopping means that the
 * socket is going away: its events are deleted now and, from the loop, it is
 * handed back to the library with natsConnection_ProcessCloseEvent. */
static inline natsStatus
natsLibevent_Read(void *userData, bool add)
{
    natsEvAd_Conn   *c = (natsEvAd_Conn *) userData;
    int             rc = 0;

    if (c == NULL)
        return NATS_INVALID_ARG;
    pthread_mutex_lock(&c->lock);
    if (c->current != NULL) {
        if (add) {
            rc = event_add(c->current->readEv, NULL);
        } else {
            rc = natsEvAd_retire(c, c->current);
            c->current = NULL;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return (rc == 0) ? NATS_OK : NATS_ERR;
}

/* Starts (add) or stops watching for writability; when writable, the loop
 * calls natsConnection_ProcessWriteEvent. */
static inline natsStatus
natsLibevent_Write(void *userData, bool add)
{
    natsEvAd_Conn   *c = (natsEvAd_Conn *) userData;
    int             rc = 0;

    if (c == NULL)
        return NATS_INVALID_ARG;
    pthread_mutex_lock(&c->lock);
    if (c->current != NULL) {
        if (add)
            rc = event_add(c->current->writeEv, NULL);
        else
            rc = event_del_noblock(c->current->writeEv);
    }
    pthread_mutex_unlock(&c->lock);
    return (rc == 0) ? NATS_OK : NATS_ERR;
}

/* The connection is closed: from the loop, free everything, then call
 * natsConnection_ProcessDetachedEvent. Must be the library's last call for
 * this connection. */
static inline natsStatus
natsLibevent_Detach(void *userData)
{
    natsEvAd_Conn *c = (natsEvAd_Conn *) userData;

    if (c == NULL)
        return NATS_INVALID_ARG;
    return (event_base_once(c->base, -1, EV_TIMEOUT, natsEvAd_onRelease, (void *) c, NULL) == 0)
               ? NATS_OK
               : NATS_ERR;
}

#ifdef __cplusplus
}
#endif

#endif /* NATS_ADAPTERS_LIBEVENT_H_ */
