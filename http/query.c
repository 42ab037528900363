/* query.c: request-target splitting and query strings: percent-decoding ('+' is a space
 * in a query), duplicate and malformed parameters. */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"

void
url_split(const char *url, size_t len, const char **path, size_t *pathlen, const char **qs,
	  size_t *qslen)
{
	const char *q, *hash;

	/* A fragment never reaches a server, but drop one if a client sends it. */
	if ((hash = memchr(url, '#', len)) != NULL)
		len = (size_t)(hash - url);
	*path = url;
	if ((q = memchr(url, '?', len)) == NULL) {
		*pathlen = len;
		*qs = url + len;
		*qslen = 0;
		return;
	}
	*pathlen = (size_t)(q - url);
	*qs = q + 1;
	*qslen = len - *pathlen - 1;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

int
pct_decode(const char *s, size_t len, bool plus, char **out, size_t *outlen)
{
	char *d;
	size_t i, n = 0;
	int hi, lo;

	d = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0) {
				free(d);
				return (-1);
			}
			d[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (plus && s[i] == '+')
			d[n++] = ' ';
		else
			d[n++] = s[i];
	}
	d[n] = '\0';
	*out = d;
	if (outlen != NULL)
		*outlen = n;
	return (0);
}

void
query_free(struct query *q)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		free(q->p[i].name);
		free(q->p[i].value);
	}
	q->n = 0;
}

const struct query_param *
query_get(const struct query *q, const char *name)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		if (strcmp(q->p[i].name, name) == 0)
			return (&q->p[i]);
	}
	return (NULL);
}

int
query_parse(const char *qs, size_t len, struct query *q, char **bad_param, char **cause)
{
	const char *seg, *end, *eq, *amp;
	char *name, *value;
	size_t namelen, vlen;

	q->n = 0;
	*bad_param = NULL;
	*cause = NULL;
	seg = qs;
	end = qs + len;
	while (seg < end) {
		amp = memchr(seg, '&', (size_t)(end - seg));
		if (amp == NULL)
			amp = end;
		if (amp == seg) {
			seg++;
			continue;
		}
		eq = memchr(seg, '=', (size_t)(amp - seg));
		if (eq == NULL)
			eq = amp;
		if (pct_decode(seg, (size_t)(eq - seg), true, &name, &namelen) != 0) {
			*cause = xstrdup("malformed percent-encoding in a parameter name");
			goto fail;
		}
		if (namelen != strlen(name)) {
			free(name);
			*cause = xstrdup("malformed parameter name");
			goto fail;
		}
		if (eq == amp)
			value = xstrdup(""), vlen = 0;
		else if (pct_decode(eq + 1, (size_t)(amp - eq - 1), true, &value, &vlen) != 0) {
			*bad_param = name;
			*cause = xasprintf("malformed percent-encoding in '%s'", name);
			goto fail;
		}
		if (query_get(q, name) != NULL) {
			free(value);
			*bad_param = name;
			*cause = xasprintf("parameter '%s' given more than once", name);
			goto fail;
		}
		if (q->n == HTTP_MAX_QUERY_PARAMS) {
			free(value);
			free(name);
			*cause = xstrdup("too many query parameters");
			goto fail;
		}
		q->p[q->n].name = name;
		q->p[q->n].value = value;
		q->p[q->n].value_len = vlen;
		q->n++;
		seg = amp + 1;
	}
	return (0);

fail:
	query_free(q);
	return (-1);
}
