/* A helper's command line of string options: a table of each flag and where its value goes. */
#ifndef CORACLE_STR_OPTS_H
#define CORACLE_STR_OPTS_H

#include <unistd.h>

#include "json-out.h"

struct str_opt {
	char flag;
	const char **value;
	/* A flag of no value: its value is set to "1" when given. */
	int no_value;
};

/* A table's entries: a flag that takes a value, one that takes none, and the end. */
#define STR_OPT(f, v) { (f), (v), 0 }
#define BOOL_OPT(f, v) { (f), (v), 1 }
#define STR_OPTS_END { 0, NULL, 0 }

/*
 * getopt over `opts`, which ends with a zero flag; every flag takes a value unless marked
 * no_value, and the last of a repeated one wins. An unknown flag or a missing value fails
 * with `usage`.
 */
static void parse_str_opts(int argc, char **argv, const struct str_opt *opts, const char *usage)
{
	char optstring[64];
	size_t len = 0;
	int opt;

	for (const struct str_opt *o = opts; o->flag; o++) {
		if (len + 3 > sizeof(optstring)) {
			errno = E2BIG;
			fail("more options than parse_str_opts takes");
		}
		optstring[len++] = o->flag;
		if (!o->no_value)
			optstring[len++] = ':';
	}
	optstring[len] = '\0';
	while ((opt = getopt(argc, argv, optstring)) != -1) {
		const struct str_opt *o = opts;

		while (o->flag && o->flag != opt)
			o++;
		if (!o->flag) {
			errno = EINVAL;
			fail("%s", usage);
		}
		*o->value = o->no_value ? "1" : optarg;
	}
}

#endif
