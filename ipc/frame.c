/* frame.c: the IPC frame codec (see ipc.h and PROTOCOL.md): a writer that builds
 * length-prefixed msgpack frames back to back, a streaming reader that takes whole,
 * validated messages out of bytes fed in any pieces, and typed getters for map bodies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "log.h"

#define IPC_HDR 4
/* Containers open at once in a frame; msgpack-c's own unpacker stops at 32. */
#define IPC_MAX_DEPTH 32
/* An empty reader whose buffer grew past this gives the memory back. */
#define IPC_READER_KEEP (256u << 10)
#define IPC_READER_MIN 4096

static int ipc_sbuf_write(void *data, const char *buf, size_t len);
static void ipc_put_be32(char *p, uint32_t v);
static uint32_t ipc_get_be32(const char *p);
static int ipc_scan(const char *data, uint32_t len, char **cause);
static int ipc_check_shape(const msgpack_object *o, struct ipc_msg *m, char **cause);
static int ipc_uint_field(const msgpack_object *o, const char *what, uint32_t *v,
    char **cause);

/* --- writer ---------------------------------------------------------------- */

/* msgpack_sbuffer_write ignores ENOMEM silently (the packer drops the bytes); grow
 * with xrealloc instead so a frame is never quietly corrupted. */
static int
ipc_sbuf_write(void *data, const char *buf, size_t len)
{
	msgpack_sbuffer *sb = data;
	size_t need, ncap;

	need = sb->size + len;
	if (need > sb->alloc) {
		ncap = sb->alloc ? sb->alloc : 1024;
		while (ncap < need)
			ncap *= 2;
		sb->data = xrealloc(sb->data, ncap);
		sb->alloc = ncap;
	}
	memcpy(sb->data + sb->size, buf, len);
	sb->size += len;
	return (0);
}

static void
ipc_put_be32(char *p, uint32_t v)
{
	unsigned char *u = (unsigned char *)p;

	u[0] = v >> 24;
	u[1] = v >> 16;
	u[2] = v >> 8;
	u[3] = v;
}

static uint32_t
ipc_get_be32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return ((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 |
	    (uint32_t)u[3]);
}

void
ipc_writer_init(struct ipc_writer *w)
{
	msgpack_sbuffer_init(&w->buf);
	msgpack_packer_init(&w->pk, &w->buf, ipc_sbuf_write);
	w->start = 0;
}

void
ipc_writer_destroy(struct ipc_writer *w)
{
	msgpack_sbuffer_destroy(&w->buf);
	w->start = 0;
}

void
ipc_writer_reset(struct ipc_writer *w)
{
	w->buf.size = 0;
	w->start = 0;
}

msgpack_packer *
ipc_begin(struct ipc_writer *w, enum msg_type type, uint32_t id)
{
	static const char zero[IPC_HDR];

	w->start = w->buf.size;
	ipc_sbuf_write(&w->buf, zero, sizeof(zero));
	msgpack_pack_array(&w->pk, 4);
	msgpack_pack_uint32(&w->pk, IPC_PROTOCOL_VERSION);
	msgpack_pack_uint32(&w->pk, (uint32_t)type);
	msgpack_pack_uint32(&w->pk, id);
	return (&w->pk);
}

int
ipc_end(struct ipc_writer *w)
{
	size_t len = w->buf.size - w->start - IPC_HDR;

	if (len > IPC_MAX_FRAME) {
		w->buf.size = w->start;
		return (-1);
	}
	ipc_put_be32(w->buf.data + w->start, (uint32_t)len);
	w->start = w->buf.size;
	return (0);
}

void
ipc_pack_str(msgpack_packer *pk, const char *s)
{
	if (s == NULL)
		msgpack_pack_nil(pk);
	else
		ipc_pack_strn(pk, s, strlen(s));
}

void
ipc_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void
ipc_pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	ipc_pack_str(pk, k);
	ipc_pack_str(pk, v);
}

