/*
 * vmmap capture against the real frontends: QEMU 7.2 (qemu-system-x86, TCG,
 * no guest OS: the virtio-net network-boot ROM brings the device up) and DPDK
 * 22.11 testpmd with virtio-user; and capture --forward between a real
 * frontend and its real backend (qemu-storage-daemon, DPDK net_vhost), with
 * the device working through vmmap.  Each test skips with its reason when a
 * program is missing; .ci/run installs them all.  The tests that run
 * testpmd are the suite "dpdk", which CTest runs one at a time under a
 * resource lock: two busy-polling testpmds on 2 cores starve QEMU.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
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

static char dir[64], sock_path[128], out_path[128];

/* buf (an array) := the scratch directory's file name. */
#define IN_DIR(buf, name) snprintf(buf, sizeof(buf), "%s/" name, dir)

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vmmap-integ-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	IN_DIR(sock_path, "vu.sock");
	IN_DIR(out_path, "capture.json");
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(integration, .init = setup, .fini = teardown, .timeout = 120);
TestSuite(forward, .init = setup, .fini = teardown, .timeout = 150);
TestSuite(dpdk, .init = setup, .fini = teardown, .timeout = 200);

static int have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* Runs argv (NULL-terminated) in the background, output to log, standard
 * input from in (-1: /dev/null). */
static pid_t spawn_in(const char *log, const char *const *argv, int in)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		FILE *f = freopen(log, "w", stdout);

		if (!f || dup2(1, 2) < 0)
			_exit(127);
		if (in >= 0)
			dup2(in, 0);
		else
			freopen("/dev/null", "r", stdin);
		setpgid(0, 0);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static pid_t spawn(const char *log, const char *const *argv)
{
	return spawn_in(log, argv, -1);
}

static int finish(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void stop(pid_t pid)
{
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* QEMU 7.2 with virtio-net on a vhost-user chardev, guest RAM a shared
 * memfd of mem, no guest OS: the network-boot ROM brings the device up
 * (-boot n) and sends DHCP requests. */
static pid_t start_qemu_net(const char *log, const char *machine, const char *mem,
			    const char *chardev)
{
	char memdev[96];

	snprintf(memdev, sizeof(memdev), "memory-backend-memfd,id=mem,size=%s,share=on", mem);
	const char *argv[] = {
		"qemu-system-x86_64", "-M", machine, "-m", mem, "-display", "none",
		"-no-user-config", "-serial", "none", "-monitor", "none",
		"-object", memdev, "-numa", "node,memdev=mem", "-chardev", chardev,
		"-netdev", "vhost-user,id=n0,chardev=c0",
		"-device", "virtio-net-pci,netdev=n0", "-boot", "n", NULL,
	};

	return spawn(log, argv);
}

static json_t *capture_doc(void)
{
	json_error_t e;
	json_t *doc = json_load_file(out_path, 0, &e);

	cr_assert_not_null(doc, "%s: %s", out_path, e.text);
	return doc;
}

static uint64_t hex(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	cr_assert_not_null(s, "missing %s", key);
	return strtoull(s, NULL, 16);
}

/*
 * QEMU 7.2 -M pc -m 128M with its default VGA: the table is the RAM below
 * the VGA window and the RAM above the ROM area, both from one memfd.
 */
static void qemu_case(int connect_mode, int mem_slots)
{
	char chardev[256], vlog[160], qlog[160];
	char rec[160], replayed[160], cmd[512];
	const char *vargv[16] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "90",
				  "--updates", mem_slots ? "2" : "1", "--record", rec };
	int vargc = 10;
	pid_t vm, qemu;
	json_t *doc, *regions, *r0, *r1, *tl;
	int status;

	if (!have("qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed (Debian: qemu-system-x86)");
	IN_DIR(vlog, "vmmap.log");
	IN_DIR(qlog, "qemu.log");
	IN_DIR(rec, "session.bin");
	IN_DIR(replayed, "replayed.json");
	vargv[vargc++] = connect_mode ? "--connect" : "--listen";
	vargv[vargc++] = sock_path;
	if (!mem_slots)
		vargv[vargc++] = "--no-mem-slots";
	vargv[vargc] = NULL;
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s%s", sock_path,
		 connect_mode ? ",server=on,wait=off" : ",reconnect=1");
	if (connect_mode) {
		qemu = start_qemu_net(qlog, "pc", "128M", chardev);
		vm = spawn(vlog, vargv);
	} else {
		vm = spawn(vlog, vargv);
		qemu = start_qemu_net(qlog, "pc", "128M", chardev);
	}
	status = finish(vm);
	stop(qemu);
	cr_assert_eq(status, 0, "vmmap capture exit %d\nvmmap: %s\nqemu: %s", status,
		     slurp(vlog), slurp(qlog));

	doc = capture_doc();
	regions = json_object_get(json_object_get(doc, "memory"), "regions");
	cr_assert_eq(json_array_size(regions), 2, "%s", slurp(out_path));
	r0 = json_array_get(regions, 0);
	r1 = json_array_get(regions, 1);
	cr_assert_eq(hex(r0, "guest_phys_addr"), 0x0);
	cr_assert_eq(hex(r0, "memory_size"), 0xa0000);
	cr_assert_eq(hex(r0, "mmap_offset"), 0x0);
	cr_assert_eq(hex(r1, "guest_phys_addr"), 0xc0000);
	cr_assert_eq(hex(r1, "memory_size"), 0x7f40000);
	cr_assert_eq(hex(r1, "mmap_offset"), 0xc0000);
	cr_assert_eq(hex(r1, "userspace_addr") - hex(r0, "userspace_addr"), 0xc0000,
		     "one mapping of one memfd");
	tl = json_object_get(json_object_get(doc, "capture"), "timeline");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tl, 0), "request")),
			 mem_slots ? "ADD_MEM_REG" : "SET_MEM_TABLE");
	cr_assert_eq(json_array_size(json_object_get(json_object_get(doc, "capture"),
						     "violations")), 0);

	/* The recording replays to the same table, without QEMU. */
	snprintf(cmd, sizeof(cmd), "%s capture --replay %s -o %s%s 2>/dev/null", VMMAP_BIN,
		 rec, replayed, mem_slots ? "" : " --no-mem-slots");
	cr_assert_eq(system(cmd), 0, "replay of %s", rec);
	json_t *again = json_load_file(replayed, 0, NULL);

	cr_assert_not_null(again);
	cr_assert(json_equal(json_object_get(again, "memory"), json_object_get(doc, "memory")),
		  "the replayed table differs:\n%s", slurp(replayed));
	json_decref(again);
	json_decref(doc);
}

Test(integration, qemu_listen_add_mem_reg) { qemu_case(0, 1); }
Test(integration, qemu_listen_set_mem_table) { qemu_case(0, 0); }
Test(integration, qemu_connect_add_mem_reg) { qemu_case(1, 1); }
Test(integration, qemu_connect_set_mem_table) { qemu_case(1, 0); }

static bool wait_file(const char *path, const char *needle, int seconds);

/*
 * DPDK testpmd with virtio-user (vdev options opts after the path) against
 * vmmap capture --listen (with the option opt, or NULL): testpmd starts its
 * port (the whole vhost-user exchange happens while it probes the device),
 * reads EOF on stdin, closes the port and exits, and the capture ends on
 * that disconnect.  Returns the capture document.
 */
static json_t *virtio_user_capture(const char *opts, const char *opt)
{
	char vdev[256], prefix[64], vlog[160], dlog[160];
	const char *vargv[] = { VMMAP_BIN, "capture", "--listen", sock_path, "-o", out_path,
				"--timeout", "60", opt, NULL };
	pid_t vm, dpdk;
	int status;

	if (!have("dpdk-testpmd"))
		cr_skip_test("dpdk-testpmd is not installed (Debian: dpdk-dev, "
			     "librte-net-virtio23, librte-mempool-ring23)");
	IN_DIR(vlog, "vmmap.log");
	IN_DIR(dlog, "testpmd.log");
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s%s", sock_path, opts);
	snprintf(prefix, sizeof(prefix), "vmmap%d", (int)getpid());
	const char *dargv[] = { "dpdk-testpmd", "-l", "0-1", "--no-pci", "--no-huge", "-m", "256",
				"--no-shconf", "--file-prefix", prefix, "--vdev", vdev, "--",
				"--total-num-mbufs=2048", NULL };

	vm = spawn(vlog, vargv);
	cr_assert(wait_file(sock_path, NULL, 10), "vmmap did not listen: %s", slurp(vlog));
	dpdk = spawn(dlog, dargv);
	status = finish(vm);
	stop(dpdk);
	cr_assert_eq(status, 0, "vmmap capture exit %d\nvmmap: %s\ntestpmd: %s", status,
		     slurp(vlog), slurp(dlog));
	return capture_doc();
}

/* DPDK virtio-user with --no-huge: one memfd region whose guest-physical
 * address is the DPDK process's own address, and rings that translate. */
