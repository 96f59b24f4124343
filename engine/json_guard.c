/*
 * json_guard.c — constrained decoding of JSON: a character-level automaton
 * that says whether a piece of text can extend what was generated so far
 * into a value matching a schema, so the sampler only offers tokens that
 * keep a tool call valid.
 *
 * Design:
 *   - The schema (a JSON Schema subset, or an OpenAI tools array) is
 *     compiled once into a table of nodes. A node lists the JSON types it
 *     accepts, the properties of an object (sorted by name; no others
 *     allowed), the node of an array's items, or a set of literal texts
 *     (enum/const values as JSON text, sorted).
 *   - The parse state is a fixed struct: a stack of open containers plus
 *     the state of the one scalar being read (string, key, literal,
 *     number). allows() copies the used part of it by value and steps a
 *     copy, so asking about a token changes nothing and allocates nothing.
 *   - Keys of a known object and literals are matched as a candidate range
 *     [lo, hi) in their sorted list, narrowed byte by byte: the entries that
 *     share a prefix are contiguous in sorted order.
 *   - The automaton never enters a state it cannot finish: a key is only
 *     started while an unseen property remains, ',' only while another key
 *     may follow, '}' only once the required properties are there, numbers
 *     stop growing at NUM_MAX_LEN, nesting at GUARD_MAX_DEPTH.
 *   - Whitespace between tokens is allowed, at most MAX_WS in a row, so a
 *     model cannot pad forever. Likewise strings end by maxLength
 *     (DEFAULT_MAX_STR characters unless the schema says), arrays and free
 *     objects by maxItems/maxProperties (DEFAULT_MAX_ITEMS): a model caught
 *     in a loop inside a value is made to close it, so a guarded value is
 *     always finished in a bounded number of bytes.
 *
 *   - Verbatim strings ("x-hearth-verbatim": true) must be words copied from
 *     a source text (the user's turn), starting and ending at word
 *     boundaries, byte for byte but for the case of the first letter (free
 *     case let a small model write "cinNamon"): a model that picked the
 *     right slot still misspells a word it never saw ("mele" for
 *     "marseille"). The word starts of the source are sorted by the text
 *     that follows them (a suffix array), so the spans a prefix can still
 *     become are again a range [lo, hi), narrowed byte by byte like keys
 *     and literals.
 *
 * Schema subset: type (string or list), properties + required (then no
 * other key is accepted), items, enum, const, maxLength, maxItems,
 * maxProperties, x-hearth-verbatim. Anything else (anyOf, $ref, patterns,
 * minimums) is not checked: such a schema accepts any value of its
 * type, which is still valid JSON. Known keys and enum strings match their
 * bytes exactly (no \u spellings of them). Valid JSON is RFC 8259 JSON:
 * UTF-8 checked byte by byte (tokens may split a character), surrogate
 * escapes only as high+low pairs.
 *
 * Threading: a guard is mutable (its parse state); one thread at a time.
 */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define GUARD_MAX_DEPTH 32  /* open containers, the root frame included */
#define SCHEMA_MAX_DEPTH 24 /* deeper schemas are not checked (any value) */
#define MAX_WS 2            /* consecutive whitespace between tokens */
#define NUM_MAX_LEN 24      /* characters of one number */
#define MAX_PROPS 64        /* known properties of one object (a bit each) */
#define DEFAULT_MAX_STR 256 /* characters of a string without maxLength */
#define DEFAULT_MAX_ITEMS 64 /* array items / free-object keys by default */
#define NO_PROP 0xffffu
#define SRC_MAX 0xfffeu     /* bytes of a verbatim source that are used */
#define VERBATIM_KEY "x-hearth-verbatim"

/* ---------------------------------------------------------------------------
 * Compiled schema
 */
enum {
	T_OBJECT = 1, T_ARRAY = 2, T_STRING = 4, T_INTEGER = 8, T_NUMBER = 16,
	T_BOOL = 32, T_NULL = 64, T_ALL = 127
};

/* Built-in nodes, present in every guard. */
enum { NODE_ANY, NODE_BOOL, NODE_NULL, N_BUILTIN };
#define NODE_DYNAMIC 0xffffu /* call "arguments": the named tool's parameters */

/* The tool-call object's properties, in sorted order. */
enum { CALL_ARGS, CALL_NAME };

struct gnode {
	uint8_t types;      /* T_* bits accepted */
	bool has_props;     /* objects: exactly the listed properties */
	bool is_call;       /* {"name": …, "arguments": …}, name first */
	uint16_t items;     /* arrays: node of every item */
	uint32_t first, n;  /* has_props: g->props[first, first + n) */
	uint32_t lit_first, n_lits; /* n_lits > 0: one of g->lits[…] */
	uint64_t required;  /* has_props: bit i = props[first + i] required */
	uint16_t max_len;   /* strings: characters (an escape or a UTF-8
			       sequence counts one) */
	uint16_t max_items; /* arrays: items; objects without properties: keys */
	bool verbatim;      /* strings: a span of the source, when one is set */
};

struct gprop {
	uint32_t name;  /* offset in arena (not NUL-terminated) */
	uint16_t len;
	uint16_t node;  /* schema of the value, or NODE_DYNAMIC */
};

struct glit {
	uint32_t text;  /* offset in arena: the literal's JSON text */
	uint16_t len;
	uint16_t node;  /* tool names: the tool's parameters node */
};

/* ---------------------------------------------------------------------------
 * Parse state
 */
enum frame_kind { F_ROOT, F_OBJECT, F_ARRAY };

enum frame_sub {
	S_VALUE,  /* a value must start: root, after ':', after ',' in an array */
	S_FIRST,  /* just after '{' or '[': a key/item or the closing bracket */
	S_KEY,    /* object, after ',': a key must start */
	S_COLON,  /* object, after a key */
	S_AFTER,  /* after a value: ',' or the closing bracket; root: done */
};

struct gframe {
	uint64_t seen;  /* known object: bit i = property i present; array or
			   free object: items or keys so far */
	uint16_t node;  /* schema node of this container */
	uint16_t args;  /* call object: parameters node of the tool named */
	uint16_t prop;  /* object: property whose value comes next (or NO_PROP) */
	uint8_t kind;   /* enum frame_kind */
	uint8_t sub;    /* enum frame_sub */
};

enum leaf { L_NONE, L_STRING, L_KEY, L_LIT, L_NUMBER };

