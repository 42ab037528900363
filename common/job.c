/* job.c: the job model: type and status names, public ids, the record's lifecycle and
 * parameters, and its msgpack record codec (the value of the jobs database, also carried
 * over IPC). JSON renderings live in job_json.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "log.h"

static const char *const job_type_names[JOB_TYPE_COUNT] = {
	"full_sync",	     "incremental_sync", "account_sync",       "owner_sync",
	"group_sync",	     "application_sync", "role_generation",    "policy_analysis",
	"manager_resolution", "enrichment",
};

static const char *const job_status_names[JOB_STATUS_COUNT] = {
	"pending", "running", "completed", "failed", "cancelled",
};

const char *
job_type_name(enum job_type t)
{
	if ((unsigned)t >= JOB_TYPE_COUNT)
		return ("unknown");
	return (job_type_names[t]);
}

int
job_type_parse(const char *s, size_t len)
{
	int i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < JOB_TYPE_COUNT; i++) {
		if (strlen(job_type_names[i]) == len && memcmp(job_type_names[i], s, len) == 0)
			return (i);
	}
	return (-1);
}

const char *
job_status_name(enum job_status s)
{
	if ((unsigned)s >= JOB_STATUS_COUNT)
		return ("unknown");
	return (job_status_names[s]);
}

int
job_status_parse(const char *s, size_t len)
{
	int i;

	if (s == NULL)
		return (-1);
	for (i = 0; i < JOB_STATUS_COUNT; i++) {
		if (strlen(job_status_names[i]) == len &&
		    memcmp(job_status_names[i], s, len) == 0)
			return (i);
	}
	return (-1);
}

bool
job_status_is_final(enum job_status s)
{
	return (s == JOB_COMPLETED || s == JOB_FAILED || s == JOB_CANCELLED);
}

/* "job-" then 1-19 digits, no leading zero, > 0. 19 digits always fit in uint64_t. */
int
job_id_parse(const char *s, size_t len, uint64_t *no)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || len < 5 || len > 4 + 19 || memcmp(s, "job-", 4) != 0)
		return (-1);
	if (s[4] == '0')
		return (-1);
	for (i = 4; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v == 0)
		return (-1);
	*no = v;
	return (0);
}

void
job_id_format(uint64_t no, char out[32])
{
	char digits[20];
	size_t n = 0;

	do {
		digits[n++] = (char)('0' + no % 10);
		no /= 10;
	} while (no != 0);
	memcpy(out, "job-", 4);
	for (out += 4; n > 0; n--)
		*out++ = digits[n - 1];
	*out = '\0';
}

void
job_init(struct job *j)
{
	memset(j, 0, sizeof(*j));
	j->type = JOB_FULL_SYNC;
	j->status = JOB_PENDING;
	j->created_ms = JOB_NULL;
	j->start_ms = JOB_NULL;
	j->end_ms = JOB_NULL;
	j->records_processed = JOB_NULL;
	j->total_records = JOB_NULL;
	j->records_created = JOB_NULL;
	j->records_updated = JOB_NULL;
	j->records_deleted = JOB_NULL;
	j->cpu_ms = JOB_NULL;
	j->max_rss_kb = JOB_NULL;
	j->worker_pid = JOB_NULL;
}

void
job_free(struct job *j)
{
	size_t i;

	for (i = 0; i < j->nparams; i++) {
		free(j->params[i].key);
		free(j->params[i].value);
	}
	free(j->params);
	free(j->error);
	job_init(j);
}

/* dst is treated as uninitialised: it is overwritten, not freed first. */
void
job_copy(struct job *dst, const struct job *src)
{
	size_t i;

	memcpy(dst, src, sizeof(*dst));
	dst->error = src->error != NULL ? xstrdup(src->error) : NULL;
	dst->params = NULL;
	dst->nparams = 0;
	if (src->nparams > 0) {
		dst->params = xcalloc(src->nparams, sizeof(*dst->params));
		for (i = 0; i < src->nparams; i++) {
			dst->params[i].key = xstrdup(src->params[i].key);
			dst->params[i].value = xstrdup(src->params[i].value);
		}
		dst->nparams = src->nparams;
	}
}