void
ipc_pack_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
	ipc_pack_str(pk, k);
	msgpack_pack_int64(pk, v);
}

void
ipc_pack_kv_bool(msgpack_packer *pk, const char *k, bool v)
{
	ipc_pack_str(pk, k);
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

/* --- reader ---------------------------------------------------------------- */

void
ipc_reader_init(struct ipc_reader *r)
{
	memset(r, 0, sizeof(*r));
	if (!msgpack_zone_init(&r->zone, MSGPACK_ZONE_CHUNK_SIZE))
		fatalx("%s: out of memory", __func__);
}

void
ipc_reader_destroy(struct ipc_reader *r)
{
	free(r->buf);
	msgpack_zone_destroy(&r->zone);
	memset(r, 0, sizeof(*r));
}

/*
 * Room for n more bytes at the tail. Compacting or growing moves the buffer, so a
 * message taken out earlier must be done with before more bytes are fed.
 */
void *
ipc_reader_space(struct ipc_reader *r, size_t n)
{
	size_t ncap;

	if (r->cap - r->len >= n)
		return (r->buf + r->len);
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
		if (r->cap - r->len >= n)
			return (r->buf + r->len);
	}
	ncap = r->cap ? r->cap : IPC_READER_MIN;
	while (ncap - r->len < n)
		ncap *= 2;
	r->buf = xrealloc(r->buf, ncap);
	r->cap = ncap;
	return (r->buf + r->len);
}

void
ipc_reader_commit(struct ipc_reader *r, size_t n)
{
	if (n > r->cap - r->len)
		fatalx("%s: commit of %zu bytes past the reserved space", __func__, n);
	r->len += n;
}

int
ipc_reader_feed(struct ipc_reader *r, const void *data, size_t n)
{
	if (n == 0)
		return (0);
	memcpy(ipc_reader_space(r, n), data, n);
	ipc_reader_commit(r, n);
	return (0);
}

static int
ipc_uint_field(const msgpack_object *o, const char *what, uint32_t *v, char **cause)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		*cause = xasprintf("message %s is not a non-negative integer", what);
		return (-1);
	}
	if (o->via.u64 > UINT32_MAX) {
		*cause = xasprintf("message %s %llu out of range", what,
		    (unsigned long long)o->via.u64);
		return (-1);
	}
	*v = (uint32_t)o->via.u64;
	return (0);
}

/*
 * Walk the frame's msgpack bytes without building anything: exactly one well-formed
 * object, nested at most IPC_MAX_DEPTH deep, whose containers declare no more elements
 * than bytes remain. msgpack_unpack allocates a container's elements as soon as it reads
 * the count, so without this a 5-byte frame could make it allocate a gigabyte.
 */