/* String sub-states. */
enum { SS_CHAR, SS_ESC, SS_HEX, SS_LOW_BS, SS_LOW_U };
/* \u escape flags: this escape must be a low surrogate; its first digit
 * was 'd'; it is a high surrogate (a low one must follow). */
enum { UF_LOW = 1, UF_D = 2, UF_HIGH = 4 };

/* Number sub-states (RFC 8259 grammar); ZERO, INT, FRAC, EXP may end. */
enum { NS_MINUS, NS_ZERO, NS_INT, NS_DOT, NS_FRAC, NS_E, NS_ESIGN, NS_EXP };

/* Header first, frames last: only frames [0, depth] are copied. */
struct gstate {
	uint8_t depth;   /* index of the innermost open frame */
	uint8_t leaf;    /* enum leaf: the scalar being read, if any */
	uint8_t lsub;    /* string or number sub-state */
	uint8_t ws;      /* whitespace characters in a row */
	uint8_t ufl;     /* string: UF_* of the current \u escape */
	uint8_t u8need;  /* string: UTF-8 continuation bytes still due */
	uint8_t u8lo, u8hi; /* string: range of the next continuation byte */
	bool key;        /* L_STRING: a free key (object without properties) */
	bool intonly;    /* L_NUMBER: no fraction or exponent */
	bool done;       /* the root value is finished */
	uint16_t lo, hi; /* L_KEY/L_LIT: candidates [lo, hi) in props/lits */
	uint16_t pos;    /* L_KEY/L_LIT: bytes matched; number: length; \u digits */
	uint16_t slen, smax; /* L_STRING: characters so far, most allowed */
	bool verb;       /* L_STRING: a verbatim copy of the source */
	uint16_t vlo, vhi, vpos; /* verb: candidate words [vlo, vhi) in
				    g->words, bytes matched */
	struct gframe f[GUARD_MAX_DEPTH];
};

struct engine_json_guard {
	struct gnode *nodes; /* (n_nodes) */
	struct gprop *props; /* (n_props) */
	struct glit *lits;   /* (n_lits) */
	char *arena;         /* (n_arena) names and literal texts */
	size_t n_nodes, cap_nodes, n_props, cap_props, n_lits, cap_lits;
	size_t n_arena, cap_arena;
	uint16_t root;
	struct gstate st;
	/* verbatim source (engine_json_guard_set_source) */
	char *src;            /* (n_src) a copy of the text */
	uint16_t *nextend;    /* (n_src + 1) first word end at or after each
				 byte, or SRC_MAX + 1 */
	struct gword *words;  /* (n_words) word starts, sorted by the text from
				 there */
	uint16_t n_src, n_words;
};

/* A word start of the source and the bytes from it that a JSON string can
 * hold without escapes (up to a quote, backslash or control character). */
struct gword {
	uint16_t at, len;
};

/* ---------------------------------------------------------------------------
 * Table building
 */
static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t cap2;
	void *q;

	if (need <= *cap)
		return true;
	cap2 = *cap ? *cap * 2 : 16;
	while (cap2 < need)
		cap2 *= 2;
	q = realloc(*p, cap2 * elem);
	if (!q)
		return false;
	*p = q;
	*cap = cap2;
	return true;
}

static int add_node(engine_json_guard *g, const struct gnode *n, uint16_t *out,
		    char *err, size_t errlen)
{
	if (g->n_nodes >= NODE_DYNAMIC)
		return engine_errf(err, errlen, HEARTH_ERANGE,
				   "json guard: schema has more than %u nodes", NODE_DYNAMIC);
	if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(*n)))
		return engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
	g->nodes[g->n_nodes] = *n;
	*out = (uint16_t)g->n_nodes++;
	return 0;
}

static int arena_add(engine_json_guard *g, const char *s, size_t len,
		     uint32_t *off, char *err, size_t errlen)
{
	if (len > 0xffff || g->n_arena + len > 0xffffffffu)
		return engine_errf(err, errlen, HEARTH_ERANGE,
				   "json guard: name or literal of %zu bytes is too long", len);
	if (!grow((void **)&g->arena, &g->cap_arena, g->n_arena + len, 1))
		return engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
	memcpy(g->arena + g->n_arena, s, len);
	*off = (uint32_t)g->n_arena;
	g->n_arena += len;
	return 0;
}

/* Byte order of two arena strings; a prefix sorts first. */
static int cmp_bytes(const char *a, size_t na, const char *b, size_t nb)
{
	int c = memcmp(a, b, na < nb ? na : nb);

	if (c)
		return c;
	return na < nb ? -1 : na > nb;
}

static int cmp_prop(const void *x, const void *y, void *arena)
{
	const struct gprop *a = x, *b = y;

	return cmp_bytes((char *)arena + a->name, a->len, (char *)arena + b->name, b->len);
}

static int cmp_lit(const void *x, const void *y, void *arena)
{
	const struct glit *a = x, *b = y;

	return cmp_bytes((char *)arena + a->text, a->len, (char *)arena + b->text, b->len);
}

/* Sort literals, drop duplicates (the first one stays) and append them. */
static int lits_append(engine_json_guard *g, struct glit *tmp, size_t n,
		       struct gnode *node, char *err, size_t errlen)
{
	size_t i, k = 0;

	qsort_r(tmp, n, sizeof(*tmp), cmp_lit, g->arena);
	for (i = 0; i < n; i++)
		if (!k || cmp_lit(&tmp[k - 1], &tmp[i], g->arena))
			tmp[k++] = tmp[i];
	if (!grow((void **)&g->lits, &g->cap_lits, g->n_lits + k, sizeof(*tmp)))
		return engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
	memcpy(g->lits + g->n_lits, tmp, k * sizeof(*tmp));
	node->lit_first = (uint32_t)g->n_lits;
	node->n_lits = (uint32_t)k;
	g->n_lits += k;
	return 0;
}

/* One literal: the value's compact JSON text. */
static int lit_of(engine_json_guard *g, const cJSON *v, uint16_t node,
		  struct glit *out, char *err, size_t errlen)
{
	char *text = cJSON_PrintUnformatted(v);
	int rc;

	if (!text)
		return engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
	rc = arena_add(g, text, strlen(text), &out->text, err, errlen);
	out->len = (uint16_t)strlen(text);
	out->node = node;
	cJSON_free(text);
	return rc;
}

