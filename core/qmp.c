/*
 * A QMP client (qmp.h).
 */
#include "qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>


static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next line QEMU sends, parsed: a new reference, or NULL with why. */
static json_t *read_json(struct vm_qmp *q, char *why, size_t len)
{
	int64_t deadline = now_ms() + q->timeout_ms;

	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;

		if (nl) {
			size_t n = (size_t)(nl - q->buf) + 1;
			json_error_t e;
			json_t *j = json_loadb(q->buf, n, 0, &e);

			memmove(q->buf, q->buf + n, q->len - n);
			q->len -= n;
			if (!j)
				snprintf(why, len, "QEMU sent a line that is not JSON: %s", e.text);
			return j;
		}
		if (q->len >= VM_QMP_MAX_LINE) {
			snprintf(why, len, "QEMU sent a line longer than %u bytes", VM_QMP_MAX_LINE);
			return NULL;
		}
		if (q->cap - q->len < 65536) {
			size_t cap = q->cap ? 2 * q->cap : 65536;
			char *b = realloc(q->buf, cap);

			if (!b) {
				snprintf(why, len, "out of memory");
				return NULL;
			}
			q->buf = b;
			q->cap = cap;
		}
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		ssize_t got;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, len, "poll: %s", strerror(errno));
			return NULL;
		}
		if (!r) {
			snprintf(why, len, "QEMU did not answer within %d ms", q->timeout_ms);
			return NULL;
		}
		got = read(q->fd, q->buf + q->len, q->cap - q->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(why, len, "read: %s", strerror(errno));
			return NULL;
		}
		if (!got) {
			snprintf(why, len, "QEMU closed the connection");
			return NULL;
		}
		q->len += (size_t)got;
	}
}

static int send_all(struct vm_qmp *q, const char *s, char *why, size_t len)
{
	for (size_t n = strlen(s), done = 0; done < n;) {
		ssize_t w = send(q->fd, s + done, n - done, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			snprintf(why, len, "send: %s", strerror(errno));
			return -1;
		}
		done += (size_t)w;
	}
	return 0;
}

json_t *vm_qmp_call(struct vm_qmp *q, const char *cmd, json_t *args, char *why, size_t len)
{
	json_t *m = json_pack("{s:s}", "execute", cmd), *a;
	char *text;

	if (!m || (args && json_object_set_new(m, "arguments", args))) {
		json_decref(m);
		snprintf(why, len, "out of memory");
		return NULL;
	}
	text = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	if (!text || send_all(q, text, why, len) || send_all(q, "\n", why, len)) {
		if (!text)
			snprintf(why, len, "out of memory");
		free(text);
		return NULL;
	}
	free(text);
	for (;;) {
		json_t *r = read_json(q, why, len), *v;

		if (!r)
			return NULL;
		if (json_object_get(r, "event")) {
			json_decref(r);
			continue;
		}
		if ((v = json_object_get(r, "return"))) {
			json_incref(v);
			json_decref(r);
			return v;
		}
		a = json_object_get(r, "error");
		snprintf(why, len, "%s: %s", cmd, a ? json_string_value(json_object_get(a, "desc"))
			? json_string_value(json_object_get(a, "desc")) : "an error without desc"
						 : "an answer with neither return nor error");
		json_decref(r);
		return NULL;
	}
}

char *vm_qmp_hmp(struct vm_qmp *q, const char *line, char *why, size_t len)
{
	json_t *r = vm_qmp_call(q, "human-monitor-command",
				json_pack("{s:s}", "command-line", line), why, len);
	char *s = json_is_string(r) ? strdup(json_string_value(r)) : NULL;

	if (r && !json_is_string(r))
		snprintf(why, len, "human-monitor-command %s: its answer is no string", line);
	else if (r && !s)
		snprintf(why, len, "out of memory");
	json_decref(r);
	return s;
}

int vm_qmp_open(struct vm_qmp *q, const char *path, int timeout_ms, char *why, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_t *g, *v, *caps;

	memset(q, 0, sizeof(*q));
	q->timeout_ms = timeout_ms;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, len, "%s: the path is longer than a socket's %zu bytes", path,
		    sizeof(sa.sun_path) - 1);
		q->fd = -1;
		return -1;
	}
	strcpy(sa.sun_path, path);
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(why, len, "%s: connect: %s", path, strerror(errno));
		vm_qmp_close(q);
		return -1;
	}
	g = read_json(q, why, len);
	v = json_object_get(json_object_get(json_object_get(g, "QMP"), "version"), "qemu");
	if (!v) {
		if (g)
			snprintf(why, len, "%s: no QMP greeting (is this QEMU's -qmp socket?)", path);
		json_decref(g);
		vm_qmp_close(q);
		return -1;
	}
	snprintf(q->version, sizeof(q->version), "%lld.%lld.%lld",
		 (long long)json_integer_value(json_object_get(v, "major")),
		 (long long)json_integer_value(json_object_get(v, "minor")),
		 (long long)json_integer_value(json_object_get(v, "micro")));
	json_decref(g);
	caps = vm_qmp_call(q, "qmp_capabilities", NULL, why, len);
	if (!caps) {
		vm_qmp_close(q);
		return -1;
	}
	json_decref(caps);
	return 0;
}

void vm_qmp_close(struct vm_qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	free(q->buf);
	q->buf = NULL;
	q->len = q->cap = 0;
}