/* Adds key=value at the end; a key already present keeps its place and gets the new value.
 * -1 if JOB_MAX_PARAMS parameters are already set. */
int
job_param_add(struct job *j, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < j->nparams; i++) {
		if (strcmp(j->params[i].key, key) == 0) {
			free(j->params[i].value);
			j->params[i].value = xstrdup(value);
			return (0);
		}
	}
	if (j->nparams >= JOB_MAX_PARAMS)
		return (-1);
	j->params = xrealloc(j->params, (j->nparams + 1) * sizeof(*j->params));
	j->params[j->nparams].key = xstrdup(key);
	j->params[j->nparams].value = xstrdup(value);
	j->nparams++;
	return (0);
}

const char *
job_param_get(const struct job *j, const char *key)
{
	size_t i;

	for (i = 0; i < j->nparams; i++) {
		if (strcmp(j->params[i].key, key) == 0)
			return (j->params[i].value);
	}
	return (NULL);
}

void
job_set_error(struct job *j, const char *error)
{
	char *copy = error != NULL ? xstrdup(error) : NULL;

	free(j->error);
	j->error = copy;
}

/* --- msgpack record ----------------------------------------------------------------------
 *
 * A map; every key is always written (null fields as nil), so the map has JOB_NKEYS entries:
 *   v  version (uint)            n  job number (uint)       t  type (uint)
 *   s  status (uint)             c  created_ms              b  start_ms
 *   f  end_ms                    p  progress (uint 0..100)  e  error (str|nil)
 *   a  parameters (map str->str, submission order)        k  cancel_requested (bool)
 *   cs current_step (str|nil)    rp records_processed       tr total_records
 *   rc records_created           ru records_updated         rd records_deleted
 *   rb requested_by (str|nil)    cb cancelled_by (str|nil)   cu cpu_ms
 *   mr max_rss_kb                wp worker_pid
 * Times and counters are ints or nil (JOB_NULL). Decoding ignores unknown keys. */
#define JOB_NKEYS 22

static void
pack_key(msgpack_packer *pk, const char *k)
{
	msgpack_pack_str_with_body(pk, k, strlen(k));
}

static void
pack_i64(msgpack_packer *pk, const char *k, int64_t v)
{
	pack_key(pk, k);
	if (v == JOB_NULL)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_int64(pk, v);
}

static void
pack_str(msgpack_packer *pk, const char *k, const char *v)
{
	pack_key(pk, k);
	if (v == NULL || *v == '\0')
		msgpack_pack_nil(pk);
	else
		msgpack_pack_str_with_body(pk, v, strlen(v));
}

void
job_pack(msgpack_packer *pk, const struct job *j)
{
	size_t i;

	msgpack_pack_map(pk, JOB_NKEYS);
	pack_key(pk, "v");
	msgpack_pack_uint32(pk, JOB_RECORD_VERSION);
	pack_key(pk, "n");
	msgpack_pack_uint64(pk, j->no);
	pack_key(pk, "t");
	msgpack_pack_uint32(pk, (uint32_t)j->type);
	pack_key(pk, "s");
	msgpack_pack_uint32(pk, (uint32_t)j->status);
	pack_i64(pk, "c", j->created_ms);
	pack_i64(pk, "b", j->start_ms);
	pack_i64(pk, "f", j->end_ms);
	pack_key(pk, "p");
	msgpack_pack_uint32(pk, (uint32_t)(j->progress < 0 ? 0 :
	    j->progress > 100 ? 100 : j->progress));
	pack_key(pk, "e");
	if (j->error == NULL)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_str_with_body(pk, j->error, strlen(j->error));
	pack_key(pk, "a");
	msgpack_pack_map(pk, j->nparams);
	for (i = 0; i < j->nparams; i++) {
		msgpack_pack_str_with_body(pk, j->params[i].key, strlen(j->params[i].key));
		msgpack_pack_str_with_body(pk, j->params[i].value, strlen(j->params[i].value));
	}
	pack_key(pk, "k");
	if (j->cancel_requested)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	pack_str(pk, "cs", j->current_step);
	pack_i64(pk, "rp", j->records_processed);
	pack_i64(pk, "tr", j->total_records);
	pack_i64(pk, "rc", j->records_created);
	pack_i64(pk, "ru", j->records_updated);
	pack_i64(pk, "rd", j->records_deleted);
	pack_str(pk, "rb", j->requested_by);
	pack_str(pk, "cb", j->cancelled_by);
	pack_i64(pk, "cu", j->cpu_ms);
	pack_i64(pk, "mr", j->max_rss_kb);
	pack_i64(pk, "wp", j->worker_pid);
}