/* enum / const: the value must be one of these texts. */
static int compile_literals(engine_json_guard *g, const cJSON *vals, bool one,
			    struct gnode *node, char *err, size_t errlen)
{
	size_t n = one ? 1 : (size_t)cJSON_GetArraySize(vals), i = 0;
	const cJSON *v = one ? vals : vals->child;
	struct glit *tmp;
	int rc = 0;

	if (n == 0)
		return engine_errf(err, errlen, HEARTH_EINVAL,
				   "json guard: empty enum (no value can match)");
	tmp = calloc(n, sizeof(*tmp));
	if (!tmp)
		return engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
	for (; !rc && i < n; i++, v = v->next)
		rc = lit_of(g, v, NODE_ANY, &tmp[i], err, errlen);
	if (!rc)
		rc = lits_append(g, tmp, n, node, err, errlen);
	free(tmp);
	return rc;
}

static uint8_t type_bit(const char *name)
{
	static const struct { const char *name; uint8_t bit; } tab[] = {
		{ "object", T_OBJECT }, { "array", T_ARRAY }, { "string", T_STRING },
		{ "integer", T_INTEGER }, { "number", T_NUMBER }, { "boolean", T_BOOL },
		{ "null", T_NULL },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (!strcmp(tab[i].name, name))
			return tab[i].bit;
	return 0;
}

/* "type" as a bit set; without it, what properties/items imply, else all. */
static uint8_t types_of(const cJSON *s)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type"), *e;
	uint8_t m = 0;

	if (cJSON_IsString(t))
		m = type_bit(t->valuestring);
	else if (cJSON_IsArray(t)) {
		cJSON_ArrayForEach(e, t) {
			if (cJSON_IsString(e))
				m |= type_bit(e->valuestring);
		}
	}
	if (m)
		return m;
	if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(s, "properties")))
		return T_OBJECT;
	if (cJSON_GetObjectItemCaseSensitive(s, "items"))
		return T_ARRAY;
	return T_ALL;
}

/* A key the model can only type literally: no quote, backslash or
 * control character (those would need escapes, which keys do not take). */
static bool plain_name(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

static int compile(engine_json_guard *g, const cJSON *s, int depth,
		   uint16_t *out, char *err, size_t errlen);

/* A node that accepts any value, with the default bounds. */
static struct gnode node_any(void)
{
	struct gnode n = { .types = T_ALL, .items = NODE_ANY,
			   .max_len = DEFAULT_MAX_STR, .max_items = DEFAULT_MAX_ITEMS };

	return n;
}

/* An integer keyword clamped to 0..65535, or dflt when absent. */
static uint16_t bound_of(const cJSON *s, const char *key, uint16_t dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);

	if (!cJSON_IsNumber(v))
		return dflt;
	return v->valuedouble <= 0 ? 0 : v->valuedouble >= 65535 ? 65535 : (uint16_t)v->valuedouble;
}

/* Compile the properties into tmp (sorted, duplicates dropped); returns the
 * count kept or a negative code. */
static int compile_props(engine_json_guard *g, const cJSON *props, int depth,
			 struct gprop *tmp, char *err, size_t errlen)
{
	const cJSON *p;
	int n = 0, k = 0, rc;

	cJSON_ArrayForEach(p, props) {
		rc = arena_add(g, p->string, strlen(p->string), &tmp[n].name, err, errlen);
		if (!rc)
			rc = compile(g, p, depth + 1, &tmp[n].node, err, errlen);
		if (rc)
			return rc;
		tmp[n++].len = (uint16_t)strlen(p->string);
	}
	qsort_r(tmp, (size_t)n, sizeof(*tmp), cmp_prop, g->arena);
	for (int i = 0; i < n; i++)
		if (!k || cmp_prop(&tmp[k - 1], &tmp[i], g->arena))
			tmp[k++] = tmp[i];
	return k;
}

static int find_prop(const engine_json_guard *g, const struct gprop *p, int n,
		     const char *name)
{
	for (int i = 0; i < n; i++)
		if (!cmp_bytes(g->arena + p[i].name, p[i].len, name, strlen(name)))
			return i;
	return -1;
}

/* An object with properties: only those keys, the required ones needed.
 * Too many properties or names needing escapes: left unchecked. */
static int compile_object(engine_json_guard *g, const cJSON *s, int depth,
			  struct gnode *node, char *err, size_t errlen)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required"), *r, *p;
	struct gprop *tmp;
	int n, rc = 0;

	if (!cJSON_IsObject(props) || cJSON_GetArraySize(props) > MAX_PROPS)
		return 0;
	cJSON_ArrayForEach(p, props)
		if (!plain_name(p->string))
			return 0;
	tmp = calloc((size_t)cJSON_GetArraySize(props) + 1, sizeof(*tmp));
	if (!tmp)
		return engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
	n = compile_props(g, props, depth, tmp, err, errlen);
	if (n < 0) {
		rc = n;
		goto out_free;
	}
	/* required names that are not properties cannot be written: ignored */
	if (!cJSON_IsArray(req))
		req = NULL;
	cJSON_ArrayForEach(r, req) {
		int i = cJSON_IsString(r) ? find_prop(g, tmp, n, r->valuestring) : -1;

		if (i >= 0)
			node->required |= 1ull << i;
	}
	if (!grow((void **)&g->props, &g->cap_props, g->n_props + (size_t)n, sizeof(*tmp))) {
		rc = engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
		goto out_free;
	}
	if (n)
		memcpy(g->props + g->n_props, tmp, (size_t)n * sizeof(*tmp));
	node->has_props = true;
	node->first = (uint32_t)g->n_props;
	node->n = (uint32_t)n;
	g->n_props += (size_t)n;
out_free:
	free(tmp);
	return rc;
}

