/* main.c: jobsd-datagen, the deterministic test data generator: identity data sets
 * (--owners), changed copies of them (--mutate) and job records (--jobs). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "csvio.h"
#include "gen_identity.h"
#include "mutate.h"
#if __has_include("gen_jobs.h")
#include "gen_jobs.h"
#define HAVE_GEN_JOBS 1
#endif

#define EXIT_USAGE	64

static void __attribute__((noreturn))
usage(int status)
{
	FILE	*fp = status == 0 ? stdout : stderr;

	fprintf(fp,
	    "usage: jobsd-datagen --owners N --out DIR [--seed S] [--now TIME]\n"
	    "       jobsd-datagen --mutate PCT --from SRC --out DIR [--seed S] [--now TIME]\n"
	    "       jobsd-datagen --jobs N --data-dir DIR [--seed S]\n"
	    "\n"
	    "  --owners N      generate N owners with their accounts, groups and\n"
	    "                  memberships as CSV in DIR, plus DIR/manifest.json\n"
	    "  --mutate PCT    copy the data set SRC to DIR with PCT percent (0-100) of its\n"
	    "                  rows changed (60%% updated, 20%% deleted, 20%% added) and\n"
	    "                  DIR/deletions.csv; DIR/manifest.json has the exact numbers\n"
	    "  --jobs N        create N job records in the jobsd data directory DIR\n"
	    "  --seed S        PRNG seed (default 1); same arguments, same bytes\n"
	    "  --now TIME      RFC 3339 time the data ends at (default 2026-01-01T00:00:00Z);\n"
	    "                  with --mutate, changes are dated no earlier than TIME\n"
	    "  -q, --quiet     no summary on stdout\n"
	    "  -h, --help      this text\n"
	    "\n"
	    "Exit status: 0 success, 1 runtime error, 64 usage error.\n");
	exit(status);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list	ap;

	fputs("jobsd-datagen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'jobsd-datagen --help'.\n", stderr);
	exit(EXIT_USAGE);
}

static uint64_t
parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	unsigned long long	 v;
	char			*end;

	if (*s < '0' || *s > '9')
		usage_error("%s: not a number: '%s'", opt, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		usage_error("%s: not a number: '%s'", opt, s);
	if (errno == ERANGE || v < min || v > max)
		usage_error("%s: %s out of range (%" PRIu64 "-%" PRIu64 ")", opt, s, min,
		    max);
	return (v);
}

static double
parse_pct(const char *opt, const char *s)
{
	double	 v;
	char	*end;

	if ((*s < '0' || *s > '9') && *s != '.')
		usage_error("%s: not a number: '%s'", opt, s);
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || errno != 0)
		usage_error("%s: not a number: '%s'", opt, s);
	if (!(v >= 0.0 && v <= 100.0))
		usage_error("%s: %s out of range (0-100)", opt, s);
	return (v);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "owners", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "now", required_argument, NULL, 't' },
		{ "mutate", required_argument, NULL, 'm' },
		{ "from", required_argument, NULL, 'f' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char		*out = NULL, *from = NULL, *data_dir = NULL;
	const char		*mode = NULL, *now_arg = NULL;
	uint64_t		 owners = 0, seed = 1, njobs = 0;
	double			 pct = 0;
	int64_t			 now = GEN_DEFAULT_NOW;
	int			 ch, quiet = 0, rc;
	char			*cause = NULL;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
		case 'm':
		case 'j':
			if (mode != NULL)
				usage_error("%s: cannot be combined with %s",
				    ch == 'n' ? "--owners" : ch == 'm' ? "--mutate" : "--jobs",
				    mode);
			if (ch == 'n') {
				mode = "--owners";
				owners = parse_u64("--owners", optarg, 1, GEN_MAX_OWNERS);
			} else if (ch == 'm') {
				mode = "--mutate";
				pct = parse_pct("--mutate", optarg);
			} else {
				mode = "--jobs";
				njobs = parse_u64("--jobs", optarg, 0, UINT32_MAX);
			}
			break;
		case 's':
			seed = parse_u64("--seed", optarg, 0, UINT64_MAX);
			break;
		case 'o':
			if (*optarg == '\0')
				usage_error("--out: empty directory name");
			out = optarg;
			break;
		case 't':
			if (dg_parse_time(optarg, &now) == -1)
				usage_error("--now: not an RFC 3339 time: '%s'", optarg);
			now_arg = optarg;
			break;
		case 'f':
			if (*optarg == '\0')
				usage_error("--from: empty directory name");
			from = optarg;
			break;
		case 'd':
			if (*optarg == '\0')
				usage_error("--data-dir: empty directory name");
			data_dir = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(0);
		case ':':
			usage_error("%s: missing argument", argv[optind - 1]);
		default:
			usage_error("%s: unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (mode == NULL)
		usage_error("one of --owners, --mutate or --jobs is required");

	if (strcmp(mode, "--owners") == 0) {
		struct gen_opts	go = { owners, seed, now };

		if (out == NULL)
			usage_error("--owners: --out DIR is required");
		if (from != NULL || data_dir != NULL)
			usage_error("--owners: %s does not apply",
			    from != NULL ? "--from" : "--data-dir");
		rc = gen_identity(out, &go, quiet ? NULL : stdout, &cause);
	} else if (strcmp(mode, "--mutate") == 0) {
		struct mutate_opts mo = { pct, seed, now_arg != NULL ? now : INT64_MIN };

		if (from == NULL)
			usage_error("--mutate: --from SRC is required");
		if (out == NULL)
			usage_error("--mutate: --out DIR is required");
		if (data_dir != NULL)
			usage_error("--mutate: --data-dir does not apply");
		rc = mutate_identity(from, out, &mo, quiet ? NULL : stdout, &cause);
	} else {
		if (data_dir == NULL)
			usage_error("--jobs: --data-dir DIR is required");
		if (out != NULL || from != NULL)
			usage_error("--jobs: %s does not apply",
			    out != NULL ? "--out" : "--from");
#ifdef HAVE_GEN_JOBS
		rc = gen_jobs(data_dir, njobs, seed, &cause);
		if (rc == 0 && !quiet)
			printf("%" PRIu64 " jobs written to %s\n", njobs, data_dir);
#else
		(void)njobs;
		cause = xstrdup("--jobs: job generation is not part of this build");
		rc = -1;
#endif
	}
	if (rc != 0) {
		fprintf(stderr, "jobsd-datagen: %s\n", cause != NULL ? cause : "failed");
		free(cause);
		return (1);
	}
	return (0);
}
