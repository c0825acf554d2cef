/*
 * ev.h - the one event loop of a process: descriptors and timers.
 *
 * Everything a process waits for is watched here together: the listening
 * socket, every FastCGI connection, every socket libcurl asks to watch, the
 * Redis socket, and one ordered set of timers (deadlines, backoffs, idle
 * times, libcurl's timer). Handlers never block; a handler that needs
 * something it does not have registers interest and returns.
 *
 * Readiness is level-triggered (epoll without EPOLLET): a handler that
 * leaves data unread is called again, so no event is lost to a handler that
 * stops early for fairness. Timers live in a binary heap (O(log n) start,
 * stop and expiry, no scan of all timers). A watcher or timer may be
 * stopped or freed by any handler, its own included: the loop never touches
 * a watcher after its callback returned unless it is still registered.
 */
#ifndef AP_EV_H
#define AP_EV_H

#include <stdbool.h>
#include <stddef.h>
#include "error.h"

#define EV_READ 1u
#define EV_WRITE 2u
#define EV_HUP 4u		/* reported: peer closed or error */
#define EV_EXCLUSIVE 8u		/* wake one of the processes sharing the fd */
#define EV_BATCH_MAX 256	/* events taken per wait */
#define EV_TIMERS_MAX 65536	/* timers pending at most */

struct ev_loop;
struct ev_io;
struct ev_timer;

typedef void (*ev_io_fn)(struct ev_io *w, unsigned events);
typedef void (*ev_timer_fn)(struct ev_timer *t);

struct ev_io {
	struct ev_loop *loop;
	int fd;
	unsigned events;	/* EV_READ | EV_WRITE being watched; 0: not registered */
	ev_io_fn fn;
	void *ud;
};

struct ev_timer {
	long long at_ms;	/* clock_ms() when it fires */
	size_t slot;		/* heap index + 1; 0: not pending */
	ev_timer_fn fn;
	void *ud;
};

enum ap_err ev_new(struct ev_loop **out) AP_WARN_UNUSED;
void ev_free(struct ev_loop *l);

/* Watches fd for events (EV_READ/EV_WRITE, optionally EV_EXCLUSIVE on the
 * first registration); events 0 unregisters. The ev_io must stay valid
 * while registered. */
enum ap_err ev_io_set(struct ev_loop *l, struct ev_io *w, int fd, unsigned events, ev_io_fn fn,
		      void *ud) AP_WARN_UNUSED;
/* Stops watching (safe if not registered); call before closing the fd. */
void ev_io_stop(struct ev_io *w);

/* (Re)arms t to fire in ms milliseconds (0: on the next iteration). */
enum ap_err ev_timer_start(struct ev_loop *l, struct ev_timer *t, long long ms, ev_timer_fn fn,
			   void *ud) AP_WARN_UNUSED;
void ev_timer_stop(struct ev_loop *l, struct ev_timer *t);
static inline bool ev_timer_pending(const struct ev_timer *t) { return t->slot != 0; }

/* Waits at most max_wait_ms (-1: until something happens) and runs the
 * handlers of what is ready and of the timers due. Returns the number of
 * handlers run; 0 with errno EINTR when a signal interrupted the wait. */
int ev_run_once(struct ev_loop *l, int max_wait_ms);
/* Is anything ready right now (a descriptor or a timer due)? Costs one
 * epoll_wait with timeout 0; the events are kept for the next run. */
bool ev_pending(struct ev_loop *l);
/* Milliseconds until the next timer (-1: none). */
long long ev_next_timer_ms(const struct ev_loop *l);

#endif
