/*
 * Fuzz target: the table loader (core/json_load.c), both ways in: from
 * memory, and from a file (memfd), which maps it and drops the pages behind
 * the parser (this build releases every 4 KiB, so small inputs exercise it).
 * Both must give the same answer; a loaded table must pass the trees' own
 * invariant checks, translate each region's first and last byte to itself,
 * and write out a document that loads back and writes out byte-identical.
 * Strict and lenient (VM_LOAD_KEEP_INVALID) loads are both run.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "table.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s\n", #c); abort(); } } while (0)

static char *dump(const struct vm_table *t)
{
	json_t *doc = vm_table_to_json(t, 1);
	char *s = doc ? json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT) : NULL;

	json_decref(doc);
	CHECK(s);
	return s;
}

static void check_table(const struct vm_table *t, unsigned flags)
{
	const struct vm_umem *u = &t->umem;
	struct vm_table again;
	struct vm_error err;
	char *a = dump(t), *b;

	CHECK(vm_itree_check(&u->gpa_tree) == NULL);
	CHECK(vm_itree_check(vm_umem_tree(u, VM_SPACE_UADDR)) == NULL);
	for (const struct vm_umem_node *n = u->head; n; n = n->next) {
		struct vm_piece p;
		struct vm_translation tr;
		const struct vm_region *r = &n->region;

		/* The lowest-starting covering region answers: n, or one that
		 * overlaps it and starts no later. */
		CHECK(vm_umem_translate(u, NULL, VM_SPACE_GPA, r->guest_phys_addr, 1, &p, 1, &tr) == 0);
		CHECK(p.region->guest_phys_addr <= r->guest_phys_addr);
		CHECK(vm_umem_translate(u, NULL, VM_SPACE_GPA, vm_region_last(r), 1, &p, 1, &tr) == 0);
		CHECK(vm_umem_translate(u, NULL, VM_SPACE_UADDR, r->userspace_addr, 1, &p, 1, &tr) == 0);
	}
	/* What show -j writes loads back to the same document. */
	vm_table_init(&again);
	CHECK(vm_table_load_buffer(&again, "dump", a, strlen(a), flags, &err) == 0);
	b = dump(&again);
	CHECK(strcmp(a, b) == 0);
	free(a);
	free(b);
	vm_table_clean(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned modes[] = { 0, VM_LOAD_KEEP_INVALID };
	int fd = memfd_create("fuzz.json", MFD_CLOEXEC);
	char path[64];

	CHECK(fd >= 0);
	CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct vm_table mem, file;
		struct vm_error e1, e2;
		int r1, r2;

		vm_table_init(&mem);
		vm_table_init(&file);
		r1 = vm_table_load_buffer(&mem, path, (const char *)data, size, modes[i], &e1);
		r2 = vm_table_load_file(&file, path, modes[i], &e2);
		CHECK(r1 == r2);
		if (r1) {
			CHECK(e1.msg[0] != '\0' && strchr(e1.msg, '\n') == NULL);
			CHECK(strcmp(e1.msg, e2.msg) == 0);
			CHECK(mem.umem.nregions == 0 && mem.umem.head == NULL);
		} else {
			char *a = dump(&mem), *b = dump(&file);

			CHECK(strcmp(a, b) == 0);
			free(a);
			free(b);
			check_table(&mem, modes[i]);
		}
		vm_table_clean(&mem);
		vm_table_clean(&file);
	}
	close(fd);
	return 0;
}
