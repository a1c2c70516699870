/* One JSON line on stdout: the only thing a helper ever prints there. */
#ifndef CORACLE_JSON_OUT_H
#define CORACLE_JSON_OUT_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Set by a helper that must undo its own work before it reports a failure. */
static void (*fail_cleanup)(void);

/* {"error":"<step>: <strerror>","errno":N} and exit 1; errno is read first. */
static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	int err = errno;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (fail_cleanup)
		fail_cleanup();
	if (err) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(err));
	}
	fputs("{\"error\":", stdout);
	json_string(stdout, msg);
	printf(",\"errno\":%d}\n", err);
	fflush(stdout);
	exit(1);
}

#endif