static int compile(engine_json_guard *g, const cJSON *s, int depth,
		   uint16_t *out, char *err, size_t errlen)
{
	struct gnode node = node_any();
	const cJSON *x;
	int rc = 0;

	if (!cJSON_IsObject(s) || depth > SCHEMA_MAX_DEPTH) {
		*out = NODE_ANY;
		return 0;
	}
	node.types = types_of(s);
	node.max_len = bound_of(s, "maxLength", DEFAULT_MAX_STR);
	node.max_items = bound_of(s, "maxItems", bound_of(s, "maxProperties", DEFAULT_MAX_ITEMS));
	node.verbatim = (node.types & T_STRING) &&
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, VERBATIM_KEY));
	if ((x = cJSON_GetObjectItemCaseSensitive(s, "const")))
		rc = compile_literals(g, x, true, &node, err, errlen);
	else if (cJSON_IsArray(x = cJSON_GetObjectItemCaseSensitive(s, "enum")))
		rc = compile_literals(g, x, false, &node, err, errlen);
	if (!rc && (node.types & T_OBJECT))
		rc = compile_object(g, s, depth, &node, err, errlen);
	if (!rc && (node.types & T_ARRAY))
		rc = compile(g, cJSON_GetObjectItemCaseSensitive(s, "items"), depth + 1,
			     &node.items, err, errlen);
	if (rc)
		return rc;
	if (node.types == T_ALL && !node.n_lits && !node.has_props &&
	    node.items == NODE_ANY && node.max_len == DEFAULT_MAX_STR &&
	    node.max_items == DEFAULT_MAX_ITEMS && !node.verbatim) {
		*out = NODE_ANY; /* {} and unchecked keywords: any value */
		return 0;
	}
	return add_node(g, &node, out, err, errlen);
}

/* ---------------------------------------------------------------------------
 * Construction
 */
