/*
 * The command table: every command of the command line and every verb of
 * the shell, one row each, with its usage, summary, argp parser and
 * completion rules; and the top-level parser of the global options.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vhost_user.h"
#include "shell.h"

static const char *const add_remove[] = { "add", "remove", NULL };
static const char *const import_sources[] = { "qemu", "dpdk-log", NULL };

/* A table argument: a loaded table's name, else a file. */
#define TABLE_ARG(n) { NULL, n, NULL, CLI_W_TABLE | CLI_W_FILE, NULL }
#define FILE_OPT(o) { o, 0, NULL, CLI_W_FILE, NULL }

static const struct vmmap_cmd commands[] = {
	{ "show", cmd_show, NULL, "FILE",
	  "regions by address, holes, bus registrations", &cmd_show_argp,
	  CLI_LINE | CLI_SHELL, NULL,
	  (const struct cli_complete[]){ TABLE_ARG(1), { 0 } } },
	{ "translate", cmd_translate, NULL, "FILE ADDR [LEN]",
	  "translate addresses region by region", &cmd_translate_argp,
	  CLI_LINE | CLI_SHELL, NULL,
	  (const struct cli_complete[]){
		  { "from", 0, NULL, CLI_W_LIST, cli_space_names },
		  FILE_OPT("batch"), TABLE_ARG(1), { 0 } } },
	{ "lookup", cmd_lookup, NULL, "FILE BUS ADDR [LEN]",
	  "registrations an I/O access reaches", &cmd_lookup_argp,
	  CLI_LINE | CLI_SHELL, NULL,
	  (const struct cli_complete[]){
		  { NULL, 1, NULL, CLI_W_TABLE | CLI_W_BUS | CLI_W_FILE, NULL },
		  { NULL, 2, NULL, CLI_W_BUS, NULL }, { 0 } } },
	{ "diff", cmd_diff, NULL, "OLD NEW",
	  "changes as REM_MEM_REG/ADD_MEM_REG", &cmd_diff_argp,
	  CLI_LINE | CLI_SHELL, NULL,
	  (const struct cli_complete[]){ TABLE_ARG(1), TABLE_ARG(2), { 0 } } },
	{ "validate", cmd_validate, NULL, "FILE",
	  "check overlaps and vhost/KVM limits", &cmd_validate_argp,
	  CLI_LINE | CLI_SHELL, NULL,
	  (const struct cli_complete[]){
		  { "profile", 0, NULL, CLI_W_PROFILE, NULL }, TABLE_ARG(1), { 0 } } },
	{ "capture", cmd_capture, verb_capture, "--listen|--connect PATH",
	  "record the table a frontend sends", &cmd_capture_argp,
	  CLI_LINE | CLI_SHELL, NULL,
	  (const struct cli_complete[]){
		  FILE_OPT("listen"), FILE_OPT("connect"), FILE_OPT("output"),
		  FILE_OPT("record"), FILE_OPT("replay"), FILE_OPT("forward"),
		  FILE_OPT("forward-listen"),
		  { "type", 0, NULL, CLI_W_LIST, vu_device_type_names }, { 0 } } },
	{ "vring", cmd_vring, NULL, "CAPTURE [INDEX...]",
	  "decode a capture's virtqueues", &cmd_vring_argp,
	  CLI_LINE | CLI_SHELL, NULL,
	  (const struct cli_complete[]){
		  { "device", 0, NULL, CLI_W_LIST, vq_device_names }, TABLE_ARG(1), { 0 } } },
	{ "mem", cmd_mem, NULL, "CAPTURE ADDR [LEN]",
	  "guest memory as a hexdump", &cmd_mem_argp, CLI_LINE | CLI_SHELL, NULL,
	  (const struct cli_complete[]){
		  { "from", 0, NULL, CLI_W_LIST, cli_space_names }, TABLE_ARG(1), { 0 } } },
	{ "import", cmd_import, NULL, "qemu SOCKET|dpdk-log LOG",
	  "QEMU's or DPDK's view of guest memory", &cmd_import_argp, CLI_LINE, NULL,
	  (const struct cli_complete[]){
		  { NULL, 1, NULL, CLI_W_LIST, import_sources }, FILE_OPT("output"),
		  { NULL, 2, NULL, CLI_W_FILE, NULL }, { 0 } } },
	{ "shell", cmd_shell, NULL, "[FILE...]",
	  "interactive shell (also vmmap -i)", &cmd_shell_argp, CLI_LINE, NULL,
	  NULL },
	{ "batch", cmd_batch, NULL, "FILE|-",
	  "the shell's commands from a file", &cmd_batch_argp, CLI_LINE, NULL,
	  NULL },
	{ "help", cmd_help, NULL, "[COMMAND]",
	  "this list, or a command's options", &cmd_help_argp,
	  CLI_LINE | CLI_SHELL, NULL,
	  (const struct cli_complete[]){ { NULL, 1, NULL, CLI_W_COMMAND, NULL }, { 0 } } },
	{ "version", cmd_version, NULL, "",
	  "version and build features", &cmd_version_argp, CLI_LINE | CLI_SHELL,
	  NULL, NULL },
	/* The shell's own verbs. */
	{ "load", NULL, verb_load, NULL, "load a table and make it current",
	  &verb_load_argp, CLI_SHELL, NULL,
	  (const struct cli_complete[]){ { NULL, 1, NULL, CLI_W_FILE, NULL }, { 0 } } },
	{ "tables", NULL, verb_tables, NULL, "list the loaded tables",
	  &verb_tables_argp, CLI_SHELL, NULL, NULL },
	{ "use", NULL, verb_use, NULL, "make a loaded table the current one",
	  &verb_use_argp, CLI_SHELL, NULL,
	  (const struct cli_complete[]){ { NULL, 1, NULL, CLI_W_TABLE, NULL }, { 0 } } },
	{ "unload", NULL, verb_unload, NULL, "forget a table (and stop its capture)",
	  &verb_unload_argp, CLI_SHELL, NULL,
	  (const struct cli_complete[]){ { NULL, 1, NULL, CLI_W_TABLE, NULL }, { 0 } } },
	{ "region", NULL, verb_region, NULL,
	  "add or remove a region of the current table", &verb_region_argp,
	  CLI_SHELL, NULL,
	  (const struct cli_complete[]){
		  { NULL, 1, NULL, CLI_W_LIST, add_remove },
		  { NULL, 2, "remove", CLI_W_REGION, NULL }, { 0 } } },
	{ "device", NULL, verb_device, NULL,
	  "add or remove a registration of the current table", &verb_device_argp,
	  CLI_SHELL, NULL,
	  (const struct cli_complete[]){
		  { NULL, 1, NULL, CLI_W_LIST, add_remove },
		  { NULL, 2, NULL, CLI_W_BUS, NULL },
		  { NULL, 3, "remove", CLI_W_DEVICE, NULL },
		  { NULL, 6, "add", CLI_W_KIND, NULL }, { 0 } } },
	{ "save", NULL, verb_save, NULL,
	  "write the current table (atomically; - prints it)", &verb_save_argp,
	  CLI_SHELL, NULL,
	  (const struct cli_complete[]){ { NULL, 1, NULL, CLI_W_FILE, NULL }, { 0 } } },
	{ "history", NULL, verb_history, NULL, "list the lines typed at this terminal",
	  &verb_history_argp, CLI_SHELL, NULL, NULL },
	{ "quit", NULL, verb_quit, NULL,
	  "leave (also exit, Ctrl-D; twice with unsaved edits)", &verb_quit_argp,
	  CLI_SHELL, "exit", NULL },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const char *argp_program_version = "vmmap " VMMAP_VERSION;

const struct vmmap_cmd *vmmap_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name) ||
		    (commands[i].alias && !strcmp(commands[i].alias, name)))
			return &commands[i];
	return NULL;
}