Test(dpdk, testpmd_virtio_user)
{
	json_t *doc, *regions, *r, *rings;

	doc = virtio_user_capture("", NULL);
	regions = json_object_get(json_object_get(doc, "memory"), "regions");
	cr_assert_eq(json_array_size(regions), 1, "%s", slurp(out_path));
	r = json_array_get(regions, 0);
	cr_assert_eq(hex(r, "guest_phys_addr"), hex(r, "userspace_addr"),
		     "virtio-user's guest addresses are its process addresses");
	cr_assert_eq(hex(r, "memory_size"), 256u << 20);
	rings = json_object_get(json_object_get(doc, "capture"), "rings");
	cr_assert_geq(json_array_size(rings), 2, "rx and tx rings");
	for (size_t i = 0; i < json_array_size(rings); i++)
		for (const char **part = (const char *[]){ "desc", "avail", "used", NULL };
		     *part; part++) {
			json_t *a = json_object_get(json_array_get(rings, i), *part);

			cr_assert(json_is_string(json_object_get(a, "guest_phys_addr")),
				  "ring %zu %s translates", i, *part);
			cr_assert_eq(hex(a, "guest_phys_addr"), hex(a, "userspace_addr"));
		}
	json_decref(doc);
}

/* ---- capture --forward between real peers ---- */

/* Whether the file at path holds needle (its first 64 KiB). */
static bool file_has(const char *path, const char *needle)
{
	const char *t = read_or_null(path);

	return t && strstr(t, needle);
}

/* Waits up to seconds for path to exist, or to hold needle. */
static bool wait_file(const char *path, const char *needle, int seconds)
{
	for (int i = 0; i < seconds * 20; i++) {
		if (needle ? file_has(path, needle) : access(path, F_OK) == 0)
			return true;
		usleep(50000);
	}
	return false;
}

/* Waits up to seconds for a whole line holding needle in path (SeaBIOS
 * writes its console a byte at a time). */
static bool wait_line(const char *path, const char *needle, int seconds)
{
	for (int i = 0; i < seconds * 20; i++) {
		const char *t = read_or_null(path), *p = t ? strstr(t, needle) : NULL;

		if (p && strchr(p, '\n'))
			return true;
		usleep(50000);
	}
	return false;
}

/* Ends a child with SIGTERM (its clean exit), SIGKILL after 10 s. */
static void terminate(pid_t pid)
{
	kill(-pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(50000);
	}
	stop(pid);
}

/* qemu-storage-daemon exporting a 64 MiB disk at dir/qsd.sock. */
static pid_t start_qsd(char *qsd_sock, size_t len)
{
	char disk[160], blockdev[256], exp[320], log[160];
	pid_t pid;

	IN_DIR(disk, "disk.img");
	snprintf(qsd_sock, len, "%s/qsd.sock", dir);
	IN_DIR(log, "qsd.log");
	snprintf(blockdev, sizeof(blockdev), "driver=file,node-name=file0,filename=%s", disk);
	snprintf(exp, sizeof(exp), "type=vhost-user-blk,id=exp0,node-name=disk0,"
		 "addr.type=unix,addr.path=%s,writable=on", qsd_sock);
	FILE *f = fopen(disk, "w");

	cr_assert_not_null(f);
	cr_assert_eq(ftruncate(fileno(f), 64 << 20), 0);
	fclose(f);
	const char *argv[] = { "qemu-storage-daemon", "--blockdev", blockdev, "--blockdev",
			       "driver=raw,node-name=disk0,file=file0", "--export", exp, NULL };

	pid = spawn(log, argv);
	cr_assert(wait_file(qsd_sock, NULL, 20), "qemu-storage-daemon did not listen: %s",
		  slurp(log));
	return pid;
}

/* QEMU with vhost-user-blk-pci on chardev (SeaBIOS drives it; its debug
 * console goes to bios). */
static pid_t start_qemu_blk(const char *chardev, const char *bios, const char *log)
{
	char debugcon[192];

	snprintf(debugcon, sizeof(debugcon), "file:%s", bios);
	const char *argv[] = {
		"qemu-system-x86_64", "-M", "pc", "-m", "128M", "-display", "none",
		"-no-user-config", "-serial", "none", "-monitor", "none",
		"-object", "memory-backend-memfd,id=mem,size=128M,share=on",
		"-numa", "node,memdev=mem", "-chardev", chardev,
		"-device", "vhost-user-blk-pci,chardev=c0,bootindex=1",
		"-debugcon", debugcon, "-global", "isa-debugcon.iobase=0x402", NULL,
	};

	return spawn(log, argv);
}

static json_t *vring_json(const char *extra, const char *index);
static json_t *ring0(json_t *doc);
static double mono_s(void);

/*
 * The snapshot a forwarded blk session ends with: the request queue's
 * used idx advanced, the chains behind the last used entries are SeaBIOS's
 * reads (IN, with their sectors, status OK).  (qemu-storage-daemon 7.2
 * does not offer INFLIGHT_SHMFD, protocol features 0x8f2b: its sessions
 * have no in-flight area; type_blk decodes vmmap's own.)  The disk's
 * boot sector is a loop (jmp $), so SeaBIOS's last request header, on its
 * stack, stays as it was when the guest stops.
 */
Test(forward, qsd_blk_used_chains_are_its_reads)
{
	char qsd_sock[160], chardev[256], vlog[160], qlog[160], bios[160], disk[160];
	uint8_t mbr[512] = { 0xeb, 0xfe };
	pid_t qsd, vm, qemu;
	bool booted, sector0 = false;
	int status;
	FILE *f;

	if (!have("qemu-system-x86_64") || !have("qemu-storage-daemon"))
		cr_skip_test("qemu-system-x86_64 or qemu-storage-daemon is not installed");
	IN_DIR(vlog, "vmmap.log");
	IN_DIR(qlog, "qemu.log");
	IN_DIR(bios, "bios.log");
	IN_DIR(disk, "disk.img");
	qsd = start_qsd(qsd_sock, sizeof(qsd_sock));
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	f = fopen(disk, "r+");
	cr_assert(f && fwrite(mbr, 1, sizeof(mbr), f) == sizeof(mbr) && fclose(f) == 0);
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s,reconnect=1", sock_path);
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "120",
				"--listen", sock_path, "--forward", qsd_sock,
				"--snapshot-bytes", "16", NULL };

	vm = spawn(vlog, vargv);
	cr_assert(wait_file(sock_path, NULL, 10), "vmmap did not listen: %s", slurp(vlog));
	qemu = start_qemu_blk(chardev, bios, qlog);
	booted = wait_line(bios, "Booting from 0000:7c00", 90);
	terminate(qemu);
	status = finish(vm);
	stop(qsd);
	cr_assert(booted, "SeaBIOS did not boot the disk\nbios: %s\nvmmap: %s", slurp(bios),
		  slurp(vlog));
	cr_assert_eq(status, 0, "vmmap exit %d: %s", status, slurp(vlog));

	json_t *doc = vring_json("--device=blk", "0"), *r = ring0(doc), *used;

	cr_assert_not_null(r, "%s", json_dumps(doc, 0));
	cr_assert_gt(json_integer_value(json_object_get(r, "used_idx")), 0, "%s",
		     json_dumps(r, JSON_INDENT(1)));
	cr_assert_str_eq(json_string_value(json_object_get(r, "pending_by")), "used_idx",
			 "a proxy counts from used.idx");
	used = json_object_get(r, "used_chains");
	cr_assert_gt(json_array_size(used), 0);
	for (size_t i = 0; i < json_array_size(used); i++) {
		json_t *b = json_object_get(json_array_get(used, i), "blk");

		cr_assert_not_null(b, "a used chain without a blk request: %s",
				   json_dumps(json_array_get(used, i), JSON_INDENT(1)));
		cr_assert_str_eq(json_string_value(json_object_get(b, "type")), "IN");
		cr_assert_str_eq(json_string_value(json_object_get(b, "status")), "OK");
		sector0 |= json_integer_value(json_object_get(b, "sector")) == 0;
	}
	cr_assert(sector0, "SeaBIOS read sector 0 (the boot sector): %s",
		  json_dumps(used, JSON_INDENT(1)));
	cr_assert_null(json_object_get(r, "inflight"), "the daemon offers no in-flight area");
	json_decref(doc);
}

/*
 * Checkpoints of the capture vm (SIGUSR1, each writing out_path anew) until
 * ring INDEX of one has key ("avail_idx", "pending", ...) above 0 or
 * non-empty: a poll of guest memory, not a sleep.  That checkpoint's
 * vring_json (EXTRA, INDEX), or NULL after seconds.
 */
static json_t *checkpoint_until(pid_t vm, int seconds, const char *extra, const char *index,
				const char *key)
{
	for (double t0 = mono_s(); mono_s() - t0 < seconds;) {
		json_t *d, *v;

		unlink(out_path);
		kill(vm, SIGUSR1);
		if (!wait_file(out_path, NULL, 10))
			continue;
		d = vring_json(extra, index);
		v = json_object_get(ring0(d), key);
		if (json_is_array(v) ? json_array_size(v) > 0 : json_integer_value(v) > 0)
			return d;
		json_decref(d);
	}
	return NULL;
}

/*
 * The in-flight area as a proxy keeps it: QEMU vhost-user-blk <-> vmmap
 * --forward <-> vmmap as the blk backend (which offers INFLIGHT_SHMFD and
 * sets the area's headers as libvhost-user does; qemu-storage-daemon 7.2
 * offers no in-flight area).  The proxy's snapshot decodes the area QEMU
 * took (version 1, desc_num the queue's size, nothing in flight), and
 * SeaBIOS's read of the boot sector is pending, counted from used.idx.
 */