static int
ipc_scan(const char *data, uint32_t len, char **cause)
{
	const unsigned char *p = (const unsigned char *)data;
	uint32_t stack[IPC_MAX_DEPTH + 1]; /* elements left per open level; [0] the root */
	uint64_t pending = 1, n, skip;
	size_t pos = 0, lenbytes;
	int depth = 1;
	unsigned char b;

	stack[0] = 1;
	while (depth > 0) {
		if (stack[depth - 1] == 0) {
			depth--;
			continue;
		}
		stack[depth - 1]--;
		pending--;
		if (pos >= len)
			goto truncated;
		b = p[pos++];
		n = 0;      /* elements of a container (map: keys + values) */
		skip = 0;   /* payload bytes of a scalar */
		lenbytes = 0; /* a big-endian length of this many bytes follows */
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
			;
		else if (b <= 0x8f)
			n = 2 * (uint64_t)(b & 0x0f);
		else if (b <= 0x9f)
			n = b & 0x0f;
		else if (b <= 0xbf)
			skip = b & 0x1f;
		else {
			switch (b) {
			case 0xc4: case 0xc7: case 0xd9:
				lenbytes = 1;
				break;
			case 0xc5: case 0xc8: case 0xda: case 0xdc: case 0xde:
				lenbytes = 2;
				break;
			case 0xc6: case 0xc9: case 0xdb: case 0xdd: case 0xdf:
				lenbytes = 4;
				break;
			case 0xca: case 0xce: case 0xd2:
				skip = 4;
				break;
			case 0xcb: case 0xcf: case 0xd3:
				skip = 8;
				break;
			case 0xcc: case 0xd0:
				skip = 1;
				break;
			case 0xcd: case 0xd1:
				skip = 2;
				break;
			case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
				skip = 1 + (1u << (b - 0xd4)); /* type byte + 1..16 */
				break;
			default: /* 0xc1 */
				*cause = xasprintf("frame of %u bytes is not valid msgpack", len);
				return (-1);
			}
		}
		if (lenbytes > 0) {
			if (len - pos < lenbytes)
				goto truncated;
			for (skip = 0; lenbytes > 0; lenbytes--)
				skip = skip << 8 | p[pos++];
			if (b == 0xdc || b == 0xdd)
				n = skip, skip = 0;
			else if (b == 0xde || b == 0xdf)
				n = 2 * skip, skip = 0;
			else if (b >= 0xc7 && b <= 0xc9)
				skip++; /* the ext type byte */
		}
		if (skip > len - pos)
			goto truncated;
		pos += skip;
		if (n == 0)
			continue;
		/* Every element still owed needs at least one byte. */
		if (pending + n > len - pos) {
			*cause = xasprintf("frame of %u bytes declares a container of %llu "
			    "elements it cannot hold", len, (unsigned long long)n);
			return (-1);
		}
		if (depth > IPC_MAX_DEPTH) {
			*cause = xasprintf("frame of %u bytes nests deeper than %d", len,
			    IPC_MAX_DEPTH);
			return (-1);
		}
		pending += n;
		stack[depth++] = (uint32_t)n;
	}
	if (pos < len) {
		*cause = xasprintf("frame of %u bytes has %zu trailing bytes", len,
		    len - pos);
		return (-1);
	}
	return (0);

truncated:
	*cause = xasprintf("frame of %u bytes holds a truncated msgpack object", len);
	return (-1);
}

/* The frame must hold [version, type, id, body] with a map body of string keys. */
static int
ipc_check_shape(const msgpack_object *o, struct ipc_msg *m, char **cause)
{
	const msgpack_object *a;
	const msgpack_object_map *map;
	uint32_t i;

	if (o->type != MSGPACK_OBJECT_ARRAY) {
		*cause = xasprintf("message is not an array");
		return (-1);
	}
	if (o->via.array.size != 4) {
		*cause = xasprintf("message is an array of %u, not 4",
		    (unsigned)o->via.array.size);
		return (-1);
	}
	a = o->via.array.ptr;
	if (ipc_uint_field(&a[0], "version", &m->version, cause) == -1)
		return (-1);
	if (m->version != IPC_PROTOCOL_VERSION) {
		*cause = xasprintf("protocol version %u, expected %u", m->version,
		    IPC_PROTOCOL_VERSION);
		return (-1);
	}
	if (ipc_uint_field(&a[1], "type", &m->type, cause) == -1)
		return (-1);
	if (ipc_uint_field(&a[2], "id", &m->id, cause) == -1)
		return (-1);
	if (a[3].type != MSGPACK_OBJECT_MAP) {
		*cause = xasprintf("message %u body is not a map", m->type);
		return (-1);
	}
	map = &a[3].via.map;
	for (i = 0; i < map->size; i++) {
		if (map->ptr[i].key.type != MSGPACK_OBJECT_STR) {
			*cause = xasprintf("message %u body has a key that is not a string",
			    m->type);
			return (-1);
		}
	}
	m->body = a[3];
	return (0);
}

