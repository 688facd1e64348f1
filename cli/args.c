/*
 * Argument handling shared by the commands: the global options, running a
 * command's argp parser, and address queries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "num.h"

enum { OPT_USAGE = 0x100 };

/*
 * Every parse runs with ARGP_NO_HELP, and --help, --usage and --version are
 * vmmap's own (in argp's words and place, group -1).  argp's default group
 * also holds two hidden options, and argp takes any unique abbreviation:
 * "--H" is --HANG, which sleeps for an hour (the shell fuzzer found
 * "validate --H"), and --program-name renames the program in later
 * messages.  Neither is for a user, and neither may reach a shell or a
 * batch script.
 */
static const struct argp_option global_options[] = {
	{ "json", 'j', NULL, 0, "Print one JSON document on standard output", 0 },
	{ "pretty", 'p', NULL, 0, "Indent the JSON output (implies --json)", 0 },
	{ "quiet", 'q', NULL, 0, "Print no result; the exit status answers", 0 },
	{ "help", '?', NULL, 0, "Give this help list", -1 },
	{ NULL, 'h', NULL, OPTION_ALIAS, NULL, 0 },
	{ "usage", OPT_USAGE, NULL, 0, "Give a short usage message", 0 },
	{ "version", 'V', NULL, 0, "Print program version", 0 },
	{ 0 },
};

/* What a parse returns after --help, --usage or --version (argp does not
 * exit: ARGP_NO_EXIT): cli_parse answers VMMAP_HELP_SHOWN. */
#define HELP_DONE ECANCELED

/*
 * The ctx of the parse running on this thread (cli_argp_parse sets it):
 * the global options reach it from any command's parser, so no command
 * hands it on to its child parser (argp gives a child only what its
 * parent's ARGP_KEY_INIT put in child_inputs).
 */
static _Thread_local struct vmmap_ctx *parse_ctx;

