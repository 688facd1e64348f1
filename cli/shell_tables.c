/*
 * The shell's named tables and the verbs that load, list, choose, edit,
 * save and unload them.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "num.h"
#include "shell_int.h"

/* The verbs' parsers (verb_key, shell.c): usage, help and options. */
const struct argp verb_load_argp = {
	.parser = verb_key,
	.args_doc = "FILE [as NAME]",
	.doc = "Load a table file and make it the current table, named NAME or "
	       "after the file.",
	.children = cli_global_children,
};

const struct argp verb_tables_argp = {
	.parser = verb_key,
	.doc = "List the loaded tables: '*' marks the current one, and a capture's "
	       "table is (live) or (ended).",
	.children = cli_global_children,
};

const struct argp verb_use_argp = {
	.parser = verb_key,
	.args_doc = "NAME",
	.doc = "Make the loaded table NAME the current one.",
	.children = cli_global_children,
};

const struct argp verb_unload_argp = {
	.parser = verb_key,
	.args_doc = "NAME",
	.doc = "Forget the table NAME, and stop the capture that fills it.  With "
	       "unsaved edits a terminal asks once; unload again drops them.",
	.children = cli_global_children,
};

const struct argp verb_region_argp = {
	.parser = verb_key,
	.args_doc = "add GPA SIZE UADDR [OFFSET] [NAME]\nremove GPA SIZE UADDR\n"
		    "remove NAME",
	.doc = "Add a region to the current table, or remove one by its range or "
	       "its name.  An added region that overlaps another is noted and "
	       "kept, as the kernel keeps it.",
	.children = cli_global_children,
};

const struct argp verb_device_argp = {
	.parser = verb_key,
	.args_doc = "add BUS ADDR LEN NAME [KIND]\nremove BUS ADDR LEN NAME\n"
		    "remove BUS NAME",
	.doc = "Register a device on a bus of the current table (KIND: device, "
	       "ioeventfd or coalesced), or remove a registration.",
	.children = cli_global_children,
};

static const struct argp_option save_options[] = {
	{ "force", VERB_OPT_FORCE, NULL, 0,
	  "Replace FILE even if it is not a vmmap document", 0 },
	{ 0 },
};

const struct argp verb_save_argp = {
	.options = save_options,
	.parser = verb_key,
	.args_doc = "FILE|-",
	.doc = "Write the current table as a vmmap document: to FILE through a "
	       "temporary file and a rename, or to standard output (-).",
	.children = cli_global_children,
};

struct shell_table *find_table(struct vmmap_shell *sh, const char *name)
{
	for (size_t i = 0; i < sh->ntables; i++)
		if (!strcmp(sh->tables[i].name, name))
			return &sh->tables[i];
	return NULL;
}

const struct vm_table *shell_table(struct vmmap_shell *sh, const char *name,
				   const char **canon)
{
	struct shell_table *st;

	if (name)
		st = find_table(sh, name);
	else
		st = sh->current >= 0 ? &sh->tables[sh->current] : NULL;
	if (!st)
		return NULL;
	*canon = st->name;
	return st->t;
}

/* Whether the background capture still runs. */
bool capture_running(const struct vmmap_shell *sh)
{
	return sh->cap && sh->cap->run->cap.phase != VU_CAPTURE_DONE;
}

void free_table(struct vmmap_shell *sh, struct shell_table *st)
{
	if (st->live && sh->cap) {
		/* The table is the capture's: stop the capture with it. */
		struct shell_capture *c = sh->cap;

		cli_capture_close(c->run);
		free(c->name);
		free(c);
		sh->cap = NULL;
	} else if (!st->live) {
		vm_table_clean(st->t);
		free(st->t);
	}
	free(st->name);
	free(st->source);
}