enum ipc_next
ipc_reader_next(struct ipc_reader *r, struct ipc_msg *m, char **cause)
{
	msgpack_object obj;
	msgpack_unpack_return ret;
	const char *p;
	size_t avail, used;
	uint32_t flen;

	*cause = NULL;
	/* The previous message is given up: its objects and its bytes. */
	if (r->zone_used) {
		msgpack_zone_clear(&r->zone);
		r->zone_used = false;
	}
	if (r->off == r->len) {
		r->off = r->len = 0;
		if (r->cap > IPC_READER_KEEP) {
			free(r->buf);
			r->buf = NULL;
			r->cap = 0;
		}
	}

	avail = r->len - r->off;
	if (avail < IPC_HDR)
		return (IPC_NEED_MORE);
	p = r->buf + r->off;
	flen = ipc_get_be32(p);
	if (flen == 0) {
		*cause = xasprintf("empty frame");
		return (IPC_BAD);
	}
	if (flen > IPC_MAX_FRAME) {
		*cause = xasprintf("frame of %u bytes exceeds limit of %u", flen,
		    IPC_MAX_FRAME);
		return (IPC_BAD);
	}
	if (avail - IPC_HDR < flen)
		return (IPC_NEED_MORE);

	if (ipc_scan(p + IPC_HDR, flen, cause) == -1)
		return (IPC_BAD);
	used = 0;
	r->zone_used = true;
	ret = msgpack_unpack(p + IPC_HDR, flen, &used, &r->zone, &obj);
	switch (ret) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	case MSGPACK_UNPACK_EXTRA_BYTES:
		*cause = xasprintf("frame of %u bytes has %zu trailing bytes", flen,
		    flen - used);
		return (IPC_BAD);
	case MSGPACK_UNPACK_CONTINUE:
		*cause = xasprintf("frame of %u bytes holds a truncated msgpack object",
		    flen);
		return (IPC_BAD);
	case MSGPACK_UNPACK_NOMEM_ERROR:
		*cause = xasprintf("frame of %u bytes: out of memory decoding", flen);
		return (IPC_BAD);
	case MSGPACK_UNPACK_PARSE_ERROR:
	default:
		*cause = xasprintf("frame of %u bytes is not valid msgpack", flen);
		return (IPC_BAD);
	}
	if (ipc_check_shape(&obj, m, cause) == -1)
		return (IPC_BAD);
	r->off += IPC_HDR + flen;
	return (IPC_MSG);
}

/* --- body access ------------------------------------------------------------ */

const msgpack_object *
ipc_get(const msgpack_object *map, const char *key)
{
	const msgpack_object_kv *kv;
	size_t klen;
	uint32_t i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return (NULL);
	klen = strlen(key);
	for (i = 0; i < map->via.map.size; i++) {
		kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == klen &&
		    memcmp(kv->key.via.str.ptr, key, klen) == 0)
			return (&kv->val);
	}
	return (NULL);
}

int
ipc_get_str(const msgpack_object *map, const char *key, const char **s, size_t *len)
{
	const msgpack_object *o = ipc_get(map, key);

	if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
		return (1);
	if (o->type != MSGPACK_OBJECT_STR)
		return (-1);
	*s = o->via.str.ptr;
	if (len != NULL)
		*len = o->via.str.size;
	return (0);
}

int
ipc_get_int(const msgpack_object *map, const char *key, int64_t *v)
{
	const msgpack_object *o = ipc_get(map, key);

	if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
		return (1);
	switch (o->type) {
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

int
ipc_get_bool(const msgpack_object *map, const char *key, bool *v)
{
	const msgpack_object *o = ipc_get(map, key);

	if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
		return (1);
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return (-1);
	*v = o->via.boolean;
	return (0);
}

int
ipc_get_strbuf(const msgpack_object *map, const char *key, char *out, size_t outlen)
{
	const char *s;
	size_t len;
	int rc;

	if ((rc = ipc_get_str(map, key, &s, &len)) != 0)
		return (rc);
	if (outlen == 0)
		return (0);
	if (len > outlen - 1)
		len = outlen - 1;
	memcpy(out, s, len);
	out[len] = '\0';
	return (0);
}
