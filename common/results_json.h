/* results_json.h: the JSON of the analysis results (results.h), shared by jobsd-http and
 * jobctl --json so that both print the same bytes: a record is {"id": id, then the fields
 * of its msgpack map in map order, without "_"-prefixed keys (and without a field named
 * "id")}; a list page is {"<array>": [records...], "pageInfo": {"hasNextPage": bool,
 * "endCursor": str|null}}, the shape of the jobs list. */
#ifndef JOBSD_RESULTS_JSON_H
#define JOBSD_RESULTS_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <msgpack.h>
#include <yajl/yajl_gen.h>

/* A generator configured the same way everywhere (compact, bytes passed through). */
yajl_gen results_json_gen(void);
/* One record; -1 (nothing generated) unless map is a msgpack map. */
int results_json_record(yajl_gen g, const char *id, size_t idlen, const msgpack_object *map);
/* The same from the encoded value. */
int results_json_record_raw(yajl_gen g, const char *id, size_t idlen, const void *val,
			    size_t vlen);
void results_json_page_open(yajl_gen g, const char *array);
void results_json_page_close(yajl_gen g, bool has_next, const char *end_cursor);

#endif