Test(forward, inflight_area_kept_by_a_proxy)
{
	char back[160], blog[160], bout[160], vlog[160], qlog[160], bios[160], chardev[256];
	pid_t b, vm, qemu;
	json_t *doc, *r, *fl, *p;
	int status;

	if (!have("qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed");
	IN_DIR(back, "blk.sock");
	IN_DIR(blog, "backend.log");
	IN_DIR(bout, "backend.json");
	IN_DIR(vlog, "vmmap.log");
	IN_DIR(qlog, "qemu.log");
	IN_DIR(bios, "bios.log");
	b = spawn(blog, (const char *[]){ VMMAP_BIN, "capture", "--listen", back, "--type", "blk",
					  "-o", bout, "--timeout", "100", NULL });
	cr_assert(wait_file(back, NULL, 10), "the blk backend did not listen: %s", slurp(blog));
	vm = spawn(vlog, (const char *[]){ VMMAP_BIN, "capture", "--listen", sock_path,
					   "--forward", back, "-o", out_path, "--timeout", "100",
					   "--snapshot-bytes", "16", NULL });
	cr_assert(wait_file(sock_path, NULL, 10), "vmmap did not listen: %s", slurp(vlog));
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s", sock_path);
	qemu = start_qemu_blk(chardev, bios, qlog);
	cr_assert(wait_line(bios, "Booting from Hard Disk", 60), "SeaBIOS did not get to the "
		  "disk\nbios: %s\nvmmap: %s", slurp(bios), slurp(vlog));
	/* Checkpoints until SeaBIOS's read is in the ring (a poll, not a
	 * sleep); the snapshot asserted on is the one taken when QEMU leaves. */
	json_decref(checkpoint_until(vm, 60, "--device=blk", "0", "pending"));
	terminate(qemu);
	status = finish(vm);
	terminate(b);
	cr_assert(status == 0 || status == 1, "vmmap exit %d: %s", status, slurp(vlog));
	doc = vring_json("--device=blk", "0");
	r = ring0(doc);
	fl = json_object_get(r, "inflight");
	cr_assert_not_null(fl, "the proxy kept the in-flight area: %s",
			   json_dumps(r, JSON_INDENT(1)));
	cr_assert_eq(json_integer_value(json_object_get(fl, "version")), 1);
	cr_assert_eq(json_integer_value(json_object_get(fl, "desc_num")),
		     json_integer_value(json_object_get(r, "num")));
	cr_assert_eq(json_array_size(json_object_get(fl, "in_flight")), 0);
	cr_assert_str_eq(json_string_value(json_object_get(r, "pending_by")), "used_idx");
	p = json_object_get(json_array_get(json_object_get(r, "pending"), 0), "blk");
	cr_assert_not_null(p, "SeaBIOS's read is pending: %s", json_dumps(r, JSON_INDENT(1)));
	cr_assert_str_eq(json_string_value(json_object_get(p, "type")), "IN");
	cr_assert_eq(json_integer_value(json_object_get(p, "sector")), 0);
	json_decref(doc);
}

/*
 * QEMU vhost-user-blk <-> vmmap <-> qemu-storage-daemon: SeaBIOS sees the
 * disk's size (GET_CONFIG, answered by the daemon) and reads its boot
 * sector through the forwarded device; vmmap records the table, GET_CONFIG
 * with its reply, and the backend's progress on the ring.
 */
static void qsd_case(int connect_mode, bool pass_channel)
{
	char qsd_sock[160], chardev[256], vlog[160], qlog[160], bios[160];
	pid_t qsd, vm, qemu;
	json_t *doc, *tl, *replies;
	const char *cfg;
	int status;
	bool booted;
	json_int_t processed = -1;

	if (!have("qemu-system-x86_64") || !have("qemu-storage-daemon"))
		cr_skip_test("qemu-system-x86_64 or qemu-storage-daemon is not installed "
			     "(Debian: qemu-system-x86, qemu-system-common)");
	IN_DIR(vlog, "vmmap.log");
	IN_DIR(qlog, "qemu.log");
	IN_DIR(bios, "bios.log");
	qsd = start_qsd(qsd_sock, sizeof(qsd_sock));
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s%s", sock_path,
		 connect_mode ? ",server=on,wait=off" : ",reconnect=1");
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "120",
				connect_mode ? "--connect" : "--listen", sock_path,
				"--forward", qsd_sock,
				pass_channel ? "--no-backend-channel" : NULL, NULL };

	if (connect_mode) {
		qemu = start_qemu_blk(chardev, bios, qlog);
		vm = spawn(vlog, vargv);
	} else {
		vm = spawn(vlog, vargv);
		cr_assert(wait_file(sock_path, NULL, 10), "vmmap did not listen: %s", slurp(vlog));
		qemu = start_qemu_blk(chardev, bios, qlog);
	}
	booted = wait_line(bios, "Boot failed", 90);
	terminate(qemu); /* QEMU stops the device (GET_VRING_BASE) and leaves */
	status = finish(vm);
	stop(qsd);
	cr_assert(booted, "SeaBIOS did not get to boot\nbios: %s\nvmmap: %s\nqemu: %s",
		  slurp(bios), slurp(vlog), slurp(qlog));
	cr_assert(file_has(bios, "s=131072"), "SeaBIOS sees the 64 MiB disk: %s", slurp(bios));
	cr_assert(file_has(bios, "Boot failed: not a bootable disk"),
		  "SeaBIOS read the boot sector through vmmap: %s", slurp(bios));
	cr_assert_eq(status, 0, "vmmap exit %d\nvmmap: %s\nqemu: %s", status, slurp(vlog),
		     slurp(qlog));
	cr_assert(file_has(vlog, "the frontend left after"), "%s", slurp(vlog));

	doc = capture_doc();
	cr_assert_eq(json_array_size(json_object_get(json_object_get(doc, "memory"), "regions")),
		     2, "%s", slurp(out_path));
	tl = json_object_get(json_object_get(doc, "capture"), "timeline");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tl, 0), "request")),
			 "ADD_MEM_REG", "qemu-storage-daemon offers CONFIGURE_MEM_SLOTS");
	json_t *fw = json_object_get(json_object_get(doc, "capture"), "forward");

	cfg = json_string_value(json_object_get(json_object_get(fw, "config"), "bytes"));
	cr_assert_not_null(cfg, "GET_CONFIG's reply is recorded: %s", slurp(out_path));
	cr_assert_eq(strncmp(cfg, "0000020000000000", 16), 0,
		     "the capacity is 0x20000 sectors (64 MiB): %s", cfg);
	replies = json_object_get(fw, "replies");
	for (size_t i = 0; i < json_array_size(replies); i++) {
		json_t *r = json_array_get(replies, i);

		if (!strcmp(json_string_value(json_object_get(r, "request")), "GET_VRING_BASE"))
			processed = json_integer_value(json_object_get(json_object_get(r, "vring"),
								       "num"));
	}
	cr_assert_geq(processed, 1, "the daemon took requests from the ring: %s",
		      slurp(out_path));
	cr_assert_eq(json_array_size(json_object_get(json_object_get(doc, "capture"),
						     "violations")), 0, "%s", slurp(out_path));
	/* QEMU hands over its channel socket: relayed, or passed through. */
	cr_assert(json_is_boolean(json_object_get(json_object_get(json_object_get(doc,
			"capture"), "backend_channel"), "relayed")));
	cr_assert_eq(json_is_true(json_object_get(json_object_get(json_object_get(doc,
			"capture"), "backend_channel"), "relayed")), !pass_channel);
	json_decref(doc);
}

Test(forward, qemu_blk_qsd_listen) { qsd_case(0, false); }
Test(forward, qemu_blk_qsd_connect) { qsd_case(1, false); }
/* The same pair works with the channel passed through unseen. */
Test(forward, qemu_blk_qsd_channel_passed) { qsd_case(0, true); }

/* The daemon killed in the middle: QEMU sees the connection close, vmmap
 * writes the capture whole and says the backend left (exit 1). */
Test(forward, qsd_killed)
{
	char qsd_sock[160], chardev[256], vlog[160], qlog[160], bios[160];
	pid_t qsd, vm, qemu;
	json_t *doc;
	int status;
	bool up;

	if (!have("qemu-system-x86_64") || !have("qemu-storage-daemon"))
		cr_skip_test("qemu-system-x86_64 or qemu-storage-daemon is not installed "
			     "(Debian: qemu-system-x86, qemu-system-common)");
	IN_DIR(vlog, "vmmap.log");
	IN_DIR(qlog, "qemu.log");
	IN_DIR(bios, "bios.log");
	qsd = start_qsd(qsd_sock, sizeof(qsd_sock));
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s", sock_path);
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "120",
				"--listen", sock_path, "--forward", qsd_sock, NULL };

	vm = spawn(vlog, vargv);
	cr_assert(wait_file(sock_path, NULL, 10), "vmmap did not listen: %s", slurp(vlog));
	qemu = start_qemu_blk(chardev, bios, qlog);
	up = wait_line(bios, "Boot failed", 90);
	stop(qsd);
	status = finish(vm);
	/* QEMU notices at once or when it next talks to the device. */
	bool noticed = wait_file(qlog, "end-of-file", 10) || wait_file(qlog, "disconnect", 1);

	terminate(qemu);
	cr_assert(up, "SeaBIOS did not get to boot: %s", slurp(bios));
	cr_assert_eq(status, 1, "vmmap exit %d: %s", status, slurp(vlog));
	cr_assert(file_has(vlog, "the backend left after"), "%s", slurp(vlog));
	cr_assert(noticed, "QEMU did not see the connection close: %s", slurp(qlog));
	doc = capture_doc();
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "capture"),
							   "end")), "backend-disconnect");
	cr_assert_eq(json_array_size(json_object_get(json_object_get(doc, "memory"), "regions")),
		     2);
	json_decref(doc);
}

static int run_vmmap(const char *log, const char *const *argv);