bool shell_may_leave(struct vmmap_shell *sh)
{
	size_t n = 0;

	if (!sh->interactive || sh->quit_warned)
		return true;
	for (size_t i = 0; i < sh->ntables; i++)
		if (sh->tables[i].dirty) {
			fprintf(stderr, "%s%s", n++ ? ", " : "vmmap: unsaved edits in ",
				cli_safe(sh->tables[i].name));
		}
	if (!n)
		return true;
	fprintf(stderr, " (save FILE first, or quit again to leave)\n");
	sh->quit_warned = true;
	return false;
}

/* Adds (or replaces) a table and makes it current. */
int add_table(struct vmmap_ctx *ctx, struct vmmap_shell *sh,
	      const char *name, const char *source, struct vm_table *t,
	      bool live)
{
	struct shell_table *st = find_table(sh, name), *v;

	if (st && st->live && !live)
		return cli_error(ctx, "usage", "'%s' is the capture's table; unload it first",
				 name);
	if (st) {
		free_table(sh, st);
	} else {
		v = realloc(sh->tables, (sh->ntables + 1) * sizeof(*v));
		if (!v)
			return cli_error(ctx, "nomem", "out of memory");
		sh->tables = v;
		st = &sh->tables[sh->ntables++];
	}
	st->name = strdup(name);
	st->source = strdup(source);
	st->t = t;
	st->live = live;
	st->dirty = st->warned = false;
	if (!st->name || !st->source)
		return cli_error(ctx, "nomem", "out of memory");
	sh->current = (int)(st - sh->tables);
	return 0;
}

/* The default name of a table file: its base name without ".json". */
static void table_name_of(const char *path, char *out, size_t n)
{
	char tmp[PATH_MAX];
	char *b, *dot;

	snprintf(tmp, sizeof(tmp), "%s", path);
	b = basename(tmp);
	snprintf(out, n, "%s", b);
	dot = strrchr(out, '.');
	if (dot && dot != out && !strcmp(dot, ".json"))
		*dot = '\0';
}

int load_into(struct vmmap_ctx *ctx, struct vmmap_shell *sh,
	      const char *path, const char *name)
{
	struct vm_table *t = malloc(sizeof(*t));
	struct vm_error err;
	char defname[NAME_MAX + 1];
	int rc;

	if (!t)
		return cli_error(ctx, "nomem", "out of memory");
	vm_table_init(t);
	if (cli_load_table(t, path, 0, &err)) {
		free(t);
		return cli_input_error(ctx, err.msg);
	}
	if (!name) {
		table_name_of(path, defname, sizeof(defname));
		name = defname;
	}
	if ((rc = add_table(ctx, sh, name, path, t, false))) {
		vm_table_clean(t);
		free(t);
		return rc;
	}
	if (!ctx->quiet)
		fprintf(stderr, "%s: %zu region%s, %zu registration%s\n", name,
			t->umem.nregions, t->umem.nregions == 1 ? "" : "s",
			(size_t)(t->bus[0].dev_count + t->bus[1].dev_count +
				 t->bus[2].dev_count + t->bus[3].dev_count),
			t->bus[0].dev_count + t->bus[1].dev_count + t->bus[2].dev_count +
			t->bus[3].dev_count == 1 ? "" : "s");
	return 0;
}

/* The current table, for the editing verbs. */
static struct shell_table *editable(struct vmmap_ctx *ctx, struct vmmap_shell *sh)
{
	struct shell_table *st = sh->current >= 0 ? &sh->tables[sh->current] : NULL;

	if (!st) {
		cli_error(ctx, "usage", "no table loaded (try 'load FILE')");
		return NULL;
	}
	if (st->live) {
		cli_error(ctx, "usage", "'%s' is being captured and cannot be edited; "
			  "save it and load the copy", st->name);
		return NULL;
	}
	return st;
}

/* ---- verbs ---- */