const struct vmmap_cmd *vmmap_commands(size_t *n)
{
	*n = NCOMMANDS;
	return commands;
}

const char *vmmap_cmd_usage(const struct vmmap_cmd *cmd)
{
	return cmd->usage ? cmd->usage : cmd->argp->args_doc ? cmd->argp->args_doc : "";
}

/* Edit distance with transpositions (optimal string alignment), capped:
 * names longer than 31 bytes are far from every command. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[32][32];

	if (la > 31 || lb > 31)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < c)
				c = d[i - 2][j - 2] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

int cli_unknown_command(struct vmmap_ctx *ctx, const char *name)
{
	const struct vmmap_cmd *cmd = vmmap_command(name), *near = NULL;
	unsigned where = ctx->shell ? CLI_SHELL : CLI_LINE;
	char names[512] = "";
	size_t best = SIZE_MAX;

	if (cmd && !(cmd->where & where))
		return cli_error(ctx, "usage", ctx->shell ? "'%s' does not run inside the shell"
				 : "'%s' is a verb of the shell (vmmap shell)", name);
	/* A typo: the nearest command, two edits away at most. */
	for (size_t i = 0; i < NCOMMANDS; i++) {
		size_t dist = edit_distance(name, commands[i].name);

		if ((commands[i].where & where) && dist < best) {
			best = dist;
			near = &commands[i];
		}
	}
	if (near && best <= 2 && best < strlen(name))
		return cli_error(ctx, "usage", "unknown command '%s'; did you mean '%s'?", name,
				 near->name);
	if (ctx->shell)
		return cli_error(ctx, "usage", "unknown command '%s' (try 'help')", name);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].where & CLI_LINE)
			snprintf(names + strlen(names), sizeof(names) - strlen(names),
				 "%s%s", names[0] ? ", " : "", commands[i].name);
	return cli_error(ctx, "usage", "unknown command '%s' (commands: %s)", name, names);
}

