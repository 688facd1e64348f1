/*
 * The SIGBUS guard around reads of mapped files.  A table file that another
 * tool truncates while vmmap parses it makes the next read of a page past
 * the new end raise SIGBUS.  Inside a guard, the handler maps a page of
 * zeros over the page that faulted and notes the fault for the thread; the
 * read then goes on and sees NUL bytes, which no vmmap document holds, so
 * the parser stops with an error and unwinds as from any bad input, freeing
 * all it holds.  The guard's end tells the caller, which reports the file
 * as changed while being read (its diagnostic, if any, is dropped: the
 * parser saw a file that no longer exists).  Outside a guard (or for a fault that is not
 * a missing file page) SIGBUS keeps its default action.  core/ installs no
 * signal handler: this is the CLI's.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

static _Thread_local volatile sig_atomic_t guarded, faulted, copying;
static _Thread_local sigjmp_buf copy_env;
static uintptr_t page_size;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	void *page = (void *)((uintptr_t)si->si_addr & ~(page_size - 1));

	(void)uc;
	if (copying && si->si_code == BUS_ADRERR)
		siglongjmp(copy_env, 1);
	if (!guarded || si->si_code != BUS_ADRERR ||
	    mmap(page, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) == MAP_FAILED) {
		/* Not ours: the default action, when the access is retried. */
		signal(sig, SIG_DFL);
		return;
	}
	faulted = 1;
}

static void install(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus,
				.sa_flags = SA_SIGINFO | SA_NODEFER };

	page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

static pthread_once_t installed = PTHREAD_ONCE_INIT;

void cli_guard_begin(void)
{
	pthread_once(&installed, install);
	faulted = 0;
	guarded = 1;
}

bool cli_guard_end(void)
{
	guarded = 0;
	return faulted;
}

/*
 * A copy out of guest memory (vm_gm_copy_fn): a page that vanished ends
 * it (the handler jumps back here) and the copy says so; the mapping is
 * left as it is, so the page reads as unreadable again next time.
 */
bool cli_guard_copy(void *dst, const void *src, size_t n)
{
	pthread_once(&installed, install);
	if (sigsetjmp(copy_env, 0)) {
		copying = 0;
		return false;
	}
	copying = 1;
	memcpy(dst, src, n);
	copying = 0;
	return true;
}