/* testpmd's received packets on port 0 so far (--stats-period output). */
static unsigned long rx_packets(const char *log)
{
	const char *t = read_or_null(log), *p, *last = NULL;

	for (p = t ? strstr(t, "RX-packets: ") : NULL; p; p = strstr(p + 1, "RX-packets: "))
		last = p;
	return last ? strtoul(last + 12, NULL, 10) : 0;
}

/*
 * QEMU virtio-net <-> vmmap <-> DPDK net_vhost: the table vmmap records is
 * the one DPDK maps, and the guest's DHCP requests (iPXE) reach testpmd:
 * the device works through vmmap.
 */
Test(dpdk, qemu_net_testpmd_forward)
{
	char dv[160], vdev[256], prefix[64], vlog[160], dlog[160], qlog[160], chardev[256];
	char dj[160], ilog[160];
	json_t *doc, *regions;
	pid_t dpdk, vm, qemu;
	unsigned long rx = 0;
	int status;

	if (!have("qemu-system-x86_64") || !have("dpdk-testpmd"))
		cr_skip_test("qemu-system-x86_64 or dpdk-testpmd is not installed");
	IN_DIR(dv, "dv.sock");
	IN_DIR(vlog, "vmmap.log");
	IN_DIR(dlog, "testpmd.log");
	IN_DIR(qlog, "qemu.log");
	snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,client=0", dv);
	snprintf(prefix, sizeof(prefix), "vmmapfw%d", (int)getpid());
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s", sock_path);
	const char *dargv[] = { "dpdk-testpmd", "-l", "0-1", "--no-pci", "--no-huge", "-m", "512",
				"--no-shconf", "--file-prefix", prefix, "--vdev", vdev, "--",
				"--nb-cores=1", "--total-num-mbufs=8192", "--stats-period", "1",
				NULL };
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "170",
				"--listen", sock_path, "--forward", dv, NULL };

	dpdk = spawn(dlog, dargv);
	cr_assert(wait_file(dv, NULL, 30), "testpmd did not listen: %s", slurp(dlog));
	vm = spawn(vlog, vargv);
	cr_assert(wait_file(sock_path, NULL, 10), "vmmap did not listen: %s", slurp(vlog));
	qemu = start_qemu_net(qlog, "pc", "256M", chardev);
	/* Events, not fixed sleeps: the table (slow beside a busy-polling
	 * testpmd on 2 cores), then the first packets. */
	for (int i = 0; i < 150 * 10 && !(rx = rx_packets(dlog)); i++)
		usleep(100000);
	terminate(qemu);
	status = finish(vm);
	terminate(dpdk);
	cr_assert_gt(rx, 0, "testpmd received nothing from the guest\nvmmap: %s\nqemu: %s",
		     slurp(vlog), slurp(qlog));
	cr_assert_eq(status, 0, "vmmap exit %d: %s", status, slurp(vlog));
	/* The table DPDK logged it mapped, imported, is the one vmmap
	 * recorded: diff finds nothing (guest and user addresses, sizes,
	 * offsets). */
	IN_DIR(dj, "dpdk.json");
	IN_DIR(ilog, "import.log");
	status = run_vmmap(ilog, (const char *[]){ VMMAP_BIN, "import", "dpdk-log", dlog, "-o",
						   dj, NULL });
	cr_assert_eq(status, 0, "%s", slurp(ilog));
	status = run_vmmap(ilog, (const char *[]){ VMMAP_BIN, "diff", dj, out_path, NULL });
	cr_assert_eq(status, 0, "DPDK's table and vmmap's differ: %s", slurp(ilog));
	doc = capture_doc();
	regions = json_object_get(json_object_get(doc, "memory"), "regions");
	cr_assert_geq(json_array_size(regions), 2, "QEMU's two RAM regions: %s", slurp(dlog));
	json_decref(doc);
}

/* What the net_vhost backend and the virtio-user frontend log of one
 * session: the negotiated features, protocol features, the vrings given
 * a kick descriptor, and the queue sizes. */
struct dpdk_session {
	uint64_t features, protocol;
	unsigned vrings, size;
};

static struct dpdk_session dpdk_session(const char *blog, const char *flog)
{
	struct dpdk_session d = { 0 };
	const char *t = read_or_null(blog), *p;
	unsigned seen = 0;

	cr_assert_not_null(t);
	if ((p = strstr(t, "negotiated Virtio features: ")))
		d.features = strtoull(p + 28, NULL, 16);
	if ((p = strstr(t, "negotiated Vhost-user protocol features: ")))
		d.protocol = strtoull(p + 41, NULL, 16);
	for (p = strstr(t, "vring kick idx:"); p; p = strstr(p + 1, "vring kick idx:")) {
		unsigned idx = (unsigned)strtoul(p + 15, NULL, 10);

		if (idx < 32 && !(seen & (1u << idx))) {
			seen |= 1u << idx;
			d.vrings++;
		}
	}
	t = read_or_null(flog);
	cr_assert_not_null(t);
	if ((p = strstr(t, "vq_size: ")))
		d.size = (unsigned)strtoul(p + 9, NULL, 10);
	return d;
}

/* One run of virtio-user (packed, 2 queue pairs) against net_vhost (2
 * queues), through vmmap when via is set.  tag names the run's files. */
static struct dpdk_session packed_run(const char *tag, bool via, int *vm_status)
{
	char dv[160], front[160], bvdev[256], fvdev[256], bp[64], fp[64], blog[160], flog[160],
		vlog[160];
	pid_t back, fr, vm = -1;
	int in[2];

	snprintf(dv, sizeof(dv), "%s/%s-dv.sock", dir, tag);
	snprintf(front, sizeof(front), "%s/%s-front.sock", dir, tag);
	snprintf(blog, sizeof(blog), "%s/%s-backend.log", dir, tag);
	snprintf(flog, sizeof(flog), "%s/%s-frontend.log", dir, tag);
	snprintf(vlog, sizeof(vlog), "%s/%s-vmmap.log", dir, tag);
	snprintf(bvdev, sizeof(bvdev), "net_vhost0,iface=%s,client=0,queues=2", dv);
	snprintf(fvdev, sizeof(fvdev), "net_virtio_user0,path=%s,queues=2,packed_vq=1",
		 via ? front : dv);
	snprintf(bp, sizeof(bp), "vmmapb%s%d", tag, (int)getpid());
	snprintf(fp, sizeof(fp), "vmmapf%s%d", tag, (int)getpid());
	const char *bargv[] = { "dpdk-testpmd", "-l", "0-1", "--no-pci", "--no-huge", "-m", "512",
				"--no-shconf", "--file-prefix", bp, "--log-level",
				"lib.vhost.*:debug", "--vdev", bvdev, "--", "--nb-cores=1",
				"--total-num-mbufs=8192", "--rxq=2", "--txq=2", NULL };
	const char *fargv[] = { "dpdk-testpmd", "-l", "0-1", "--no-pci", "--no-huge", "-m", "256",
				"--no-shconf", "--file-prefix", fp, "--log-level",
				"pmd.net.virtio.*:debug", "--vdev", fvdev, "--",
				"--total-num-mbufs=4096", "--rxq=2", "--txq=2", NULL };
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "90",
				"--listen", front, "--forward", dv, NULL };

	/* The backend runs until its standard input closes. */
	cr_assert_eq(pipe(in), 0);
	back = spawn_in(blog, bargv, in[0]);
	close(in[0]);
	cr_assert(wait_file(dv, NULL, 30), "testpmd (net_vhost) did not listen: %s", slurp(blog));
	if (via) {
		vm = spawn(vlog, vargv);
		cr_assert(wait_file(front, NULL, 10), "vmmap did not listen: %s", slurp(vlog));
	}
	/* The frontend sets the device up, reads EOF and leaves. */
	fr = spawn(flog, fargv);
	cr_assert_eq(finish(fr), 0, "virtio-user testpmd: %s", slurp(flog));
	if (via)
		*vm_status = finish(vm);
	close(in[1]);
	terminate(back);
	return dpdk_session(blog, flog);
}

/*
 * DPDK virtio-user (packed_vq=1, queues=2) <-> vmmap <-> DPDK net_vhost
 * (queues=2): the negotiated features, the number of vrings and their
 * sizes equal a direct run's, and vmmap records the same.
 */
Test(dpdk, virtio_user_packed_mq_forward)
{
	struct dpdk_session direct, via;
	json_t *doc, *rings;
	int status = -1;
	unsigned started = 0;

	if (!have("dpdk-testpmd"))
		cr_skip_test("dpdk-testpmd is not installed");
	direct = packed_run("direct", false, NULL);
	via = packed_run("via", true, &status);
	cr_assert_eq(status, 0, "vmmap exit %d", status);
	cr_assert_neq(direct.features, 0, "the direct run negotiated features");
	cr_assert(direct.features & (UINT64_C(1) << 34), "RING_PACKED negotiated: 0x%llx",
		  (unsigned long long)direct.features);
	cr_assert_eq(via.features, direct.features, "features 0x%llx through vmmap, 0x%llx direct",
		     (unsigned long long)via.features, (unsigned long long)direct.features);
	cr_assert_eq(via.protocol, direct.protocol);
	cr_assert_eq(via.vrings, direct.vrings, "%u vrings through vmmap, %u direct", via.vrings,
		     direct.vrings);
	cr_assert_eq(via.vrings, 4, "2 queue pairs");
	cr_assert_eq(via.size, direct.size);

	doc = capture_doc();
	json_t *cap = json_object_get(doc, "capture");

	cr_assert_eq(hex(json_object_get(cap, "features"), "acked"), direct.features);
	cr_assert_eq(hex(json_object_get(cap, "protocol_features"), "acked"), direct.protocol);
	rings = json_object_get(cap, "rings");
	for (size_t i = 0; i < json_array_size(rings); i++) {
		json_t *r = json_array_get(rings, i);

		if (!json_object_get(r, "desc"))
			continue;
		started++;
		cr_assert_eq(json_integer_value(json_object_get(r, "num")), direct.size,
			     "vring %zu's size", i);
	}
	cr_assert_eq(started, direct.vrings, "vmmap saw %u vrings set up", started);
	json_decref(doc);
}