int
job_encode(const struct job *j, msgpack_sbuffer *buf)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
	job_pack(&pk, j);
	return (0);
}

/* Field identifiers for the decoder's switch. */
enum job_key {
	K_UNKNOWN, K_V, K_N, K_T, K_S, K_C, K_B, K_F, K_P, K_E, K_A, K_K,
	K_CS, K_RP, K_TR, K_RC, K_RU, K_RD, K_RB, K_CB, K_CU, K_MR, K_WP
};

#define KEY2(a, b) (((unsigned)(unsigned char)(a) << 8) | (unsigned char)(b))

static enum job_key
job_key_of(const char *p, uint32_t len)
{
	if (len == 1) {
		switch (p[0]) {
		case 'v': return (K_V);
		case 'n': return (K_N);
		case 't': return (K_T);
		case 's': return (K_S);
		case 'c': return (K_C);
		case 'b': return (K_B);
		case 'f': return (K_F);
		case 'p': return (K_P);
		case 'e': return (K_E);
		case 'a': return (K_A);
		case 'k': return (K_K);
		}
		return (K_UNKNOWN);
	}
	if (len != 2)
		return (K_UNKNOWN);
	switch (KEY2(p[0], p[1])) {
	case KEY2('c', 's'): return (K_CS);
	case KEY2('r', 'p'): return (K_RP);
	case KEY2('t', 'r'): return (K_TR);
	case KEY2('r', 'c'): return (K_RC);
	case KEY2('r', 'u'): return (K_RU);
	case KEY2('r', 'd'): return (K_RD);
	case KEY2('r', 'b'): return (K_RB);
	case KEY2('c', 'b'): return (K_CB);
	case KEY2('c', 'u'): return (K_CU);
	case KEY2('m', 'r'): return (K_MR);
	case KEY2('w', 'p'): return (K_WP);
	}
	return (K_UNKNOWN);
}

static const char *const job_key_names[] = {
	"?", "v", "n", "t", "s", "c", "b", "f", "p", "e", "a", "k",
	"cs", "rp", "tr", "rc", "ru", "rd", "rb", "cb", "cu", "mr", "wp",
};

/* An unsigned integer no greater than max. */
static int
get_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
		return (-1);
	*v = o->via.u64;
	return (0);
}

/* An int64 or nil (JOB_NULL). */
static int
get_i64(const msgpack_object *o, int64_t *v)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		*v = JOB_NULL;
		return (0);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return (-1);
		*v = (int64_t)o->via.u64;
		return (0);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = o->via.i64;
		return (0);
	default:
		return (-1);
	}
}

/* A string without NUL bytes into a fixed buffer; nil = "". */
static int
get_fixed(const msgpack_object *o, char *out, size_t outlen)
{
	if (o->type == MSGPACK_OBJECT_NIL) {
		out[0] = '\0';
		return (0);
	}
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= outlen ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return (-1);
	memcpy(out, o->via.str.ptr, o->via.str.size);
	out[o->via.str.size] = '\0';
	return (0);
}

/* A string without NUL bytes, malloc'd. */
static char *
get_dup(const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_STR ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return (NULL);
	return (xstrndup(o->via.str.ptr, o->via.str.size));
}

