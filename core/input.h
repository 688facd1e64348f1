/*
 * Reading an input file whole: a table, a recording.  A regular file is
 * mapped, never copied; anything else (standard input, a pipe, a device)
 * is read up to VM_INPUT_CAP bytes.  A path is opened with O_NONBLOCK, so a
 * FIFO with no writer cannot hold vmmap in open().
 *
 * A mapped file can shrink while it is read (another tool rewriting it in
 * place): a read of a page past the new end raises SIGBUS.  The library
 * installs no signal handler; the caller that maps guards the read (the
 * CLI's guard.c).
 */
#ifndef VMMAP_INPUT_H
#define VMMAP_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "table.h"

/* 1 GiB: about 8 times the text of a 1,048,576-region table. */
#define VM_INPUT_CAP ((size_t)1 << 30)

struct vm_input {
	const char *name; /* the path, or "<stdin>" */
	const char *buf;
	size_t len;
	bool mapped; /* buf is a private read-only mapping of the file */
};

/*
 * Opens path ("-": standard input) and makes its bytes available in
 * in->buf.  mappable: a regular file may be mapped (else it is read).
 * Returns 0, or -1 with err filled in ("FILE: message").
 */
int vm_input_open(struct vm_input *in, const char *path, bool mappable,
		  struct vm_error *err);
void vm_input_close(struct vm_input *in);

#endif