/* A status line about a table: "NAME: what" on stderr, unless -q. */
__attribute__((format(printf, 3, 4)))
static void say(struct vmmap_ctx *ctx, const struct shell_table *st, const char *fmt, ...)
{
	va_list ap;

	if (ctx->quiet)
		return;
	fprintf(stderr, "%s: ", cli_safe(st->name));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* "0x0+0xa0000 at 0x7f..." and its name, for the lines above. */
static const char *region_desc(const struct vm_region *r)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "0x%" PRIx64 "+0x%" PRIx64 " at userspace_addr 0x%" PRIx64
		 "%s%s%s", r->guest_phys_addr, r->memory_size, r->userspace_addr,
		 r->name ? " (" : "", r->name ? cli_safe(r->name) : "", r->name ? ")" : "");
	return buf;
}

static size_t registrations(const struct vm_table *t)
{
	size_t n = 0;

	for (int b = 0; b < VM_NR_BUSES; b++)
		n += t->bus[b].dev_count;
	return n;
}

static int parse_u64(struct vmmap_ctx *ctx, const char *what, const char *s,
		     int size, uint64_t *out)
{
	const char *why;

	if ((size ? vm_parse_size : vm_parse_addr)(s, out, &why))
		return cli_error(ctx, "usage", "invalid %s '%s': %s", what, s, why);
	return 0;
}

int verb_load(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct vmmap_shell *sh = ctx->shell;
	struct verb_args va;
	int prc = verb_parse(ctx, &argc, &argv, &va);

	if (prc)
		return prc;
	if (argc >= 2 && cli_files_allowed(ctx, argv[1]))
		return VMMAP_EXIT_ERROR;
	if (argc == 2)
		return load_into(ctx, sh, argv[1], NULL);
	if (argc == 4 && !strcmp(argv[2], "as"))
		return load_into(ctx, sh, argv[1], argv[3]);
	return usage(ctx);
}

int verb_tables(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct vmmap_shell *sh = ctx->shell;
	struct verb_args va;
	int prc = verb_parse(ctx, &argc, &argv, &va);

	if (prc)
		return prc;
	if (argc != 1)
		return usage(ctx);
	if (ctx->json) {
		json_t *arr = json_array();

		for (size_t i = 0; arr && i < sh->ntables; i++) {
			const struct shell_table *st = &sh->tables[i];

			if (json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:b, s:I}",
					"name", st->name, "source", st->source,
					"current", (int)i == sh->current, "live", st->live,
					"regions", (json_int_t)st->t->umem.nregions))) {
				json_decref(arr);
				arr = NULL;
			}
		}
		return cli_emit_json(ctx, arr);
	}
	if (ctx->quiet)
		return 0;
	for (size_t i = 0; i < sh->ntables; i++) {
		const struct shell_table *st = &sh->tables[i];
		size_t regs = 0;

		for (int b = 0; b < VM_NR_BUSES; b++)
			regs += st->t->bus[b].dev_count;
		printf("%c %-16s %5zu region%s %5zu registration%s  %s%s\n",
		       (int)i == sh->current ? '*' : ' ', st->name, st->t->umem.nregions,
		       st->t->umem.nregions == 1 ? " " : "s", regs, regs == 1 ? " " : "s",
		       st->source,
		       st->live ? (capture_running(sh) ? " (live)" : " (ended)") : "");
	}
	return 0;
}

int verb_use(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct vmmap_shell *sh = ctx->shell;
	struct shell_table *st;
	struct verb_args va;
	int prc = verb_parse(ctx, &argc, &argv, &va);

	if (prc)
		return prc;
	if (argc != 2)
		return usage(ctx);
	if (!(st = find_table(sh, argv[1])))
		return cli_error(ctx, "usage", "no table named '%s'", argv[1]);
	sh->current = (int)(st - sh->tables);
	return 0;
}