static int
get_params(const msgpack_object *o, struct job *j)
{
	const msgpack_object_kv *kv;
	uint32_t i, k;

	if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > JOB_MAX_PARAMS)
		return (-1);
	if (o->via.map.size == 0)
		return (0);
	j->params = xcalloc(o->via.map.size, sizeof(*j->params));
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR)
			return (-1);
		/* Reject duplicate keys: job_param_add never produces them. */
		for (k = 0; k < j->nparams; k++) {
			if (strlen(j->params[k].key) == kv->key.via.str.size &&
			    memcmp(j->params[k].key, kv->key.via.str.ptr,
				kv->key.via.str.size) == 0)
				return (-1);
		}
		if ((j->params[j->nparams].key = get_dup(&kv->key)) == NULL)
			return (-1);
		if ((j->params[j->nparams].value = get_dup(&kv->val)) == NULL) {
			free(j->params[j->nparams].key);
			j->params[j->nparams].key = NULL;
			return (-1);
		}
		j->nparams++;
	}
	return (0);
}

/* Decode one field; -1 if its value is of the wrong type or out of range. */
static int
job_unpack_field(enum job_key key, const msgpack_object *v, struct job *j)
{
	uint64_t u;

	switch (key) {
	case K_UNKNOWN:
	case K_V:
		return (0);
	case K_N:
		if (get_uint(v, UINT64_MAX, &u) == -1 || u == 0)
			return (-1);
		j->no = u;
		return (0);
	case K_T:
		if (get_uint(v, JOB_TYPE_COUNT - 1, &u) == -1)
			return (-1);
		j->type = (enum job_type)u;
		return (0);
	case K_S:
		if (get_uint(v, JOB_STATUS_COUNT - 1, &u) == -1)
			return (-1);
		j->status = (enum job_status)u;
		return (0);
	case K_P:
		if (get_uint(v, 100, &u) == -1)
			return (-1);
		j->progress = (int)u;
		return (0);
	case K_C: return (get_i64(v, &j->created_ms));
	case K_B: return (get_i64(v, &j->start_ms));
	case K_F: return (get_i64(v, &j->end_ms));
	case K_RP: return (get_i64(v, &j->records_processed));
	case K_TR: return (get_i64(v, &j->total_records));
	case K_RC: return (get_i64(v, &j->records_created));
	case K_RU: return (get_i64(v, &j->records_updated));
	case K_RD: return (get_i64(v, &j->records_deleted));
	case K_CU: return (get_i64(v, &j->cpu_ms));
	case K_MR: return (get_i64(v, &j->max_rss_kb));
	case K_WP: return (get_i64(v, &j->worker_pid));
	case K_E:
		free(j->error);
		j->error = NULL;
		if (v->type == MSGPACK_OBJECT_NIL)
			return (0);
		return ((j->error = get_dup(v)) == NULL ? -1 : 0);
	case K_A:
		if (j->params != NULL)
			return (-1); /* duplicate "a" */
		return (get_params(v, j));
	case K_K:
		if (v->type != MSGPACK_OBJECT_BOOLEAN)
			return (-1);
		j->cancel_requested = v->via.boolean;
		return (0);
	case K_CS: return (get_fixed(v, j->current_step, sizeof(j->current_step)));
	case K_RB: return (get_fixed(v, j->requested_by, sizeof(j->requested_by)));
	case K_CB: return (get_fixed(v, j->cancelled_by, sizeof(j->cancelled_by)));
	}
	return (-1);
}

/* cause may be NULL when the caller only needs the verdict. */
static void __attribute__((format(printf, 2, 3)))
set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		fatalx("%s: out of memory", __func__);
	va_end(ap);
}

