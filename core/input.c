/*
 * Reading input files.  See input.h.
 */
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads fd to its end, at most limit bytes: 0, -errno, or -EFBIG past
 * the limit. */
static int read_all(int fd, size_t limit, char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap > limit) {
				free(buf);
				return -EFBIG;
			}
			/* One byte past the cap tells a file of exactly the cap
			 * from a longer one. */
			cap = cap > limit / 2 ? limit + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > limit) {
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*len = n;
	return 0;
}

int vm_input_open(struct vm_input *in, const char *path, bool mappable,
		  struct vm_error *err)
{
	bool is_stdin = !strcmp(path, "-");
	int fd = is_stdin ? STDIN_FILENO
			  : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int e = 0, fl;

	memset(in, 0, sizeof(*in));
	in->name = is_stdin ? "<stdin>" : path;
	if (fd < 0) {
		e = errno;
		goto fail;
	}
	if (fstat(fd, &st)) {
		e = errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		e = EISDIR;
		goto fail;
	}
	/* Opened without blocking; read as usual (a pipe waits for its data,
	 * a FIFO that nobody writes reads as empty). */
	if (!is_stdin && (fl = fcntl(fd, F_GETFL)) >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	if (S_ISREG(st.st_mode) && st.st_size > 0 && mappable) {
		void *map;

		if ((uint64_t)st.st_size > SIZE_MAX) {
			e = EFBIG;
			goto fail;
		}
		/* Map it: a table of hundreds of MB is read once, never copied. */
		len = (size_t)st.st_size;
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			e = errno;
			goto fail;
		}
		madvise(map, len, MADV_SEQUENTIAL);
		in->buf = map;
		in->len = len;
		in->mapped = true;
	} else {
		int rc = read_all(fd, S_ISREG(st.st_mode) ? SIZE_MAX - 1 : VM_INPUT_CAP,
				  &buf, &len);

		if (rc == -EFBIG && !S_ISREG(st.st_mode)) {
			snprintf(err->msg, sizeof(err->msg), "%s: more than %zu MiB from "
				 "something that is not a regular file; not read", in->name,
				 VM_INPUT_CAP >> 20);
			goto fail_msg;
		}
		if (rc) {
			e = -rc;
			goto fail;
		}
		in->buf = buf;
		in->len = len;
	}
	if (!is_stdin)
		close(fd);
	return 0;
fail:
	snprintf(err->msg, sizeof(err->msg), "%s: %s", in->name, strerror(e));
fail_msg:
	if (fd >= 0 && !is_stdin)
		close(fd);
	return -1;
}

void vm_input_close(struct vm_input *in)
{
	if (in->mapped)
		munmap((void *)in->buf, in->len);
	else
		free((void *)in->buf);
	memset(in, 0, sizeof(*in));
}
