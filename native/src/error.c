/* forkall_strerror(): the last failure's message, per thread. Messages are
 * formatted only in the parent, after every parked thread was released, so
 * vsnprintf is safe to use here. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <errno.h>
#include "forkall.h"
#include "engine.h"

static __thread char last_error[320] __attribute__((tls_model("initial-exec")));

int fa_fail(int err, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(last_error, sizeof last_error, "forkall: ");
	va_start(ap, fmt);
	vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
	va_end(ap);
	return -err;
}

void fa_clear_error(void) { last_error[0] = 0; }

long fa_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

__attribute__((visibility("default"))) const char *forkall_strerror(void) { return last_error; }
