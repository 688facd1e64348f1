/*
 * vmmap mem FILE ADDR [LEN]: guest memory as a hexdump with ASCII, by
 * guest-physical address or (--from uaddr) by the frontend's address,
 * crossing regions as translate does, naming the bytes that are unmapped
 * or cannot be read.  Live in the shell (read-only, through the
 * descriptors the frontend sent); from a capture file, only what its
 * snapshot holds.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "num.h"

/* The most bytes one mem shows. */
#define MEM_MAX (1u << 20)
#define MEM_DEFAULT 256u

enum { OPT_FROM = 1000 };

struct mem_args {
	struct vmmap_ctx *ctx;
	const char *from;
	char **pos;
	int npos;
};

static const struct argp_option mem_options[] = {
	{ "from", OPT_FROM, "SPACE", 0,
	  "ADDR is a guest-physical address (gpa, the default) or the frontend's "
	  "user address (uaddr)", 0 },
	{ 0 },
};

static error_t mem_parse(int key, char *arg, struct argp_state *state)
{
	struct mem_args *a = state->input;

	switch (key) {
	case OPT_FROM: a->from = arg; return 0;
	case ARGP_KEY_ARGS:
		a->pos = state->argv + state->next;
		a->npos = state->argc - state->next;
		return 0;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, a->ctx->shell ? "missing ADDR" : "missing FILE and ADDR");
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cmd_mem_argp = {
	.options = mem_options,
	.parser = mem_parse,
	.args_doc = "CAPTURE ADDR [LEN]",
	.doc = "Show LEN bytes (default 256, at most 1M) of guest memory at ADDR as "
	       "a hexdump with ASCII, crossing regions as translate does; bytes no "
	       "region holds show as --, bytes that cannot be read as ??, and each "
	       "such run is named after the dump.\v"
	       "In the shell, on the live capture, guest memory is read through the "
	       "descriptors the frontend sent, mapped read-only.  A capture FILE "
	       "holds only its snapshot: the rings' metadata, and buffers' first "
	       "bytes with capture --snapshot-bytes.  Exit status: 0 every byte "
	       "read, 1 some unmapped or unreadable, 2 usage or input error.",
	.children = cli_global_children,
};

/* One run of bytes of one status, in the space asked. */
struct mem_piece {
	uint64_t addr, len, gpa;
	enum vm_gm_status status;
	char why[96];
};

struct mem_result {
	const char *name;
	enum vm_space space;
	uint64_t addr, len;
	uint8_t *bytes;
	struct mem_piece *pieces;
	size_t npieces;
};

static int add_piece(struct mem_result *r, const struct mem_piece *p)
{
	struct mem_piece *last = r->npieces ? &r->pieces[r->npieces - 1] : NULL;

	/* Runs that continue one another with one status and reason merge. */
	if (last && last->status == p->status && p->status != VM_GM_OK &&
	    !strcmp(last->why, p->why) && last->addr + last->len == p->addr) {
		last->len += p->len;
		return 0;
	}
	if (!(r->npieces & (r->npieces - 1)) || !r->npieces) {
		size_t cap = r->npieces ? 2 * r->npieces : 4;
		struct mem_piece *v = realloc(r->pieces, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->pieces = v;
	}
	r->pieces[r->npieces++] = *p;
	return 0;
}

/* Reads [r->addr, + r->len) into r->bytes, piece by piece. */
static int read_all(struct cli_guest *g, struct mem_result *r)
{
	for (uint64_t off = 0; off < r->len;) {
		uint64_t a = r->addr + off, left = r->len - off;
		struct vm_translation tr;
		struct mem_piece mp = { .addr = a };
		struct vm_piece pc;
		int rc = vm_umem_translate(&g->tb.t->umem, NULL, r->space, a, left, &pc, 1, &tr);

		if (rc == -ENOMEM)
			return rc;
		if (rc == -EFAULT && !tr.npieces) {
			mp.status = VM_GM_UNMAPPED;
			mp.len = tr.hole_last - a < left - 1 ? tr.hole_last - a + 1 : left;
			snprintf(mp.why, sizeof(mp.why), "no region holds them");
			if (add_piece(r, &mp))
				return -ENOMEM;
			off += mp.len;
			continue;
		}
		/* The region's piece, read run by run. */
		for (uint64_t done = 0; done < pc.len;) {
			struct vm_gm_piece gp;

			cli_guest_piece(g, pc.guest_phys_addr + done, pc.len - done,
					r->bytes + off + done, &gp);
			mp.addr = a + done;
			mp.gpa = pc.guest_phys_addr + done;
			mp.len = gp.len;
			mp.status = gp.status;
			snprintf(mp.why, sizeof(mp.why), "%s", gp.why);
			if (add_piece(r, &mp))
				return -ENOMEM;
			done += gp.len;
		}
		off += pc.len;
	}
	return 0;
}

static json_t *mem_json(const void *p)
{
	const struct mem_result *r = p;
	json_t *a = json_array();

	for (size_t i = 0; a && i < r->npieces; i++) {
		const struct mem_piece *mp = &r->pieces[i];
		static const char *const status[] = { "ok", "unmapped", "unreadable" };
		json_t *o = json_pack("{s:o, s:I, s:s}", "addr", vm_json_hex(mp->addr), "len",
				      (json_int_t)mp->len, "status", status[mp->status]);

		if (mp->status != VM_GM_UNMAPPED && r->space != VM_SPACE_GPA)
			vm_json_put(&o, "guest_phys_addr", vm_json_hex(mp->gpa));
		if (mp->status == VM_GM_OK)
			vm_json_put(&o, "bytes", vq_hex_json(r->bytes + (mp->addr - r->addr),
							     (size_t)mp->len));
		else
			vm_json_put(&o, "why", json_string(mp->why));
		if (json_array_append_new(a, o))
			json_decref(a), a = NULL;
	}
	return json_pack("{s:s, s:s, s:o, s:I, s:o}", "file", r->name, "from",
			 cli_space_names[r->space], "addr", vm_json_hex(r->addr), "len",
			 (json_int_t)r->len, "pieces", a);
}

static void mem_print(const void *p)
{
	const struct mem_result *r = p;
	size_t k = 0;

	for (uint64_t line = 0; line < r->len; line += 16) {
		char ascii[17];
		uint64_t n = r->len - line < 16 ? r->len - line : 16;

		printf("%016" PRIx64 " ", r->addr + line);
		for (uint64_t i = 0; i < 16; i++) {
			uint64_t off = line + i;
			enum vm_gm_status st = VM_GM_OK;

			if (i >= n) {
				printf("%s   ", i == 8 ? " " : "");
				ascii[i] = 0;
				continue;
			}
			while (k + 1 < r->npieces && r->pieces[k].addr + r->pieces[k].len - 1 <
							     r->addr + off)
				k++;
			st = r->pieces[k].status;
			printf("%s %s", i == 8 ? " " : "", st == VM_GM_UNMAPPED ? "--"
			       : st == VM_GM_UNREADABLE ? "??" : "");
			if (st == VM_GM_OK)
				printf("%02x", r->bytes[off]);
			ascii[i] = st == VM_GM_OK && isprint(r->bytes[off]) ? (char)r->bytes[off]
				   : st == VM_GM_OK ? '.' : ' ';
			ascii[i + 1] = 0;
		}
		printf("  |%s|\n", ascii);
	}
	for (size_t i = 0; i < r->npieces; i++) {
		const struct mem_piece *mp = &r->pieces[i];

		if (mp->status != VM_GM_OK)
			printf("%016" PRIx64 "-%016" PRIx64 " (%" PRIu64 " byte%s): %s: %s\n",
			       mp->addr, mp->addr + mp->len - 1, mp->len, mp->len == 1 ? "" : "s",
			       mp->status == VM_GM_UNMAPPED ? "unmapped" : "unreadable", mp->why);
	}
}

int cmd_mem(struct vmmap_ctx *ctx, int argc, char **argv)
{
	struct mem_args a = { .ctx = ctx };
	struct mem_result r = { .len = MEM_DEFAULT };
	const char *why;
	struct cli_guest g;
	int rc, used;
	bool negative = false;

	if ((rc = cli_parse(ctx, &cmd_mem_argp, argc, argv, &a)))
		return rc;
	if (a.from && !strcmp(a.from, "uaddr"))
		r.space = VM_SPACE_UADDR;
	else if (a.from && strcmp(a.from, "gpa"))
		return cli_error(ctx, "usage", "invalid --from '%s' (gpa or uaddr)", a.from);
	if ((rc = cli_guest_open(ctx, a.pos, a.npos, &g, &used)))
		return rc;
	if (a.npos - used < 1 || a.npos - used > 2) {
		rc = cli_error(ctx, "usage", a.npos - used < 1 ? "missing ADDR (try 'vmmap mem "
			       "--help')" : "unexpected argument '%s'", a.pos[a.npos - 1]);
		goto out;
	}
	if (vm_parse_addr(a.pos[used], &r.addr, &why)) {
		rc = cli_error(ctx, "usage", "invalid ADDR '%s': %s", a.pos[used], why);
		goto out;
	}
	if (a.npos - used == 2 && (vm_parse_size(a.pos[used + 1], &r.len, &why) ||
				   !r.len || r.len > MEM_MAX)) {
		rc = cli_error(ctx, "usage", "invalid LEN '%s': %s", a.pos[used + 1],
			       !r.len ? "must be at least 1" : r.len > MEM_MAX ? "at most 1M"
			       : why);
		goto out;
	}
	if (r.len - 1 > UINT64_MAX - r.addr) {
		rc = cli_error(ctx, "usage", "ADDR %s and LEN %" PRIu64 " run past 2^64-1",
			       a.pos[used], r.len);
		goto out;
	}
	r.name = g.tb.name;
	r.bytes = calloc(1, (size_t)r.len);
	if (!r.bytes || read_all(&g, &r)) {
		rc = cli_error(ctx, "nomem", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r.npieces; i++)
		negative |= r.pieces[i].status != VM_GM_OK;
	rc = cli_emit(ctx, &r, mem_json, mem_print,
		      negative ? VMMAP_EXIT_NEGATIVE : VMMAP_EXIT_OK);
out:
	free(r.bytes);
	free(r.pieces);
	cli_guest_close(&g);
	return rc;
}
