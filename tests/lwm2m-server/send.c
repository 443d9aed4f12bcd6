/* POST /dp (LwM2M Send): SenML JSON or CBOR with times, decoded here
 * rather than by gatewayd's codecs, which refuse a path twice (a Send of
 * stored values carries one resource's values over time) and drop times. */
#include <cbor.h>
#include <jansson.h>
#include <string.h>

#include "output.h"
#include "send.h"

/* One resolved record: name bn+n, time bt+t, value. */
struct rec_state {
	char bn[64];
	double bt;
};

static void put_record(json_t *arr, struct rec_state *st, const char *n, size_t nlen, double t,
		       json_t *value)
{
	json_t *o = json_object();
	char name[160];

	snprintf(name, sizeof(name), "%s%.*s", st->bn, (int)nlen, n ? n : "");
	json_object_set_new(o, "path", json_string(name));
	json_object_set_new(o, "value", value ? value : json_null());
	/* SenML: a resolved time below 2^28 is relative to now; ours are absolute. */
	json_object_set_new(o, "time", json_real(st->bt + t));
	json_array_append_new(arr, o);
}

static json_t *decode_json(const uint8_t *p, size_t len, const char **err)
{
	json_error_t je;
	json_t *doc = json_loadb((const char *)p, len, 0, &je), *arr, *rec;
	struct rec_state st = {{0}, 0};
	size_t i;

	if (!json_is_array(doc)) {
		json_decref(doc);
		*err = "not a SenML JSON array";
		return NULL;
	}
	arr = json_array();
	json_array_foreach(doc, i, rec) {
		json_t *v;
		const char *n = NULL;
		double t = 0;
		if ((v = json_object_get(rec, "bn")) && json_is_string(v))
			snprintf(st.bn, sizeof(st.bn), "%s", json_string_value(v));
		if ((v = json_object_get(rec, "bt")) && json_is_number(v))
			st.bt = json_number_value(v);
		if ((v = json_object_get(rec, "n")) && json_is_string(v))
			n = json_string_value(v);
		if ((v = json_object_get(rec, "t")) && json_is_number(v))
			t = json_number_value(v);
		v = json_object_get(rec, "v");
		if (!v)
			v = json_object_get(rec, "vb");
		if (!v)
			v = json_object_get(rec, "vs");
		if (!v)
			v = json_object_get(rec, "vd");
		if (!v)
			v = json_object_get(rec, "vlo");
		put_record(arr, &st, n, n ? strlen(n) : 0, t, json_incref(v));
	}
	json_decref(doc);
	return arr;
}

static double cbor_num(cbor_item_t *it)
{
	if (cbor_is_int(it)) {
		double u = (double)cbor_get_int(it);
		return cbor_isa_negint(it) ? -1.0 - u : u;
	}
	if (cbor_is_float(it))
		return cbor_float_get_float(it);
	return 0;
}

static json_t *decode_cbor(const uint8_t *p, size_t len, const char **err)
{
	struct cbor_load_result res;
	cbor_item_t *doc = cbor_load(p, len, &res);
	struct rec_state st = {{0}, 0};
	json_t *arr;

	if (!doc || !cbor_isa_array(doc)) {
		if (doc)
			cbor_decref(&doc);
		*err = "not a SenML CBOR array";
		return NULL;
	}
	arr = json_array();
	for (size_t i = 0; i < cbor_array_size(doc); i++) {
		cbor_item_t *m = cbor_array_get(doc, i);
		struct cbor_pair *pairs = cbor_isa_map(m) ? cbor_map_handle(m) : NULL;
		const char *n = NULL;
		size_t nlen = 0;
		double t = 0;
		json_t *value = NULL;
		for (size_t k = 0; pairs && k < cbor_map_size(m); k++) {
			cbor_item_t *key = pairs[k].key, *v = pairs[k].value;
			long label = 1000;
			if (cbor_is_int(key))
				label = cbor_isa_negint(key) ? -1 - (long)cbor_get_int(key)
							     : (long)cbor_get_int(key);
			else if (cbor_isa_string(key) && cbor_string_length(key) == 3 &&
				 !memcmp(cbor_string_handle(key), "vlo", 3))
				label = 100;
			switch (label) {
			case -2: /* bn */
				if (cbor_isa_string(v))
					snprintf(st.bn, sizeof(st.bn), "%.*s",
						 (int)cbor_string_length(v),
						 (const char *)cbor_string_handle(v));
				break;
			case -3: /* bt */
				st.bt = cbor_num(v);
				break;
			case 0: /* n */
				if (cbor_isa_string(v)) {
					n = (const char *)cbor_string_handle(v);
					nlen = cbor_string_length(v);
				}
				break;
			case 6: /* t */
				t = cbor_num(v);
				break;
			case 2: /* v */
				value = cbor_is_int(v) ? json_integer((json_int_t)cbor_num(v))
						       : json_real(cbor_num(v));
				break;
			case 4: /* vb */
				value = json_boolean(cbor_get_bool(v));
				break;
			case 3: /* vs */
			case 100: /* vlo */
				if (cbor_isa_string(v))
					value = out_string((const char *)cbor_string_handle(v),
							   cbor_string_length(v));
				break;
			default:
				break;
			}
		}
		put_record(arr, &st, n, nlen, t, value);
		cbor_decref(&m);
	}
	cbor_decref(&doc);
	return arr;
}

void send_add_records(json_t *ev, const char *key, int ct, const uint8_t *p, size_t len)
{
	const char *err = "unsupported content format";
	json_t *arr = NULL;

	if (ct == 110)
		arr = decode_json(p, len, &err);
	else if (ct == 112)
		arr = decode_cbor(p, len, &err);
	if (arr)
		json_object_set_new(ev, key, arr);
	else
		json_object_set_new(ev, "decode_error", json_string(err));
}
