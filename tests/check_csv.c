/* check_csv.c: the streaming CSV reader of the worker (daemon/worker/csv.c): RFC 4180
 * quoting, embedded newlines, CRLF, BOM, header lookup, bad rows with their exact starting
 * lines, invalid UTF-8, and every read-buffer size down to one byte. */
#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/csv.h"
#include "lib/testlib.h"

static char tmpdir[PATH_MAX];

Suite *csv_suite(void);

struct errs {
	char text[2048];
	int n;
};

static void
collect(const char *file, uint64_t line, const char *reason, void *arg)
{
	struct errs *e = arg;
	size_t len = strlen(e->text);

	(void)file;
	snprintf(e->text + len, sizeof e->text - len, "%llu:%s;", (unsigned long long)line,
	    reason);
	e->n++;
}

static void
setup(void)
{
	tl_mkdtemp(tmpdir, "csv");
}

static void
teardown(void)
{
	tl_rm_rf(tmpdir);
}

/* Write content (len bytes, may hold NULs) to a file in tmpdir; returns its path. */
static const char *
put(const char *name, const char *content, size_t len)
{
	static char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(content, 1, len, f), len);
	fclose(f);
	return path;
}
#define PUT(name, s) put(name, s, sizeof(s) - 1)

/* Read every row of path with a given buffer size into "f1|f2|...@line\n" text. */
static char *
dump(const char *path, size_t bufsize, struct errs *e)
{
	struct csv_reader *r;
	struct csv_row row;
	char *cause = NULL, *out;
	size_t len = 0, cap = 65536, i;
	int rv;

	out = calloc(1, cap);
	ck_assert_int_eq(csv_open(path, bufsize, collect, e, &r, &cause), 0);
	while ((rv = csv_next(r, &row, &cause)) == 1) {
		for (i = 0; i < row.n; i++) {
			ck_assert_uint_eq(strlen(row.f[i]), row.len[i]);
			len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "|" : "",
			    row.f[i]);
		}
		len += (size_t)snprintf(out + len, cap - len, "@%llu\n",
		    (unsigned long long)row.line);
	}
	ck_assert_int_eq(rv, 0);
	csv_close(r);
	return out;
}

static const size_t bufsizes[] = { 1, 2, 3, 5, 7, 64, 0 };

START_TEST(quoting)
{
	const char *p = PUT("q.csv", "a,b,c\r\n1,\"x, y\",\"he said \"\"hi\"\"\"\r\n"
	    "\"\",,\"\"\"\"\r\n");
	size_t i;

	for (i = 0; i < sizeof bufsizes / sizeof bufsizes[0]; i++) {
		struct errs e = { "", 0 };
		char *d = dump(p, bufsizes[i], &e);

		ck_assert_str_eq(d, "1|x, y|he said \"hi\"@2\n||\"@3\n");
		ck_assert_int_eq(e.n, 0);
		free(d);
	}
}
END_TEST

START_TEST(embedded_newline)
{
	/* Records start on lines 2, 5 and 6; LF and CRLF inside quotes are data. */
	const char *p = PUT("n.csv", "h1,h2\n\"l1\nl2\r\nl3\",x\nnext,y\n\"a\",\"b\nc\"\n");
	size_t i;

	for (i = 0; i < sizeof bufsizes / sizeof bufsizes[0]; i++) {
		struct errs e = { "", 0 };
		char *d = dump(p, bufsizes[i], &e);

		ck_assert_str_eq(d, "l1\nl2\r\nl3|x@2\nnext|y@5\na|b\nc@6\n");
		ck_assert_int_eq(e.n, 0);
		free(d);
	}
}
END_TEST

START_TEST(crlf_and_no_final_newline)
{
	const char *p = PUT("c.csv", "a,b\r\n1,2\r\n\r\n3,4");
	size_t i;

	for (i = 0; i < sizeof bufsizes / sizeof bufsizes[0]; i++) {
		struct errs e = { "", 0 };
		char *d = dump(p, bufsizes[i], &e);

		/* The blank line 3 is skipped, the last record has no line end. */
		ck_assert_str_eq(d, "1|2@2\n3|4@4\n");
		free(d);
	}
}
END_TEST

START_TEST(bom)
{
	const char *p = PUT("bom.csv", "\xef\xbb\xbfid,name\n1,caf\xc3\xa9\n");
	struct csv_reader *r;
	char *cause = NULL;
	size_t i;

	ck_assert_int_eq(csv_open(p, 1, NULL, NULL, &r, &cause), 0);
	ck_assert_int_eq(csv_column(r, "id"), 0);
	ck_assert_int_eq(csv_column(r, "name"), 1);
	csv_close(r);
	for (i = 0; i < sizeof bufsizes / sizeof bufsizes[0]; i++) {
		struct errs e = { "", 0 };
		char *d = dump(p, bufsizes[i], &e);

		ck_assert_str_eq(d, "1|caf\xc3\xa9@2\n");
		free(d);
	}
}
END_TEST

START_TEST(columns_by_name)
{
	const char *p = PUT("cols.csv", "modified_at,extra one,id\n2024-01-01T00:00:00Z,x,o1\n");
	struct csv_reader *r;
	struct csv_row row;
	char *cause = NULL;

	ck_assert_int_eq(csv_open(p, 0, NULL, NULL, &r, &cause), 0);
	ck_assert_uint_eq(csv_ncolumns(r), 3);
	ck_assert_int_eq(csv_column(r, "id"), 2);
	ck_assert_int_eq(csv_column(r, "modified_at"), 0);
	ck_assert_int_eq(csv_column(r, "extra one"), 1);
	ck_assert_int_eq(csv_column(r, "name"), -1);
	ck_assert_str_eq(csv_column_name(r, 1), "extra one");
	ck_assert_int_eq(csv_next(r, &row, &cause), 1);
	ck_assert_str_eq(row.f[2], "o1");
	ck_assert_str_eq(row.f[1], "x");
	ck_assert_int_eq(csv_next(r, &row, &cause), 0);
	csv_close(r);
}
END_TEST