int verb_unload(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct vmmap_shell *sh = ctx->shell;
	struct shell_table *st;
	size_t i;
	struct verb_args va;
	int prc = verb_parse(ctx, &argc, &argv, &va);

	if (prc)
		return prc;
	if (argc != 2)
		return usage(ctx);
	if (!(st = find_table(sh, argv[1])))
		return cli_error(ctx, "usage", "no table named '%s'", argv[1]);
	if (sh->interactive && st->dirty && !st->warned) {
		/* As ed does: once, then the same command again goes ahead. */
		st->warned = true;
		fprintf(stderr, "%s: unsaved edits (save FILE first, or unload again to "
			"drop them)\n", cli_safe(st->name));
		return VMMAP_EXIT_NEGATIVE;
	}
	i = (size_t)(st - sh->tables);
	free_table(sh, st);
	memmove(st, st + 1, (sh->ntables - i - 1) * sizeof(*st));
	sh->ntables--;
	if (sh->current == (int)i)
		sh->current = sh->ntables ? 0 : -1;
	else if (sh->current > (int)i)
		sh->current--;
	return 0;
}

static int remove_region(struct vmmap_ctx *ctx, struct shell_table *st,
			 struct vm_umem_node *n)
{
	struct vm_region r = n->region;
	char desc[512];

	snprintf(desc, sizeof(desc), "%s", region_desc(&r));
	vm_umem_remove(&st->t->umem, n);
	st->dirty = true;
	say(ctx, st, "removed region %s, now %zu region%s", desc, st->t->umem.nregions,
	    st->t->umem.nregions == 1 ? "" : "s");
	return 0;
}

int verb_region(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct vmmap_shell *sh = ctx->shell;
	struct shell_table *st;
	struct vm_region r = { 0 };
	struct vm_umem_node *n;
	struct verb_args va;
	int prc = verb_parse(ctx, &argc, &argv, &va);

	if (prc)
		return prc;
	if (argc < 3)
		return usage(ctx);
	if (!(st = editable(ctx, sh)))
		return VMMAP_EXIT_ERROR;
	if (!strcmp(argv[1], "add") && argc >= 5 && argc <= 7) {
		if (parse_u64(ctx, "guest_phys_addr", argv[2], 0, &r.guest_phys_addr) ||
		    parse_u64(ctx, "memory_size", argv[3], 1, &r.memory_size) ||
		    parse_u64(ctx, "userspace_addr", argv[4], 0, &r.userspace_addr) ||
		    (argc >= 6 && parse_u64(ctx, "mmap_offset", argv[5], 0, &r.mmap_offset)))
			return VMMAP_EXIT_ERROR;
		r.name = argc == 7 ? argv[6] : NULL;
		/* Allowed, as the kernel allows it, but said. */
		if (r.memory_size && r.memory_size - 1 <= UINT64_MAX - r.guest_phys_addr) {
			const struct vm_itree_node *it =
				vm_itree_iter_first(&st->t->umem.gpa_tree, r.guest_phys_addr,
						    vm_region_last(&r));

			if (vm_umem_find(&st->t->umem, r.guest_phys_addr, r.userspace_addr,
					 r.memory_size))
				say(ctx, st, "note: the same region is already in the table");
			else if (it)
				say(ctx, st, "note: the new region overlaps 0x%" PRIx64 "-0x%" PRIx64
				    " in guest-physical space", it->start, it->last);
		}
		switch (vm_umem_add(&st->t->umem, &r, NULL)) {
		case 0:
			st->dirty = true;
			say(ctx, st, "added region %s, now %zu region%s", region_desc(&r),
			    st->t->umem.nregions, st->t->umem.nregions == 1 ? "" : "s");
			return 0;
		case -EINVAL:
			return cli_error(ctx, "usage", "memory_size must not be 0");
		case -EOVERFLOW:
			return cli_error(ctx, "usage", "the region runs past 2^64-1");
		default:
			return cli_error(ctx, "nomem", "out of memory");
		}
	}
	if (!strcmp(argv[1], "remove") && argc == 5) {
		if (parse_u64(ctx, "guest_phys_addr", argv[2], 0, &r.guest_phys_addr) ||
		    parse_u64(ctx, "memory_size", argv[3], 1, &r.memory_size) ||
		    parse_u64(ctx, "userspace_addr", argv[4], 0, &r.userspace_addr))
			return VMMAP_EXIT_ERROR;
		n = vm_umem_find(&st->t->umem, r.guest_phys_addr, r.userspace_addr,
				 r.memory_size);
		if (!n)
			return cli_error(ctx, "usage", "no region 0x%" PRIx64 "+0x%" PRIx64
					 " at userspace_addr 0x%" PRIx64 " in '%s'",
					 r.guest_phys_addr, r.memory_size, r.userspace_addr,
					 st->name);
		return remove_region(ctx, st, n);
	}
	if (!strcmp(argv[1], "remove") && argc == 3) {
		struct vm_umem_node *found = NULL;
		char list[512] = "";
		size_t matches = 0, o = 0;

		for (n = st->t->umem.head; n; n = n->next)
			if (n->region.name && !strcmp(n->region.name, argv[2])) {
				found = found ? found : n;
				if (o < sizeof(list))
					o += (size_t)snprintf(list + o, sizeof(list) - o, "%s0x%" PRIx64
							      "+0x%" PRIx64, matches ? ", " : "",
							      n->region.guest_phys_addr,
							      n->region.memory_size);
				matches++;
			}
		if (!found)
			return cli_error(ctx, "usage", "no region named '%s' in '%s'", argv[2],
					 st->name);
		if (matches > 1)
			return cli_error(ctx, "usage", "%zu regions are named '%s' (%s); "
					 "remove one by GPA SIZE UADDR", matches, argv[2], list);
		return remove_region(ctx, st, found);
	}
	return usage(ctx);
}

