/* results_json.c: msgpack result records to JSON with yajl (see results_json.h). Values are
 * rendered generically: strings, integers, booleans, nil, floats, arrays and maps (string
 * keys) at any depth; binary data as a string. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "results_json.h"

#define RESULTS_JSON_DEPTH 16

yajl_gen
results_json_gen(void)
{
	yajl_gen g;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		fatalx("yajl_gen_alloc");
	yajl_gen_config(g, yajl_gen_beautify, 0);
	yajl_gen_config(g, yajl_gen_validate_utf8, 0);
	return (g);
}

static void
gen_strn(yajl_gen g, const char *s, size_t len)
{
	yajl_gen_string(g, (const unsigned char *)(len > 0 ? s : ""), len);
}

static void
gen_value(yajl_gen g, const msgpack_object *o, int depth)
{
	char num[32];
	uint32_t i;

	if (depth > RESULTS_JSON_DEPTH) {
		yajl_gen_null(g);
		return;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		yajl_gen_null(g);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		yajl_gen_bool(g, o->via.boolean);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(num, sizeof(num), "%" PRIu64, o->via.u64);
		yajl_gen_number(g, num, strlen(num));
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(num, sizeof(num), "%" PRId64, o->via.i64);
		yajl_gen_number(g, num, strlen(num));
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		yajl_gen_double(g, o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		gen_strn(g, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		gen_strn(g, o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		yajl_gen_array_open(g);
		for (i = 0; i < o->via.array.size; i++)
			gen_value(g, &o->via.array.ptr[i], depth + 1);
		yajl_gen_array_close(g);
		break;
	case MSGPACK_OBJECT_MAP:
		yajl_gen_map_open(g);
		for (i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];

			if (kv->key.type != MSGPACK_OBJECT_STR)
				continue;
			gen_strn(g, kv->key.via.str.ptr, kv->key.via.str.size);
			gen_value(g, &kv->val, depth + 1);
		}
		yajl_gen_map_close(g);
		break;
	default:
		yajl_gen_null(g);
		break;
	}
}

int
results_json_record(yajl_gen g, const char *id, size_t idlen, const msgpack_object *map)
{
	const msgpack_object_kv *kv;
	uint32_t i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return (-1);
	yajl_gen_map_open(g);
	gen_strn(g, "id", 2);
	gen_strn(g, id, idlen);
	for (i = 0; i < map->via.map.size; i++) {
		kv = &map->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size == 0 ||
		    kv->key.via.str.ptr[0] == '_' ||
		    (kv->key.via.str.size == 2 && memcmp(kv->key.via.str.ptr, "id", 2) == 0))
			continue;
		gen_strn(g, kv->key.via.str.ptr, kv->key.via.str.size);
		gen_value(g, &kv->val, 1);
	}
	yajl_gen_map_close(g);
	return (0);
}

int
results_json_record_raw(yajl_gen g, const char *id, size_t idlen, const void *val,
			size_t vlen)
{
	msgpack_unpacked u;
	size_t off = 0;
	int rc = -1;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, val, vlen, &off) == MSGPACK_UNPACK_SUCCESS && off == vlen)
		rc = results_json_record(g, id, idlen, &u.data);
	msgpack_unpacked_destroy(&u);
	return (rc);
}

void
results_json_page_open(yajl_gen g, const char *array)
{
	yajl_gen_map_open(g);
	gen_strn(g, array, strlen(array));
	yajl_gen_array_open(g);
}

void
results_json_page_close(yajl_gen g, bool has_next, const char *end_cursor)
{
	yajl_gen_array_close(g);
	gen_strn(g, "pageInfo", 8);
	yajl_gen_map_open(g);
	gen_strn(g, "hasNextPage", 11);
	yajl_gen_bool(g, has_next);
	gen_strn(g, "endCursor", 9);
	if (end_cursor == NULL)
		yajl_gen_null(g);
	else
		gen_strn(g, end_cursor, strlen(end_cursor));
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}
