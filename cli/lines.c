/*
 * Lines of commands or queries from a file descriptor (batch, the shell
 * without a terminal, translate --batch), read in big chunks.  A line is at
 * most CLI_LINE_MAX bytes: a longer one is taken as one invalid line and
 * read past in constant memory.  The search for a newline never scans a
 * byte twice, so a line that arrives in many small reads costs no more
 * than one that arrives whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Read size; the buffer holds one line of CLI_LINE_MAX and one read. */
#define CHUNK 65536

int cli_lines_init(struct cli_lines *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->cap = CLI_LINE_MAX + CHUNK + 1;
	r->buf = malloc(r->cap);
	return r->buf ? 0 : -ENOMEM;
}

void cli_lines_free(struct cli_lines *r)
{
	free(r->buf);
	r->buf = NULL;
}

char *cli_lines_take(struct cli_lines *r, size_t *len, enum cli_line *kind)
{
	char *line = r->buf + r->start, *nl;
	bool end_of_input = false;

	nl = memchr(r->buf + r->scan, '\n', r->end - r->scan);
	if (!nl) {
		r->scan = r->end;
		if (r->end - r->start > CLI_LINE_MAX) {
			/* Too long: drop what is here and the rest of the line as
			 * it comes, in constant memory. */
			r->start = r->scan = r->end = 0;
			r->skipping = true;
			line = r->buf;
		}
		if (!r->eof || (r->end == r->start && !r->skipping))
			return NULL; /* read more first, or nothing is left */
		nl = r->buf + r->end; /* a last line without newline */
		end_of_input = true;
	}
	r->start = r->scan = (size_t)(nl - r->buf) + !end_of_input;
	if (nl > line && nl[-1] == '\r')
		nl--;
	if ((size_t)(nl - line) > CLI_LINE_MAX)
		r->skipping = true;
	if (r->skipping) {
		r->skipping = false;
		*len = 0;
		*kind = CLI_LINE_TOO_LONG;
		*line = '\0';
		return line;
	}
	*nl = '\0';
	*len = (size_t)(nl - line);
	*kind = strlen(line) != *len ? CLI_LINE_NUL : CLI_LINE_OK;
	return line;
}

int cli_lines_fill(struct cli_lines *r)
{
	ssize_t n;

	/* Keep the partial line at the front; room for a whole read. */
	memmove(r->buf, r->buf + r->start, r->end - r->start);
	r->end -= r->start;
	r->scan -= r->start;
	r->start = 0;
	do
		n = read(r->fd, r->buf + r->end, r->cap - r->end - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->err = errno;
		return -1;
	}
	r->eof = n == 0;
	r->end += (size_t)n;
	return 0;
}