/* ---- the backend's request channel with a real QEMU ---- */

/* Reads one whole message (and its descriptors, up to 8) from fd; false at
 * EOF. */
static bool read_msg(int fd, uint32_t hdr[3], uint8_t *payload, int *fds, size_t *nfds)
{
	union {
		char b[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { hdr, 12 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };

	*nfds = 0;
	if (recvmsg(fd, &mh, MSG_WAITALL) != 12)
		return false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		memcpy(fds + *nfds, CMSG_DATA(c), k * sizeof(int));
		*nfds += k;
	}
	return hdr[2] <= 4096 && (!hdr[2] || recv(fd, payload, hdr[2], MSG_WAITALL) ==
					   (ssize_t)hdr[2]);
}

static void write_msg(int fd, uint32_t request, uint32_t flags, const void *p, uint32_t size,
		      int sendfd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint8_t buf[12 + 4096];
	struct iovec iov = { buf, 12 + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, (uint32_t[]){ request, flags, size }, 12);
	if (size)
		memcpy(buf + 12, p, size);
	if (sendfd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &sendfd, sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)(12 + size))
		_exit(3);
}

/*
 * A scripted vhost-user-blk backend (a child process) that QEMU 7.2 and
 * SeaBIOS start: it answers the handshake, GET_CONFIG with a 64 MiB disk
 * and every NEED_REPLY with 0, and once the device is started it sends
 * CONFIG_CHANGE_MSG, then VRING_HOST_NOTIFIER_MSG with a one-page memfd,
 * both with NEED_REPLY, on the channel QEMU handed over, while it keeps
 * serving the main channel (QEMU asks GET_CONFIG there before it answers
 * the first).  The frontend's answers go to log as "reply REQUEST VALUE".
 */
static void blk_backend(int lfd, const char *log)
{
	int fd = accept(lfd, NULL, NULL), ch = -1, fds[8];
	FILE *out = fopen(log, "w");
	bool started = false;
	int sent = 0;

	setvbuf(out, NULL, _IONBF, 0);
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { ch, POLLIN, 0 } };
		uint32_t hdr[3];
		uint8_t pl[4096];
		size_t nfds;

		if (started && ch >= 0 && sent < 2) {
			uint64_t notifier[3] = { 0, 4096, 0 };
			int page = memfd_create("notifier", MFD_CLOEXEC);

			if (ftruncate(page, 4096))
				_exit(3);
			if (sent++ == 0)
				write_msg(ch, 2, 0x9, NULL, 0, -1);
			else
				write_msg(ch, 3, 0x9, notifier, 24, page);
			close(page);
		}
		if (poll(p, 2, 30000) <= 0)
			_exit(4);
		if (p[1].revents) {
			if (!read_msg(ch, hdr, pl, fds, &nfds))
				ch = -1;
			else {
				uint64_t v;

				memcpy(&v, pl, 8);
				fprintf(out, "reply %u 0x%llx\n", hdr[0], (unsigned long long)v);
			}
		}
		if (!p[0].revents)
			continue;
		if (!read_msg(fd, hdr, pl, fds, &nfds))
			_exit(0);
		fprintf(out, "request %u\n", hdr[0]);
		switch (hdr[0]) {
		case 1: /* GET_FEATURES: VERSION_1, PROTOCOL_FEATURES */
			write_msg(fd, 1, 0x5, (uint64_t[]){ 0x140000000 }, 8, -1);
			break;
		case 15: /* REPLY_ACK, BACKEND_REQ, CONFIG, BACKEND_SEND_FD, HOST_NOTIFIER */
			write_msg(fd, 15, 0x5, (uint64_t[]){ 0xe28 }, 8, -1);
			break;
		case 24: { /* GET_CONFIG: the header back, a 64 MiB disk */
			uint8_t cfg[4096] = { 0 };

			memcpy(cfg, pl, 12);
			memcpy(cfg + 12, (uint64_t[]){ 0x20000 }, 8);
			write_msg(fd, 24, 0x5, cfg, hdr[2], -1);
			break;
		}
		case 11: { /* GET_VRING_BASE */
			uint32_t st[2] = { 0, 0 };

			memcpy(st, pl, 4);
			write_msg(fd, 11, 0x5, st, 8, -1);
			break;
		}
		case 21: /* SET_BACKEND_REQ_FD */
			ch = fds[0];
			nfds = 0;
			break;
		case 12: /* SET_VRING_KICK: the device is started */
			started = true;
			break;
		}
		if (hdr[1] & 0x8 && hdr[0] != 1 && hdr[0] != 15 && hdr[0] != 24 && hdr[0] != 11)
			write_msg(fd, hdr[0], 0x5, (uint64_t[]){ 0 }, 8, -1);
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
	}
}

Test(forward, qemu_backend_channel_relayed)
{
	char back[160], blog[160], vlog[160], qlog[160], bios[160], chardev[256];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t be, vm, qemu;
	json_t *doc, *ch;
	int lfd, status;
	bool answered;

	if (!have("qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed (Debian: qemu-system-x86)");
	IN_DIR(back, "back.sock");
	IN_DIR(blog, "backend.log");
	IN_DIR(vlog, "vmmap.log");
	IN_DIR(qlog, "qemu.log");
	IN_DIR(bios, "bios.log");
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_lt(strlen(back), sizeof(sa.sun_path));
	memcpy(sa.sun_path, back, strlen(back) + 1);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 1), 0);
	be = fork();
	cr_assert_geq(be, 0);
	if (be == 0) {
		blk_backend(lfd, blog);
		_exit(0);
	}
	close(lfd);
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "120",
				"--follow", "--listen", sock_path, "--forward", back, NULL };

	vm = spawn(vlog, vargv);
	cr_assert(wait_file(sock_path, NULL, 10), "vmmap did not listen: %s", slurp(vlog));
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s", sock_path);
	{
		char debugcon[192];

		snprintf(debugcon, sizeof(debugcon), "file:%s", bios);
		const char *qargv[] = {
			"qemu-system-x86_64", "-M", "pc", "-m", "128M", "-display", "none",
			"-no-user-config", "-serial", "none", "-monitor", "none",
			"-object", "memory-backend-memfd,id=mem,size=128M,share=on",
			"-numa", "node,memdev=mem", "-chardev", chardev, "-device",
			"vhost-user-blk-pci,chardev=c0,bootindex=1,page-per-vq=on",
			"-debugcon", debugcon, "-global", "isa-debugcon.iobase=0x402", NULL,
		};

		qemu = spawn(qlog, qargv);
	}
	answered = wait_file(blog, "reply 3 ", 90);
	terminate(qemu);
	status = finish(vm);
	kill(be, SIGKILL);
	waitpid(be, NULL, 0);
	cr_assert(answered, "QEMU's answers did not come back\nbackend: %s\nvmmap: %s\nqemu: %s",
		  slurp(blog), slurp(vlog), slurp(qlog));
	cr_assert(file_has(blog, "reply 2 0x0"), "QEMU answered CONFIG_CHANGE_MSG with 0: %s",
		  slurp(blog));
	cr_assert(file_has(blog, "reply 3 0x0"), "QEMU mapped the notifier page: %s",
		  slurp(blog));
	cr_assert(file_has(vlog, "<= B#0 CONFIG_CHANGE_MSG flags 0x9 size 0 fds 0"), "%s",
		  slurp(vlog));
	cr_assert(file_has(vlog, "=> B#0 CONFIG_CHANGE_MSG flags 0x5 size 8 fds 0 value 0x0"),
		  "%s", slurp(vlog));
	cr_assert(file_has(vlog, "<= B#1 VRING_HOST_NOTIFIER_MSG flags 0x9 size 24 fds 1"),
		  "%s", slurp(vlog));
	cr_assert(file_has(vlog, "=> B#1 VRING_HOST_NOTIFIER_MSG flags 0x5 size 8 fds 0 value 0x0"),
		  "%s", slurp(vlog));
	cr_assert_eq(status, 0, "vmmap exit %d: %s", status, slurp(vlog));
	doc = capture_doc();
	ch = json_object_get(json_object_get(doc, "capture"), "backend_channel");
	cr_assert(json_is_true(json_object_get(ch, "relayed")));
	cr_assert_eq(json_integer_value(json_object_get(ch, "messages")), 2);
	cr_assert_eq(json_integer_value(json_object_get(ch, "replies")), 2);
	json_decref(doc);
}

/* ---- vmmap as the backend of each device type (--type) ---- */

/*
 * QEMU 7.2 with one vhost-user device on vmmap capture --type TYPE for
 * seconds: returns vmmap's exit status; the capture is in out_path, the
 * trace in dir/vmmap.log, SeaBIOS's console in dir/bios.log; *alive says
 * whether QEMU still ran when the capture ended.
 */