static const char doc[] =
	"Inspect guest memory tables and KVM I/O bus registrations.\v"
	"Commands:" /* the list is filled in by help_filter */;

static const char doc_tail[] =
	"\nRun 'vmmap COMMAND --help' for a command's options.\n"
	"Exit status: 0 found/mapped, 1 unmapped or no device, 2 usage or input "
	"error.";

/* The command list in --help comes from the command table. */
static char *help_filter(int key, const char *text, void *input)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)input;
	if (key != ARGP_KEY_HELP_POST_DOC || !(f = open_memstream(&buf, &len)))
		return (char *)text;
	fputs(text, f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char head[64];

		if (!(commands[i].where & CLI_LINE))
			continue;
		snprintf(head, sizeof(head), "%s %s", commands[i].name,
			 vmmap_cmd_usage(&commands[i]));
		fprintf(f, "\n  %-31s %s", head, commands[i].summary);
	}
	fprintf(f, "\n%s", doc_tail);
	if (fclose(f)) {
		free(buf);
		return (char *)text;
	}
	return buf;
}

struct root_args {
	int cmd_index;
	bool *interactive; /* -i, or NULL inside the shell */
};

static const struct argp_option root_options[] = {
	{ "interactive", 'i', NULL, 0, "Start the shell (vmmap shell)", 0 },
	{ 0 },
};

static error_t root_parse(int key, char *arg, struct argp_state *state)
{
	struct root_args *a = state->input;

	(void)arg;
	switch (key) {
	case ARGP_KEY_ARG:
		/* The command: stop here, the rest belongs to it. */
		a->cmd_index = state->next - 1;
		state->next = state->argc;
		return 0;
	case 'i':
		if (!a->interactive) {
			argp_error(state, "-i: this is the shell already");
			return EINVAL;
		}
		*a->interactive = true;
		return 0;
	case ARGP_KEY_END:
		if (a->cmd_index < 0 && a->interactive && !*a->interactive) {
			argp_error(state, "missing COMMAND");
			return EINVAL;
		}
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_child root_children[] = {
	{ &cli_global_argp, 0, NULL, 0 },
	{ 0 },
};

static const struct argp root_argp = {
	.options = root_options,
	.parser = root_parse,
	.args_doc = "COMMAND [ARG...]",
	.doc = doc,
	.children = root_children,
	.help_filter = help_filter,
};

int cli_parse_global(struct vmmap_ctx *ctx, int argc, char **argv, int *cmd,
		     bool *interactive)
{
	struct root_args root = { .cmd_index = -1, .interactive = interactive };
	int rc;

	/* The help options are the global child's (args.c); argp's messages
	 * come out in vmmap's form. */
	rc = cli_argp_parse(ctx, &root_argp, argc, argv, ARGP_IN_ORDER, &root);
	*cmd = root.cmd_index;
	return rc;
}

void vmmap_help_all(FILE *out)
{
	argp_help(&root_argp, out, ARGP_HELP_STD_HELP & ~ARGP_HELP_EXIT_OK, "vmmap");
}
