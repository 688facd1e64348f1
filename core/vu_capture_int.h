/*
 * The capture engine's parts shared by its two session steps: a backend's
 * (vu_capture.c) and a forwarder's (vu_forward.c).
 */
#ifndef VMMAP_VU_CAPTURE_INT_H
#define VMMAP_VU_CAPTURE_INT_H

#include "vu_capture.h"

#define STALL_NS ((uint64_t)VU_STALL_MS * 1000000u)

/* Reports the session's new violations through the callback. */
void vu_capture_report(struct vu_capture *c);
/* Ends the session (c->end = end), closing its connections. */
void vu_capture_end_session(struct vu_capture *c, const char *end);
/* Records and handles one frontend message (conn: where a reply goes, or
 * NULL).  False when the session must end (c->end set). */
bool vu_capture_handle(struct vu_capture *c, struct vu_msg *m, struct vu_conn *conn,
		       uint64_t now_ns);
/* Records and takes one backend message (forwarding, or its replay).
 * False when the session must end (c->end set). */
bool vu_capture_take_reply(struct vu_capture *c, struct vu_msg *m);
/* The same for a message of the backend's request channel. */
bool vu_capture_take_channel(struct vu_capture *c, struct vu_msg *m);
/* A message stalled in the middle on conn (who: "frontend", "backend"):
 * the violation, and the session ends "stalled". */
void vu_capture_stalled(struct vu_capture *c, struct vu_conn *conn, const char *who);

/* Forwarding (vu_forward.c): the poll set and one step of a session, and
 * the descriptors kept for the table. */
int vu_forward_pollfds(struct vu_capture *c, struct pollfd *pfd, uint64_t *wake_ns);
/* ev: the poll results of the frontend, the backend, and the channel's
 * frontend and backend ends. */
void vu_forward_step(struct vu_capture *c, const short ev[4], uint64_t now_ns);
void vu_forward_close(struct vu_capture *c);

/* Guest memory kept (vu_guest.c).  Before a frontend message is handled:
 * duplicates of the descriptors it brings that are kept (a table's
 * regions, the in-flight area), into dup[] (VU_MAX_FDS), counted in
 * *ndup.  After: those of regions now in the table are kept and mapped,
 * the rest closed; regions gone from the table are let go once no change
 * awaits the backend's answer.  0, or -ENOMEM. */
void vu_guest_dup(const struct vu_msg *m, const int *fds, size_t nfds, int *dup,
		  size_t *ndup);
int vu_guest_keep(struct vu_capture *c, const struct vu_msg *m, int *dup, size_t ndup);
/* Lets go of the regions gone from the table, once no change awaits the
 * backend's answer (a removal it refuses brings its region back). */
void vu_guest_sync(struct vu_capture *c);
/* The in-flight area of a message (GET_INFLIGHT_FD's reply or
 * SET_INFLIGHT_FD), fd a duplicate that is taken. */
void vu_guest_keep_inflight(struct vu_capture *c, const struct vu_msg *m, int fd);
/* Lets go of all of it (the session ended). */
void vu_guest_close(struct vu_capture *c);

#endif
