/*
 * Guest memory mapped read-only (core/guestmem.c) and the snapshot's tapes
 * (core/vring_view.c): regions read across, by either address, offsets
 * rounded down to the page, a memfd that shrinks after it was mapped (no
 * SIGBUS through pread, unreadable bytes named), regions let go when the
 * table drops them; tapes that record a decode and replay it alone.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guestmem.h"
#include "vring_view.h"

#define PAGE 4096u

/* A memfd of size bytes whose byte i is (i * 7 + 3) & 255. */
static int pattern_memfd(size_t size)
{
	int fd = memfd_create("guest", MFD_CLOEXEC);
	uint8_t *b = malloc(size);

	cr_assert(fd >= 0 && b);
	for (size_t i = 0; i < size; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	cr_assert_eq(write(fd, b, size), (ssize_t)size);
	free(b);
	return fd;
}

static uint8_t at(uint64_t off)
{
	return (uint8_t)(off * 7 + 3);
}

static struct vm_region region(uint64_t gpa, uint64_t size, uint64_t uaddr, uint64_t off)
{
	return (struct vm_region){ .guest_phys_addr = gpa, .memory_size = size,
				   .userspace_addr = uaddr, .mmap_offset = off };
}

Test(guestmem, reads_cross_regions_by_either_address)
{
	struct vm_guestmem gm;
	struct vm_region a = region(0, 0x3000, 0x7f0000000000, 0x1800),
			 b = region(0x3000, 0x2000, 0x7f1000000000, 0);
	int fd = pattern_memfd(0x8000);
	uint8_t buf[0x100];
	struct vm_gm_piece p;

	vm_guestmem_init(&gm);
	cr_assert_eq(vm_guestmem_keep(&gm, &a, dup(fd)), 0);
	cr_assert_eq(vm_guestmem_keep(&gm, &b, dup(fd)), 0);
	/* a maps from offset 0x1800: the mapping starts at the page below. */
	cr_assert_eq(gm.maps[0].map_off, 0x1000);
	cr_assert_not_null(gm.maps[0].base);
	/* Across the boundary at 0x3000: a's last bytes, then b's first. */
	cr_assert_eq(vm_guestmem_read(&gm, 0x2ff0, buf, 0x20), 0);
	for (unsigned i = 0; i < 0x10; i++) {
		cr_assert_eq(buf[i], at(0x1800 + 0x2ff0 + i));
		cr_assert_eq(buf[0x10 + i], at(i));
	}
	vm_guestmem_read_piece(&gm, VM_SPACE_UADDR, 0x7f1000000010, 0x100, buf, &p);
	cr_assert_eq(p.status, VM_GM_OK);
	cr_assert_eq(p.len, 0x100);
	cr_assert_eq(buf[0], at(0x10));
	/* A hole: unmapped up to the next region. */
	vm_guestmem_read_piece(&gm, VM_SPACE_GPA, 0x5000, 0x100, buf, &p);
	cr_assert_eq(p.status, VM_GM_UNMAPPED);
	cr_assert_eq(vm_guestmem_read(&gm, 0x4ff0, buf, 0x20), -EFAULT);
	vm_guestmem_clear(&gm);
	close(fd);
}

/* The frontend shrinks its memfd after vmmap mapped it: the bytes past the
 * new end are unreadable, the ones before still read, nothing faults
 * (core's own path, pread; the CLI's SIGBUS-guarded copy is tested by the
 * shell's live_guest_memory_rings_and_a_memfd_that_shrinks). */
Test(guestmem, a_memfd_that_shrinks_reads_as_unreadable)
{
	struct vm_guestmem gm;
	struct vm_region r = region(0x100000, 4 * PAGE, 0x7f0000000000, 0);
	int fd = pattern_memfd(4 * PAGE);
	uint8_t buf[2 * PAGE];
	struct vm_gm_piece p;

	vm_guestmem_init(&gm);
	cr_assert_eq(vm_guestmem_keep(&gm, &r, dup(fd)), 0);
	cr_assert_null(gm.copy);
	cr_assert_eq(ftruncate(fd, PAGE + 100), 0);
	vm_guestmem_read_piece(&gm, VM_SPACE_GPA, 0x100000 + PAGE, 2 * PAGE, buf, &p);
	cr_assert_eq(p.status, VM_GM_OK, "%s", p.why);
	cr_assert_eq(p.len, 100, "the bytes still in the file");
	vm_guestmem_read_piece(&gm, VM_SPACE_GPA, 0x100000 + 2 * PAGE, 16, buf, &p);
	cr_assert_eq(p.status, VM_GM_UNREADABLE);
	cr_assert_str_eq(p.why, "its file shrank under vmmap to 4196 bytes");
	cr_assert_eq(vm_guestmem_read(&gm, 0x100000 + 3 * PAGE, buf, 8), -EIO);
	cr_assert_eq(vm_guestmem_read(&gm, 0x100000, buf, 8), 0);
	cr_assert_eq(buf[5], at(5));
	vm_guestmem_clear(&gm);
	close(fd);
}

/* A hugetlbfs file (a MFD_HUGETLB memfd): mmap refuses offsets that are
 * not huge-page aligned, so the mapping starts at the huge page below the
 * region's mmap_offset (fstatfs's block size).  Needs 2 huge pages
 * (.ci/run reserves them; elsewhere the test says it was skipped). */
Test(guestmem, hugetlbfs_offsets_round_down_to_the_huge_page)
{
	const uint64_t huge = 2u << 20;
	int fd = memfd_create("guest-huge", MFD_CLOEXEC | MFD_HUGETLB);
	struct vm_region r = region(0x40000000, huge, 0x7f0000000000, huge + 0x3000);
	struct vm_guestmem gm;
	uint8_t *w, buf[8];

	if (fd < 0 || ftruncate(fd, (off_t)(2 * huge)) ||
	    (w = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		if (fd >= 0)
			close(fd);
		cr_skip_test("no huge pages to be had (echo 2 > /proc/sys/vm/nr_hugepages)");
	}
	memcpy(w + huge + 0x3000, "hugepage", 8);
	vm_guestmem_init(&gm);
	cr_assert_eq(vm_guestmem_keep(&gm, &r, dup(fd)), 0);
	cr_assert_eq(gm.maps[0].page, huge, "the file's page: %llu",
		     (unsigned long long)gm.maps[0].page);
	cr_assert_eq(gm.maps[0].map_off, huge);
	cr_assert_not_null(gm.maps[0].base, "mmap: %s", strerror(gm.maps[0].map_err));
	cr_assert_eq(vm_guestmem_read(&gm, 0x40000000, buf, 8), 0);
	cr_assert_eq(memcmp(buf, "hugepage", 8), 0);
	vm_guestmem_clear(&gm);
	munmap(w, 2 * huge);
	close(fd);
}

/* A region larger than its file when mapped: the part past the end is
 * named, never mapped. */
Test(guestmem, a_region_past_its_file)
{
	struct vm_guestmem gm;
	struct vm_region r = region(0, 8 * PAGE, 0x7f0000000000, PAGE);
	int fd = pattern_memfd(2 * PAGE);
	uint8_t buf[16];
	struct vm_gm_piece p;

	vm_guestmem_init(&gm);
	cr_assert_eq(vm_guestmem_keep(&gm, &r, dup(fd)), 0);
	cr_assert_eq(gm.maps[0].maplen, PAGE);
	vm_guestmem_read_piece(&gm, VM_SPACE_GPA, PAGE, 16, buf, &p);
	cr_assert_eq(p.status, VM_GM_UNREADABLE);
	cr_assert_str_eq(p.why, "past the end of its file (8192 bytes when mapped)");
	vm_guestmem_clear(&gm);
	close(fd);
}

/* Regions the table no longer holds are let go; one kept again replaces
 * its old descriptor. */
Test(guestmem, regions_leave_with_the_table)
{
	struct vm_guestmem gm;
	struct vm_umem u;
	struct vm_region a = region(0, PAGE, 0x7f0000000000, 0),
			 b = region(PAGE, PAGE, 0x7f0000001000, 0);
	int fd = pattern_memfd(PAGE);
	uint8_t buf[4];

	vm_guestmem_init(&gm);
	vm_umem_init(&u);
	cr_assert_eq(vm_umem_add(&u, &a, NULL), 0);
	cr_assert_eq(vm_guestmem_keep(&gm, &a, dup(fd)), 0);
	cr_assert_eq(vm_guestmem_keep(&gm, &a, dup(fd)), 0);
	cr_assert_eq(vm_guestmem_keep(&gm, &b, dup(fd)), 0);
	cr_assert_eq(gm.n, 2, "the same region once");
	vm_guestmem_prune(&gm, &u);
	cr_assert_eq(gm.n, 1);
	cr_assert_eq(vm_guestmem_read(&gm, PAGE, buf, 4), -EFAULT);
	cr_assert_eq(vm_guestmem_read(&gm, 0, buf, 4), 0);
	vm_umem_clean(&u);
	vm_guestmem_clear(&gm);
	close(fd);
}

/* ---- tapes ---- */

static uint8_t fake[1 << 16];

static int read_fake(void *arg, uint64_t gpa, void *buf, size_t len)
{
	(void)arg;
	if (gpa >= sizeof(fake) || len > sizeof(fake) - gpa)
		return -EFAULT;
	memcpy(buf, fake + gpa, len);
	return 0;
}

Test(tape, records_merges_and_replays)
{
	struct vq_tape t = { .read = read_fake }, back;
	uint8_t b[64];
	char why[128];
	json_t *j;

	for (size_t i = 0; i < sizeof(fake); i++)
		fake[i] = (uint8_t)i;
	cr_assert_eq(vq_tape_record(&t, 0x100, b, 16), 0);
	cr_assert_eq(vq_tape_record(&t, 0x120, b, 16), 0);
	cr_assert_eq(t.n, 2);
	cr_assert_eq(vq_tape_record(&t, 0x108, b, 0x20), 0); /* bridges both */
	cr_assert_eq(t.n, 1);
	cr_assert_eq(t.runs[0].gpa, 0x100);
	cr_assert_eq(t.runs[0].len, 0x30);
	cr_assert_eq(vq_tape_record(&t, 0x20, b, 4), 0);
	cr_assert_eq(vq_tape_record(&t, 0x130, b, 4), 0);     /* adjacent: merged */
	cr_assert_eq(t.n, 2);
	cr_assert_eq(vq_tape_record(&t, 0xffff0, b, 4), -EFAULT);
	j = vq_tape_json(&t);
	cr_assert_eq(vq_tape_load(&back, j, why, sizeof(why)), 0, "%s", why);
	json_decref(j);
	cr_assert_eq(vq_tape_read(&back, 0x110, b, 0x24), 0);
	cr_assert_eq(b[0], 0x10);
	cr_assert_eq(b[0x23], 0x33);
	cr_assert_eq(vq_tape_read(&back, 0x110, b, 0x25), -EIO, "one byte past the run");
	cr_assert_eq(vq_tape_read(&back, 0x30, b, 1), -EIO);
	vq_tape_free(&t);
	vq_tape_free(&back);
}

Test(tape, a_bad_snapshot_is_named)
{
	static const char *const bad[] = {
		"[{\"guest_phys_addr\": \"0x0\", \"bytes\": \"abc\"}]",
		"[{\"guest_phys_addr\": \"0x0\", \"bytes\": \"zz\"}]",
		"[{\"guest_phys_addr\": \"0x0\", \"bytes\": \"AB\"}]",
		"[{\"guest_phys_addr\": 5, \"bytes\": \"00\"}]",
		"[{\"guest_phys_addr\": \"0xffffffffffffffff\", \"bytes\": \"0000\"}]",
		"{}",
	};
	struct vq_tape t;
	char why[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);

		cr_assert_not_null(j);
		cr_assert_eq(vq_tape_load(&t, j, why, sizeof(why)), -1, "%s", bad[i]);
		cr_assert_gt(strlen(why), 10);
		json_decref(j);
	}
}
