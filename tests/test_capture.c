/*
 * vmmap capture against a scripted frontend: this test plays QEMU or DPDK on
 * the socket, sends well-formed and malformed sequences, and checks the
 * replies byte by byte, the recorded table and timeline, the violations, the
 * exit status, socket safety, and that vmmap's open fd count comes back to
 * where it started.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frontend.h"

static char dir[64], sock_path[128], out_path[128], err_path[128], stdout_path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vmmap-capture-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/vu.sock", dir);
	snprintf(out_path, sizeof(out_path), "%s/capture.json", dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr.txt", dir);
	snprintf(stdout_path, sizeof(stdout_path), "%s/stdout.txt", dir);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(capture, .init = setup, .fini = teardown, .timeout = 60);

/* Starts vmmap capture with extra arguments (NULL-terminated). */
static pid_t start_vmmap(const char *first, ...)
{
	va_list ap;
	pid_t pid;

	va_start(ap, first);
	pid = spawn_capture(out_path, err_path, stdout_path, first, ap);
	va_end(ap);
	return pid;
}

static json_t *load_output(void)
{
	json_error_t e;
	json_t *doc = json_load_file(out_path, 0, &e);

	cr_assert_not_null(doc, "%s: %s", out_path, e.text);
	return doc;
}

Test(capture, add_rem_mem_reg_path_like_qemu)
{
	pid_t pid = start_vmmap("--listen", sock_path, "--max-slots", "32", NULL);
	int fd = connect_retry(sock_path);
	uint64_t ring[5] = { 0 };
	struct stat st;
	json_t *doc;

	cr_assert_eq(lstat(sock_path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600, "socket mode %o", st.st_mode & 0777);

	handshake(fd, MQ | REPLY_ACK | MEM_SLOTS);
	send_msg(fd, 36, 1, NULL, 0, 0);
	cr_assert_eq(read_reply(fd, 36, 8), 32, "GET_MAX_MEM_SLOTS answers --max-slots");
	region_msg(fd, 37, 0x9, 0x0, 0xa0000, 0x7f0000000000, 0x0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0, "ADD_MEM_REG acked");
	region_msg(fd, 37, 0x9, 0xc0000, 0x7f40000, 0x7f00000c0000, 0xc0000, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	/* vring 1 at user addresses inside the second region */
	memcpy(ring, (uint32_t[2]){ 1, 0 }, 8);
	ring[1] = 0x7f0007f5e000;
	ring[2] = 0x7f0007f60000;
	ring[3] = 0x7f0007f5f000;
	send_msg(fd, 9, 1, ring, 40, 0);
	u64_msg(fd, 13, 1, 1, 1); /* SET_VRING_CALL index 1 with an fd */
	region_msg(fd, 37, 0x9, 0x100000000, 0x8000000, 0x7f1000000000, 0x0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	region_msg(fd, 38, 0x9, 0x100000000, 0x8000000, 0x7f1000000000, 0x0, 0);
	cr_assert_eq(read_reply(fd, 38, 8), 0, "REM_MEM_REG acked");
	close(fd);

	cr_assert_eq(wait_status(pid), 0, "stderr: %s", slurp(err_path));
	cr_assert_neq(access(sock_path, F_OK), 0, "the socket is removed at exit");
	doc = load_output();
	cr_assert_eq(json_array_size(json_object_get(json_object_get(doc, "memory"), "regions")), 2);
	cr_assert_str_eq(jstr(doc, "memory.regions.0.guest_phys_addr"), "0x0");
	cr_assert_str_eq(jstr(doc, "memory.regions.1.memory_size"), "0x7f40000");
	cr_assert_str_eq(jstr(doc, "memory.regions.1.mmap_offset"), "0xc0000");
	cr_assert_str_eq(jstr(doc, "capture.end"), "disconnect");
	cr_assert_str_eq(jstr(doc, "capture.protocol_features.acked"), "0x8009");
	cr_assert_eq(json_array_size(json_object_get(json_object_get(doc, "capture"), "timeline")), 4);
	cr_assert_str_eq(jstr(doc, "capture.timeline.3.request"), "REM_MEM_REG");
	cr_assert_eq(jint(doc, "capture.timeline.3.regions"), 2);
	cr_assert_str_eq(jstr(doc, "capture.timeline.3.removed.0.guest_phys_addr"), "0x100000000");
	cr_assert_eq(jint(doc, "capture.rings.0.index"), 1);
	cr_assert_str_eq(jstr(doc, "capture.rings.0.desc.guest_phys_addr"), "0x7f5e000");
	cr_assert_str_eq(jstr(doc, "capture.rings.0.used.guest_phys_addr"), "0x7f60000");
	cr_assert_eq(json_array_size(json_object_get(json_object_get(doc, "capture"), "violations")), 0);
	json_decref(doc);

	/* The capture is a table the other commands accept as it is. */
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s translate %s 0x7f5e000 0x3000 >/dev/null", VMMAP_BIN,
		 out_path);
	cr_assert_eq(system(cmd), 0, "translate accepts the capture");
	snprintf(cmd, sizeof(cmd), "%s validate --profile vhost-user %s >/dev/null", VMMAP_BIN,
		 out_path);
	cr_assert_eq(system(cmd), 0, "validate accepts the capture");
}

Test(capture, set_mem_table_path_like_dpdk)
{
	pid_t pid = start_vmmap("--listen", sock_path, "--no-mem-slots", NULL);
	int fd = connect_retry(sock_path);
	uint64_t t1[1 + 8] = { 2, 0x0, 0xa0000, 0x7f0000000000, 0, 0xc0000, 0x7f40000,
			       0x7f00000c0000, 0xc0000 };
	uint64_t t2[1 + 4] = { 1, 0x100200000, 0x10000000, 0x100200000, 0 };
	json_t *doc;

	handshake(fd, REPLY_ACK);
	send_msg(fd, 15, 1, NULL, 0, 0);
	cr_assert_eq(read_reply(fd, 15, 8) & MEM_SLOTS, 0, "--no-mem-slots is not offered");
	send_msg(fd, 5, 0x9, t1, sizeof(t1), 2);
	cr_assert_eq(read_reply(fd, 5, 8), 0, "SET_MEM_TABLE acked");
	send_msg(fd, 5, 0x9, t2, sizeof(t2), 1);
	cr_assert_eq(read_reply(fd, 5, 8), 0);
	send_msg(fd, 11, 1, (uint32_t[2]){ 0, 0 }, 8, 0);
	cr_assert_eq(read_reply(fd, 11, 8), 0, "GET_VRING_BASE answers the index and base");
	close(fd);

	cr_assert_eq(wait_status(pid), 0, "stderr: %s", slurp(err_path));
	doc = load_output();
	cr_assert_str_eq(jstr(doc, "memory.regions.0.guest_phys_addr"), "0x100200000");
	cr_assert_eq(json_array_size(json_object_get(json_object_get(doc, "memory"), "regions")), 1);
	cr_assert_str_eq(jstr(doc, "capture.timeline.1.request"), "SET_MEM_TABLE");
	cr_assert_eq(json_array_size(json_object_get(json_array_get(json_object_get(
		json_object_get(doc, "capture"), "timeline"), 1), "removed")), 2);
	cr_assert_eq(jint(doc, "capture.timeline.1.regions"), 1);
	json_decref(doc);
}

static size_t count_violations(json_t *doc, const char *needle)
{
	json_t *v = json_object_get(json_object_get(doc, "capture"), "violations");
	size_t n = 0;

	for (size_t i = 0; i < json_array_size(v); i++)
		n += strstr(json_string_value(json_object_get(json_array_get(v, i), "problem")),
			    needle) != NULL;
	return n;
}

Test(capture, violations_are_recorded_and_the_capture_goes_on)
{
	pid_t pid = start_vmmap("--listen", sock_path, NULL);
	int fd = connect_retry(sock_path);
	uint64_t nine[1 + 9 * 4] = { 9 };
	uint64_t one[1 + 4] = { 1, 0x0, 0x1000, 0x1000, 0 };
	json_t *doc;

	handshake(fd, MQ | REPLY_ACK | MEM_SLOTS);
	send_msg(fd, 1, 0x2, NULL, 0, 0);              /* version 2: ignored */
	send_msg(fd, 1, 0x1 | 0x100, NULL, 0, 0);      /* reserved bit */
	read_reply(fd, 1, 8);
	for (int i = 0; i < 9; i++) {
		nine[1 + i * 4] = (uint64_t)i * 0x1000;
		nine[2 + i * 4] = 0x1000;
		nine[3 + i * 4] = 0x7f0000000000 + (uint64_t)i * 0x1000;
	}
	send_msg(fd, 5, 0x9, nine, sizeof(nine), 9);   /* 9 regions, and mem slots on */
	cr_assert_eq(read_reply(fd, 5, 8), 1, "a violating request is NACKed");
	send_msg(fd, 5, 0x1, one, sizeof(one), 0);     /* fd count mismatch */
	region_msg(fd, 37, 0x9, 0x0, 0x0, 0x1000, 0, 1);            /* zero size */
	cr_assert_eq(read_reply(fd, 37, 8), 1);
	region_msg(fd, 37, 0x1, 0xfffffffffffff000, 0x2000, 0x0, 0, 1); /* wraps */
	region_msg(fd, 37, 0x1, 0x800, 0x1000, 0x7f2000000000, 0, 1);   /* overlaps */
	region_msg(fd, 37, 0x1, 0x800, 0x1000, 0x7f2000000000, 0, 1);   /* again */
	region_msg(fd, 38, 0x1, 0x50000, 0x1000, 0x1, 0, 0);            /* unknown */
	region_msg(fd, 38, 0x1, 0x800, 0x1000, 0x7f2000000000, 0, 1);   /* fd on REM */
	send_msg(fd, 99, 0x9, NULL, 0, 0);                              /* unknown */
	cr_assert_eq(read_reply(fd, 99, 8), 1);
	u64_msg(fd, 8, 0x1, 0, 0);
	send_msg(fd, 2, 0x1, "\1\0\0\0", 4, 0);                       /* short */
	/* Still alive and answering: */
	send_msg(fd, 1, 1, NULL, 0, 0);
	read_reply(fd, 1, 8);
	close(fd);

	cr_assert_eq(wait_status(pid), 1, "violations give exit status 1");
	doc = load_output();
	cr_assert_eq(count_violations(doc, "version bits are 2"), 1);
	cr_assert_eq(count_violations(doc, "reserved flag bits 0x100"), 1);
	cr_assert_eq(count_violations(doc, "9 regions; at most 8"), 1);
	cr_assert_eq(count_violations(doc, "after CONFIGURE_MEM_SLOTS was negotiated"), 2);
	cr_assert_eq(count_violations(doc, "announces 1 region but came with 0 file descriptors"), 1);
	cr_assert_eq(count_violations(doc, "has memory_size 0"), 1);
	cr_assert_eq(count_violations(doc, "runs past 2^64-1"), 1);
	cr_assert_eq(count_violations(doc, "overlaps region"), 1);
	cr_assert_eq(count_violations(doc, "already in the table"), 1);
	cr_assert_eq(count_violations(doc, "not in the table"), 1);
	cr_assert_eq(count_violations(doc, "came with 1 file descriptor; it should carry none"), 1);
	cr_assert_eq(count_violations(doc, "unknown request 99"), 1);
	cr_assert_eq(count_violations(doc, "SET_FEATURES carries 4 payload bytes"), 1);
	cr_assert(strstr(slurp(err_path), "vmmap: capture: message "), "reported on stderr");
	cr_assert_str_eq(jstr(doc, "capture.violations.0.request"), "GET_FEATURES");
	json_decref(doc);
}

Test(capture, oversized_payload_closes_and_output_is_whole)
{
	pid_t pid = start_vmmap("--listen", sock_path, NULL);
	int fd = connect_retry(sock_path);
	uint32_t hdr[3] = { 5, 1, 1u << 20 };
	char c;
	json_t *doc;

	handshake(fd, REPLY_ACK | MEM_SLOTS);
	region_msg(fd, 37, 0x1, 0x0, 0x1000, 0x1000, 0, 1);
	cr_assert_eq(send(fd, hdr, 12, MSG_NOSIGNAL), 12);
	/* vmmap closes without reading a megabyte. */
	cr_assert_eq(recv(fd, &c, 1, 0), 0, "connection closed");
	close(fd);
	cr_assert_eq(wait_status(pid), 1);
	doc = load_output();
	cr_assert_str_eq(jstr(doc, "capture.end"), "framing");
	cr_assert_eq(count_violations(doc, "1048576-byte payload, above the 4096-byte maximum"), 1);
	cr_assert_eq(json_array_size(json_object_get(json_object_get(doc, "memory"), "regions")), 1,
		     "what was captured before is kept");
	json_decref(doc);
}

Test(capture, header_cut_short)
{
	pid_t pid = start_vmmap("--listen", sock_path, NULL);
	int fd = connect_retry(sock_path);
	json_t *doc;

	cr_assert_eq(send(fd, "\x01\x00\x00\x00\x01", 5, MSG_NOSIGNAL), 5);
	close(fd);
	cr_assert_eq(wait_status(pid), 1);
	doc = load_output();
	cr_assert_eq(count_violations(doc, "after 5 of the 12 header bytes"), 1);
	json_decref(doc);
}

Test(capture, fds_are_closed_after_each_message)
{
	pid_t pid = start_vmmap("--listen", sock_path, NULL);
	int fd = connect_retry(sock_path);
	size_t base, after;

	handshake(fd, REPLY_ACK | MEM_SLOTS);
	send_msg(fd, 1, 1, NULL, 0, 0);
	read_reply(fd, 1, 8); /* vmmap has handled everything so far */
	base = count_fds(pid);
	for (int i = 0; i < 3000; i++)
		u64_msg(fd, 13, 1, (uint64_t)(i % 2), 1);
	for (int i = 0; i < 100; i++)
		send_msg(fd, 3, 1, NULL, 0, 8); /* fds where none belong */
	send_msg(fd, 1, 1, NULL, 0, 0);
	read_reply(fd, 1, 8);
	after = count_fds(pid);
	cr_assert_eq(after, base, "open fds %zu after 3100 messages with fds, %zu before",
		     after, base);
	close(fd);
	cr_assert_eq(wait_status(pid), 1, "the stray fds are violations");
}

/* Guest memory is kept as the table is: one descriptor per region, let go
 * with REM_MEM_REG; a new SET_MEM_TABLE replaces them all. */
Test(capture, one_descriptor_kept_per_region_of_the_table)
{
	pid_t pid = start_vmmap("--listen", sock_path, NULL);
	int fd = connect_retry(sock_path);
	uint64_t table[1 + 4 * 2] = { 2 };
	size_t base, n;

	handshake(fd, REPLY_ACK | MEM_SLOTS);
	send_msg(fd, 1, 1, NULL, 0, 0);
	read_reply(fd, 1, 8);
	base = count_fds(pid);
	region_msg(fd, 37, 0x9, 0x0, 0x100000, 0x7f0000000000, 0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	region_msg(fd, 37, 0x9, 0x100000, 0x100000, 0x7f0000100000, 0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	n = settle_fds(pid, base + 2);
	cr_assert_eq(n, base + 2, "two regions, two descriptors: %zu, %zu before", n, base);
	region_msg(fd, 38, 0x9, 0x0, 0x100000, 0x7f0000000000, 0, 0); /* REM_MEM_REG */
	cr_assert_eq(read_reply(fd, 38, 8), 0);
	n = settle_fds(pid, base + 1);
	cr_assert_eq(n, base + 1, "REM_MEM_REG lets its descriptor go: %zu", n);
	close(fd);
	wait_status(pid);

	/* SET_MEM_TABLE (no CONFIGURE_MEM_SLOTS): two regions, then one. */
	pid = start_vmmap("--listen", sock_path, NULL);
	fd = connect_retry(sock_path);
	handshake(fd, REPLY_ACK);
	send_msg(fd, 1, 1, NULL, 0, 0);
	read_reply(fd, 1, 8);
	base = count_fds(pid);
	for (int i = 0; i < 2; i++) {
		table[1 + 4 * i] = 0x1000000 * (uint64_t)(i + 1);
		table[2 + 4 * i] = 0x1000;
		table[3 + 4 * i] = 0x7f1000000000 + 0x1000000 * (uint64_t)i;
	}
	send_msg(fd, 5, 0x9, table, sizeof(table), 2);
	cr_assert_eq(read_reply(fd, 5, 8), 0);
	n = settle_fds(pid, base + 2);
	cr_assert_eq(n, base + 2, "the table's two: %zu, %zu before", n, base);
	table[0] = 1;
	table[1] = 0x3000000;
	send_msg(fd, 5, 0x9, table, 8 + 32, 1);
	cr_assert_eq(read_reply(fd, 5, 8), 0);
	n = settle_fds(pid, base + 1);
	cr_assert_eq(n, base + 1, "the new table's one: %zu", n);
	close(fd);
	wait_status(pid);
}

/* Each session's document holds its own snapshot: with --keep-listening,
 * a session without rings does not carry the previous one's guest memory
 * (which --snapshot-bytes may fill with buffer contents). */
Test(capture, a_snapshot_belongs_to_its_session)
{
	pid_t pid = start_vmmap("--listen", sock_path, "--keep-listening", "--sessions", "2",
				"--snapshot-bytes", "8", NULL);
	int fd = connect_retry(sock_path), mfd = memfd_create("guest", MFD_CLOEXEC);
	uint64_t region[5] = { 0, 0, 0x100000, 0x7f0000000000, 0 };
	uint32_t num[2] = { 0, 8 }, hdr[3] = { 37, 0x9, 40 };
	struct { uint32_t index, flags; uint64_t desc, used, avail, log; } a = {
		0, 0, 0x7f0000001000, 0x7f0000003000, 0x7f0000002000, 0 };
	uint8_t buf[52];
	json_t *doc;

	cr_assert_eq(ftruncate(mfd, 0x100000), 0);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	memcpy(buf, hdr, 12);
	memcpy(buf + 12, region, 40);
	send_fds(fd, buf, sizeof(buf), &mfd, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	send_msg(fd, 8, 1, num, 8, 0);
	send_msg(fd, 9, 0x9, &a, 40, 0);
	cr_assert_eq(read_reply(fd, 9, 8), 0);
	close(fd);
	for (int i = 0; i < 500; i++) { /* the first session's document */
		json_t *d = json_load_file(out_path, 0, NULL);
		bool has = json_object_get(json_object_get(d, "capture"), "snapshot") != NULL;

		json_decref(d);
		if (has)
			break;
		usleep(10000);
	}
	doc = load_output();
	cr_assert_not_null(json_object_get(json_object_get(doc, "capture"), "snapshot"),
			   "the first session's rings are in its snapshot");
	json_decref(doc);
	fd = connect_retry(sock_path);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	close(fd);
	wait_status(pid);
	doc = load_output();
	cr_assert_null(json_object_get(json_object_get(doc, "capture"), "snapshot"),
		       "the second session has no rings and no snapshot: %s",
		       json_dumps(json_object_get(doc, "capture"), 0));
	json_decref(doc);
	close(mfd);
}

/*
 * Two regions from two memfds of one name (QEMU names every memfd
 * "memory-backend-memfd", one per NUMA node): each region carries its own
 * descriptor's identity, and the recording keeps it for a replay.
 */
Test(capture, regions_carry_their_descriptor_identity)
{
	char rec[160], replayed[160], cmd[512];
	pid_t pid;
	int fd, m[2];
	struct stat st[2];
	json_t *doc, *again;

	snprintf(rec, sizeof(rec), "%s/s.bin", dir);
	snprintf(replayed, sizeof(replayed), "%s/replayed.json", dir);
	pid = start_vmmap("--listen", sock_path, "--record", rec, NULL);
	fd = connect_retry(sock_path);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	for (int i = 0; i < 2; i++) {
		uint32_t hdr[3] = { 37, 0x9, 40 };
		uint64_t p[5] = { 0, (uint64_t)i << 27, 1u << 27, 0x7f0000000000 + ((uint64_t)i << 28), 0 };
		uint8_t buf[52];

		m[i] = memfd_create("memory-backend-memfd", 0);
		cr_assert_geq(m[i], 0);
		cr_assert_eq(ftruncate(m[i], 1 << 27), 0);
		cr_assert_eq(fstat(m[i], &st[i]), 0);
		memcpy(buf, hdr, 12);
		memcpy(buf + 12, p, 40);
		send_fds(fd, buf, sizeof(buf), &m[i], 1);
		cr_assert_eq(read_reply(fd, 37, 8), 0);
		close(m[i]);
	}
	close(fd);
	cr_assert_eq(wait_status(pid), 0, "stderr: %s", slurp(err_path));
	doc = load_output();
	for (int i = 0; i < 2; i++) {
		char key[64];

		snprintf(key, sizeof(key), "memory.regions.%d.fd.path", i);
		cr_assert_str_eq(jstr(doc, key), "/memfd:memory-backend-memfd (deleted)");
		snprintf(key, sizeof(key), "memory.regions.%d.fd.type", i);
		cr_assert_str_eq(jstr(doc, key), "memfd");
		snprintf(key, sizeof(key), "memory.regions.%d.fd.ino", i);
		cr_assert_eq((uint64_t)jint(doc, key), (uint64_t)st[i].st_ino);
		snprintf(key, sizeof(key), "memory.regions.%d.fd.size", i);
		cr_assert_str_eq(jstr(doc, key), "0x8000000");
	}
	cr_assert_neq(st[0].st_ino, st[1].st_ino);

	/* The recording (format 3) keeps the identities. */
	snprintf(cmd, sizeof(cmd), "%s capture --replay %s -o %s 2>/dev/null", VMMAP_BIN, rec,
		 replayed);
	cr_assert_eq(system(cmd), 0);
	again = json_load_file(replayed, 0, NULL);
	cr_assert_not_null(again);
	cr_assert(json_equal(json_object_get(again, "memory"), json_object_get(doc, "memory")),
		  "%s", slurp(replayed));
	json_decref(again);
	json_decref(doc);
}

Test(capture, connect_mode_and_updates_limit)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0), fd;
	pid_t pid;
	json_t *doc;

	strcpy(sa.sun_path, sock_path);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 1), 0);
	pid = start_vmmap("--connect", sock_path, "--updates", "1", "--timeout", "20", NULL);
	fd = accept(lfd, NULL, NULL);
	cr_assert_geq(fd, 0);
	handshake(fd, REPLY_ACK | MEM_SLOTS);
	region_msg(fd, 37, 0x9, 0x0, 0x1000, 0x1000, 0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	/* --updates 1: vmmap ends by itself, the frontend still connected. */
	cr_assert_eq(wait_status(pid), 0, "stderr: %s", slurp(err_path));
	doc = load_output();
	cr_assert_str_eq(jstr(doc, "capture.end"), "updates");
	json_decref(doc);
	cr_assert_eq(access(sock_path, F_OK), 0, "vmmap does not remove a socket it did not create");
	close(fd);
	close(lfd);
}

Test(capture, sigterm_writes_the_output)
{
	pid_t pid = start_vmmap("--listen", sock_path, NULL);
	int fd = connect_retry(sock_path);
	json_t *doc;

	handshake(fd, REPLY_ACK | MEM_SLOTS);
	region_msg(fd, 37, 0x9, 0x0, 0x1000, 0x1000, 0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	kill(pid, SIGTERM);
	cr_assert_eq(wait_status(pid), 0);
	doc = load_output();
	cr_assert_str_eq(jstr(doc, "capture.end"), "signal");
	cr_assert_eq(json_array_size(json_object_get(json_object_get(doc, "memory"), "regions")), 1);
	json_decref(doc);
	close(fd);
}

Test(capture, timeout_without_a_frontend)
{
	pid_t pid = start_vmmap("--listen", sock_path, "--timeout", "1", NULL);
	json_t *doc;

	cr_assert_eq(wait_status(pid), 1, "no frontend is a negative answer");
	doc = load_output();
	cr_assert_str_eq(jstr(doc, "capture.end"), "timeout");
	cr_assert_eq(jint(doc, "capture.messages"), 0);
	json_decref(doc);
	cr_assert(strstr(slurp(err_path), "no frontend connected"));
}

Test(capture, never_replaces_what_is_not_a_socket)
{
	int fd = open(sock_path, O_WRONLY | O_CREAT, 0644);
	pid_t pid;

	cr_assert(write(fd, "keep", 4) == 4);
	close(fd);
	pid = start_vmmap("--listen", sock_path, NULL);
	cr_assert_eq(wait_status(pid), 2);
	cr_assert(strstr(slurp(err_path), "exists and is not a socket"), "%s", slurp(err_path));
	cr_assert_str_eq(slurp(sock_path), "keep");
	cr_assert_neq(access(out_path, F_OK), 0, "no output on a usage failure");

	unlink(sock_path);
	cr_assert_eq(symlink("/tmp", sock_path), 0);
	pid = start_vmmap("--listen", sock_path, NULL);
	cr_assert_eq(wait_status(pid), 2, "a symlink is not followed or replaced");
	struct stat st;
	cr_assert_eq(lstat(sock_path, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
}

/* More fds than the control buffer holds: MSG_CTRUNC is noticed, the kernel
 * drops the excess, and nothing leaks. */
Test(capture, truncated_control_data)
{
	pid_t pid = start_vmmap("--listen", sock_path, NULL);
	int fd = connect_retry(sock_path);
	size_t base, after;
	json_t *doc;

	handshake(fd, REPLY_ACK | MEM_SLOTS);
	send_msg(fd, 1, 1, NULL, 0, 0);
	read_reply(fd, 1, 8);
	base = count_fds(pid);
	u64_msg(fd, 13, 1, 0, 40); /* SET_VRING_CALL with 40 fds */
	send_msg(fd, 1, 1, NULL, 0, 0);
	read_reply(fd, 1, 8);
	after = count_fds(pid);
	cr_assert_eq(after, base, "fds %zu after, %zu before", after, base);
	close(fd);
	cr_assert_eq(wait_status(pid), 1);
	doc = load_output();
	cr_assert_eq(count_violations(doc, "more file descriptors than the 32"), 1);
	json_decref(doc);
}

/* --follow under -j: one JSON object per message, on stdout with -o. */
Test(capture, follow_json_lines)
{
	pid_t pid = start_vmmap("--listen", sock_path, "--follow", "-j", NULL);
	int fd = connect_retry(sock_path);
	char line[1024];
	size_t n = 0;
	FILE *f;

	handshake(fd, REPLY_ACK | MEM_SLOTS);
	region_msg(fd, 37, 0x9, 0x0, 0x1000, 0x1000, 0, 1);
	cr_assert_eq(read_reply(fd, 37, 8), 0);
	close(fd);
	cr_assert_eq(wait_status(pid), 0, "%s", slurp(err_path));
	f = fopen(stdout_path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);

		cr_assert_not_null(o, "not a JSON line: %s", line);
		cr_assert_eq(json_integer_value(json_object_get(o, "message")), (json_int_t)n);
		cr_assert(json_is_string(json_object_get(o, "request")));
		if (n == 4) {
			cr_assert_str_eq(json_string_value(json_object_get(o, "request")), "ADD_MEM_REG");
			cr_assert_eq(json_integer_value(json_object_get(o, "fds")), 1);
			cr_assert(json_is_true(json_object_get(o, "reply")));
			cr_assert_eq(json_integer_value(json_object_get(o, "regions")), 1);
		}
		json_decref(o);
		n++;
	}
	fclose(f);
	cr_assert_eq(n, 5, "GET_FEATURES, GET/SET_PROTOCOL_FEATURES, SET_OWNER, ADD_MEM_REG");
	/* The document went to the file, not to stdout. */
	json_decref(load_output());
}

/* --type blk: CONFIG offered, and GET_CONFIG answered with the request's
 * header and exactly the bytes asked for, from any offset. */
Test(capture, type_blk_get_config)
{
	pid_t pid = start_vmmap("--listen", sock_path, "--type", "blk", "--capacity", "64M",
				"--queues", "2", NULL);
	int fd = connect_retry(sock_path);
	uint8_t req[12 + 57] = { 0 }, rep[12 + 57];
	uint32_t hdr[3];
	uint64_t features, capacity;
	uint16_t q;

	features = read_reply((send_msg(fd, 1, 1, NULL, 0, 0), fd), 1, 8);
	cr_assert(features & (1u << 12), "VIRTIO_BLK_F_MQ with --queues 2");
	cr_assert(!(features & (1u << 22)), "no net MQ bit");
	handshake(fd, REPLY_ACK | (1u << 9));
	memcpy(req + 4, (uint32_t[]){ 57 }, 4);
	send_msg(fd, 24, 1, req, sizeof(req), 0);
	cr_assert_eq(recv(fd, hdr, 12, MSG_WAITALL), 12);
	cr_assert_eq(hdr[0], 24);
	cr_assert_eq(hdr[1], 0x5);
	cr_assert_eq(hdr[2], 69, "the reply has the requested size, not a fixed one");
	cr_assert_eq(recv(fd, rep, 69, MSG_WAITALL), 69);
	cr_assert_eq(memcmp(rep, req, 12), 0, "the config header is echoed");
	memcpy(&capacity, rep + 12, 8);
	cr_assert_eq(capacity, 0x20000, "64 MiB in 512-byte sectors");
	/* num_queues alone, at its offset. */
	memset(req, 0, 12);
	memcpy(req, (uint32_t[]){ 34, 2 }, 8);
	send_msg(fd, 24, 1, req, 14, 0);
	cr_assert_eq(recv(fd, hdr, 12, MSG_WAITALL), 12);
	cr_assert_eq(hdr[2], 14);
	cr_assert_eq(recv(fd, rep, 14, MSG_WAITALL), 14);
	memcpy(&q, rep + 12, 2);
	cr_assert_eq(q, 2, "num_queues");
	close(fd);
	cr_assert_eq(wait_status(pid), 1, "no table was sent: %s", slurp(err_path));
}

/* The default type, net: QEMU builds its config; a GET_CONFIG is a
 * violation, and CONFIG is not offered. */
Test(capture, type_net_has_no_config)
{
	pid_t pid = start_vmmap("--listen", sock_path, NULL);
	int fd = connect_retry(sock_path);
	uint64_t proto;

	read_reply((send_msg(fd, 1, 1, NULL, 0, 0), fd), 1, 8);
	proto = read_reply((send_msg(fd, 15, 1, NULL, 0, 0), fd), 15, 8);
	cr_assert(!(proto & (1u << 9)), "no CONFIG for net");
	close(fd);
	/* A frontend that leaves before any table: exit 1, and the end line
	 * says how far it got. */
	cr_assert_eq(wait_status(pid), 1);
	cr_assert(strstr(slurp(err_path), "vmmap: capture: the frontend left after 2 messages, "
			 "the last GET_PROTOCOL_FEATURES; no table was sent, 0 violations"),
		  "%s", slurp(err_path));
}

/* --type blk offers INFLIGHT_SHMFD: GET_INFLIGHT_FD gets QEMU's 24 bytes
 * and a memfd sized from the queues the frontend sent; SET_INFLIGHT_FD is
 * recorded. */
Test(capture, type_blk_inflight_fd)
{
	pid_t pid = start_vmmap("--listen", sock_path, "--type", "blk", NULL);
	int fd = connect_retry(sock_path), mfd;
	uint8_t req[24] = { 0 };
	uint64_t rep[3];
	uint32_t hdr[3];
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = { { hdr, 12 }, { rep, 24 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct stat st;
	json_t *doc;

	handshake(fd, REPLY_ACK | (1u << 12));
	memcpy(req + 16, (uint16_t[]){ 2, 128 }, 4); /* 2 queues of 128 */
	send_msg(fd, 31, 1, req, sizeof(req), 0);
	cr_assert_eq(recvmsg(fd, &mh, MSG_WAITALL), 36);
	cr_assert_eq(hdr[0], 31);
	cr_assert_eq(hdr[1], 0x5);
	cr_assert_eq(hdr[2], 24, "QEMU 7.2 reads 24 bytes");
	cr_assert_not_null(CMSG_FIRSTHDR(&mh), "a descriptor came with the reply");
	memcpy(&mfd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	cr_assert_eq(fstat(mfd, &st), 0);
	/* (16 * 128 + 2) rounded up to 64 = 2112 a queue, 2 queues. */
	cr_assert_eq(rep[0], 4224, "mmap_size %llu", (unsigned long long)rep[0]);
	cr_assert_eq(st.st_size, 4224);
	cr_assert_eq(rep[1], 0, "mmap_offset");
	close(mfd);
	send_msg(fd, 32, 1, rep, 24, 1); /* SET_INFLIGHT_FD with an fd */
	close(fd);
	cr_assert_eq(wait_status(pid), 1, "no table was sent");
	doc = load_output();
	cr_assert_eq(json_array_size(jget(doc, "capture.violations")), 0, "%s", slurp(out_path));
	cr_assert_eq(jint(doc, "capture.requests.SET_INFLIGHT_FD"), 1);
	json_decref(doc);
}
