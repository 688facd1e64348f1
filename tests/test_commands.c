/*
 * The command table, linked from the CLI library without cli/main.c (the
 * library stands alone: issue 17): every row is whole, names resolve, and
 * every completion rule names an option its parser has and sources that
 * exist where it runs.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "cli.h"

static bool has_option(const struct argp *argp, const char *name)
{
	for (const struct argp_option *o = argp->options; o && (o->name || o->key || o->doc);
	     o++)
		if (o->name && !strcmp(o->name, name))
			return o->arg != NULL;
	for (const struct argp_child *c = argp->children; c && c->argp; c++)
		if (has_option(c->argp, name))
			return true;
	return false;
}

Test(commands, every_row_is_whole_and_found_by_its_names)
{
	const struct vmmap_cmd *cmds;
	size_t n;

	cmds = vmmap_commands(&n);
	cr_assert_gt(n, 10);
	for (size_t i = 0; i < n; i++) {
		const struct vmmap_cmd *c = &cmds[i];

		cr_assert(c->name && c->summary && c->argp, "row %zu", i);
		cr_assert(c->where & (CLI_LINE | CLI_SHELL), "%s runs nowhere", c->name);
		cr_assert(c->where & CLI_LINE ? c->fn != NULL : c->shell_fn != NULL,
			  "%s has no function where it runs", c->name);
		cr_assert_eq(vmmap_command(c->name), c, "%s", c->name);
		if (c->alias)
			cr_assert_eq(vmmap_command(c->alias), c, "%s", c->alias);
		cr_assert_not_null(vmmap_cmd_usage(c));
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(cmds[j].name, c->name);
	}
	cr_assert_null(vmmap_command("frobnicate"));
	cr_assert_str_eq(vmmap_command("exit")->name, "quit");
}

Test(commands, completion_rules_name_options_that_take_values)
{
	const struct vmmap_cmd *cmds;
	size_t n, rules = 0;

	cmds = vmmap_commands(&n);
	for (size_t i = 0; i < n; i++)
		for (const struct cli_complete *r = cmds[i].complete; r && r->what; r++, rules++) {
			if (r->option)
				cr_assert(has_option(cmds[i].argp, r->option),
					  "%s: no option --%s with a value", cmds[i].name,
					  r->option);
			else
				cr_assert_gt(r->pos, 0, "%s: a positional rule without its "
					     "position", cmds[i].name);
			cr_assert_eq(!(r->what & CLI_W_LIST), !r->words, "%s", cmds[i].name);
			/* Tables and regions exist only in the shell. */
			if (r->what & (CLI_W_TABLE | CLI_W_REGION | CLI_W_DEVICE))
				cr_assert(cmds[i].where & CLI_SHELL, "%s", cmds[i].name);
		}
	cr_assert_gt(rules, 15);
}

/* translate --from's choices are the ones its parser takes. */
Test(commands, from_choices_are_the_spaces)
{
	cr_assert_str_eq(cli_space_names[VM_SPACE_GPA], "gpa");
	cr_assert_str_eq(cli_space_names[VM_SPACE_UADDR], "uaddr");
	cr_assert_null(cli_space_names[2]);
}