int
job_unpack(const msgpack_object *o, struct job *j, char **cause)
{
	const msgpack_object_kv *kv;
	enum job_key key;
	uint64_t version;
	uint32_t i, seen = 0;
	const uint32_t required = (1u << K_V) | (1u << K_N) | (1u << K_T) | (1u << K_S);

	job_init(j);
	if (o->type != MSGPACK_OBJECT_MAP) {
		set_cause(cause, "job record is not a map");
		return (-1);
	}
	/* The version first: it decides how everything else is read. */
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 1 &&
		    kv->key.via.str.ptr[0] == 'v')
			break;
	}
	if (i == o->via.map.size) {
		set_cause(cause, "job record has no version");
		return (-1);
	}
	if (get_uint(&kv->val, UINT32_MAX, &version) == -1 || version != JOB_RECORD_VERSION) {
		set_cause(cause, "job record has an unsupported version");
		return (-1);
	}
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR) {
			set_cause(cause, "job record has a non-string key");
			goto fail;
		}
		key = job_key_of(kv->key.via.str.ptr, kv->key.via.str.size);
		if (key != K_UNKNOWN) {
			if (seen & (1u << key)) {
				set_cause(cause, "job record has a duplicate field \"%s\"",
				    job_key_names[key]);
				goto fail;
			}
			seen |= 1u << key;
		}
		if (job_unpack_field(key, &kv->val, j) == -1) {
			set_cause(cause, "job record has a bad field \"%s\"", job_key_names[key]);
			goto fail;
		}
	}
	if ((seen & required) != required) {
		set_cause(cause, "job record lacks a required field");
		goto fail;
	}
	return (0);

fail:
	job_free(j);
	return (-1);
}

static uint64_t
be_len(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return (v);
}

/* Walk the msgpack encoding once without allocating: exactly one object filling len bytes,
 * whose containers never claim more elements than there are bytes left. msgpack-c sizes a
 * container's storage from its header, so a five-byte "map of 4G entries" would otherwise
 * ask for 128 GiB. */
static int
msgpack_check_bounded(const uint8_t *p, size_t len)
{
	uint64_t pending = 1, skip, n;
	size_t off = 0;
	uint8_t b;

	while (pending > 0) {
		if (off >= len || pending > len - off)
			return (-1);
		pending--;
		b = p[off++];
		skip = 0;
		n = 0;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
			continue;
		if (b <= 0x8f)
			n = 2 * (uint64_t)(b & 0x0f);
		else if (b <= 0x9f)
			n = b & 0x0f;
		else if (b <= 0xbf)
			skip = b & 0x1f;
		else {
			switch (b) {
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xca: case 0xce: case 0xd2: skip = 4; break;
			case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break;
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xc4: case 0xd9: case 0xc7:
			case 0xc5: case 0xda: case 0xc8:
			case 0xc6: case 0xdb: case 0xc9:
			case 0xdc: case 0xdd: case 0xde: case 0xdf: {
				int w = (b == 0xc4 || b == 0xd9 || b == 0xc7) ? 1 :
				    (b == 0xc5 || b == 0xda || b == 0xc8 || b == 0xdc || b == 0xde) ?
				    2 : 4;

				if (len - off < (size_t)w)
					return (-1);
				n = be_len(p + off, w);
				off += (size_t)w;
				if (b == 0xc7 || b == 0xc8 || b == 0xc9)
					skip = n + 1; /* ext: type byte + data */
				else if (b <= 0xdb)
					skip = n;
				else if (b >= 0xde)
					n *= 2;
				if (b <= 0xdb)
					n = 0;
				break;
			}
			default:
				return (-1); /* 0xc1 */
			}
		}
		if (skip > len - off)
			return (-1);
		off += (size_t)skip;
		pending += n;
	}
	return (off == len ? 0 : -1);
}

int
job_decode(const void *data, size_t len, struct job *j, char **cause)
{
	msgpack_unpacked u;
	msgpack_unpack_return ret;
	size_t off = 0;
	int rv;

	job_init(j);
	if (data == NULL || len == 0) {
		set_cause(cause, "empty job record");
		return (-1);
	}
	if (msgpack_check_bounded(data, len) == -1) {
		set_cause(cause, "malformed or truncated job record");
		return (-1);
	}
	msgpack_unpacked_init(&u);
	ret = msgpack_unpack_next(&u, data, len, &off);
	if (ret != MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&u);
		set_cause(cause, "%s", ret == MSGPACK_UNPACK_CONTINUE ? "truncated job record" :
		    "malformed job record");
		return (-1);
	}
	if (off != len) {
		msgpack_unpacked_destroy(&u);
		set_cause(cause, "trailing bytes after job record");
		return (-1);
	}
	rv = job_unpack(&u.data, j, cause);
	msgpack_unpacked_destroy(&u);
	return (rv);
}
