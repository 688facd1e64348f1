/*
 * Conformance checks: would vhost, vhost-user and KVM accept this table?
 *
 * Generic rules (always):
 *   gpa-overlap (error)    two regions share guest-physical bytes
 *   uaddr-overlap (warn)   two regions share frontend user addresses
 *   zero-size, gpa-wrap, uaddr-wrap, offset-wrap (error)
 *   bus-overlap (warn)     different devices with overlapping ranges
 *                          (pairs of ioeventfds excepted: datamatch)
 *   duplicate (error)      one device registered twice at one range
 *   bus-full (error)       past KVM's 1000 non-ioeventfd registrations
 *   zero-length (warn)     a zero-length registration that is no ioeventfd
 *   bus-wrap (error)
 *   unusable-ram (error)   an import's guest RAM no vhost-user backend
 *                          gets intact (never sent, or share=off)
 * Profile rules:
 *   too-many-regions (error), alignment (error)
 *
 * Entries the table cannot hold (zero-size, wrapping, past the bus cap) are
 * reported from table->invalid, so load the table with VM_LOAD_KEEP_INVALID.
 * Overlaps are found with the interval trees and the sorted buses: O(n log n)
 * plus the overlapping pairs, at most VM_MAX_PAIRS of them per rule.
 */
#ifndef VMMAP_VALIDATE_H
#define VMMAP_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "table.h"

#define VM_MAX_PAIRS 10000

enum vm_severity {
	VM_SEV_WARNING,
	VM_SEV_ERROR,
};

struct vm_profile {
	const char *name;
	uint64_t max_regions; /* 0: no limit */
	uint64_t alignment;   /* 0: none; else GPA, size and uaddr multiples */
	const char *why;      /* where the numbers come from */
};

/* vhost-kernel, vhost-user, vhost-user-slots, kvm, dpdk, spdk; NULL-terminated. */
extern const struct vm_profile vm_profiles[];
const struct vm_profile *vm_profile_find(const char *name);

/* What a finding is about: a region or a registration. */
struct vm_finding_ref {
	int bus; /* -1: region */
	const struct vm_region *region;
	const struct vm_io_range *io;
	unsigned line, col;
};

struct vm_finding {
	const char *rule;
	enum vm_severity severity;
	char *message;
	unsigned line, col; /* 0: the table as a whole */
	struct vm_finding_ref ref[2];
	int nref;
	size_t seq; /* order of checking, to keep the sort stable */
};

struct vm_findings {
	struct vm_finding *v;
	size_t n, cap;
	size_t errors, warnings;
};

/*
 * Checks t against the generic rules and, if p is not NULL, profile p.
 * Findings come sorted by position in the file (table-wide ones first).
 * Returns 0 or -ENOMEM.
 */
int vm_validate(const struct vm_table *t, const struct vm_profile *p,
		struct vm_findings *out);
void vm_findings_free(struct vm_findings *f);

#endif
