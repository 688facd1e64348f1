/*
 * vmmap capture against the real frontends: QEMU 7.2 (qemu-system-x86, TCG,
 * no guest OS: the virtio-net network-boot ROM brings the device up) and DPDK
 * 22.11 testpmd with virtio-user.  Each test skips with its reason when the
 * program is missing; .ci/run installs both.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frontend.h"

static char dir[64], sock_path[128], out_path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vmmap-integ-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/vu.sock", dir);
	snprintf(out_path, sizeof(out_path), "%s/capture.json", dir);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(integration, .init = setup, .fini = teardown, .timeout = 120);

static int have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* Runs argv (NULL-terminated) in the background, output to log. */
static pid_t spawn(const char *log, const char *const *argv)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		FILE *f = freopen(log, "w", stdout);

		if (!f || dup2(1, 2) < 0)
			_exit(127);
		freopen("/dev/null", "r", stdin);
		setpgid(0, 0);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
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
	snprintf(vlog, sizeof(vlog), "%s/vmmap.log", dir);
	snprintf(qlog, sizeof(qlog), "%s/qemu.log", dir);
	snprintf(rec, sizeof(rec), "%s/session.bin", dir);
	snprintf(replayed, sizeof(replayed), "%s/replayed.json", dir);
	vargv[vargc++] = connect_mode ? "--connect" : "--listen";
	vargv[vargc++] = sock_path;
	if (!mem_slots)
		vargv[vargc++] = "--no-mem-slots";
	vargv[vargc] = NULL;
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s%s", sock_path,
		 connect_mode ? ",server=on,wait=off" : ",reconnect=1");

	const char *qargv[] = {
		"qemu-system-x86_64", "-M", "pc", "-m", "128M", "-display", "none",
		"-no-user-config", "-serial", "none", "-monitor", "none",
		"-object", "memory-backend-memfd,id=mem,size=128M,share=on",
		"-numa", "node,memdev=mem", "-chardev", chardev,
		"-netdev", "vhost-user,id=n0,chardev=c0",
		"-device", "virtio-net-pci,netdev=n0", "-boot", "n", NULL,
	};

	if (connect_mode) {
		qemu = spawn(qlog, qargv);
		vm = spawn(vlog, vargv);
	} else {
		vm = spawn(vlog, vargv);
		qemu = spawn(qlog, qargv);
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

/* DPDK virtio-user with --no-huge: one memfd region whose guest-physical
 * address is the DPDK process's own address, and rings that translate. */
Test(integration, dpdk_testpmd_virtio_user)
{
	char vdev[256], prefix[64], vlog[160], dlog[160];
	json_t *doc, *regions, *r, *rings;
	pid_t vm, dpdk;
	int status;

	if (!have("dpdk-testpmd"))
		cr_skip_test("dpdk-testpmd is not installed (Debian: dpdk-dev, "
			     "librte-net-virtio23, librte-mempool-ring23)");
	snprintf(vlog, sizeof(vlog), "%s/vmmap.log", dir);
	snprintf(dlog, sizeof(dlog), "%s/testpmd.log", dir);
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s", sock_path);
	snprintf(prefix, sizeof(prefix), "vmmap%d", (int)getpid());

	/* testpmd starts its port (the whole vhost-user exchange happens while
	 * it probes the device), reads EOF on stdin, closes the port and
	 * exits: the capture ends on that disconnect. */
	const char *vargv[] = { VMMAP_BIN, "capture", "--listen", sock_path, "-o", out_path,
				"--timeout", "60", NULL };
	const char *dargv[] = { "dpdk-testpmd", "-l", "0-1", "--no-pci", "--no-huge", "-m", "256",
				"--no-shconf", "--file-prefix", prefix, "--vdev", vdev, "--",
				"--total-num-mbufs=2048", NULL };

	vm = spawn(vlog, vargv);
	usleep(200000);
	dpdk = spawn(dlog, dargv);
	status = finish(vm);
	stop(dpdk);
	cr_assert_eq(status, 0, "vmmap capture exit %d\nvmmap: %s\ntestpmd: %s", status,
		     slurp(vlog), slurp(dlog));

	doc = capture_doc();
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