START_TEST(bad_rows)
{
	/* line 1 header; 2 good; 3 too few fields; 4 too many; 5-6 good (embedded newline);
	 * 7 invalid UTF-8; 8 stray character after a closing quote; 9 good; 10 a NUL byte;
	 * 11 unterminated quote running to the end of the file (lines 11-12). */
	static const char content[] = "a,b,c\n"
	    "1,2,3\n"
	    "1,2\n"
	    "1,2,3,4\n"
	    "\"x\ny\",2,3\n"
	    "\xc3\x28,2,3\n"
	    "\"q\"z,2,3\n"
	    "7,8,9\n"
	    "1,x\0y,3\n"
	    "\"open,2,3\n"
	    "more\n";
	const char *p = put("bad.csv", content, sizeof content - 1);
	size_t i;

	for (i = 0; i < sizeof bufsizes / sizeof bufsizes[0]; i++) {
		struct errs e = { "", 0 };
		char *d = dump(p, bufsizes[i], &e);

		ck_assert_str_eq(d, "1|2|3@2\nx\ny|2|3@5\n7|8|9@9\n");
		ck_assert_int_eq(e.n, 6);
		ck_assert_str_eq(e.text, "3:expected 3 fields, found 2;"
		    "4:expected 3 fields, found 4;"
		    "7:invalid UTF-8 in column 'a';"
		    "8:unexpected character after a closing quote;"
		    "10:NUL byte in column 'b';"
		    "11:unterminated quoted field at end of file;");
		free(d);
	}
}
END_TEST

START_TEST(long_lines)
{
	/* Lines longer than a word, read 8 bytes at a time: a NUL, invalid UTF-8, a quote
	 * (the state machine then reads the line) in the first words and in the last bytes;
	 * valid multi-byte UTF-8; a bare CR inside. */
	static const char content[] = "alpha,beta,gamma\n"
	    "0123\0" "5678901,b,c\n"
	    "0123456789abcdef,b,xyzw\0\n"
	    "\xc3\x28" "23456789,b,c\n"
	    "0123456789abcdef,b,xy\xc3\n"
	    "0123456789,\"b,\",c\n"
	    "0123456789abcdef,b,\"c\"\n"
	    "Zo\xc3\xab Smith,M\xc3\xbcnchen,\xe2\x82\xac\n"
	    "0123456789\rabcdef,b,c\r\n";
	const char *p = put("long.csv", content, sizeof content - 1);
	size_t i;

	for (i = 0; i < sizeof bufsizes / sizeof bufsizes[0]; i++) {
		struct errs e = { "", 0 };
		char *d = dump(p, bufsizes[i], &e);

		ck_assert_str_eq(d, "0123456789|b,|c@6\n0123456789abcdef|b|c@7\n"
		    "Zo\xc3\xab Smith|M\xc3\xbcnchen|\xe2\x82\xac@8\n"
		    "0123456789\rabcdef|b|c@9\n");
		ck_assert_int_eq(e.n, 4);
		ck_assert_str_eq(e.text, "2:NUL byte in column 'alpha';"
		    "3:NUL byte in column 'gamma';"
		    "4:invalid UTF-8 in column 'alpha';"
		    "5:invalid UTF-8 in column 'gamma';");
		free(d);
	}
	{
		uint64_t n = 0;
		char *cause = NULL;

		ck_assert_int_eq(csv_count_records(p, &n, &cause), 0);
		ck_assert_uint_eq(n, 8); /* lines 2-9, bad ones included */
	}
}
END_TEST