static int type_case(const char *type, const char *const *dev, const char *seconds,
		     bool *alive)
{
	char chardev[256], vlog[160], qlog[160], bios[160], debugcon[192];
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", seconds,
				"--follow", "--listen", sock_path, "--type", type,
				"--snapshot-bytes", "16", NULL };
	const char *qargv[40] = {
		"qemu-system-x86_64", "-M", "pc", "-m", "128M", "-display", "none",
		"-no-user-config", "-serial", "none", "-monitor", "none",
		"-object", "memory-backend-memfd,id=mem,size=128M,share=on",
		"-numa", "node,memdev=mem", "-chardev", chardev,
		"-debugcon", debugcon, "-global", "isa-debugcon.iobase=0x402",
	};
	int n = 22, status;
	pid_t vm, qemu;

	IN_DIR(vlog, "vmmap.log");
	IN_DIR(qlog, "qemu.log");
	IN_DIR(bios, "bios.log");
	snprintf(debugcon, sizeof(debugcon), "file:%s", bios);
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s", sock_path);
	for (; *dev && n < 38; dev++)
		qargv[n++] = *dev;
	qargv[n] = NULL;
	vm = spawn(vlog, vargv);
	cr_assert(wait_file(sock_path, NULL, 10), "vmmap did not listen: %s", slurp(vlog));
	qemu = spawn(qlog, qargv);
	status = finish(vm);
	*alive = waitpid(qemu, NULL, WNOHANG) == 0;
	stop(qemu);
	return status;
}

static size_t captured_regions(void)
{
	json_t *doc = capture_doc();
	size_t n = json_array_size(json_object_get(json_object_get(doc, "memory"), "regions"));

	json_decref(doc);
	return n;
}

/* blk: QEMU needs CONFIG and a GET_CONFIG answer of exactly the size it
 * asks; SeaBIOS then sees the 1 GiB default disk and starts the device. */
Test(integration, type_blk)
{
	const char *dev[] = { "-device", "vhost-user-blk-pci,chardev=c0,bootindex=1", NULL };
	bool alive;
	int status;

	if (!have("qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed");
	status = type_case("blk", dev, "6", &alive);
	cr_assert_eq(status, 0, "%s", slurp(out_path));
	cr_assert_eq(captured_regions(), 2, "%s", slurp(out_path));
	cr_assert(file_has(out_path, "\"GET_CONFIG\""), "QEMU asked GET_CONFIG");
	cr_assert(file_has(out_path, "\"GET_INFLIGHT_FD\"") &&
		  file_has(out_path, "\"SET_INFLIGHT_FD\""),
		  "QEMU took the in-flight area: %s", slurp(out_path));
	cr_assert(file_has(out_path, "\"violations\": []"), "%s", slurp(out_path));
	char bios[160];

	IN_DIR(bios, "bios.log");
	cr_assert(file_has(bios, "s=2097152"), "SeaBIOS sees 2097152 sectors: %s", slurp(bios));

	/* The request queue: SeaBIOS's read of the boot sector waits in it
	 * (vmmap, the device, takes nothing), and the in-flight area QEMU
	 * took decodes as vmmap set it up: version 1, desc_num the queue's
	 * size, nothing in flight. */
	json_t *doc = vring_json("--chains=0", "0"), *r = ring0(doc), *b, *fl;

	cr_assert_geq(json_array_size(json_object_get(r, "pending")), 1, "%s",
		      json_dumps(r, JSON_INDENT(1)));
	b = json_object_get(json_array_get(json_object_get(r, "pending"), 0), "blk");
	cr_assert_not_null(b, "%s", json_dumps(r, JSON_INDENT(1)));
	cr_assert_str_eq(json_string_value(json_object_get(b, "type")), "IN");
	cr_assert_eq(json_integer_value(json_object_get(b, "sector")), 0);
	cr_assert_eq(json_integer_value(json_object_get(b, "data_bytes")), 512);
	cr_assert_null(json_object_get(b, "status"), "not used: no status yet");
	fl = json_object_get(r, "inflight");
	cr_assert_not_null(fl, "%s", json_dumps(r, JSON_INDENT(1)));
	cr_assert_eq(json_integer_value(json_object_get(fl, "version")), 1);
	cr_assert_eq(json_integer_value(json_object_get(fl, "desc_num")),
		     json_integer_value(json_object_get(r, "num")));
	cr_assert_eq(json_array_size(json_object_get(fl, "in_flight")), 0);
	cr_assert_null(json_object_get(fl, "problem"), "%s", json_dumps(fl, JSON_INDENT(1)));
	json_decref(doc);
}

/* scsi: SeaBIOS starts it; two regions. */
Test(integration, type_scsi)
{
	const char *dev[] = { "-device", "vhost-user-scsi-pci,chardev=c0", NULL };
	bool alive;

	if (!have("qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed");
	cr_assert_eq(type_case("scsi", dev, "6", &alive), 0, "%s", slurp(out_path));
	cr_assert_eq(captured_regions(), 2, "%s", slurp(out_path));
}

/* vsock and gpio: the handshake completes with CONFIG (gpio made QEMU 7.2
 * abort without it, vsock stopped); fs, i2c and rng: QEMU builds their
 * config.  QEMU still runs, and no table comes without a guest driver. */
static void handshake_only(const char *type, const char *device, bool config)
{
	const char *dev[] = { "-device", device, NULL };
	char vlog[160];
	bool alive;

	if (!have("qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed");
	IN_DIR(vlog, "vmmap.log");
	cr_assert_eq(type_case(type, dev, "4", &alive), 1, "no table without a guest driver");
	cr_assert(file_has(vlog, "; no table was sent, 0 violations"), "%s", slurp(vlog));
	cr_assert(alive, "QEMU stopped\n%s", slurp(out_path));
	cr_assert_eq(file_has(out_path, "\"GET_CONFIG\""), config, "%s", slurp(out_path));
	cr_assert(file_has(out_path, "\"SET_VRING_CALL\""), "%s", slurp(out_path));
	cr_assert(file_has(out_path, "\"violations\": []"), "%s", slurp(out_path));
}

Test(integration, type_vsock) { handshake_only("vsock", "vhost-user-vsock-pci,chardev=c0", true); }
Test(integration, type_gpio) { handshake_only("gpio", "vhost-user-gpio-pci,chardev=c0", true); }
Test(integration, type_fs) { handshake_only("fs", "vhost-user-fs-pci,chardev=c0,tag=t0", false); }
Test(integration, type_i2c) { handshake_only("i2c", "vhost-user-i2c-pci,chardev=c0", false); }
Test(integration, type_rng) { handshake_only("rng", "vhost-user-rng-pci,chardev=c0", false); }

/* net with queues=4 starts with no option: GET_QUEUE_NUM answers 8. */
Test(integration, type_net_queues_4)
{
	const char *dev[] = { "-netdev", "vhost-user,id=n0,chardev=c0,queues=4", "-device",
			      "virtio-net-pci,netdev=n0,mq=on,vectors=10", "-boot", "n", NULL };
	bool alive;

	if (!have("qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed");
	cr_assert_eq(type_case("net", dev, "8", &alive), 0, "%s", slurp(out_path));
	cr_assert(alive, "QEMU accepted the queues");
	cr_assert_eq(captured_regions(), 2, "%s", slurp(out_path));
}

/* ---- packed rings ---- */

/* DPDK virtio-user with packed_vq=1 against vmmap: RING_PACKED is offered
 * and negotiated, unless --no-packed, when the rings are split. */
static void packed_case(bool no_packed)
{
	json_t *doc = virtio_user_capture(",packed_vq=1", no_packed ? "--no-packed" : NULL);
	json_t *f = json_object_get(json_object_get(doc, "capture"), "features");

	cr_assert_eq(!!(hex(f, "acked") & (UINT64_C(1) << 34)), !no_packed,
		     "acked features 0x%llx", (unsigned long long)hex(f, "acked"));
	cr_assert_eq(!!(hex(f, "offered") & (UINT64_C(1) << 34)), !no_packed);
	json_decref(doc);
	/* The RX ring in the snapshot, read from DPDK's memfd: its layout is
	 * the negotiated one and it decodes without a problem (testpmd has
	 * stopped the port by the time it leaves, so nothing is pending). */
	doc = vring_json("--chains=0", "0");
	json_t *r = ring0(doc);

	cr_assert_str_eq(json_string_value(json_object_get(r, "layout")),
			 no_packed ? "split" : "packed", "%s", json_dumps(r, JSON_INDENT(1)));
	cr_assert_null(json_object_get(r, "problem"), "%s", json_dumps(r, JSON_INDENT(1)));
	cr_assert_eq(json_integer_value(json_object_get(r, "problems")), 0);
	cr_assert_not_null(json_object_get(r, no_packed ? "avail_idx" : "driver_event"));
	json_decref(doc);
}

Test(dpdk, virtio_user_packed) { packed_case(false); }
Test(dpdk, virtio_user_no_packed_is_split) { packed_case(true); }

/* ---- --settle ---- */

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Starts vmmap (vargv) listening on sock_path for a QEMU started next:
 * its log path in vlog, QEMU's in qlog, the chardev QEMU is to use.
 * Skips the test without QEMU. */
static pid_t listening_capture(const char *const *vargv, char vlog[160], char qlog[160],
			       char chardev[256])
{
	pid_t vm;

	if (!have("qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed");
	snprintf(vlog, 160, "%s/vmmap.log", dir);
	snprintf(qlog, 160, "%s/qemu.log", dir);
	snprintf(chardev, 256, "socket,id=c0,path=%s", sock_path);
	vm = spawn(vlog, vargv);
	cr_assert(wait_file(sock_path, NULL, 10), "vmmap did not listen: %s", slurp(vlog));
	return vm;
}

/*
 * --settle 2 on a q35 QEMU: the capture ends by itself once the table and
 * the rings are there, within SECONDS + 1 of the last message (measured
 * from QEMU's start, which is before the connection, so the bound is a
 * little tighter than the one promised).
 */
Test(integration, settle_ends_a_q35_capture)
{
	char vlog[160], qlog[160], chardev[256];
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "90",
				"--settle", "2", "--follow", "--listen", sock_path, NULL };
	double t0, took, last = -1;
	const char *t, *p;
	json_t *doc;
	pid_t vm, qemu;
	int status;

	vm = listening_capture(vargv, vlog, qlog, chardev);
	t0 = mono_s();
	qemu = start_qemu_net(qlog, "q35", "256M", chardev);
	status = finish(vm);
	took = mono_s() - t0;
	stop(qemu);
	cr_assert_eq(status, 0, "%s", slurp(vlog));
	t = slurp(vlog);
	for (p = strstr(t, "\n+"); p; p = strstr(p + 1, "\n+"))
		last = strtod(p + 2, NULL);
	cr_assert_geq(last, 0, "%s", t);
	fprintf(stderr, "--settle 2: last message at +%.3f s, capture ended %.3f s after "
		"QEMU started\n", last, took);
	cr_assert_leq(took - last, 3.0, "ended %.3f s after the last message", took - last);
	cr_assert_geq(took - last, 2.0, "waited the 2 s");
	doc = capture_doc();
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "capture"),
							   "end")), "settled");
	cr_assert_geq(json_array_size(json_object_get(json_object_get(doc, "memory"), "regions")),
		      2);
	json_decref(doc);
}