static error_t global_parse(int key, char *arg, struct argp_state *state)
{
	struct vmmap_ctx *ctx = parse_ctx;

	(void)arg;
	switch (key) {
	case '?': /* as argp's own: print; the parse never exits (ARGP_NO_EXIT) */
	case 'h':
		argp_state_help(state, state->out_stream, ARGP_HELP_STD_HELP);
		return HELP_DONE;
	case OPT_USAGE:
		argp_state_help(state, state->out_stream,
				ARGP_HELP_USAGE | ARGP_HELP_EXIT_OK);
		return HELP_DONE;
	case 'V':
		fprintf(state->out_stream, "%s\n", argp_program_version);
		return HELP_DONE;
	case 'p': /* -p implies -j */
		ctx->pretty = true;
		ctx->json = true;
		return 0;
	case 'j':
		ctx->json = true;
		return 0;
	case 'q':
		ctx->quiet = true;
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cli_global_argp = {
	.options = global_options,
	.parser = global_parse,
};

const struct argp_child cli_global_children[] = {
	{ &cli_global_argp, 0, "Global options:", 0 },
	{ 0 },
};

error_t cli_arg_once(struct argp_state *state, const char **slot,
		     const char *arg)
{
	if (*slot) {
		argp_error(state, "unexpected argument '%s'", arg);
		return EINVAL; /* fails the parse where argp does not exit */
	}
	*slot = arg;
	return 0;
}

/*
 * getopt prints its complaints (an unknown option, a missing argument) to
 * stderr itself, and argp_error prints to state->err_stream, which argp
 * takes from stderr when the parse starts; both prefix argv[0] and add a
 * "Try `... --help'" line.  So stderr points at a memory stream for the
 * parse (glibc's stderr is a variable, and argp is glibc's), and the first
 * line, without the prefix, goes to cli_error.  Without memory for the
 * stream, argp's own text goes to stderr as it is.
 */
int cli_argp_parse(struct vmmap_ctx *ctx, const struct argp *argp, int argc,
		   char **argv, unsigned flags, void *input)
{
	FILE *saved = stderr, *mem;
	struct vmmap_ctx *saved_ctx = parse_ctx;
	char *text = NULL;
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	size_t len = 0, plen = strlen(argv[0]), blen = strlen(base);
	error_t e;

	fflush(stderr);
	mem = open_memstream(&text, &len);
	if (mem)
		stderr = mem;
	parse_ctx = ctx;
	e = argp_parse(argp, argc, argv, flags | ARGP_NO_EXIT | ARGP_NO_HELP, NULL, input);
	parse_ctx = saved_ctx;
	stderr = saved;
	if (mem && fclose(mem))
		text = (free(text), NULL);
	if (text && !*text)
		text = (free(text), NULL);
	/* A message is an error even where a parser went on (argp_error
	 * returns under ARGP_NO_EXIT). */
	if (e == HELP_DONE || (!e && !text)) {
		free(text);
		return e ? VMMAP_HELP_SHOWN : 0;
	}
	if (text) {
		const struct vmmap_cmd *cmd = ctx->cmd ? vmmap_command(ctx->cmd) : NULL;
		char *msg = text, *nl = strchr(text, '\n');

		if (nl)
			*nl = '\0';
		/* getopt's prefix is argv[0], argp_error's its last part. */
		if (!strncmp(msg, argv[0], plen) && !strncmp(msg + plen, ": ", 2))
			msg += plen + 2;
		else if (!strncmp(msg, base, blen) && !strncmp(msg + blen, ": ", 2))
			msg += blen + 2;
		if (cmd && !(cmd->where & CLI_LINE)) /* a shell verb */
			cli_error(ctx, "usage", "%s (try 'help %s')", msg, ctx->cmd);
		else if (ctx->cmd)
			cli_error(ctx, "usage", "%s (try 'vmmap %s --help')", msg, ctx->cmd);
		else
			cli_error(ctx, "usage", "%s (try 'vmmap --help')", msg);
	} else if (mem) { /* without mem, argp's own text went to stderr */
		cli_error(ctx, "usage", "invalid arguments");
	}
	free(text);
	return VMMAP_EXIT_ERROR;
}

int cli_parse(struct vmmap_ctx *ctx, const struct argp *argp, int argc,
	      char **argv, void *input)
{
	char name[64];
	char *saved = argv[0];
	int rc;

	snprintf(name, sizeof(name), "vmmap %s", ctx->cmd);
	argv[0] = name;
	rc = cli_argp_parse(ctx, argp, argc, argv, 0, input);
	argv[0] = saved;
	return rc;
}

/* A plain number: no '+' and no '-' (a '-' cannot lead a valid number). */
static bool is_plain(const char *s)
{
	return !strchr(s, '+') && !strchr(s, '-');
}

static int bad_number(struct vmmap_ctx *ctx, const char *what,
		      const char *arg, const char *why)
{
	return cli_error(ctx, "usage", "invalid %s '%s': %s", what, arg, why);
}

static int parse_one(struct vmmap_ctx *ctx, const char *arg, const char *len_arg,
		     unsigned flags, struct cli_query *q)
{
	const char *why, *sep;
	uint64_t last;

	q->len = 1;
	sep = len_arg ? NULL : strpbrk(arg + (arg[0] == '-'), "+-");
	if (sep) {
		char *head = strndup(arg, (size_t)(sep - arg));
		int bad;

		if (!head)
			return cli_error(ctx, "nomem", "out of memory");
		if (!*head) {
			free(head);
			return cli_error(ctx, "usage", "invalid query '%s': no address "
					 "before '%c'", arg, *sep);
		}
		bad = vm_parse_addr(head, &q->addr, &why);
		if (bad)
			bad_number(ctx, "address", head, why);
		free(head);
		if (bad)
			return VMMAP_EXIT_ERROR;
		if (*sep == '+') {
			if (vm_parse_size(sep + 1, &q->len, &why))
				return bad_number(ctx, "length", sep + 1, why);
		} else {
			if (vm_parse_addr(sep + 1, &last, &why))
				return bad_number(ctx, "address", sep + 1, why);
			if (last < q->addr)
				return cli_error(ctx, "usage",
						 "invalid range '%s': last address is below the first",
						 arg);
			if (q->addr == 0 && last == UINT64_MAX)
				return cli_error(ctx, "usage",
						 "invalid range '%s': 2^64 bytes do not fit a 64-bit length",
						 arg);
			q->len = last - q->addr + 1;
		}
	} else {
		if (vm_parse_addr(arg, &q->addr, &why))
			return bad_number(ctx, "address", arg, why);
		if (len_arg && vm_parse_size(len_arg, &q->len, &why))
			return bad_number(ctx, "length", len_arg, why);
	}
	if (q->len == 0 && !(flags & CLI_QUERY_LEN0))
		return cli_error(ctx, "usage", "invalid length in '%s%s%s': must be at least 1%s",
				 arg, len_arg ? " " : "", len_arg ? len_arg : "",
				 !strcmp(ctx->cmd ? ctx->cmd : "", "lookup")
				 ? " (0 only on fast-mmio, where KVM writes with length 0)" : "");
	if (q->len && q->len - 1 > UINT64_MAX - q->addr)
		return cli_error(ctx, "usage", "range '%s%s%s' wraps past 2^64-1",
				 arg, len_arg ? " " : "", len_arg ? len_arg : "");
	return 0;
}

int cli_parse_query(struct vmmap_ctx *ctx, char **args, int n,
		    struct cli_query *q)
{
	if (n == 1)
		return parse_one(ctx, args[0], NULL, 0, q) ? VMMAP_EXIT_ERROR : 0;
	if (n == 2 && is_plain(args[0]) && is_plain(args[1]))
		return parse_one(ctx, args[0], args[1], 0, q) ? VMMAP_EXIT_ERROR : 0;
	return cli_error(ctx, "usage", "expected one query: ADDR [LEN], ADDR+LEN or "
			 "FIRST-LAST");
}

int cli_parse_queries(struct vmmap_ctx *ctx, char **args, int n, unsigned flags,
		      struct cli_query **out, size_t *nq)
{
	struct cli_query *q;
	size_t count = 0;

	*out = NULL;
	*nq = 0;
	if (n < 1)
		return cli_error(ctx, "usage", "missing ADDR (try 'vmmap %s --help')",
				 ctx->cmd);
	q = calloc((size_t)n, sizeof(*q));
	if (!q)
		return cli_error(ctx, "nomem", "out of memory");
	if (n == 2 && is_plain(args[0]) && is_plain(args[1])) {
		if (parse_one(ctx, args[0], args[1], flags, &q[0]))
			goto fail;
		count = 1;
	} else {
		for (int i = 0; i < n; i++, count++)
			if (parse_one(ctx, args[i], NULL, flags, &q[i]))
				goto fail;
	}
	*out = q;
	*nq = count;
	return 0;
fail:
	free(q);
	return VMMAP_EXIT_ERROR;
}
