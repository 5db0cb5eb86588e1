/*
 * Copyright (C) yibao-gateway authors
 */


#include <string.h>

#include <simdjson.h>

#include "yibao_json.h"


/*
 * The flags the fast way knows; with any other json_loadb() decides.
 */

#define YIBAO_JSON_FAST_FLAGS                                                 \
    (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL)


static json_t *yibao_json_build(simdjson::dom::element e, size_t flags);
static json_t *yibao_json_build_object(simdjson::dom::object o,
    size_t flags);
static json_t *yibao_json_build_array(simdjson::dom::array a, size_t flags);
static json_t *yibao_json_build_string(std::string_view s, size_t flags);


static simdjson::dom::parser  yibao_json_parser(YIBAO_JSON_FAST_MAX);
static size_t                 yibao_json_fast;


json_t *
yibao_json_load(const void *data, size_t len, size_t flags,
    json_error_t *error)
{
    json_t                  *v;
    simdjson::dom::element   doc;

    if (len == 0 || len > YIBAO_JSON_FAST_MAX
        || (flags & ~(size_t) YIBAO_JSON_FAST_FLAGS) != 0)
    {
        return json_loadb((const char *) data, len, flags, error);
    }

    /* the parser copies the text into its own padded buffer */

    if (yibao_json_parser.parse((const char *) data, len, true).get(doc)
        != simdjson::SUCCESS)
    {
        return json_loadb((const char *) data, len, flags, error);
    }

    if (!(flags & JSON_DECODE_ANY) && !doc.is_object() && !doc.is_array()) {
        return json_loadb((const char *) data, len, flags, error);
    }

    v = yibao_json_build(doc, flags);

    if (v == NULL) {
        return json_loadb((const char *) data, len, flags, error);
    }

    if (error != NULL) {
        /* as json_loadb() leaves it on success */
        memset(error, 0, sizeof(json_error_t));
        error->line = -1;
        error->column = -1;
        strcpy(error->source, "<buffer>");
    }

    yibao_json_fast++;

    return v;
}


size_t
yibao_json_fast_loads(void)
{
    return yibao_json_fast;
}


/*
 * A jansson value of e, or NULL where json_loadb() would build something
 * else (or fail), and for out of memory: the caller then asks jansson.
 */

static json_t *
yibao_json_build(simdjson::dom::element e, size_t flags)
{
    switch (e.type()) {

    case simdjson::dom::element_type::OBJECT:
        return yibao_json_build_object(e.get_object().value_unsafe(), flags);

    case simdjson::dom::element_type::ARRAY:
        return yibao_json_build_array(e.get_array().value_unsafe(), flags);

    case simdjson::dom::element_type::STRING:
        return yibao_json_build_string(e.get_string().value_unsafe(),
                                       flags);

    case simdjson::dom::element_type::INT64:
        return json_integer((json_int_t) e.get_int64().value_unsafe());

    case simdjson::dom::element_type::DOUBLE:
        return json_real(e.get_double().value_unsafe());

    case simdjson::dom::element_type::BOOL:
        return json_boolean(e.get_bool().value_unsafe());

    case simdjson::dom::element_type::NULL_VALUE:
        return json_null();

    default:
        /* UINT64: above json_int_t, jansson says "too big integer" */
        return NULL;
    }
}


static json_t *
yibao_json_build_object(simdjson::dom::object o, size_t flags)
{
    size_t   n;
    json_t  *obj, *v;

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    n = 0;

    for (simdjson::dom::key_value_pair kv : o) {

        /* jansson takes no NUL in a key, even with JSON_ALLOW_NUL */

        if (memchr(kv.key.data(), '\0', kv.key.size()) != NULL) {
            goto failed;
        }

        v = yibao_json_build(kv.value, flags);
        if (v == NULL) {
            goto failed;
        }

        /* simdjson has checked the key's UTF-8 */

        if (json_object_setn_new_nocheck(obj, kv.key.data(), kv.key.size(),
                                         v)
            != 0)
        {
            goto failed;
        }

        /* a key seen before replaced its value: a duplicate (one hash
         * of the key instead of a lookup first and the insert) */

        if (++n != json_object_size(obj)
            && (flags & JSON_REJECT_DUPLICATES))
        {
            goto failed;
        }
    }

    return obj;

failed:

    json_decref(obj);

    return NULL;
}


static json_t *
yibao_json_build_array(simdjson::dom::array a, size_t flags)
{
    json_t  *arr, *v;

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }

    for (simdjson::dom::element e : a) {
        v = yibao_json_build(e, flags);

        if (v == NULL || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return NULL;
        }
    }

    return arr;
}


static json_t *
yibao_json_build_string(std::string_view s, size_t flags)
{
    if (!(flags & JSON_ALLOW_NUL) && memchr(s.data(), '\0', s.size()) != NULL)
    {
        return NULL;
    }

    /* simdjson has checked the UTF-8 */

    return json_stringn_nocheck(s.data(), s.size());
}