/* The whole of a file (QEMU's maps pass 64 KiB), malloc'ed. */
static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0, cap = 1 << 16, k;
	char *buf = malloc(cap);

	cr_assert(f && buf, "%s: %s", path, strerror(errno));
	while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (cap - n - 1 == 0) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/*
 * Two NUMA nodes, each its own memory-backend-memfd: QEMU names both
 * memfds "memory-backend-memfd", so only device and inode tell them apart.
 * Each captured region carries the identity of the memfd it came with, and
 * these match the memfds QEMU's own /proc/PID/maps shows.
 */
Test(integration, numa_memfds_have_their_own_identity)
{
	char vlog[160], qlog[160], chardev[256], maps[64];
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "90",
				"--settle", "2", "--listen", sock_path, NULL };
	const char *qargv[] = {
		"qemu-system-x86_64", "-M", "pc", "-m", "256M", "-display", "none",
		"-no-user-config", "-serial", "none", "-monitor", "none",
		"-object", "memory-backend-memfd,id=m0,size=128M,share=on",
		"-object", "memory-backend-memfd,id=m1,size=128M,share=on",
		"-numa", "node,memdev=m0", "-numa", "node,memdev=m1",
		"-chardev", chardev, "-netdev", "vhost-user,id=n0,chardev=c0",
		"-device", "virtio-net-pci,netdev=n0", "-boot", "n", NULL,
	};
	json_t *doc, *regions, *low = NULL, *high = NULL;
	char *qmaps, want[128];
	pid_t vm, qemu;
	int status;

	vm = listening_capture(vargv, vlog, qlog, chardev);
	qemu = spawn(qlog, qargv);
	status = finish(vm);
	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)qemu);
	qmaps = read_all(maps);
	cr_assert_eq(status, 0, "%s\nqemu: %s", slurp(vlog), slurp(qlog));
	doc = capture_doc();
	regions = json_object_get(json_object_get(doc, "memory"), "regions");
	for (size_t i = 0; i < json_array_size(regions); i++) {
		json_t *r = json_array_get(regions, i);

		if (hex(r, "guest_phys_addr") == 0)
			low = r;
		if (hex(r, "guest_phys_addr") == 0x8000000)
			high = r;
	}
	cr_assert(low && high, "node 0 at 0 and node 1 at 128M: %s", slurp(out_path));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(low, "fd"), "path")),
			 "/memfd:memory-backend-memfd (deleted)");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(high, "fd"), "path")),
			 "/memfd:memory-backend-memfd (deleted)");
	cr_assert_neq(json_integer_value(json_object_get(json_object_get(low, "fd"), "ino")),
		      json_integer_value(json_object_get(json_object_get(high, "fd"), "ino")),
		      "two memfds, two inodes: %s", slurp(out_path));
	/* QEMU maps each at the region's user address (minus its offset):
	 * "START-END rw-s 00000000 DEV INO /memfd:memory-backend-memfd". */
	for (int k = 0; k < 2; k++) {
		json_t *r = k ? high : low, *fd = json_object_get(r, "fd");

		snprintf(want, sizeof(want), "%" PRIx64 "-", hex(r, "userspace_addr") -
			 hex(r, "mmap_offset"));
		const char *line = strstr(qmaps, want);

		cr_assert_not_null(line, "no mapping at %s in QEMU's maps:\n%s", want, qmaps);
		snprintf(want, sizeof(want), " %s %" JSON_INTEGER_FORMAT " ",
			 json_string_value(json_object_get(fd, "dev")),
			 json_integer_value(json_object_get(fd, "ino")));
		cr_assert(strstr(line, want) && strstr(line, want) < strchr(line, '\n'),
			  "QEMU maps %.*s, not%s", (int)(strchr(line, '\n') - line), line, want);
	}
	stop(qemu);
	free(qmaps);
	json_decref(doc);
}

/* ---- guest memory and rings ---- */

/* vmmap -j vring ARGS... on the capture at out_path: its result. */
static json_t *vring_json(const char *extra, const char *index)
{
	char log[160];
	const char *argv[] = { VMMAP_BIN, "-j", "vring", out_path, index, extra, NULL };
	json_error_t e;
	json_t *doc;
	int status;

	IN_DIR(log, "vring.json");
	status = finish(spawn(log, argv));
	cr_assert(status == 0 || status == 1, "vring exit %d: %s", status, slurp(log));
	doc = json_load_file(log, 0, &e);
	cr_assert_not_null(doc, "%s: %s", log, slurp(log));
	return doc;
}

static json_t *ring0(json_t *doc)
{
	return json_array_get(json_object_get(json_object_get(doc, "result"), "rings"), 0);
}

/*
 * vmmap as the net backend of QEMU with iPXE, --snapshot-bytes 256:
 * checkpoints (SIGUSR1) are taken until the TX ring's avail idx moves (a
 * poll of guest memory, not a sleep); then the TX ring holds a chain whose
 * frame comes from the NIC's MAC and is a DHCP request (BOOTP
 * BOOTREQUEST from port 68 to 67), and the RX ring holds the WRITE
 * buffers iPXE posted.  The file holds buffer bytes: mode 0600.
 */
Test(integration, ipxe_tx_ring_holds_a_dhcp_request)
{
	char vlog[160], qlog[160], chardev[256];
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "100",
				"--snapshot-bytes", "256", "--listen", sock_path, NULL };
	const char *mac = "52:54:00:be:ef:01";
	json_t *tx = NULL, *rx, *doc = NULL, *dhcp = NULL;
	pid_t vm, qemu;
	struct stat st;

	vm = listening_capture(vargv, vlog, qlog, chardev);
	const char *qargv[] = {
		"qemu-system-x86_64", "-M", "pc", "-m", "256M", "-display", "none",
		"-no-user-config", "-serial", "none", "-monitor", "none",
		"-object", "memory-backend-memfd,id=mem,size=256M,share=on",
		"-numa", "node,memdev=mem", "-chardev", chardev,
		"-netdev", "vhost-user,id=n0,chardev=c0",
		"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:be:ef:01", "-boot", "n", NULL,
	};
	qemu = spawn(qlog, qargv);
	doc = checkpoint_until(vm, 80, "--bytes=0", "1", "avail_idx");
	tx = ring0(doc);
	cr_assert_not_null(doc, "the TX ring's avail idx never moved\nvmmap: %s\nqemu: %s",
			   slurp(vlog), slurp(qlog));
	cr_assert_eq(stat(out_path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "buffer bytes in it: mode %o", st.st_mode & 0777);
	for (size_t i = 0; i < json_array_size(json_object_get(tx, "pending")); i++) {
		json_t *f = json_object_get(json_object_get(json_array_get(
			json_object_get(tx, "pending"), i), "net"), "frame");

		if (f && json_string_value(json_object_get(f, "bootp")))
			dhcp = f;
	}
	cr_assert_not_null(dhcp, "no DHCP request in the TX ring: %s",
			   json_dumps(tx, JSON_INDENT(1)));
	cr_assert_str_eq(json_string_value(json_object_get(dhcp, "src")), mac);
	cr_assert_str_eq(json_string_value(json_object_get(dhcp, "bootp")), "BOOTREQUEST");
	cr_assert_str_eq(json_string_value(json_object_get(dhcp, "bootp_chaddr")), mac);
	cr_assert_eq(json_integer_value(json_object_get(dhcp, "sport")), 68);
	cr_assert_eq(json_integer_value(json_object_get(dhcp, "dport")), 67);
	cr_assert_str_eq(json_string_value(json_object_get(dhcp, "dst")), "ff:ff:ff:ff:ff:ff");
	json_decref(doc);
	doc = vring_json("--bytes=0", "0");
	rx = ring0(doc);
	cr_assert_gt(json_array_size(json_object_get(rx, "pending")), 0,
		     "iPXE posted RX buffers: %s", json_dumps(rx, JSON_INDENT(1)));
	for (size_t i = 0; i < json_array_size(json_object_get(rx, "pending")); i++) {
		json_t *ds = json_object_get(json_array_get(json_object_get(rx, "pending"), i),
					     "descs");

		for (size_t k = 0; k < json_array_size(ds); k++) {
			json_t *fl = json_object_get(json_array_get(ds, k), "flags");
			bool w = false;

			for (size_t j = 0; j < json_array_size(fl); j++)
				w |= !strcmp(json_string_value(json_array_get(fl, j)), "WRITE");
			cr_assert(w, "an RX buffer the device may not write: %s",
				  json_dumps(rx, JSON_INDENT(1)));
			cr_assert_not_null(json_object_get(json_array_get(ds, k),
							   "userspace_addr"));
		}
	}
	json_decref(doc);
	stop(qemu);
	terminate(vm);
}