int verb_device(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct vmmap_shell *sh = ctx->shell;
	struct shell_table *st;
	uint64_t addr, len;
	int bus, kind = VM_IO_DEVICE;
	long rc;
	struct verb_args va;
	int prc = verb_parse(ctx, &argc, &argv, &va);

	if (prc)
		return prc;
	if (argc < 4)
		return usage(ctx);
	if (!(st = editable(ctx, sh)))
		return VMMAP_EXIT_ERROR;
	if ((bus = vm_bus_from_name(argv[2])) < 0)
		return cli_error(ctx, "usage",
				 "unknown bus '%s' (buses: mmio, pio, virtio-ccw, fast-mmio)",
				 argv[2]);
	if (!strcmp(argv[1], "add") && (argc == 6 || argc == 7)) {
		if (parse_u64(ctx, "address", argv[3], 0, &addr) ||
		    parse_u64(ctx, "length", argv[4], 1, &len))
			return VMMAP_EXIT_ERROR;
		if (argc == 7 && (kind = vm_io_kind_from_name(argv[6])) < 0)
			return cli_error(ctx, "usage", "unknown kind '%s' (kinds: device, "
					 "ioeventfd, coalesced)", argv[6]);
		rc = vm_io_bus_register_dev(&st->t->bus[bus], addr, len, argv[5], kind);
		if (rc == -EOVERFLOW)
			return cli_error(ctx, "usage", "the range runs past 2^64-1");
		if (rc == -ENOSPC)
			return cli_error(ctx, "usage", "bus %s already holds %d registrations "
					 "that are not ioeventfds (NR_IOBUS_DEVS)", argv[2],
					 VM_NR_IOBUS_DEVS);
		if (rc < 0)
			return cli_error(ctx, "nomem", "out of memory");
		st->dirty = true;
		say(ctx, st, "added %s registration of '%s' at %s+%s, now %zu registration%s",
		    argv[2], cli_safe(argv[5]), argv[3], argv[4], registrations(st->t),
		    registrations(st->t) == 1 ? "" : "s");
		return 0;
	}
	if (!strcmp(argv[1], "remove") && argc == 6) {
		if (parse_u64(ctx, "address", argv[3], 0, &addr) ||
		    parse_u64(ctx, "length", argv[4], 1, &len))
			return VMMAP_EXIT_ERROR;
		if (vm_io_bus_unregister_dev(&st->t->bus[bus], addr, len, argv[5]))
			return cli_error(ctx, "usage", "no %s registration of '%s' at %s+%s",
					 argv[2], argv[5], argv[3], argv[4]);
		st->dirty = true;
		say(ctx, st, "removed %s registration of '%s' at %s+%s, now %zu "
		    "registration%s", argv[2], cli_safe(argv[5]), argv[3], argv[4],
		    registrations(st->t), registrations(st->t) == 1 ? "" : "s");
		return 0;
	}
	if (!strcmp(argv[1], "remove") && argc == 4) {
		const struct vm_io_bus *b = &st->t->bus[bus];
		size_t matches = 0, at = 0;

		for (size_t i = 0; i < b->dev_count; i++)
			if (!strcmp(b->range[i].dev, argv[3]) && !matches++)
				at = i;
		if (!matches)
			return cli_error(ctx, "usage", "no %s registration of '%s'", argv[2],
					 argv[3]);
		if (matches > 1)
			return cli_error(ctx, "usage", "%zu %s registrations are of '%s'; remove "
					 "one by ADDR LEN NAME", matches, argv[2], argv[3]);
		vm_io_bus_remove(&st->t->bus[bus], at);
		st->dirty = true;
		say(ctx, st, "removed %s registration of '%s', now %zu registration%s",
		    argv[2], cli_safe(argv[3]), registrations(st->t),
		    registrations(st->t) == 1 ? "" : "s");
		return 0;
	}
	return usage(ctx);
}

