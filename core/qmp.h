/*
 * A QMP client (QEMU's machine protocol over a Unix socket): the greeting,
 * qmp_capabilities, then one command at a time, each answer a JSON line.
 * Events between are skipped.  What QEMU sends is bounded (a line of at
 * most VM_QMP_MAX_LINE bytes) and each wait has the client's deadline.
 */
#ifndef VMMAP_QMP_H
#define VMMAP_QMP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define VM_QMP_MAX_LINE (64u << 20)

struct vm_qmp {
	int fd;
	char *buf;
	size_t len, cap;
	int timeout_ms;      /* per command */
	char version[64];    /* "7.2.22", from the greeting */
};

/* Connects to path and negotiates: 0, or -1 with why. */
int vm_qmp_open(struct vm_qmp *q, const char *path, int timeout_ms, char *why, size_t len);
/*
 * Runs cmd with args (taken; NULL: none): its "return" value (a new
 * reference), or NULL with why (QEMU's error, a timeout, a bad line).
 */
json_t *vm_qmp_call(struct vm_qmp *q, const char *cmd, json_t *args, char *why, size_t len);
/* An HMP command through human-monitor-command: its text (malloc'ed), or
 * NULL with why. */
char *vm_qmp_hmp(struct vm_qmp *q, const char *line, char *why, size_t len);
void vm_qmp_close(struct vm_qmp *q);

#endif
