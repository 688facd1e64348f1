/*
 * A vmmap table: one guest memory table and the I/O buses, and its JSON
 * document form (vmmap-json(5)):
 *
 *   {"vmmap": 1,
 *    "memory": {"regions": [{"guest_phys_addr": "0x0", "memory_size": "0xa0000",
 *                            "userspace_addr": "0x7f..", "mmap_offset": "0x0",
 *                            "name": "pc.ram"}, ...]},
 *    "buses": {"pio": [{"addr": "0x20", "len": "0x2", "device": "pic-master",
 *                       "kind": "device"}, ...], "mmio": [...], ...}}
 *
 * Either part may be absent.  Addresses and sizes are "0x..." strings or JSON
 * integers up to 2^53-1.  The output of `vmmap -j show` (the document wrapped
 * as {"schema": 1, "command": "show", "result": {...}}) is accepted as well,
 * so show output loads back unchanged.
 */
#ifndef VMMAP_TABLE_H
#define VMMAP_TABLE_H

#include <jansson.h>
#include <stddef.h>

#include "iobus.h"
#include "umem.h"

#define VM_DOC_VERSION 1

/*
 * An entry that a lenient load (VM_LOAD_KEEP_INVALID) kept aside because the
 * table cannot hold it: a zero-size or wrapping region, a wrapping
 * registration, or one past KVM's NR_IOBUS_DEVS.  validate reports them.
 */
struct vm_invalid {
	const char *rule; /* "zero-size", "gpa-wrap", "uaddr-wrap", "bus-wrap", "bus-full" */
	int bus;          /* -1 for a region, else an enum vm_bus */
	struct vm_region region; /* for a region; name owned */
	struct vm_io_range io;   /* for a registration; dev owned */
	unsigned line, col;
};

struct vm_table {
	struct vm_umem umem;
	struct vm_io_bus bus[VM_NR_BUSES];
	struct vm_invalid *invalid; /* only after a lenient load */
	size_t ninvalid;
	/* A capture's "capture" section as it was loaded (JSON text, NUL
	 * ended), for what shows it; NULL when the document had none. */
	char *capture;
	/* An import's "import" section (vmmap import: its source and the
	 * guest RAM no backend gets right), as text, or NULL. */
	char *import;
};

/* Load flags. */
#define VM_LOAD_KEEP_INVALID 1u /* keep what the table cannot hold in invalid[] */

/* A diagnostic, fully formatted: "FILE:LINE:COL: message" or "FILE: ...". */
struct vm_error {
	char msg[1024];
};

/*
 * Makes a message one line whatever it quotes (a key, a device name, a path
 * with a newline in it): control characters become \n, \t or \xNN, in
 * place; cut to cap bytes (at most 1024), never inside an escape.  Every
 * error of the loader has been through it.
 */
void vm_one_line(char *msg, size_t cap);

void vm_table_init(struct vm_table *t);
void vm_table_clean(struct vm_table *t);

/*
 * Loads a document into an empty table.  path "-" reads standard input.
 * Files are mapped, not copied.  Returns 0, or -1 with err filled in and the
 * table left empty.
 */
int vm_table_load_file(struct vm_table *t, const char *path, unsigned flags,
		       struct vm_error *err);
/* Same, from memory; name is used in diagnostics. */
int vm_table_load_buffer(struct vm_table *t, const char *name,
			 const char *buf, size_t len, unsigned flags,
			 struct vm_error *err);

/*
 * The table as a document, regions in guest-physical order and buses in bus
 * order; with_holes adds "holes" to "memory" (show's derived list, ignored on
 * input).  NULL on allocation failure.
 */
json_t *vm_table_to_json(const struct vm_table *t, int with_holes);

/* JSON helpers shared with the CLI: a u64 as a canonical "0x..." string. */
json_t *vm_json_hex(uint64_t v);
json_t *vm_json_region(const struct vm_region *r);
/* Sets key to v (taken) in *o; on failure, or when *o is already NULL,
 * drops both and leaves *o NULL.  Whether *o is still there. */
bool vm_json_put(json_t **o, const char *key, json_t *v);
/* A descriptor identity: {"type", "path" (when known), "dev", "ino",
 * "size"}; dev and ino as /proc/<pid>/maps prints them. */
json_t *vm_json_fd_id(const struct vm_fd_id *id);
/* A device number as /proc/<pid>/maps prints it: "MAJOR:MINOR" in hex,
 * two digits at least ("00:01"). */
#define VM_DEV_MAX 20
void vm_fmt_dev(char buf[VM_DEV_MAX], uint64_t dev);
json_t *vm_json_io_range(const struct vm_io_range *r);

#endif