/* Whether path holds something other than a vmmap document (that save
 * must not replace without --force): 0 no (or nothing there), 1 yes. */
static int foreign_file(const char *path)
{
	struct vm_table t;
	struct vm_error err;
	int rc;

	if (access(path, F_OK))
		return 0;
	vm_table_init(&t);
	rc = cli_load_table(&t, path, VM_LOAD_KEEP_INVALID, &err);
	vm_table_clean(&t);
	return rc != 0;
}

int verb_save(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct vmmap_shell *sh = ctx->shell;
	struct shell_table *st = sh->current >= 0 ? &sh->tables[sh->current] : NULL;
	struct verb_args va;
	struct cli_capture *run;
	const char *path;
	bool force;
	json_t *doc;
	char *text;
	int rc;

	if ((rc = verb_parse(ctx, &argc, &argv, &va)))
		return rc;
	if (argc != 2)
		return usage(ctx);
	path = argv[1];
	force = va.force;
	if (strcmp(path, "-") && cli_files_allowed(ctx, path))
		return VMMAP_EXIT_ERROR;
	if (!st)
		return cli_error(ctx, "usage", "no table loaded (try 'load FILE')");
	if (strcmp(path, "-") && !force && foreign_file(path))
		return cli_error(ctx, "usage", "'%s' exists and is not a vmmap document; not "
				 "replaced (save --force %s replaces it)", path, path);
	/* A capture's table is saved as its capture document, with a
	 * snapshot of the rings taken now (vmmap-capture(1)). */
	run = shell_capture_of(sh, st->t);
	doc = run ? cli_capture_doc(run, run->cap.phase == VU_CAPTURE_DONE ? run->cap.end
					       : "running")
		  : vm_table_to_json(st->t, 0);
	text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	json_decref(doc);
	if (!text)
		return cli_error(ctx, "nomem", "out of memory");
	if (!strcmp(path, "-")) { /* standard output, as everywhere else */
		if (!ctx->quiet)
			printf("%s\n", text);
		rc = 0;
	} else if (!(rc = cli_write_atomic(ctx, path, text, run && run->snapshot_bytes))) {
		st->dirty = false;
		say(ctx, st, "saved %zu region%s, %zu registration%s to %s",
		    st->t->umem.nregions, st->t->umem.nregions == 1 ? "" : "s",
		    registrations(st->t), registrations(st->t) == 1 ? "" : "s",
		    cli_safe(path));
	}
	free(text);
	return rc;
}