static int guard_alloc(engine_json_guard **out, char *err, size_t errlen)
{
	static const char *const words[] = { "false", "true", "null" };
	struct gnode any = node_any(), b = node_any(), z = node_any();
	engine_json_guard *g = calloc(1, sizeof(*g));
	uint16_t id;
	int rc = 0;

	*out = NULL;
	if (!g)
		return engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
	b.types = T_BOOL;
	b.n_lits = 2;
	z.types = T_NULL;
	z.lit_first = 2;
	z.n_lits = 1;
	/* the built-in literals, sorted within each node: false < true */
	if (!grow((void **)&g->lits, &g->cap_lits, 3, sizeof(*g->lits)))
		rc = engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
	for (int i = 0; !rc && i < 3; i++) {
		rc = arena_add(g, words[i], strlen(words[i]), &g->lits[i].text, err, errlen);
		g->lits[i].len = (uint16_t)strlen(words[i]);
		g->lits[i].node = NODE_ANY;
		g->n_lits++;
	}
	if (!rc)
		rc = add_node(g, &any, &id, err, errlen);
	if (!rc)
		rc = add_node(g, &b, &id, err, errlen);
	if (!rc)
		rc = add_node(g, &z, &id, err, errlen);
	if (rc) {
		engine_json_guard_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

static int parse_json(const char *text, const char *what, cJSON **out,
		      char *err, size_t errlen)
{
	const char *end = NULL;

	if (!text)
		return engine_errf(err, errlen, HEARTH_EINVAL, "json guard: %s is NULL", what);
	*out = cJSON_ParseWithOpts(text, &end, true);
	if (*out)
		return 0;
	return engine_errf(err, errlen, HEARTH_EINVAL,
			   "json guard: %s: malformed JSON at offset %ld", what,
			   end ? (long)(end - text) : 0L);
}

int engine_json_guard_new_schema(const char *schema_json,
				 engine_json_guard **out, char *err,
				 size_t errlen)
{
	engine_json_guard *g = NULL;
	cJSON *root = NULL;
	int rc;

	if (!out)
		return engine_errf(err, errlen, HEARTH_EINVAL, "json guard: out is NULL");
	*out = NULL;
	rc = parse_json(schema_json, "schema", &root, err, errlen);
	if (!rc)
		rc = guard_alloc(&g, err, errlen);
	if (!rc)
		rc = compile(g, root, 0, &g->root, err, errlen);
	cJSON_Delete(root);
	if (rc) {
		engine_json_guard_free(g);
		return rc;
	}
	engine_json_guard_reset(g);
	*out = g;
	return 0;
}

/* The arguments of a tool: its parameters schema, as an object. */
static int compile_params(engine_json_guard *g, const cJSON *fn, uint16_t *out,
			  char *err, size_t errlen)
{
	struct gnode n;
	uint16_t id;
	int rc;

	rc = compile(g, cJSON_GetObjectItemCaseSensitive(fn, "parameters"), 1, &id,
		     err, errlen);
	if (rc)
		return rc;
	n = g->nodes[id];
	n.types = T_OBJECT;
	n.n_lits = 0;
	return add_node(g, &n, out, err, errlen);
}

/* The call object: "name" one of the tool names (each literal carries its
 * tool's parameters node), then "arguments". */
static int compile_tools(engine_json_guard *g, const cJSON *tools, char *err,
			 size_t errlen)
{
	int n = cJSON_IsArray(tools) ? cJSON_GetArraySize(tools) : 1, i = 0, rc = 0;
	const cJSON *item = cJSON_IsArray(tools) ? tools->child : tools;
	struct gnode names = node_any(), call = node_any();
	struct gprop cp[2];
	struct glit *tmp;
	uint16_t names_id;

	if (n == 0)
		return engine_errf(err, errlen, HEARTH_EINVAL, "json guard: tools_json has no tools");
	names.types = T_STRING;
	call.types = T_OBJECT;
	tmp = calloc((size_t)n, sizeof(*tmp));
	if (!tmp)
		return engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
	for (; !rc && i < n; i++, item = item->next) {
		const cJSON *fn = cJSON_GetObjectItemCaseSensitive(item, "function");
		const cJSON *name;
		uint16_t params;

		if (!cJSON_IsObject(fn))
			fn = item;
		name = cJSON_GetObjectItemCaseSensitive(fn, "name");
		if (!cJSON_IsString(name)) {
			rc = engine_errf(err, errlen, HEARTH_EINVAL,
					 "json guard: tools_json[%d]: not a tool (no function name)", i);
			break;
		}
		rc = compile_params(g, fn, &params, err, errlen);
		if (!rc)
			rc = lit_of(g, name, params, &tmp[i], err, errlen);
	}
	if (!rc)
		rc = lits_append(g, tmp, (size_t)n, &names, err, errlen);
	free(tmp);
	if (!rc)
		rc = add_node(g, &names, &names_id, err, errlen);
	if (!rc)
		rc = arena_add(g, "arguments", 9, &cp[CALL_ARGS].name, err, errlen);
	if (!rc)
		rc = arena_add(g, "name", 4, &cp[CALL_NAME].name, err, errlen);
	if (rc)
		return rc;
	cp[CALL_ARGS].len = 9;
	cp[CALL_ARGS].node = NODE_DYNAMIC;
	cp[CALL_NAME].len = 4;
	cp[CALL_NAME].node = names_id;
	if (!grow((void **)&g->props, &g->cap_props, g->n_props + 2, sizeof(*cp)))
		return engine_errf(err, errlen, HEARTH_ENOMEM, "json guard: out of memory");
	memcpy(g->props + g->n_props, cp, sizeof(cp));
	call.has_props = call.is_call = true;
	call.first = (uint32_t)g->n_props;
	call.n = 2;
	call.required = 3;
	g->n_props += 2;
	return add_node(g, &call, &g->root, err, errlen);
}

int engine_json_guard_new_tools(const char *tools_json, engine_json_guard **out,
				char *err, size_t errlen)
{
	engine_json_guard *g = NULL;
	cJSON *root = NULL;
	int rc;

	if (!out)
		return engine_errf(err, errlen, HEARTH_EINVAL, "json guard: out is NULL");
	*out = NULL;
	rc = parse_json(tools_json, "tools_json", &root, err, errlen);
	if (!rc && !cJSON_IsArray(root) && !cJSON_IsObject(root))
		rc = engine_errf(err, errlen, HEARTH_EINVAL,
				 "json guard: tools_json: expected an array of tool objects");
	if (!rc)
		rc = guard_alloc(&g, err, errlen);
	if (!rc)
		rc = compile_tools(g, root, err, errlen);
	cJSON_Delete(root);
	if (rc) {
		engine_json_guard_free(g);
		return rc;
	}
	engine_json_guard_reset(g);
	*out = g;
	return 0;
}

void engine_json_guard_free(engine_json_guard *g)
{
	if (!g)
		return;
	free(g->nodes);
	free(g->props);
	free(g->lits);
	free(g->arena);
	free(g->src);
	free(g->nextend);
	free(g->words);
	free(g);
}

void engine_json_guard_reset(engine_json_guard *g)
{
	if (!g)
		return;
	memset(&g->st, 0, offsetof(struct gstate, f) + sizeof(g->st.f[0]));
	g->st.f[0].kind = F_ROOT;
	g->st.f[0].sub = S_VALUE;
	g->st.f[0].node = g->root;
	g->st.f[0].prop = NO_PROP;
}

size_t json_guard_state_size(void)
{
	return sizeof(struct gstate);
}

/* Only frames [0, depth] carry state (see struct gstate). */
void json_guard_save(const engine_json_guard *g, void *buf)
{
	memcpy(buf, &g->st, offsetof(struct gstate, f) + (g->st.depth + 1u) * sizeof(g->st.f[0]));
}

void json_guard_restore(engine_json_guard *g, const void *buf)
{
	const struct gstate *st = buf;

	memcpy(&g->st, st, offsetof(struct gstate, f) + (st->depth + 1u) * sizeof(st->f[0]));
}

/* ---------------------------------------------------------------------------
 * Verbatim source
 */
static bool is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes of UTF-8 sequences count as letters; an apostrophe between two
 * letters does too ("don't" is one word). */
static bool is_word(const char *s, size_t n, size_t i)
{
	unsigned char c = (unsigned char)s[i];

	if (is_alnum(c) || c >= 0x80)
		return true;
	return c == '\'' && i > 0 && i + 1 < n && is_alnum((unsigned char)s[i - 1]) &&
	       is_alnum((unsigned char)s[i + 1]);
}

/* A copy may end before byte e: a word ends there. */
static bool word_end(const char *s, size_t n, size_t e)
{
	return e > 0 && is_word(s, n, e - 1) && (e == n || !is_word(s, n, e));
}

/* Bytes a JSON string holds as they are: no quote, backslash, control. */
static bool plain_byte(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\';
}

static unsigned char fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* The byte at pos of a copy starting at s, as candidates are compared: a
 * copy's first letter may change case (a sentence's capital: "Kitchen
 * lights off" → "kitchen"), none after it ("electric Blanket" is not what
 * was said). */
static unsigned char copy_byte(const char *s, uint16_t pos)
{
	return pos ? (unsigned char)s[pos] : fold((unsigned char)s[0]);
}

/* Order of the copies: by copy_byte(), so that the candidates sharing a
 * prefix stay contiguous. */
static int cmp_word(const void *x, const void *y, void *src)
{
	const struct gword *a = x, *b = y;
	const char *s = src;
	int c = (int)copy_byte(s + a->at, 0) - (int)copy_byte(s + b->at, 0);

	return c ? c : cmp_bytes(s + a->at + 1, a->len - 1u, s + b->at + 1, b->len - 1u);
}

int engine_json_guard_set_source(engine_json_guard *g, const char *text, size_t len)
{
	uint16_t n, k = 0;

	if (!g || (len && !text))
		return HEARTH_EINVAL;
	free(g->src);
	free(g->nextend);
	free(g->words);
	g->src = NULL;
	g->nextend = NULL;
	g->words = NULL;
	g->n_src = g->n_words = 0;
	if (!len)
		return 0;
	n = (uint16_t)(len < SRC_MAX ? len : SRC_MAX);
	g->src = malloc(n);
	g->nextend = malloc(((size_t)n + 1) * sizeof(*g->nextend));
	g->words = malloc(n * sizeof(*g->words));
	if (!g->src || !g->nextend || !g->words) {
		engine_json_guard_set_source(g, NULL, 0);
		return HEARTH_ENOMEM;
	}
	g->nextend[n] = word_end(text, n, n) ? n : SRC_MAX + 1;
	for (uint16_t i = n; i-- > 0;) {
		g->src[i] = text[i];
		g->nextend[i] = word_end(text, n, i) ? i : g->nextend[i + 1];
	}
	for (uint16_t i = 0; i < n; i++) {
		uint16_t e = i;

		if (!is_word(text, n, i) || (i > 0 && is_word(text, n, i - 1)))
			continue;
		while (e < n && plain_byte((unsigned char)text[e]))
			e++;
		if (e > i)
			g->words[k++] = (struct gword){ .at = i, .len = (uint16_t)(e - i) };
	}
	qsort_r(g->words, k, sizeof(*g->words), cmp_word, g->src);
	g->n_src = n;
	g->n_words = k;
	return 0;
}

/* Whether word w, vpos bytes matched, can still end at a word end within
 * the characters left (counted as bytes, which is never fewer). */
static bool word_alive(const engine_json_guard *g, const struct gstate *st,
		       const struct gword *w)
{
	uint32_t p = (uint32_t)w->at + st->vpos, e = g->nextend[p];

	return e <= (uint32_t)w->at + w->len && e - p <= (uint32_t)(st->smax - st->slen);
}

static bool range_alive(const engine_json_guard *g, const struct gstate *st,
			uint16_t lo, uint16_t hi)
{
	for (uint16_t i = lo; i < hi; i++)
		if (word_alive(g, st, &g->words[i]))
			return true;
	return false;
}

/* The next byte of a verbatim string: narrow the candidate words to those
 * whose text goes on with c and can still end in time. */
static bool verb_step(const engine_json_guard *g, struct gstate *st, unsigned char c)
{
	uint16_t lo = st->vlo, hi, pos = st->vpos;

	if (!pos)
		c = fold(c);
	while (lo < st->vhi && (g->words[lo].len <= pos ||
				copy_byte(g->src + g->words[lo].at, pos) != c))
		lo++;
	for (hi = lo; hi < st->vhi; hi++)
		if (g->words[hi].len <= pos || copy_byte(g->src + g->words[hi].at, pos) != c)
			break;
	st->vlo = lo;
	st->vhi = hi;
	st->vpos++;
	/* slen already counts a character this byte starts */
	return lo < hi && range_alive(g, st, lo, hi);
}

/* The closing quote of a verbatim string: some candidate ends a word here. */
static bool verb_end(const engine_json_guard *g, const struct gstate *st)
{
	for (uint16_t i = st->vlo; st->vpos && i < st->vhi; i++)
		if (g->nextend[g->words[i].at + st->vpos] == g->words[i].at + st->vpos)
			return true;
	return false;
}

/* ---------------------------------------------------------------------------
 * The automaton: one byte at a time.
 */
enum step { STEP_REJECT, STEP_OK, STEP_PASS /* scalar ended; byte is the parent's */ };

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A value (scalar or container) has ended inside the innermost frame. */
static void value_done(struct gstate *st)
{
	struct gframe *fr = &st->f[st->depth];

	st->leaf = L_NONE;
	fr->sub = S_AFTER;
	if (fr->kind == F_ROOT)
		st->done = true;
}

/* Whether property i (absolute index) may be the next key of frame fr. */
static bool key_allowed(const engine_json_guard *g, const struct gframe *fr,
			uint32_t i)
{
	const struct gnode *n = &g->nodes[fr->node];
	uint32_t k = i - n->first;

	if (fr->seen & (1ull << k))
		return false;
	if (n->is_call) /* "name" first, then "arguments" */
		return k == (fr->seen ? CALL_ARGS : CALL_NAME);
	return true;
}

static bool range_has_key(const engine_json_guard *g, const struct gframe *fr,
			  uint32_t lo, uint32_t hi)
{
	for (uint32_t i = lo; i < hi; i++)
		if (key_allowed(g, fr, i))
			return true;
	return false;
}

/* Narrow [lo, hi) of sorted strings to those whose byte pos is c. */
static void narrow(const engine_json_guard *g, bool keys, uint16_t *lo,
		   uint16_t *hi, uint16_t pos, unsigned char c)
{
	uint32_t a = *lo, b;

	while (a < *hi) {
		uint32_t off = keys ? g->props[a].name : g->lits[a].text;
		uint16_t len = keys ? g->props[a].len : g->lits[a].len;

		if (len > pos && (unsigned char)g->arena[off + pos] == c)
			break;
		a++;
	}
	for (b = a; b < *hi; b++) {
		uint32_t off = keys ? g->props[b].name : g->lits[b].text;
		uint16_t len = keys ? g->props[b].len : g->lits[b].len;

		if (len <= pos || (unsigned char)g->arena[off + pos] != c)
			break;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
}

static enum step key_step(const engine_json_guard *g, struct gstate *st,
			  unsigned char c)
{
	struct gframe *fr = &st->f[st->depth];
	uint16_t lo = st->lo, hi = st->hi;

	if (c == '"') {
		/* sorted: a key equal to the prefix comes first in the range */
		if (g->props[lo].len != st->pos || !key_allowed(g, fr, lo))
			return STEP_REJECT;
		fr->prop = (uint16_t)(lo - g->nodes[fr->node].first);
		fr->seen |= 1ull << fr->prop;
		fr->sub = S_COLON;
		st->leaf = L_NONE;
		return STEP_OK;
	}
	narrow(g, true, &lo, &hi, st->pos, c);
	if (!range_has_key(g, fr, lo, hi))
		return STEP_REJECT;
	st->lo = lo;
	st->hi = hi;
	st->pos++;
	return STEP_OK;
}

static enum step lit_end(const engine_json_guard *g, struct gstate *st)
{
	struct gframe *fr = &st->f[st->depth];

	if (fr->kind == F_OBJECT && g->nodes[fr->node].is_call && fr->prop == CALL_NAME)
		fr->args = g->lits[st->lo].node;
	value_done(st);
	return STEP_OK;
}

static enum step lit_step(const engine_json_guard *g, struct gstate *st,
			  unsigned char c)
{
	uint16_t lo = st->lo, hi = st->hi;

	narrow(g, false, &lo, &hi, st->pos, c);
	if (lo == hi) {
		/* "1" of enum [1, 10] is whole once something else follows */
		if (g->lits[st->lo].len == st->pos)
			return lit_end(g, st) == STEP_OK ? STEP_PASS : STEP_REJECT;
		return STEP_REJECT;
	}
	st->lo = lo;
	st->hi = hi;
	st->pos++;
	if (g->lits[lo].len == st->pos && hi - lo == 1)
		return lit_end(g, st);
	return STEP_OK;
}

static bool num_accepting(uint8_t s)
{
	return s == NS_ZERO || s == NS_INT || s == NS_FRAC || s == NS_EXP;
}

/* Next number state after c, or -1. */
static int num_next(uint8_t s, unsigned char c, bool intonly)
{
	bool digit = c >= '0' && c <= '9', e = (c == 'e' || c == 'E') && !intonly;
	bool dot = c == '.' && !intonly;

	switch (s) {
	case NS_MINUS: return c == '0' ? NS_ZERO : digit ? NS_INT : -1;
	case NS_ZERO: return dot ? NS_DOT : e ? NS_E : -1;
	case NS_INT: return digit ? NS_INT : dot ? NS_DOT : e ? NS_E : -1;
	case NS_DOT: return digit ? NS_FRAC : -1;
	case NS_FRAC: return digit ? NS_FRAC : e ? NS_E : -1;
	case NS_E: return (c == '+' || c == '-') ? NS_ESIGN : digit ? NS_EXP : -1;
	case NS_ESIGN:
	case NS_EXP: return digit ? NS_EXP : -1;
	}
	return -1;
}

static enum step number_step(struct gstate *st, unsigned char c)
{
	int next = num_next(st->lsub, c, st->intonly);

	/* a state that still needs a digit must leave room for one */
	if (next >= 0 && st->pos + (num_accepting((uint8_t)next) ? 1 : 2) <= NUM_MAX_LEN) {
		st->lsub = (uint8_t)next;
		st->pos++;
		return STEP_OK;
	}
	if (!num_accepting(st->lsub))
		return STEP_REJECT;
	value_done(st);
	return STEP_PASS;
}

/* A raw byte ≥ 0x80 of a string: UTF-8 lead bytes and the range of the
 * byte after them (no overlongs, surrogates or code points > U+10FFFF). */
static bool utf8_lead(struct gstate *st, unsigned char c)
{
	st->u8lo = 0x80;
	st->u8hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		st->u8need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		st->u8need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		st->u8need = 3;
	else
		return false;
	if (c == 0xe0)
		st->u8lo = 0xa0;
	else if (c == 0xed)
		st->u8hi = 0x9f;
	else if (c == 0xf0)
		st->u8lo = 0x90;
	else if (c == 0xf4)
		st->u8hi = 0x8f;
	return true;
}

/* One hex digit of \uXXXX; surrogates only as a high + low pair. */
static enum step hex_step(struct gstate *st, unsigned char c)
{
	int v = hex_val(c);

	if (v < 0)
		return STEP_REJECT;
	if (st->pos == 0) {
		if (v == 0xd)
			st->ufl |= UF_D;
		else if (st->ufl & UF_LOW)
			return STEP_REJECT;
	} else if (st->pos == 1 && (st->ufl & UF_D)) {
		bool high = v >= 0x8 && v <= 0xb, low = v >= 0xc;

		if ((st->ufl & UF_LOW) ? !low : low)
			return STEP_REJECT;
		if (high)
			st->ufl |= UF_HIGH;
	} else if (st->pos == 1 && (st->ufl & UF_LOW)) {
		return STEP_REJECT;
	}
	if (++st->pos < 4)
		return STEP_OK;
	st->lsub = (st->ufl & UF_HIGH) ? SS_LOW_BS : SS_CHAR;
	st->ufl = (st->ufl & UF_HIGH) ? UF_LOW : 0;
	return STEP_OK;
}

static enum step string_step(const engine_json_guard *g, struct gstate *st,
			     unsigned char c)
{
	if (st->u8need) {
		if (c < st->u8lo || c > st->u8hi || (st->verb && !verb_step(g, st, c)))
			return STEP_REJECT;
		st->u8need--;
		st->u8lo = 0x80;
		st->u8hi = 0xbf;
		return STEP_OK;
	}
	switch (st->lsub) {
	case SS_CHAR:
		if (c == '"') {
			if (st->verb && !verb_end(g, st))
				return STEP_REJECT;
			if (st->key)
				st->f[st->depth].sub = S_COLON;
			else
				value_done(st);
			st->leaf = L_NONE;
			return STEP_OK;
		}
		/* a new character (plain, escape or UTF-8 lead byte) */
		if (st->slen >= st->smax)
			return STEP_REJECT;
		st->slen++;
		if (st->verb && (c == '\\' || !verb_step(g, st, c)))
			return STEP_REJECT;
		if (c == '\\')
			st->lsub = SS_ESC;
		else if (c < 0x20 || (c >= 0x80 && !utf8_lead(st, c)))
			return STEP_REJECT;
		return STEP_OK;
	case SS_ESC:
		if (c == 'u') {
			st->lsub = SS_HEX;
			st->pos = 0;
			return STEP_OK;
		}
		if (!c || !strchr("\"\\/bfnrt", c))
			return STEP_REJECT;
		st->lsub = SS_CHAR;
		return STEP_OK;
	case SS_HEX:
		return hex_step(st, c);
	case SS_LOW_BS:
		st->lsub = SS_LOW_U;
		return c == '\\' ? STEP_OK : STEP_REJECT;
	case SS_LOW_U:
		st->lsub = SS_HEX;
		st->pos = 0;
		return c == 'u' ? STEP_OK : STEP_REJECT;
	}
	return STEP_REJECT;
}

static bool push(struct gstate *st, uint8_t kind, uint16_t node)
{
	struct gframe *fr;

	if (st->depth + 1 >= GUARD_MAX_DEPTH)
		return false;
	fr = &st->f[++st->depth];
	memset(fr, 0, sizeof(*fr));
	fr->kind = kind;
	fr->sub = S_FIRST;
	fr->node = node;
	fr->args = NODE_ANY;
	fr->prop = NO_PROP;
	return true;
}

static void leaf_start(struct gstate *st, uint8_t leaf, uint16_t lo, uint16_t hi)
{
	st->leaf = leaf;
	st->lsub = 0;
	st->pos = 0;
	st->lo = lo;
	st->hi = hi;
	st->ufl = st->u8need = 0;
	st->key = st->intonly = st->verb = false;
	st->slen = 0;
	st->vpos = 0;
	st->smax = DEFAULT_MAX_STR;
}

static enum step lit_start(const engine_json_guard *g, struct gstate *st,
			   uint16_t node, unsigned char c)
{
	const struct gnode *n = &g->nodes[node];

	leaf_start(st, L_LIT, (uint16_t)n->lit_first, (uint16_t)(n->lit_first + n->n_lits));
	return lit_step(g, st, c) == STEP_OK ? STEP_OK : STEP_REJECT;
}

/* The first byte of a value of schema node id. */
static enum step value_start(const engine_json_guard *g, struct gstate *st,
			     uint16_t id, unsigned char c)
{
	const struct gnode *n = &g->nodes[id];

	if (n->n_lits)
		return lit_start(g, st, id, c);
	if (c == '{' && (n->types & T_OBJECT))
		return push(st, F_OBJECT, id) ? STEP_OK : STEP_REJECT;
	if (c == '[' && (n->types & T_ARRAY))
		return push(st, F_ARRAY, id) ? STEP_OK : STEP_REJECT;
	if (c == '"' && (n->types & T_STRING)) {
		leaf_start(st, L_STRING, 0, 0);
		st->smax = n->max_len;
		/* no source, or no word of it fits: any string */
		if (n->verbatim && g->n_words && range_alive(g, st, 0, g->n_words)) {
			st->verb = true;
			st->vlo = 0;
			st->vhi = g->n_words;
		}
		return STEP_OK;
	}
	if ((c == '-' || (c >= '0' && c <= '9')) && (n->types & (T_INTEGER | T_NUMBER))) {
		leaf_start(st, L_NUMBER, 0, 0);
		st->intonly = !(n->types & T_NUMBER);
		st->lsub = c == '-' ? NS_MINUS : c == '0' ? NS_ZERO : NS_INT;
		st->pos = 1;
		return STEP_OK;
	}
	if ((c == 't' || c == 'f') && (n->types & T_BOOL))
		return lit_start(g, st, NODE_BOOL, c);
	if (c == 'n' && (n->types & T_NULL))
		return lit_start(g, st, NODE_NULL, c);
	return STEP_REJECT;
}

/* The schema node of the value that starts now in frame fr. */
static uint16_t value_node(const engine_json_guard *g, const struct gframe *fr)
{
	const struct gnode *n = &g->nodes[fr->node];
	uint16_t pn;

	if (fr->kind == F_ROOT)
		return fr->node;
	if (fr->kind == F_ARRAY)
		return n->items;
	if (!n->has_props)
		return NODE_ANY;
	pn = g->props[n->first + fr->prop].node;
	return pn == NODE_DYNAMIC ? fr->args : pn;
}

/* '"' opening a key in frame fr. */
static enum step key_start(const engine_json_guard *g, struct gstate *st)
{
	struct gframe *fr = &st->f[st->depth];
	const struct gnode *n = &g->nodes[fr->node];

	if (!n->has_props) {
		if (fr->seen >= n->max_items)
			return STEP_REJECT;
		fr->seen++;
		leaf_start(st, L_STRING, 0, 0);
		st->smax = DEFAULT_MAX_STR;
		st->key = true;
		return STEP_OK;
	}
	if (!range_has_key(g, fr, n->first, n->first + n->n))
		return STEP_REJECT;
	leaf_start(st, L_KEY, (uint16_t)n->first, (uint16_t)(n->first + n->n));
	return STEP_OK;
}

static enum step close_container(const engine_json_guard *g, struct gstate *st,
				 unsigned char c)
{
	struct gframe *fr = &st->f[st->depth];
	const struct gnode *n = &g->nodes[fr->node];

	if (fr->kind == F_ARRAY ? c != ']' : c != '}')
		return STEP_REJECT;
	if (fr->kind == F_OBJECT && n->has_props && (n->required & ~fr->seen))
		return STEP_REJECT;
	st->depth--;
	value_done(st);
	return STEP_OK;
}

static enum step container_step(const engine_json_guard *g, struct gstate *st,
				unsigned char c)
{
	struct gframe *fr = &st->f[st->depth];
	const struct gnode *n = &g->nodes[fr->node];

	if (is_ws(c)) {
		if (st->ws >= MAX_WS)
			return STEP_REJECT;
		st->ws++;
		return STEP_OK;
	}
	switch (fr->sub) {
	case S_VALUE:
		return value_start(g, st, value_node(g, fr), c);
	case S_FIRST:
		if (fr->kind == F_OBJECT)
			return c == '"' ? key_start(g, st) : close_container(g, st, c);
		if (c == ']')
			return close_container(g, st, c);
		if (n->max_items == 0)
			return STEP_REJECT;
		fr->seen = 1;
		return value_start(g, st, n->items, c);
	case S_KEY:
		return c == '"' ? key_start(g, st) : STEP_REJECT;
	case S_COLON:
		if (c != ':')
			return STEP_REJECT;
		fr->sub = S_VALUE;
		return STEP_OK;
	case S_AFTER:
		if (fr->kind == F_ROOT)
			return STEP_REJECT;
		if (c != ',')
			return close_container(g, st, c);
		if (fr->kind == F_OBJECT && n->has_props ?
		    !range_has_key(g, fr, n->first, n->first + n->n) :
		    fr->seen >= n->max_items)
			return STEP_REJECT;
		if (fr->kind == F_ARRAY)
			fr->seen++;
		fr->sub = fr->kind == F_OBJECT ? S_KEY : S_VALUE;
		return STEP_OK;
	}
	return STEP_REJECT;
}

static bool step(const engine_json_guard *g, struct gstate *st, unsigned char c)
{
	enum step r = STEP_PASS;

	if (!is_ws(c))
		st->ws = 0;
	switch (st->leaf) {
	case L_STRING:
		st->ws = 0;
		return string_step(g, st, c) == STEP_OK;
	case L_KEY:
		return key_step(g, st, c) == STEP_OK;
	case L_LIT:
		r = lit_step(g, st, c);
		break;
	case L_NUMBER:
		r = number_step(st, c);
		break;
	}
	if (r != STEP_PASS)
		return r == STEP_OK;
	return container_step(g, st, c) == STEP_OK;
}

/* ---------------------------------------------------------------------------
 * Public stepping
 */
static size_t state_bytes(const struct gstate *st)
{
	return offsetof(struct gstate, f) + ((size_t)st->depth + 1) * sizeof(st->f[0]);
}

bool engine_json_guard_allows(const engine_json_guard *g, const char *text,
			      size_t len)
{
	struct gstate tmp;

	if (!g || (len && !text))
		return false;
	memcpy(&tmp, &g->st, state_bytes(&g->st));
	for (size_t i = 0; i < len; i++)
		if (!step(g, &tmp, (unsigned char)text[i]))
			return false;
	return true;
}

int engine_json_guard_feed(engine_json_guard *g, const char *text, size_t len)
{
	struct gstate tmp;

	if (!g || (len && !text))
		return HEARTH_EINVAL;
	memcpy(&tmp, &g->st, state_bytes(&g->st));
	for (size_t i = 0; i < len; i++)
		if (!step(g, &tmp, (unsigned char)text[i]))
			return HEARTH_EINVAL;
	memcpy(&g->st, &tmp, state_bytes(&tmp));
	return 0;
}

bool engine_json_guard_complete(const engine_json_guard *g)
{
	return g && g->st.done;
}