/* ---- import qemu: QEMU's own view beside the backend's ---- */

/* vmmap ARGS... (NULL-terminated): its exit status, its output in log. */
static int run_vmmap(const char *log, const char *const *argv)
{
	return finish(spawn(log, argv));
}

/*
 * QEMU (machine args margv, with a QMP socket and vhost-user net to a
 * settling capture): the capture once the table is sent, then vmmap import
 * qemu over QMP while QEMU still runs.  *imp, *cap: the two documents.
 */
static void import_beside_capture(const char *const *margv, json_t **imp, json_t **cap,
				  char imp_path[160])
{
	char vlog[160], qlog[160], chardev[256], qmp[192], ilog[160], qmp_sock[160];
	const char *vargv[] = { VMMAP_BIN, "capture", "-o", out_path, "--timeout", "90",
				"--settle", "2", "--listen", sock_path, NULL };
	const char *qargv[48] = { "qemu-system-x86_64", "-display", "none", "-no-user-config",
				  "-serial", "none", "-monitor", "none" };
	json_error_t e;
	pid_t vm, qemu;
	int n = 8, status;

	vm = listening_capture(vargv, vlog, qlog, chardev);
	IN_DIR(qmp_sock, "qmp.sock");
	snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", qmp_sock);
	for (; *margv && n < 38; margv++)
		qargv[n++] = *margv;
	const char *tail[] = { "-chardev", chardev, "-netdev", "vhost-user,id=n0,chardev=c0",
			       "-device", "virtio-net-pci,netdev=n0", "-boot", "n", "-qmp", qmp,
			       NULL };
	for (int k = 0; tail[k]; k++)
		qargv[n++] = tail[k];
	qargv[n] = NULL;
	qemu = spawn(qlog, qargv);
	status = finish(vm);
	cr_assert_eq(status, 0, "capture exit %d: %s\nqemu: %s", status, slurp(vlog), slurp(qlog));
	snprintf(imp_path, 160, "%s/import.json", dir);
	IN_DIR(ilog, "import.log");
	status = run_vmmap(ilog, (const char *[]){ VMMAP_BIN, "import", "qemu", qmp_sock, "-o",
						   imp_path, NULL });
	stop(qemu);
	cr_assert_eq(status, 0, "import exit %d: %s", status, slurp(ilog));
	*imp = json_load_file(imp_path, 0, &e);
	cr_assert_not_null(*imp, "%s: %s", imp_path, e.text);
	*cap = capture_doc();
}

/* The regions' guest range, size, offset and user address, as a sorted
 * list of lines: what must be equal between an import and a capture. */
static char *layout_lines(json_t *doc)
{
	json_t *r = json_object_get(json_object_get(doc, "memory"), "regions");
	size_t n = json_array_size(r), at = 0;
	char (*lines)[96] = calloc(n + 1, 96), *out = calloc(n + 1, 96);

	cr_assert(lines && out);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(r, i);

		snprintf(lines[i], 96, "%s %s %s %s\n",
			 json_string_value(json_object_get(e, "guest_phys_addr")),
			 json_string_value(json_object_get(e, "memory_size")),
			 json_string_value(json_object_get(e, "mmap_offset")),
			 json_string_value(json_object_get(e, "userspace_addr")));
	}
	qsort(lines, n, 96, (int (*)(const void *, const void *))strcmp);
	for (size_t i = 0; i < n; i++)
		at += (size_t)sprintf(out + at, "%s", lines[i]);
	free(lines);
	return out;
}

/*
 * q35 with a shared memfd as its RAM, a memory-backend-ram DIMM and a
 * memfd DIMM with share=off: the import lists the first as never sent
 * and the second as sent but private; the capture lacks the first;
 * diff --layout shows exactly that range; validate names both; lookup
 * finds pci-conf-data at pio 0xcfc and the virtio-net notify range in
 * mmio.
 */
Test(integration, import_finds_the_ram_a_backend_never_got)
{
	const char *m[] = { "-M", "q35", "-m", "1G,slots=4,maxmem=4G",
			    "-object", "memory-backend-memfd,id=mem,size=1G,share=on",
			    "-numa", "node,memdev=mem",
			    "-object", "memory-backend-ram,id=d1,size=128M",
			    "-device", "pc-dimm,id=dimm1,memdev=d1",
			    "-object", "memory-backend-memfd,id=d2,size=128M,share=off",
			    "-device", "pc-dimm,id=dimm2,memdev=d2", NULL };
	char ip[160], log[160], *a, *b;
	json_t *imp, *cap, *u;
	int status;

	if (!have("qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed");
	import_beside_capture(m, &imp, &cap, ip);
	u = json_object_get(json_object_get(imp, "import"), "unsent");
	cr_assert_eq(json_array_size(u), 2, "%s", json_dumps(u, JSON_INDENT(1)));
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 0), "backend")), "d1");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 0), "type")),
			 "memory-backend-ram");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 0),
							   "guest_phys_addr")), "0x100000000");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 0), "device")),
			 "dimm1");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 1), "backend")), "d2");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(u, 1), "fix")), "share=on");
	/* What QEMU sent (d2 included) is what the backend got. */
	a = layout_lines(imp);
	b = layout_lines(cap);
	cr_assert_str_eq(a, b, "import:\n%s\ncapture:\n%s", a, b);
	cr_assert_null(strstr(b, "0x100000000 "), "the capture lacks the ram DIMM: %s", b);
	free(a);
	free(b);
	IN_DIR(log, "diff.log");
	status = run_vmmap(log, (const char *[]){ VMMAP_BIN, "diff", "--layout", ip, out_path,
						  NULL });
	cr_assert_eq(status, 1, "%s", slurp(log));
	cr_assert(file_has(log, "@@ memory layout: 4 -> 3 regions, 3 unchanged\n"
			   "- only in old 0000000100000000-0000000107ffffff      128M  offset 0x0  "
			   "d1: never sent (memory-backend-ram)\n"),
		  "%s", slurp(log));
	status = run_vmmap(log, (const char *[]){ VMMAP_BIN, "validate", ip, NULL });
	cr_assert_eq(status, 1, "%s", slurp(log));
	cr_assert(file_has(log, "(backend d1, memory-backend-ram) reaches no vhost-user backend "
			   "intact: no descriptor"), "%s", slurp(log));
	cr_assert(file_has(log, "(backend d2, memory-backend-memfd) reaches no vhost-user "
			   "backend intact: share=off"), "%s", slurp(log));
	status = run_vmmap(log, (const char *[]){ VMMAP_BIN, "lookup", ip, "pio", "0xcfc", "4",
						  NULL });
	cr_assert(status == 0 && file_has(log, "pci-conf-data  <- takes the write"), "%s",
		  slurp(log));
	status = run_vmmap(log, (const char *[]){ VMMAP_BIN, "lookup", ip, "mmio", "0xfe003000",
						  "4", NULL });
	cr_assert(status == 0 && file_has(log, "virtio-pci-notify-virtio-net"), "%s", slurp(log));
	json_decref(imp);
	json_decref(cap);
}

/* q35 6G, pc 128M, two NUMA nodes: the imported sent table is what vmmap
 * capture records from the same QEMU: guest range, size, offset and user
 * address. */
static void import_equals_capture(const char *const *m)
{
	char ip[160], *a, *b;
	json_t *imp, *cap;

	if (!have("qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed");
	import_beside_capture(m, &imp, &cap, ip);
	a = layout_lines(imp);
	b = layout_lines(cap);
	cr_assert_str_eq(a, b, "import:\n%s\ncapture:\n%s", a, b);
	cr_assert_eq(json_array_size(json_object_get(json_object_get(imp, "import"), "unsent")), 0);
	free(a);
	free(b);
	json_decref(imp);
	json_decref(cap);
}

Test(integration, import_equals_capture_q35_6g)
{
	import_equals_capture((const char *[]){ "-M", "q35", "-m", "6G", "-object",
		"memory-backend-memfd,id=mem,size=6G,share=on", "-numa", "node,memdev=mem", NULL });
}

Test(integration, import_equals_capture_pc_128m)
{
	import_equals_capture((const char *[]){ "-M", "pc", "-m", "128M", "-object",
		"memory-backend-memfd,id=mem,size=128M,share=on", "-numa", "node,memdev=mem",
		NULL });
}

Test(integration, import_equals_capture_two_numa_nodes)
{
	import_equals_capture((const char *[]){ "-M", "pc", "-m", "256M",
		"-object", "memory-backend-memfd,id=m0,size=128M,share=on",
		"-object", "memory-backend-memfd,id=m1,size=128M,share=on",
		"-numa", "node,memdev=m0", "-numa", "node,memdev=m1", NULL });
}
