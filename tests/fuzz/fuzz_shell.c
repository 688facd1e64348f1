/*
 * Fuzz target: the shell's line parser and dispatch (cli/shell.c), as a
 * script run by `vmmap batch --force` would be: every line split like sh
 * and run through the same command table, on two tables loaded from the
 * fixtures, with table editing (region/device add and remove, use, unload)
 * live.  Nothing is opened on a line's behalf (no load, save, capture, file
 * arguments or --batch input): the context's no_files flag refuses them, so
 * the fuzzer cannot write files or wait on standard input.  Run it with
 * -close_fd_mask=3: the shell's answers are not what is checked, and
 * libFuzzer keeps its own stderr for reports.  A crash, a leak, a hang or
 * an exit() is a finding.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "shell.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *files[] = { VMMAP_SRC "/fixtures/qemu-q35-4g.json",
				 VMMAP_SRC "/fixtures/pc-iobus.json" };
	struct vmmap_ctx base = { .no_files = true };
	int fd = memfd_create("fuzz.vmmap", MFD_CLOEXEC);
	FILE *in;

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) ||
	    lseek(fd, 0, SEEK_SET) != 0 || !(in = fdopen(fd, "r")))
		abort();
	shell_run(&base, in, "fuzz", true, files, 2);
	fclose(in);
	return 0;
}