START_TEST(counts)
{
	const char *p = PUT("cnt.csv", "a,b\n1,2\n\n\"3\n\",4\nbad\n5,6");
	struct csv_reader *r;
	struct csv_row row;
	struct errs e = { "", 0 };
	char *cause = NULL;
	uint64_t n = 99;

	/* 4 records after the header (the blank line is not one; the bad one is). */
	ck_assert_int_eq(csv_count_records(p, &n, &cause), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(csv_open(p, 0, collect, &e, &r, &cause), 0);
	while (csv_next(r, &row, &cause) == 1) {
		if (strcmp(row.f[0], "5") == 0)
			csv_reject(r, &row, "rejected by the caller");
	}
	ck_assert_uint_eq(csv_good_rows(r), 2);
	ck_assert_uint_eq(csv_bad_rows(r), 2);
	ck_assert_str_eq(e.text, "6:expected 2 fields, found 1;7:rejected by the caller;");
	csv_close(r);
}
END_TEST

static bool
stop_second(void *arg)
{
	return ++*(int *)arg == 2;
}

START_TEST(count_stops)
{
	char path[PATH_MAX + 16];
	FILE *f;
	uint64_t n = 0;
	char *cause = NULL;
	int calls = 0, i;

	/* 200000 records: stop() is asked after 65536 and 131072, and says stop the 2nd time. */
	snprintf(path, sizeof path, "%s/big.csv", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("id\n", f);
	for (i = 0; i < 200000; i++)
		fprintf(f, "%d\n", i);
	fclose(f);
	ck_assert_int_eq(csv_count_records_stop(path, &n, stop_second, &calls, &cause), 1);
	ck_assert_int_eq(calls, 2);
	calls = -100;
	ck_assert_int_eq(csv_count_records_stop(path, &n, stop_second, &calls, &cause), 0);
	ck_assert_uint_eq(n, 200000);
	ck_assert_int_eq(calls, -97);
}
END_TEST

START_TEST(open_errors)
{
	struct csv_reader *r;
	char *cause = NULL, path[PATH_MAX + 32];

	ck_assert_int_eq(csv_open("/nonexistent/x/owners.csv", 0, NULL, NULL, &r, &cause), -1);
	ck_assert_str_eq(cause, "cannot open /nonexistent/x/owners.csv: No such file or directory");
	free(cause);

	PUT("empty.csv", "");
	snprintf(path, sizeof path, "%s/empty.csv", tmpdir);
	ck_assert_int_eq(csv_open(path, 0, NULL, NULL, &r, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "empty.csv: empty file, no header row"));
	free(cause);

	PUT("dup.csv", "id,name,id\n");
	snprintf(path, sizeof path, "%s/dup.csv", tmpdir);
	ck_assert_int_eq(csv_open(path, 0, NULL, NULL, &r, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "dup.csv:1: duplicate column 'id' in header"));
	free(cause);

	ck_assert_int_eq(csv_count_records("/nonexistent/y.csv", &(uint64_t){ 0 }, &cause), -1);
	ck_assert_str_eq(cause, "cannot open /nonexistent/y.csv: No such file or directory");
	free(cause);
}
END_TEST

START_TEST(utf8)
{
	ck_assert(csv_utf8_valid("plain", 5));
	ck_assert(csv_utf8_valid("\xc3\xa9", 2));             /* é */
	ck_assert(csv_utf8_valid("\xe2\x82\xac", 3));         /* € */
	ck_assert(csv_utf8_valid("\xf0\x9f\x98\x80", 4));     /* U+1F600 */
	ck_assert(!csv_utf8_valid("\xc0\x80", 2));            /* overlong NUL */
	ck_assert(!csv_utf8_valid("\xe0\x80\xaf", 3));        /* overlong / */
	ck_assert(!csv_utf8_valid("\xed\xa0\x80", 3));        /* surrogate D800 */
	ck_assert(!csv_utf8_valid("\xf4\x90\x80\x80", 4));    /* > U+10FFFF */
	ck_assert(!csv_utf8_valid("\xc3", 1));                /* truncated */
	ck_assert(!csv_utf8_valid("\xe2\x82", 2));            /* truncated */
	ck_assert(!csv_utf8_valid("\x80", 1));                /* lone continuation */
	ck_assert(!csv_utf8_valid("\xff", 1));
}
END_TEST

START_TEST(count_edges)
{
	/* Header h; line 2 "\r\n" and line 3 empty are blank; lines 4-5 one quoted record;
	 * line 6 a literal quote inside an unquoted field; line 7 a lone CR before the CRLF
	 * is data; line 8 without a line end: 4 records, all good. */
	const char *p = PUT("edges.csv", "h\n\r\n\n\"a\nb\"\nx\"y\n\r\r\nlast");
	struct errs e = { "", 0 };
	uint64_t n = 0;
	char *cause = NULL, *d;

	ck_assert_int_eq(csv_count_records(p, &n, &cause), 0);
	ck_assert_uint_eq(n, 4);
	d = dump(p, 0, &e);
	ck_assert_str_eq(d, "a\nb@4\nx\"y@6\n\r@7\nlast@8\n");
	ck_assert_int_eq(e.n, 0);
	free(d);
}
END_TEST

/*
 * About size bytes of records made of fields that exercise the counting pass's walk of
 * lines with quotes: quoted fields with commas, "" escapes, newlines and CRs inside, a
 * character (or a lone CR) after a closing quote, quotes inside unquoted fields, empty
 * quoted fields; LF or CRLF line ends, blank lines, now and then a lone quote (a quoted
 * field running over many lines) or a NUL.
 */
static void
write_random_records(FILE *f, size_t size)
{
	static const char *const tokens[] = {
		"w", "abc", "", "\"a,b\"", "\"x\"\"y\"", "\"l1\nl2\"", "\"q\"z", "w\"w", "\"\"",
		"\"\r\"", "\"c\"\r", "\xc3\xa9", "\"\"\"\"", "x\"\"", "\r\"r",
	};
	const size_t ntok = sizeof tokens / sizeof tokens[0];
	uint64_t x = 0x2545f4914f6cdd1dull;
	size_t len = 0, k, nf;

	while (len < size) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		nf = 1 + x % 4;
		for (k = 0; k < nf; k++) {
			if (k > 0)
				len += (size_t)fprintf(f, ",");
			len += (size_t)fprintf(f, "%s", tokens[(x >> (8 + 4 * k)) % ntok]);
		}
		if ((x >> 40) % 3001 == 0)
			len += (size_t)fprintf(f, "\"");
		if ((x >> 40) % 4999 == 0) {
			fputc('\0', f);
			len++;
		}
		len += (size_t)fprintf(f, "%s", (x >> 32) % 3 == 0 ? "\r\n" : "\n");
		if ((x >> 48) % 50 == 0)
			len += (size_t)fprintf(f, "\n");
	}
}

/* A few MiB of random records over the bytes that matter to the reader (quotes, commas,
 * CR, LF, NUL, UTF-8 lead and continuation bytes): the counting pass (1 MiB at a time,
 * lines between quotes counted with memchr alone) finds exactly the records csv_next
 * reads, good and bad, with buffers of any size. */
START_TEST(count_agrees_random)
{
	/* Quotes everywhere (most records take the state machine), then rare (most lines
	 * are counted between quotes, across buffer ends). */
	static const char *const alphabets[] = {
		"aaaaaaaabbbbbbb,,,,\"\"\n\n\n\r\xc3\xa9\x80",
		"aaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,,,,"
		    "\n\n\n\n\n\n\n\n\r\xc3\xa9",
	};
	char path[PATH_MAX + 16], *cause = NULL;
	struct csv_reader *r;
	struct csv_row row;
	uint64_t n = 0, x = 0x9e3779b97f4a7c15ull;
	size_t i, k, bs[] = { 0, 7, 4096 }, alen;
	const char *alphabet = alphabets[_i % 2];
	FILE *f;
	int rv;

	snprintf(path, sizeof path, "%s/random.csv", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("a,b,c\n", f);
	if (_i == 2) {
		write_random_records(f, 3u * 1024 * 1024);
		goto written;
	}
	alen = strlen(alphabet);
	for (i = 0; i < 3u * 1024 * 1024; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x % 5000 == 0)
			fputc('\0', f);
		else if (_i == 1 && x % 20011 == 0)
			fputc('"', f);
		else
			fputc(alphabet[x % alen], f);
	}
written:
	fclose(f);
	ck_assert_int_eq(csv_count_records(path, &n, &cause), 0);
	ck_assert_uint_gt(n, 10000);
	for (k = 0; k < sizeof bs / sizeof bs[0]; k++) {
		ck_assert_int_eq(csv_open(path, bs[k], NULL, NULL, &r, &cause), 0);
		while ((rv = csv_next(r, &row, &cause)) == 1)
			;
		ck_assert_int_eq(rv, 0);
		ck_assert_uint_eq(csv_good_rows(r) + csv_bad_rows(r), n);
		csv_close(r);
	}
}
END_TEST

/* Lines with quotes the counting pass takes as one record each, and those it leaves to
 * the state machine: the count is the number of records csv_next reads. */
START_TEST(count_quoted_lines)
{
	/* By line: 2 a quoted comma; 3 "" escapes; 4-5 a newline inside quotes (one
	 * record); 6 a character after the closing quote (a bad record); 7 CRLF right after
	 * a closing quote; 8 a quote inside an unquoted field (data); 9 empty quoted fields;
	 * 10 no quote, a trailing comma; 11-12 a "" before the newline inside quotes (one
	 * record); 13 "" inside an unquoted field (data); 14 a CR inside quotes; 15 a lone CR
	 * after the closing quote (data of an unquoted field); 16 a NUL inside quotes (a bad
	 * record); 17-18 a character after a closing quote, then a newline inside quotes (one
 * bad record); 19-20 a quote inside an unquoted field, then a quoted field that a walk
 * pairing every two quotes would end on line 19 (one record); 21 blank; 22 quoted,
 * without a line end. 16 records: 13 good, 3 bad. */
	const char *p = PUT("quoted.csv", "a,b,c\n"
	    "1,\"x, y\",z\n"
	    "\"say \"\"hi\"\"\",2,3\n"
	    "\"multi\nline\",4,5\n"
	    "\"a\"b,6,7\n"
	    "8,\"crlf\",9\r\n"
	    "x\"y,10,11\n"
	    "\"\",14,\"\"\n"
	    "15,16,\n"
	    "\"a\"\"\nb\",17,18\n"
	    "19,x\"\",20\n"
	    "21,\"\r\",22\n"
	    "\"q\"\rx,1,2\n"
	    "\"n\0l\",1,2\n"
	    "\"a\"b,\"c\nd\",e\n"
	    "a\",\",x\ny\",z\n"
	    "\n"
	    "\"last\",no,lf");
	uint64_t n = 0;
	char *cause = NULL, *d;
	size_t i;

	ck_assert_int_eq(csv_count_records(p, &n, &cause), 0);
	ck_assert_uint_eq(n, 16);
	for (i = 0; i < sizeof bufsizes / sizeof bufsizes[0]; i++) {
		struct errs e = { "", 0 };

		d = dump(p, bufsizes[i], &e);
		ck_assert_str_eq(d, "1|x, y|z@2\nsay \"hi\"|2|3@3\nmulti\nline|4|5@4\n"
		    "8|crlf|9@7\nx\"y|10|11@8\n|14|@9\n15|16|@10\na\"\nb|17|18@11\n"
		    "19|x\"\"|20@13\n21|\r|22@14\nq\rx|1|2@15\na\"|,x\ny|z@19\n"
		    "last|no|lf@22\n");
		ck_assert_str_eq(e.text, "6:unexpected character after a closing quote;"
		    "16:NUL byte in column 'a';"
		    "17:unexpected character after a closing quote;");
		free(d);
	}
}
END_TEST

START_TEST(count_quoted_across_buffers)
{
	char path[PATH_MAX + 16], *cause = NULL;
	struct csv_reader *r;
	struct csv_row row;
	uint64_t n = 0;
	FILE *f;
	int i, rv;

	/* 100000 records, every one with quotes, in turn: one line with a quoted comma (15
	 * bytes), a newline inside quotes (two lines, 15 bytes), CRLF after "" escapes (16
	 * bytes): 1.5 MB, so that a record with quotes crosses the end of the counting
	 * pass's first 1 MiB buffer. */
	snprintf(path, sizeof path, "%s/across.csv", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("a,b\n", f);
	for (i = 0; i < 100000; i++) {
		if (i % 3 == 0)
			fprintf(f, "\"q, %07d\",x\n", i);
		else if (i % 3 == 1)
			fprintf(f, "\"m\n%07d\",x\n", i);
		else
			fprintf(f, "%07d,\"x\"\"y\"\r\n", i);
	}
	fclose(f);
	ck_assert_int_eq(csv_count_records(path, &n, &cause), 0);
	ck_assert_uint_eq(n, 100000);
	ck_assert_int_eq(csv_open(path, 0, NULL, NULL, &r, &cause), 0);
	while ((rv = csv_next(r, &row, &cause)) == 1)
		;
	ck_assert_int_eq(rv, 0);
	ck_assert_uint_eq(csv_good_rows(r), 100000);
	ck_assert_uint_eq(csv_bad_rows(r), 0);
	csv_close(r);
}
END_TEST

/* The skip test of these cases: the value "old" (exactly, so a CR left on it would show). */
static bool
is_old(const char *s, size_t len, void *arg)
{
	++*(int *)arg;
	return len == 3 && memcmp(s, "old", 3) == 0;
}

/* Open path with the skip set and plan (unless NULL) in use. */
static struct csv_reader *
open_skip(const char *path, size_t bufsize, csv_error_cb cb, void *arg,
    const struct csv_skip *skip, const struct csv_plan *plan)
{
	struct csv_reader *r;
	char *cause = NULL;

	ck_assert_int_eq(csv_open(path, bufsize, cb, arg, &r, &cause), 0);
	csv_skip_set(r, skip);
	if (plan != NULL)
		ck_assert(csv_plan_use(r, plan));
	return r;
}

/* csv_next past the 2s it returns while it skips: 1 with a row, 0 at the end. */
static int
next_row(struct csv_reader *r, struct csv_row *row)
{
	char *cause = NULL;
	int rv;

	while ((rv = csv_next(r, row, &cause)) == 2)
		;
	ck_assert_int_ne(rv, -1);
	return rv;
}

/* Read path with a skip on column col (required columns req), and plan (unless NULL),
 * into "f1|f2@line\n" text; *nskip, *ngood and *nbad are the reader's counts at the end. */
static char *
dump_plan(const char *path, size_t bufsize, int col, const int *req,
    const struct csv_plan *plan, struct errs *e, uint64_t *nskip, uint64_t *ngood,
    int *calls)
{
	struct csv_reader *r;
	struct csv_row row;
	struct csv_skip skip = { col, req, is_old, calls };
	size_t len = 0, cap = 65536, i;
	char *out;

	out = calloc(1, cap);
	r = open_skip(path, bufsize, collect, e, &skip, plan);
	while (next_row(r, &row) == 1) {
		for (i = 0; i < row.n; i++)
			len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "|" : "",
			    row.f[i]);
		len += (size_t)snprintf(out + len, cap - len, "@%llu\n",
		    (unsigned long long)row.line);
	}
	*nskip = csv_skipped_rows(r);
	*ngood = csv_good_rows(r);
	ck_assert_uint_eq(csv_bad_rows(r), (uint64_t)e->n);
	csv_close(r);
	return out;
}

static char *
dump_skip(const char *path, size_t bufsize, int col, const int *req, struct errs *e,
    uint64_t *nskip, uint64_t *ngood, int *calls)
{
	return dump_plan(path, bufsize, col, req, NULL, e, nskip, ngood, calls);
}

/* The rows of skip_rows (described there), the rows it returns and the bad rows. */
static const char skip_csv[] = "id,ts,name\n"
    "1,old,a\n"
    "2,new,b\n"
    "3,old,c\r\n"
    "4,old,\"d, e\"\n"
    "5,old\n"
    "6,old,f,g\n"
    "7,old,\xc3\x28\n"
    "8,old,x\0y\n"
    ",old,h\n"
    "10,old,Zo\xc3\xab\n"
    "11,old,\"two\nlines\"\n"
    "\n"
    "13,oldx,i\n"
    "14,\"old\",j\n"
    "15,old,\"a\"\"b\"\n"
    "16,old,\"x\"y\n"
    "17,old,ab\"c\n"
    "\"\",old,k\n"
    "19,old,\"crlf\"\r\n"
    "20,new,\"q, r\"\n"
    "21,old,j\n"
    "22,\"o\"\"ld\",l\n"
    "23,old,\"\"\"\"\r\n";
static const char skip_csv_rows[] = "2|new|b@3\n|old|h@10\n11|old|two\nlines@12\n13|oldx|i@15\n"
    "|old|k@20\n20|new|q, r@22\n22|o\"ld|l@24\n";
static const char skip_csv_errs[] = "6:expected 3 fields, found 2;7:expected 3 fields, found 4;"
    "8:invalid UTF-8 in column 'name';9:NUL byte in column 'name';"
    "18:unexpected character after a closing quote;";

START_TEST(skip_rows)
{
	/* Header "id,ts,name": the tested column is in the middle, id is required.
	 * line 2  old, plain: skipped
	 * line 3  new: returned
	 * line 4  old with CRLF: skipped (the CR is not part of the value)
	 * line 5  old, a quoted field with a comma: skipped
	 * line 6  old, too few fields: reported at line 6
	 * line 7  old, too many fields: reported at line 7
	 * line 8  old, invalid UTF-8: reported at line 8
	 * line 9  old, a NUL byte: reported at line 9
	 * line 10 old, id empty: returned (the caller reports missing fields)
	 * line 11 old with valid UTF-8 (Zoë): skipped
	 * lines 12-13 a quoted field with a newline, old: returned at line 12
	 * line 14 blank
	 * line 15 "oldx" is not old: returned
	 * line 16 the tested column quoted, old: skipped
	 * line 17 old, an escaped quote in a field not tested: skipped
	 * line 18 old, a character after a closing quote: reported at line 18
	 * line 19 old, a quote inside an unquoted field (data): skipped
	 * line 20 old, id quoted and empty: returned
	 * line 21 old, quoted last field and CRLF: skipped
	 * line 22 new, quoted: returned
	 * line 23 old, no final newline: skipped
	 * line 24 the tested column quoted with an escaped quote: returned
	 * line 25 old, a field of one escaped quote and CRLF: skipped */
	const char *p = put("skip.csv", skip_csv, sizeof skip_csv - 1);
	static const int req[] = { 0, -1 };
	struct errs e = { "", 0 };
	uint64_t nskip, ngood, n = 0;
	int calls = 0;
	char *d, *cause = NULL;

	d = dump_skip(p, 0, 1, req, &e, &nskip, &ngood, &calls);
	ck_assert_str_eq(d, skip_csv_rows);
	ck_assert_str_eq(e.text, skip_csv_errs);
	ck_assert_uint_eq(nskip, 10);
	ck_assert_uint_eq(ngood, 17); /* 10 skipped + 7 returned */
	/* The test saw the well-formed records without a newline inside quotes or "" in
	 * the tested column: lines 2, 3, 4, 5, 11, 15, 16, 17, 19, 21, 22, 23, 25. */
	ck_assert_int_eq(calls, 13);
	free(d);
	/* Every record is counted once either way: the count pass agrees. */
	ck_assert_int_eq(csv_count_records(p, &n, &cause), 0);
	ck_assert_uint_eq(n, 22);
}
END_TEST

START_TEST(skip_small_buffers)
{
	/* A line that does not fit the buffer is never skipped, only returned: what the
	 * caller sees is a superset, the bad rows and their lines are the same. */
	static const char content[] = "id,ts\n1,old\n2,new\n3,old\r\n4\n5,old\n";
	const char *p = put("small.csv", content, sizeof content - 1);
	static const int req[] = { 0, -1 };
	size_t i;

	for (i = 0; i < sizeof bufsizes / sizeof bufsizes[0]; i++) {
		struct errs e = { "", 0 };
		uint64_t nskip, ngood;
		int calls = 0;
		char *d = dump_skip(p, bufsizes[i], 1, req, &e, &nskip, &ngood, &calls);

		ck_assert_str_eq(e.text, "5:expected 2 fields, found 1;");
		ck_assert_uint_eq(ngood, 4);
		if (bufsizes[i] == 0 || bufsizes[i] == 64) {
			ck_assert_str_eq(d, "2|new@3\n");
			ck_assert_uint_eq(nskip, 3);
		} else {
			/* Each returned row prints as 8 bytes ("3|old@4\n"). */
			ck_assert_uint_eq(nskip + (uint64_t)strlen(d) / 8, 4);
			ck_assert_ptr_nonnull(strstr(d, "2|new@3\n"));
		}
		free(d);
	}
}
END_TEST

START_TEST(skip_yields)
{
	char path[PATH_MAX + 16];
	struct csv_reader *r;
	struct csv_row row;
	static const int req[] = { -1 };
	int calls = 0, twos = 0, rv, i;
	struct csv_skip skip = { 1, req, is_old, &calls };
	char *cause = NULL;
	FILE *f;

	/* 10000 old rows, then a new one: csv_next returns 2 after 4096 and 8192 skipped
	 * rows, then the new row at line 10002, then the end. */
	snprintf(path, sizeof path, "%s/yield.csv", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("id,ts\n", f);
	for (i = 0; i < 10000; i++)
		fprintf(f, "%d,old\n", i);
	fputs("x,new\n", f);
	fclose(f);
	ck_assert_int_eq(csv_open(path, 0, NULL, NULL, &r, &cause), 0);
	csv_skip_set(r, &skip);
	while ((rv = csv_next(r, &row, &cause)) == 2) {
		twos++;
		ck_assert_uint_eq(csv_skipped_rows(r), (uint64_t)twos * CSV_SKIP_YIELD);
	}
	ck_assert_int_eq(twos, 2);
	ck_assert_int_eq(rv, 1);
	ck_assert_str_eq(row.f[0], "x");
	ck_assert_uint_eq(row.line, 10002);
	ck_assert_int_eq(csv_next(r, &row, &cause), 0);
	ck_assert_uint_eq(csv_skipped_rows(r), 10000);
	ck_assert_uint_eq(csv_good_rows(r), 10001);
	/* Removing the skip: nothing is skipped any more. */
	csv_skip_set(r, NULL);
	csv_close(r);
}
END_TEST

static const char *const plan_req[] = { "id", NULL };

START_TEST(plan_rows)
{
	/* The counting pass plans skip_csv: the 10 rows skip_rows passes over, in 8
	 * stretches (lines 2, 4-5, 11, 16-17, 19, 21, 23, 25), and the 22 records
	 * csv_count_records counts there. Read with the plan, at every buffer size, the
	 * reader returns the rows skip_rows returns and reports the same bad rows at the
	 * same lines; of the 13 rows the test saw there, it sees only the 3 not planned. */
	const char *p = put("skip.csv", skip_csv, sizeof skip_csv - 1);
	static const int req[] = { 0, -1 };
	int calls = 0;
	struct csv_skip_names names = { "ts", plan_req, is_old, &calls };
	struct csv_plan *plan = NULL;
	uint64_t n = 0, nskip, ngood;
	char *cause = NULL, *d;
	size_t i;

	ck_assert_int_eq(csv_plan_file(p, &names, &n, &plan, NULL, NULL, &cause), 0);
	ck_assert_ptr_nonnull(plan);
	ck_assert_uint_eq(n, 22);
	ck_assert_uint_eq(csv_plan_stretches(plan), 8);
	ck_assert_uint_eq(csv_plan_records(plan), 10);
	for (i = 0; i < sizeof bufsizes / sizeof bufsizes[0]; i++) {
		struct errs e = { "", 0 };

		calls = 0;
		d = dump_plan(p, bufsizes[i], 1, req, plan, &e, &nskip, &ngood, &calls);
		ck_assert_str_eq(d, skip_csv_rows);
		ck_assert_str_eq(e.text, skip_csv_errs);
		ck_assert_uint_eq(nskip, 10);
		ck_assert_uint_eq(ngood, 17);
		if (bufsizes[i] == 0)
			ck_assert_int_eq(calls, 3);
		free(d);
	}
	csv_plan_free(plan);
}
END_TEST

START_TEST(plan_file_changed)
{
	/* A file that is not the one planned is read without the plan (csv_plan_use says
	 * false), all of it, with the reader's own skip: rewritten shorter, or the same bytes
	 * with another modification time. */
	const char *p = put("skip.csv", skip_csv, sizeof skip_csv - 1);
	static const int req[] = { 0, -1 };
	static const struct timespec then[2] = { { 978307200, 0 }, { 978307200, 0 } };
	int calls = 0;
	struct csv_skip_names names = { "ts", plan_req, is_old, &calls };
	struct csv_skip skip = { 1, req, is_old, &calls };
	struct csv_plan *plan = NULL;
	struct csv_reader *r;
	struct csv_row row;
	struct errs e = { "", 0 };
	uint64_t n = 0, nskip, ngood;
	char *cause = NULL, *d;

	ck_assert_int_eq(csv_plan_file(p, &names, &n, &plan, NULL, NULL, &cause), 0);
	ck_assert_ptr_nonnull(plan);
	p = PUT("skip.csv", "id,ts,name\n1,old,a\n2,new,b\n");
	ck_assert_int_eq(csv_open(p, 0, NULL, NULL, &r, &cause), 0);
	csv_skip_set(r, &skip);
	ck_assert(!csv_plan_use(r, plan));
	ck_assert_int_eq(csv_next(r, &row, &cause), 1);
	ck_assert_str_eq(row.f[0], "2");
	ck_assert_uint_eq(row.line, 3);
	ck_assert_int_eq(csv_next(r, &row, &cause), 0);
	ck_assert_uint_eq(csv_skipped_rows(r), 1);
	csv_close(r);

	p = put("skip.csv", skip_csv, sizeof skip_csv - 1);
	ck_assert_int_eq(utimensat(AT_FDCWD, p, then, 0), 0);
	ck_assert_int_eq(csv_open(p, 0, NULL, NULL, &r, &cause), 0);
	csv_skip_set(r, &skip);
	ck_assert(!csv_plan_use(r, plan));
	csv_close(r);
	d = dump_skip(p, 0, 1, req, &e, &nskip, &ngood, &calls);
	ck_assert_str_eq(d, skip_csv_rows);
	ck_assert_uint_eq(nskip, 10);
	free(d);
	csv_plan_free(plan);
}
END_TEST

/* Write "id,ts" and then, n times, old rows and one new one. */
static const char *
write_old_new(const char *name, int n, int olds)
{
	static char path[PATH_MAX + 64];
	FILE *f;
	int i, k;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("id,ts\n", f);
	for (i = 0; i < n; i++) {
		for (k = 0; k < olds; k++)
			fprintf(f, "%d.%d,old\n", i, k);
		fprintf(f, "%d,new\n", i);
	}
	fclose(f);
	return path;
}

START_TEST(plan_yields_and_cap)
{
	/* 10000 old rows in one stretch, then a new one: csv_next jumps over them and returns
	 * 2 once, then the new row at line 10002. Then CSV_PLAN_MAX + 100 stretches of one
	 * old row, each followed by a new one: the plan keeps CSV_PLAN_MAX of them, and the
	 * reader's own skip passes over the last 100 old rows. */
	static const int req[] = { -1 };
	static const char *const noreq[] = { NULL };
	int calls = 0, rv, news = 0;
	struct csv_skip_names names = { "ts", noreq, is_old, &calls };
	struct csv_skip skip = { 1, req, is_old, &calls };
	struct csv_plan *plan = NULL;
	struct csv_reader *r;
	struct csv_row row;
	uint64_t n = 0;
	char *cause = NULL;
	const char *p = write_old_new("yield.csv", 1, 10000);

	ck_assert_int_eq(csv_plan_file(p, &names, &n, &plan, NULL, NULL, &cause), 0);
	ck_assert_uint_eq(n, 10001);
	ck_assert_uint_eq(csv_plan_stretches(plan), 1);
	ck_assert_int_eq(csv_open(p, 0, NULL, NULL, &r, &cause), 0);
	csv_skip_set(r, &skip);
	ck_assert(csv_plan_use(r, plan));
	ck_assert_int_eq(csv_next(r, &row, &cause), 2);
	ck_assert_uint_eq(csv_skipped_rows(r), 10000);
	ck_assert_int_eq(csv_next(r, &row, &cause), 1);
	ck_assert_str_eq(row.f[0], "0");
	ck_assert_uint_eq(row.line, 10002);
	ck_assert_int_eq(csv_next(r, &row, &cause), 0);
	ck_assert_uint_eq(csv_good_rows(r), 10001);
	csv_close(r);
	csv_plan_free(plan);

	p = write_old_new("cap.csv", CSV_PLAN_MAX + 100, 1);
	ck_assert_int_eq(csv_plan_file(p, &names, &n, &plan, NULL, NULL, &cause), 0);
	ck_assert_uint_eq(n, 2 * (CSV_PLAN_MAX + 100));
	ck_assert_uint_eq(csv_plan_stretches(plan), CSV_PLAN_MAX);
	ck_assert_int_eq(csv_open(p, 0, NULL, NULL, &r, &cause), 0);
	csv_skip_set(r, &skip);
	ck_assert(csv_plan_use(r, plan));
	calls = 0;
	while ((rv = csv_next(r, &row, &cause)) != 0) {
		ck_assert_int_eq(rv, 1);
		ck_assert_str_eq(row.f[1], "new");
		ck_assert_uint_eq(row.line, 2 * (uint64_t)news + 3);
		news++;
	}
	ck_assert_int_eq(news, CSV_PLAN_MAX + 100);
	ck_assert_uint_eq(csv_skipped_rows(r), CSV_PLAN_MAX + 100);
	/* Tested again: the new rows before the last stretch (the SSE path looks at the
	 * line; not the planned ones), and every row after it. */
	ck_assert_int_le(calls, CSV_PLAN_MAX + 200);
	ck_assert_int_ge(calls, 200);
	csv_close(r);
	csv_plan_free(plan);
}
END_TEST

START_TEST(plan_fallbacks)
{
	/* Without the tested column, or a header at all, the file is counted plainly and
	 * not planned; a file that cannot be opened is an error, as for the count. */
	static const char *const noreq[] = { NULL };
	int calls = 0;
	struct csv_skip_names names = { "ts", noreq, is_old, &calls };
	struct csv_skip_names missing = { "ts", plan_req, is_old, &calls };
	struct csv_plan *plan = NULL;
	uint64_t n = 0;
	char *cause = NULL;
	const char *p;

	p = PUT("nots.csv", "id,name\n1,a\n\n2,\"b\nc\"\n3,c");
	ck_assert_int_eq(csv_plan_file(p, &names, &n, &plan, NULL, NULL, &cause), 0);
	ck_assert_ptr_null(plan);
	ck_assert_uint_eq(n, 3);
	p = PUT("noid.csv", "name,ts\na,old\nb,old\n");
	ck_assert_int_eq(csv_plan_file(p, &missing, &n, &plan, NULL, NULL, &cause), 0);
	ck_assert_ptr_null(plan);
	ck_assert_uint_eq(n, 2);
	p = PUT("empty.csv", "");
	ck_assert_int_eq(csv_plan_file(p, &names, &n, &plan, NULL, NULL, &cause), 0);
	ck_assert_ptr_null(plan);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(calls, 0);
	ck_assert_int_eq(csv_plan_file("/nonexistent/x.csv", &names, &n, &plan, NULL, NULL,
	    &cause), -1);
	ck_assert_ptr_null(plan);
	ck_assert_str_eq(cause, "cannot open /nonexistent/x.csv: No such file or directory");
	free(cause);
}
END_TEST

/* FNV-1a of bytes into *h. */
static void
mix(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n-- > 0)
		*h = (*h ^ *b++) * 0x100000001b3ull;
}

static void
mix_bad(const char *file, uint64_t line, const char *reason, void *arg)
{
	(void)file;
	mix(arg, &line, sizeof line);
	mix(arg, reason, strlen(reason) + 1);
}

/* The rows csv_next returns (fields and lines) and the bad rows it reports, as one hash,
 * with a skip on column 1 (column 0 required) and plan unless NULL. */
static uint64_t
digest(const char *path, size_t bufsize, const struct csv_plan *plan, uint64_t *nskip,
    uint64_t *nrecs)
{
	static const int req[] = { 0, -1 };
	int calls = 0;
	struct csv_skip skip = { 1, req, is_old, &calls };
	struct csv_reader *r;
	struct csv_row row;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	r = open_skip(path, bufsize, mix_bad, &h, &skip, plan);
	while (next_row(r, &row) == 1) {
		mix(&h, &row.line, sizeof row.line);
		for (i = 0; i < row.n; i++)
			mix(&h, row.f[i], row.len[i] + 1);
	}
	*nskip = csv_skipped_rows(r);
	*nrecs = csv_good_rows(r) + csv_bad_rows(r);
	csv_close(r);
	return h;
}

START_TEST(plan_agrees_random)
{
	/* 1 MiB of random "id,ts,x" rows: ts old (plain, quoted, or with a CR), new or
	 * empty, x any of write_random_records's tokens (quotes, lines inside quotes, CR,
	 * UTF-8), now and then a NUL, a stray quote, a field too many or a blank line. The
	 * plan counts what
	 * csv_count_records counts, and reading with it gives the rows, lines and bad rows
	 * of reading without it, at every buffer size, passing over as many rows. */
	static const char *const ts[] = { "old", "old", "old", "old", "\"old\"", "new", "",
		"old\r" };
	static const char *const x_tok[] = {
		"w", "abc", "", "\"a,b\"", "\"x\"\"y\"", "\"l1\nl2\"", "\"q\"z", "w\"w", "\"\"",
		"\"\r\"", "\xc3\xa9", "\"\"\"\"", "x\"\"", "\xc3\x28",
	};
	static const char *const noreq[] = { "id", NULL };
	char path[PATH_MAX + 16], *cause = NULL;
	int calls = 0;
	struct csv_skip_names names = { "ts", noreq, is_old, &calls };
	struct csv_plan *plan = NULL;
	uint64_t x = 0x9e3779b97f4a7c15ull, n = 0, want, got, skipped, skipped0, recs;
	size_t len = 0, k, bs[] = { 0, 7, 4096 };
	FILE *f;

	snprintf(path, sizeof path, "%s/random.csv", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	len += (size_t)fprintf(f, "id,ts,x\n");
	while (len < 1024 * 1024) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len += (size_t)fprintf(f, "%s,%s,%s", x % 97 == 0 ? "" : "i",
		    ts[(x >> 8) % (sizeof ts / sizeof ts[0])],
		    x_tok[(x >> 16) % 64 < 48 ? 0 : (x >> 24) % (sizeof x_tok / sizeof x_tok[0])]);
		if ((x >> 40) % 3001 == 0)
			len += (size_t)fprintf(f, "\"");
		if ((x >> 40) % 4999 == 0) {
			fputc('\0', f);
			len++;
		}
		if ((x >> 48) % 7 == 0)
			len += (size_t)fprintf(f, ",extra");
		len += (size_t)fprintf(f, "%s", (x >> 32) % 3 == 0 ? "\r\n" : "\n");
		if ((x >> 52) % 50 == 0)
			len += (size_t)fprintf(f, "\n");
	}
	fclose(f);
	ck_assert_int_eq(csv_count_records(path, &want, &cause), 0);
	ck_assert_int_eq(csv_plan_file(path, &names, &n, &plan, NULL, NULL, &cause), 0);
	ck_assert_uint_eq(n, want);
	/* All of it planned: a row after the last stretch that does not fit a small buffer
	 * would be returned, not skipped (skip_small_buffers). */
	ck_assert_uint_gt(csv_plan_stretches(plan), 1000);
	ck_assert_uint_lt(csv_plan_stretches(plan), CSV_PLAN_MAX);
	got = digest(path, 0, NULL, &skipped0, &recs);
	ck_assert_uint_eq(recs, want);
	ck_assert_uint_gt(skipped0, want / 4);
	for (k = 0; k < sizeof bs / sizeof bs[0]; k++) {
		ck_assert_uint_eq(digest(path, bs[k], plan, &skipped, &recs), got);
		ck_assert_uint_eq(recs, want);
		ck_assert_uint_eq(skipped, skipped0);
	}
	csv_plan_free(plan);
}
END_TEST

Suite *
csv_suite(void)
{
	Suite *s = suite_create("csv");
	TCase *tc = tcase_create("reader");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, quoting);
	tcase_add_test(tc, embedded_newline);
	tcase_add_test(tc, crlf_and_no_final_newline);
	tcase_add_test(tc, bom);
	tcase_add_test(tc, columns_by_name);
	tcase_add_test(tc, bad_rows);
	tcase_add_test(tc, long_lines);
	tcase_add_test(tc, counts);
	tcase_add_test(tc, count_stops);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, utf8);
	tcase_add_test(tc, count_edges);
	tcase_add_loop_test(tc, count_agrees_random, 0, 3);
	tcase_add_test(tc, count_quoted_lines);
	tcase_add_test(tc, count_quoted_across_buffers);
	tcase_add_test(tc, skip_rows);
	tcase_add_test(tc, skip_small_buffers);
	tcase_add_test(tc, skip_yields);
	tcase_add_test(tc, plan_rows);
	tcase_add_test(tc, plan_file_changed);
	tcase_add_test(tc, plan_yields_and_cap);
	tcase_add_test(tc, plan_fallbacks);
	tcase_add_test(tc, plan_agrees_random);
	suite_add_tcase(s, tc);
	return s;
}
