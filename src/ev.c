/*
 * ev.c - epoll and a timer heap; see ev.h.
 *
 * Stale events: a handler may stop a watcher whose fd another event of the
 * same batch still refers to (and even reuse the fd for a new watcher). Each
 * event carries the watcher pointer; the loop keeps the batch in l->batch,
 * and ev_io_stop() clears the pointer of every pending event of that
 * watcher, so a stopped watcher is never called again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "ev.h"
#include "clock.h"

struct ev_loop {
	int epfd;
	struct ev_timer **heap;		/* min-heap on at_ms */
	size_t nheap, capheap;
	struct epoll_event batch[EV_BATCH_MAX];
	int nbatch, next;		/* events taken, next to run */
};

enum ap_err ev_new(struct ev_loop **out)
{
	struct ev_loop *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return AP_ERR_NOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return AP_ERR_IO;
	}
	*out = l;
	return AP_OK;
}

void ev_free(struct ev_loop *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nheap; i++)
		l->heap[i]->slot = 0;
	close(l->epfd);
	free(l->heap);
	free(l);
}

/* ---- descriptors -------------------------------------------------------------- */

static uint32_t to_epoll(unsigned events)
{
	return (events & EV_READ ? EPOLLIN | EPOLLRDHUP : 0) | (events & EV_WRITE ? EPOLLOUT : 0);
}

enum ap_err ev_io_set(struct ev_loop *l, struct ev_io *w, int fd, unsigned events, ev_io_fn fn,
		      void *ud)
{
	struct epoll_event ee;
	unsigned want = events & (EV_READ | EV_WRITE);
	int op;

	if (!want) {
		ev_io_stop(w);
		return AP_OK;
	}
	if (w->events && w->fd != fd)
		ev_io_stop(w);
	op = w->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	memset(&ee, 0, sizeof(ee));
	ee.events = to_epoll(want);
	if (op == EPOLL_CTL_ADD && (events & EV_EXCLUSIVE))	/* which takes no RDHUP */
		ee.events = (ee.events & (EPOLLIN | EPOLLOUT)) | EPOLLEXCLUSIVE;
	ee.data.ptr = w;
	if (!(op == EPOLL_CTL_MOD && w->events == want) && epoll_ctl(l->epfd, op, fd, &ee) != 0)
		return AP_ERR_IO;
	w->loop = l;
	w->fd = fd;
	w->events = want;
	w->fn = fn;
	w->ud = ud;
	return AP_OK;
}

void ev_io_stop(struct ev_io *w)
{
	struct ev_loop *l = w->loop;

	if (!w->events || !l)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->events = 0;
	for (int i = l->next; i < l->nbatch; i++)
		if (l->batch[i].data.ptr == w)
			l->batch[i].data.ptr = NULL;
}

/* ---- timers --------------------------------------------------------------------- */

static void heap_place(struct ev_loop *l, size_t i, struct ev_timer *t)
{
	l->heap[i] = t;
	t->slot = i + 1;
}

static void sift_up(struct ev_loop *l, size_t i)
{
	struct ev_timer *t = l->heap[i];

	while (i > 0 && l->heap[(i - 1) / 2]->at_ms > t->at_ms) {
		heap_place(l, i, l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_place(l, i, t);
}

static void sift_down(struct ev_loop *l, size_t i)
{
	struct ev_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && l->heap[c + 1]->at_ms < l->heap[c]->at_ms)
			c++;
		if (l->heap[c]->at_ms >= t->at_ms)
			break;
		heap_place(l, i, l->heap[c]);
		i = c;
	}
	heap_place(l, i, t);
}

void ev_timer_stop(struct ev_loop *l, struct ev_timer *t)
{
	size_t i;
	struct ev_timer *last;

	if (!t->slot)
		return;
	i = t->slot - 1;
	t->slot = 0;
	last = l->heap[--l->nheap];
	if (i == l->nheap)
		return;
	heap_place(l, i, last);
	sift_down(l, i);
	sift_up(l, last->slot - 1);
}

enum ap_err ev_timer_start(struct ev_loop *l, struct ev_timer *t, long long ms, ev_timer_fn fn,
			   void *ud)
{
	ev_timer_stop(l, t);
	if (l->nheap == l->capheap) {
		size_t cap = l->capheap ? 2 * l->capheap : 64;
		struct ev_timer **h;

		if (cap > EV_TIMERS_MAX)
			return AP_ERR_NOMEM;
		h = realloc(l->heap, cap * sizeof(*h));
		if (!h)
			return AP_ERR_NOMEM;
		l->heap = h;
		l->capheap = cap;
	}
	t->at_ms = clock_ms() + (ms > 0 ? ms : 0);
	t->fn = fn;
	t->ud = ud;
	heap_place(l, l->nheap++, t);
	sift_up(l, l->nheap - 1);
	return AP_OK;
}

long long ev_next_timer_ms(const struct ev_loop *l)
{
	long long left;

	if (!l->nheap)
		return -1;
	left = l->heap[0]->at_ms - clock_ms();
	return left > 0 ? left : 0;
}

/* Runs the timers due now; a timer armed by a handler for "now" waits for
 * the next iteration, so a handler that re-arms itself cannot spin here. */
static int run_timers(struct ev_loop *l)
{
	long long now = clock_ms();
	int n = 0;

	while (l->nheap && l->heap[0]->at_ms <= now && n < EV_BATCH_MAX) {
		struct ev_timer *t = l->heap[0];

		ev_timer_stop(l, t);
		t->fn(t);
		n++;
	}
	return n;
}

/* ---- the loop --------------------------------------------------------------------- */

static int wait_events(struct ev_loop *l, int timeout)
{
	int n = epoll_wait(l->epfd, l->batch, EV_BATCH_MAX, timeout);

	l->nbatch = n > 0 ? n : 0;
	l->next = 0;
	return n;
}

bool ev_pending(struct ev_loop *l)
{
	if (l->next < l->nbatch)
		return true;
	if (ev_next_timer_ms(l) == 0)
		return true;
	return wait_events(l, 0) > 0;
}

static int run_events(struct ev_loop *l)
{
	int n = 0;

	while (l->next < l->nbatch) {
		struct epoll_event *ee = &l->batch[l->next++];
		struct ev_io *w = ee->data.ptr;
		unsigned ev = 0;

		if (!w)
			continue;	/* stopped by an earlier handler of this batch */
		if (ee->events & (EPOLLIN | EPOLLRDHUP))
			ev |= EV_READ;
		if (ee->events & EPOLLOUT)
			ev |= EV_WRITE;
		if (ee->events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
			ev |= EV_HUP | (w->events & EV_READ);
		ev &= w->events | EV_HUP;
		if (!ev)
			continue;
		w->fn(w, ev);
		n++;
	}
	return n;
}

int ev_run_once(struct ev_loop *l, int max_wait_ms)
{
	long long t = ev_next_timer_ms(l);
	int timeout = max_wait_ms;
	int n;

	if (l->next >= l->nbatch) {
		if (t >= 0 && (timeout < 0 || t < timeout))
			timeout = (int)t;
		if (wait_events(l, timeout) < 0) {
			if (errno == EINTR)
				return 0;
			return -1;
		}
	}
	n = run_events(l);
	return n + run_timers(l);
}
