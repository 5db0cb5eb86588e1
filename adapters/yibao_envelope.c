/*
 * Copyright (C) yibao-gateway authors
 */


#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "yibao_envelope.h"
#include "yibao_json.h"
#include "yibao_decimal.h"
#include "yibao_codes.h"
#include "yibao_gwerr.h"
#include "yibao_fields.h"


#define YIBAO_ENVELOPE_ECHO_MAX  40
#define YIBAO_ANSWER_QUOTE_MAX   1024    /* bytes masked before a quote */


typedef int (*yibao_envelope_shape_pt)(const unsigned char *p, size_t len);


typedef struct {
    const char               *name;
    size_t                    offset;
    unsigned                  required:1;
    unsigned                  echo:1;
    size_t                    max_chars;
    yibao_envelope_shape_pt   shape;
    const char               *shape_text;
} yibao_envelope_field_t;


typedef struct {
    unsigned char            *p;        /* NULL: count only */
    size_t                    len;      /* all there is, written or not */
    size_t                    size;     /* of p: what is written */
} yibao_envelope_out_t;


static int yibao_envelope_walk(json_t *v, size_t depth,
    const yibao_envelope_limits_t *limits, size_t *nvalues,
    yibao_err_t *err);
static int yibao_envelope_check_field(json_t *doc,
    const yibao_envelope_field_t *f, yibao_envelope_t *env,
    yibao_err_t *err);
static size_t yibao_envelope_chars(const unsigned char *p, size_t len);
static void yibao_answer_not_json(const unsigned char *data, size_t len,
    const yibao_str_t *mask, size_t nmask, yibao_answer_t *ans);
static void yibao_answer_infcode(json_t *doc, yibao_answer_t *ans);
static void yibao_answer_other(json_t *doc, const yibao_str_t *mask,
    size_t nmask, yibao_answer_t *ans);
static size_t yibao_answer_mask(const unsigned char *s, size_t len,
    const yibao_str_t *mask, size_t nmask, unsigned char *out);
static void yibao_envelope_echo(char *buf, size_t size,
    const unsigned char *p, size_t len);
static int yibao_envelope_shape_msgid(const unsigned char *p, size_t len);
static int yibao_envelope_shape_insuplc(const unsigned char *p,
    size_t len);
static int yibao_envelope_shape_opter_type(const unsigned char *p,
    size_t len);
static int yibao_envelope_shape_clinic(const unsigned char *p, size_t len);
static int yibao_envelope_shape_nonempty(const unsigned char *p,
    size_t len);
static void yibao_envelope_put(yibao_envelope_out_t *o, const void *s,
    size_t n);
static void yibao_envelope_put_byte(yibao_envelope_out_t *o,
    unsigned char c);
static void yibao_envelope_put_string(yibao_envelope_out_t *o,
    const unsigned char *s, size_t n);
static void yibao_envelope_put_escaped(yibao_envelope_out_t *o,
    const unsigned char *s, size_t n);
static void yibao_envelope_put_run(void *ctx, const void *p, size_t len);
static void yibao_envelope_put_value(yibao_envelope_out_t *o, json_t *v);
static void yibao_envelope_put_error(yibao_envelope_out_t *o,
    const char *head, const char *code, const char *text);
static void yibao_envelope_put_text(yibao_envelope_out_t *o,
    const unsigned char *s, size_t n);
static size_t yibao_envelope_format_real(double d, char *buf, size_t size);
static void yibao_envelope_refresh(yibao_envelope_t *env);
static json_t *yibao_envelope_input_node(const yibao_envelope_t *env,
    const char *node);


#define yibao_envelope_field(name)                                           \
    #name, offsetof(yibao_envelope_t, name)
#define YIBAO_ENVELOPE_NO_FIELD  ((size_t) -1)


static const yibao_envelope_field_t  yibao_envelope_fields[] = {

    { yibao_envelope_field(infno), 1, 1, 5, yibao_code_is_infno,
      "4 digits with an optional letter" },
    { yibao_envelope_field(msgid), 1, 1, 64, yibao_envelope_shape_msgid,
      "1 to 64 letters and digits" },
    { yibao_envelope_field(mdtrtarea_admvs), 1, 1, 6, yibao_code_is_admdvs,
      "6 digits" },
    { yibao_envelope_field(insuplc_admdvs), 0, 1, 6,
      yibao_envelope_shape_insuplc, "empty or 6 digits" },
    { "recer_sys_code", YIBAO_ENVELOPE_NO_FIELD, 1, 1, 10,
      yibao_envelope_shape_nonempty, "not empty" },
    { "dev_no", YIBAO_ENVELOPE_NO_FIELD, 0, 0, 100, NULL, NULL },
    { "dev_safe_info", YIBAO_ENVELOPE_NO_FIELD, 0, 0, 2000, NULL, NULL },
    { "cainfo", YIBAO_ENVELOPE_NO_FIELD, 0, 0, 1024, NULL, NULL },
    { "signtype", YIBAO_ENVELOPE_NO_FIELD, 0, 1, 10, NULL, NULL },
    { "infver", YIBAO_ENVELOPE_NO_FIELD, 1, 1, 6,
      yibao_envelope_shape_nonempty, "not empty" },
    { "opter_type", YIBAO_ENVELOPE_NO_FIELD, 1, 1, 3,
      yibao_envelope_shape_opter_type, "\"1\", \"2\" or \"3\"" },
    { yibao_envelope_field(opter), 1, 1, 30, yibao_envelope_shape_nonempty,
      "not empty" },
    { "opter_name", YIBAO_ENVELOPE_NO_FIELD, 1, 0, 50,
      yibao_envelope_shape_nonempty, "not empty" },
    { yibao_envelope_field(inf_time), 1, 1, 19, yibao_code_is_datetime,
      "\"yyyy-MM-dd HH:mm:ss\", a real date and time" },
    { yibao_envelope_field(fixmedins_code), 1, 1, 22,
      yibao_envelope_shape_clinic,
      "a 12-char national code (H + 11 digits) or a 22-char health "
      "organisation code" },
    { yibao_envelope_field(fixmedins_name), 0, 0, 200, NULL, NULL },
    { yibao_envelope_field(sign_no), 0, 1, 30, NULL, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


int
yibao_envelope_parse(const unsigned char *data, size_t len,
    const yibao_envelope_limits_t *limits, yibao_envelope_t *env,
    yibao_err_t *err)
{
    int                            rc;
    size_t                         i, nvalues;
    char                           echo[JSON_ERROR_TEXT_LENGTH + 8];
    json_t                        *doc, *input;
    json_error_t                   jerr;
    const yibao_envelope_field_t  *f;

    memset(env, 0, sizeof(yibao_envelope_t));

    for (i = 0; i < len; i++) {
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r'
            && data[i] != '\n')
        {
            break;
        }
    }

    if (i == len) {
        yibao_err_set(err, YIBAO_GWERR_BODY_EMPTY,
                      "request body is empty: a national envelope "
                      "(JSON object) is required");
        return YIBAO_ERR_INVALID;
    }

    doc = yibao_json_load(data, len, JSON_REJECT_DUPLICATES, &jerr);

    if (doc == NULL) {
        /* jansson's text quotes the bytes "near" the error: a name or an
         * ID number may be among them */
        yibao_echo((const unsigned char *) jerr.text, strlen(jerr.text),
                   JSON_ERROR_TEXT_LENGTH, echo, sizeof(echo));
        yibao_err_set(err, YIBAO_GWERR_JSON_INVALID,
                      "request body is not valid JSON at line %d column %d "
                      "(byte %d): %s", jerr.line, jerr.column,
                      jerr.position, echo);
        return YIBAO_ERR_SYNTAX;
    }

    if (!json_is_object(doc)) {
        yibao_err_set(err, YIBAO_GWERR_ENVELOPE_NOT_OBJECT,
                      "request body must be a JSON object (the national "
                      "envelope), got %s",
                      json_is_array(doc) ? "an array" : "a scalar");
        json_decref(doc);
        return YIBAO_ERR_INVALID;
    }

    nvalues = 0;

    rc = yibao_envelope_walk(doc, 1, limits, &nvalues, err);
    if (rc != YIBAO_OK) {
        json_decref(doc);
        return rc;
    }

    for (f = yibao_envelope_fields; f->name != NULL; f++) {
        rc = yibao_envelope_check_field(doc, f, env, err);
        if (rc != YIBAO_OK) {
            json_decref(doc);
            memset(env, 0, sizeof(yibao_envelope_t));
            return rc;
        }
    }

    input = json_object_get(doc, "input");

    if (input == NULL || json_is_null(input)) {
        json_decref(doc);
        memset(env, 0, sizeof(yibao_envelope_t));
        yibao_err_set(err, YIBAO_GWERR_FIELD_MISSING,
                      "envelope field \"input\" is missing");
        return YIBAO_ERR_INVALID;
    }

    if (!json_is_object(input)) {
        yibao_err_set(err, YIBAO_GWERR_INPUT_NOT_OBJECT,
                      "envelope field \"input\" must be a JSON object, "
                      "got %s", json_is_string(input) ? "a string"
                                : json_is_array(input) ? "an array"
                                : "a scalar");
        json_decref(doc);
        memset(env, 0, sizeof(yibao_envelope_t));
        return YIBAO_ERR_INVALID;
    }

    env->doc = doc;
    env->text_len = len;

    return YIBAO_OK;
}


void
yibao_envelope_free(yibao_envelope_t *env)
{
    if (env->doc != NULL) {
        json_decref((json_t *) env->doc);
        env->doc = NULL;
    }
}


static int
yibao_envelope_walk(json_t *v, size_t depth,
    const yibao_envelope_limits_t *limits, size_t *nvalues, yibao_err_t *err)
{
    int          rc;
    size_t       i;
    json_t      *child;
    const char  *key;

    if (++*nvalues > limits->max_values) {
        yibao_err_set(err, YIBAO_GWERR_JSON_TOO_MANY,
                      "request JSON has more than %zu values",
                      limits->max_values);
        return YIBAO_ERR_TOO_LARGE;
    }

    if (!json_is_object(v) && !json_is_array(v)) {
        return YIBAO_OK;
    }

    if (depth > limits->max_depth) {
        yibao_err_set(err, YIBAO_GWERR_JSON_TOO_DEEP,
                      "request JSON is nested deeper than %zu levels",
                      limits->max_depth);
        return YIBAO_ERR_TOO_LARGE;
    }

    /* a scalar child is counted here, without a call of its own */

    if (json_is_object(v)) {
        json_object_foreach(v, key, child) {
            if (!json_is_object(child) && !json_is_array(child)
                && *nvalues < limits->max_values)
            {
                ++*nvalues;
                continue;
            }

            rc = yibao_envelope_walk(child, depth + 1, limits, nvalues, err);
            if (rc != YIBAO_OK) {
                return rc;
            }
        }

        return YIBAO_OK;
    }

    json_array_foreach(v, i, child) {
        if (!json_is_object(child) && !json_is_array(child)
            && *nvalues < limits->max_values)
        {
            ++*nvalues;
            continue;
        }

        rc = yibao_envelope_walk(child, depth + 1, limits, nvalues, err);
        if (rc != YIBAO_OK) {
            return rc;
        }
    }

    return YIBAO_OK;
}


static int
yibao_envelope_check_field(json_t *doc, const yibao_envelope_field_t *f,
    yibao_envelope_t *env, yibao_err_t *err)
{
    char                  echo[YIBAO_ENVELOPE_ECHO_MAX * 4 + 8];
    size_t                len, nchars;
    json_t               *v;
    yibao_str_t          *dst;
    const unsigned char  *p;

    v = json_object_get(doc, f->name);

    if (v == NULL || json_is_null(v)) {
        if (f->required) {
            yibao_err_set(err, YIBAO_GWERR_FIELD_MISSING,
                          "envelope field \"%s\" is missing", f->name);
            return YIBAO_ERR_INVALID;
        }

        return YIBAO_OK;
    }

    if (!json_is_string(v)) {
        yibao_err_set(err, YIBAO_GWERR_FIELD_INVALID,
                      "envelope field \"%s\" must be a JSON string",
                      f->name);
        return YIBAO_ERR_INVALID;
    }

    p = (const unsigned char *) json_string_value(v);
    len = json_string_length(v);
    nchars = yibao_envelope_chars(p, len);

    if (nchars > f->max_chars) {
        yibao_err_set(err, YIBAO_GWERR_FIELD_INVALID,
                      "envelope field \"%s\" is longer than %zu "
                      "characters (%zu)", f->name, f->max_chars, nchars);
        return YIBAO_ERR_INVALID;
    }

    if (f->shape != NULL && !f->shape(p, len)) {

        if (f->echo) {
            yibao_echo(p, len, YIBAO_ENVELOPE_ECHO_MAX, echo, sizeof(echo));
            yibao_err_set(err, YIBAO_GWERR_FIELD_INVALID,
                          "envelope field \"%s\" must be %s, got \"%s\"",
                          f->name, f->shape_text, echo);

        } else {
            yibao_err_set(err, YIBAO_GWERR_FIELD_INVALID,
                          "envelope field \"%s\" must be %s",
                          f->name, f->shape_text);
        }

        return YIBAO_ERR_INVALID;
    }

    if (f->offset != YIBAO_ENVELOPE_NO_FIELD) {
        dst = (yibao_str_t *) ((char *) env + f->offset);
        dst->data = p;
        dst->len = len;
    }

    return YIBAO_OK;
}


static size_t
yibao_envelope_chars(const unsigned char *p, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


/*
 * Copies at most YIBAO_ENVELOPE_ECHO_MAX characters of the platform's
 * message for an answer's summary, with quotes, backslashes and control
 * characters replaced, so that it stays one readable line; its Chinese
 * is kept (a caller's own values are echoed with yibao_echo() instead).
 */

static void
yibao_envelope_echo(char *buf, size_t size, const unsigned char *p,
    size_t len)
{
    size_t  i, n, chars;

    n = 0;
    chars = 0;

    for (i = 0; i < len && n + 5 < size; i++) {

        if ((p[i] & 0xc0) != 0x80 && ++chars > YIBAO_ENVELOPE_ECHO_MAX) {
            buf[n++] = '.';
            buf[n++] = '.';
            buf[n++] = '.';
            break;
        }

        buf[n++] = (p[i] < 0x20 || p[i] == '"' || p[i] == '\\') ? '?'
                                                               : (char) p[i];
    }

    buf[n] = '\0';
}


static int
yibao_envelope_shape_msgid(const unsigned char *p, size_t len)
{
    return yibao_code_is_alnum(p, len, 64);
}


static int
yibao_envelope_shape_insuplc(const unsigned char *p, size_t len)
{
    return len == 0 || yibao_code_is_admdvs(p, len);
}


static int
yibao_envelope_shape_opter_type(const unsigned char *p, size_t len)
{
    return len == 1 && (p[0] == '1' || p[0] == '2' || p[0] == '3');
}


static int
yibao_envelope_shape_clinic(const unsigned char *p, size_t len)
{
    return yibao_code_is_fixmedins(p, len) || yibao_code_is_org(p, len);
}


static int
yibao_envelope_shape_nonempty(const unsigned char *p, size_t len)
{
    (void) p;

    return len > 0;
}


int
yibao_envelope_msgid_plan(const yibao_envelope_t *env,
    const yibao_str_t *entity_code, yibao_err_t *err)
{
    char  echo[YIBAO_ENVELOPE_ECHO_MAX * 4 + 8];

    if (env->fixmedins_code.len != entity_code->len
        || memcmp(env->fixmedins_code.data, entity_code->data,
                  entity_code->len) != 0)
    {
        return 1;
    }

    if (yibao_code_is_msgid(env->msgid.data, env->msgid.len)
        && memcmp(env->msgid.data, entity_code->data, entity_code->len) == 0)
    {
        return 0;
    }

    yibao_echo(env->msgid.data, env->msgid.len, YIBAO_ENVELOPE_ECHO_MAX, echo,
               sizeof(echo));

    yibao_err_set(err, YIBAO_GWERR_FIELD_INVALID,
                  "envelope field \"msgid\" must be fixmedins_code %.*s + "
                  "yyyyMMddHHmmss + 4 digits (30 characters), got \"%s\"",
                  (int) entity_code->len, (const char *) entity_code->data,
                  echo);

    return YIBAO_ERR_INVALID;
}


int
yibao_envelope_set_entity(yibao_envelope_t *env, const yibao_str_t *code,
    const yibao_str_t *name, const yibao_str_t *msgid)
{
    json_t  *doc;

    doc = env->doc;

    if (json_object_set_new(doc, "fixmedins_code",
                            json_stringn((const char *) code->data,
                                         code->len))
        != 0
        || json_object_set_new(doc, "fixmedins_name",
                               json_stringn((const char *) name->data,
                                            name->len))
           != 0)
    {
        return YIBAO_ERR_NOMEM;
    }

    if (msgid != NULL
        && json_object_set_new(doc, "msgid",
                               json_stringn((const char *) msgid->data,
                                            msgid->len))
           != 0)
    {
        return YIBAO_ERR_NOMEM;
    }

    yibao_envelope_refresh(env);

    return YIBAO_OK;
}


int
yibao_envelope_set_sign_no(yibao_envelope_t *env, const yibao_str_t *sign_no)
{
    if (json_object_set_new(env->doc, "sign_no",
                            json_stringn((const char *) sign_no->data,
                                         sign_no->len))
        != 0)
    {
        return YIBAO_ERR_NOMEM;
    }

    yibao_envelope_refresh(env);

    return YIBAO_OK;
}


static void
yibao_envelope_refresh(yibao_envelope_t *env)
{
    json_t                        *v;
    yibao_str_t                   *dst;
    const yibao_envelope_field_t  *f;

    for (f = yibao_envelope_fields; f->name != NULL; f++) {

        if (f->offset == YIBAO_ENVELOPE_NO_FIELD) {
            continue;
        }

        v = json_object_get(env->doc, f->name);
        dst = (yibao_str_t *) ((char *) env + f->offset);

        if (json_is_string(v)) {
            dst->data = (const unsigned char *) json_string_value(v);
            dst->len = json_string_length(v);
        }
    }
}


int
yibao_envelope_serialize(const yibao_envelope_t *env, yibao_alloc_t *a,
    yibao_str_t *out)
{
    /* translated codes are mostly longer than the clinic's own */

    return yibao_json_serialize_hint(env->doc,
                                     env->text_len + env->text_len / 4
                                     + 1024, a, out);
}


int
yibao_json_serialize(void *json, yibao_alloc_t *a, yibao_str_t *out)
{
    return yibao_json_serialize_hint(json, 0, a, out);
}


int
yibao_json_serialize_hint(void *json, size_t hint, yibao_alloc_t *a,
    yibao_str_t *out)
{
    unsigned char         *p;
    yibao_envelope_out_t   o;

    /* written at once into hint bytes when it fits, else measured
     * first and written into exactly what it needs */

    o.p = NULL;
    o.len = 0;
    o.size = 0;

    if (hint) {
        o.p = yibao_alloc(a, hint);
        if (o.p == NULL) {
            return YIBAO_ERR_NOMEM;
        }

        o.size = hint;
    }

    yibao_envelope_put_value(&o, json);

    if (o.p != NULL && o.len <= o.size) {
        out->data = o.p;
        out->len = o.len;
        return YIBAO_OK;
    }

    p = yibao_alloc(a, o.len);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    o.p = p;
    o.len = 0;
    o.size = (size_t) -1;
    yibao_envelope_put_value(&o, json);

    out->data = p;
    out->len = o.len;

    return YIBAO_OK;
}


static void
yibao_envelope_put(yibao_envelope_out_t *o, const void *s, size_t n)
{
    if (o->p != NULL && n <= o->size && o->len <= o->size - n) {
        memcpy(o->p + o->len, s, n);
    }

    o->len += n;
}


static void
yibao_envelope_put_byte(yibao_envelope_out_t *o, unsigned char c)
{
    if (o->len < o->size) {
        o->p[o->len] = c;
    }

    o->len++;
}


/*
 * A string is escaped straight into the output when its worst case (6
 * bytes a byte) or, failing that, its exact length fits; only counted
 * otherwise.
 */

static void
yibao_envelope_put_string(yibao_envelope_out_t *o, const unsigned char *s,
    size_t n)
{
    size_t          len;
    unsigned char  *p;

    len = 0;

    if (o->p != NULL && o->len <= o->size && n <= (o->size - o->len) / 6
        && (o->size - o->len) - 6 * n >= 2)
    {
        p = o->p + o->len;
        *p++ = '"';
        len = yibao_json_escape_into(p, s, n);
        p[len] = '"';
        o->len += len + 2;
        return;
    }

    len = yibao_json_escaped_len(s, n);

    if (o->p != NULL && o->len <= o->size && len + 2 <= o->size - o->len) {
        p = o->p + o->len;
        *p++ = '"';
        p += yibao_json_escape_into(p, s, n);
        *p = '"';
    }

    o->len += len + 2;
}


static void
yibao_envelope_put_escaped(yibao_envelope_out_t *o, const unsigned char *s,
    size_t n)
{
    yibao_json_escape(s, n, 0, yibao_envelope_put_run, o);
}


static void
yibao_envelope_put_run(void *ctx, const void *p, size_t len)
{
    yibao_envelope_put(ctx, p, len);
}


/*
 * What a byte adds to a JSON string over its own byte: 0 as it is, 1
 * for the two-byte escapes (quote, backslash, \b \f \n \r \t), 5 for
 * \u00XX; H (0x80) marks what only YIBAO_JSON_ESCAPE_HTML escapes, as
 * \u00XX.  Bytes from 0x80 on are 0.
 */

#define H  0x80

static const unsigned char  yibao_json_esc[256] = {
    5, 5, 5, 5, 5, 5, 5, 5, 1, 1, 1, 5, 1, 1, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    0, 0, 1, 0, 0, 0, H, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, H, 0, H, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, H
};

#undef H


/* the escape of c (yibao_json_esc[c] != 0) at p; returns its end */

static unsigned char *
yibao_json_escape_byte(unsigned char *p, unsigned char c)
{
    static const char  hex[] = "0123456789ABCDEF";

    *p++ = '\\';

    switch (c) {
    case '"':
    case '\\':
        *p++ = c;
        return p;
    case '\b':
        *p++ = 'b';
        return p;
    case '\f':
        *p++ = 'f';
        return p;
    case '\n':
        *p++ = 'n';
        return p;
    case '\r':
        *p++ = 'r';
        return p;
    case '\t':
        *p++ = 't';
        return p;
    default:
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0x0f];
        return p;
    }
}


void
yibao_json_escape(const unsigned char *s, size_t n, unsigned flags,
    void (*put)(void *ctx, const void *p, size_t len), void *ctx)
{
    size_t          i, start;
    unsigned char   c, esc, mask, buf[8];

    mask = (flags & YIBAO_JSON_ESCAPE_HTML) ? 0xff : 0x7f;
    start = 0;

    for (i = 0; i < n; i++) {
        c = s[i];
        esc = yibao_json_esc[c] & mask;

        if (esc == 0) {
            continue;
        }

        put(ctx, s + start, i - start);
        start = i + 1;

        put(ctx, buf, (size_t) (yibao_json_escape_byte(buf, c) - buf));
    }

    put(ctx, s + start, n - start);
}


/*
 * 1 if any of the 8 bytes in w needs an escape (without
 * YIBAO_JSON_ESCAPE_HTML): below 0x20, '"' or '\\'.  A byte from 0x80
 * on never does, and its high bit keeps it out of each test.
 */

#define YIBAO_JSON_ONES   0x0101010101010101ULL
#define YIBAO_JSON_HIGHS  0x8080808080808080ULL

static int
yibao_json_word_escapes(uint64_t w)
{
    uint64_t  q, b;

    q = w ^ (YIBAO_JSON_ONES * '"');
    b = w ^ (YIBAO_JSON_ONES * '\\');

    return (((w - YIBAO_JSON_ONES * 0x20) & ~w)
            | ((q - YIBAO_JSON_ONES) & ~q)
            | ((b - YIBAO_JSON_ONES) & ~b)) & YIBAO_JSON_HIGHS ? 1 : 0;
}


size_t
yibao_json_escaped_len(const unsigned char *s, size_t n)
{
    size_t    i, k, len;
    uint64_t  w;

    len = n;

    for (i = 0; i < n; i += k) {
        k = n - i < 8 ? n - i : 8;

        if (k == 8) {
            memcpy(&w, s + i, 8);

            if (!yibao_json_word_escapes(w)) {
                continue;
            }
        }

        while (k--) {
            len += yibao_json_esc[s[i + k]] & 0x7f;
        }

        k = n - i < 8 ? n - i : 8;
    }

    return len;
}


/* 8 bytes at a time: copied at once when none needs an escape, else
 * one by one */

size_t
yibao_json_escape_into(unsigned char *dst, const unsigned char *s,
    size_t n)
{
    unsigned char         c, *p;
    uint64_t              w;
    const unsigned char  *end, *word;

    p = dst;
    end = s + n;

    while (s < end) {
        word = end - s < 8 ? end : s + 8;

        if (word - s == 8) {
            memcpy(&w, s, 8);

            if (!yibao_json_word_escapes(w)) {
                memcpy(p, &w, 8);
                p += 8;
                s += 8;
                continue;
            }
        }

        while (s < word) {
            c = *s++;

            if ((yibao_json_esc[c] & 0x7f) == 0) {
                *p++ = c;
                continue;
            }

            p = yibao_json_escape_byte(p, c);
        }
    }

    return (size_t) (p - dst);
}


static void
yibao_envelope_put_value(yibao_envelope_out_t *o, json_t *v)
{
    char         buf[64];
    size_t       i, n;
    json_t      *child;
    const char  *key;

    switch (json_typeof(v)) {

    case JSON_OBJECT:
        yibao_envelope_put_byte(o, '{');
        n = 0;

        json_object_foreach(v, key, child) {
            if (n++) {
                yibao_envelope_put_byte(o, ',');
            }

            yibao_envelope_put_string(o, (const unsigned char *) key,
                                      strlen(key));
            yibao_envelope_put_byte(o, ':');
            yibao_envelope_put_value(o, child);
        }

        yibao_envelope_put_byte(o, '}');
        break;

    case JSON_ARRAY:
        yibao_envelope_put_byte(o, '[');

        json_array_foreach(v, i, child) {
            if (i) {
                yibao_envelope_put_byte(o, ',');
            }

            yibao_envelope_put_value(o, child);
        }

        yibao_envelope_put_byte(o, ']');
        break;

    case JSON_STRING:
        yibao_envelope_put_string(o,
                                  (const unsigned char *) json_string_value(v),
                                  json_string_length(v));
        break;

    case JSON_INTEGER:
        n = yibao_decimal_int_text((int64_t) json_integer_value(v), buf);
        yibao_envelope_put(o, buf, n);
        break;

    case JSON_REAL:
        n = yibao_envelope_format_real(json_real_value(v), buf, sizeof(buf));
        yibao_envelope_put(o, buf, n);
        break;

    case JSON_TRUE:
        yibao_envelope_put(o, "true", 4);
        break;

    case JSON_FALSE:
        yibao_envelope_put(o, "false", 5);
        break;

    default:
        yibao_envelope_put(o, "null", 4);
        break;
    }
}


/*
 * A real as the shortest text that reads back to the same double
 * (yibao_decimal_shortest()), but -0.0 as "0".
 */

static size_t
yibao_envelope_format_real(double d, char *buf, size_t size)
{
    /*
     * -0.0 would come out as "-0", which reads back as the integer 0
     * and is then sent as "0": send "0" at once
     */

    if (d == 0) {
        return (size_t) snprintf(buf, size, "0");
    }

    return yibao_decimal_shortest(d, buf, size);
}


int
yibao_answer_inspect(const unsigned char *data, size_t len,
    yibao_answer_t *ans)
{
    int    rc;
    void  *doc;

    rc = yibao_answer_parse(data, len, ans, &doc);

    yibao_answer_release(doc);

    return rc;
}


void
yibao_answer_release(void *doc)
{
    if (doc != NULL) {
        json_decref((json_t *) doc);
    }
}


int
yibao_answer_parse(const unsigned char *data, size_t len,
    yibao_answer_t *ans, void **parsed)
{
    return yibao_answer_parse_masked(data, len, NULL, 0, ans, parsed);
}


int
yibao_answer_parse_masked(const unsigned char *data, size_t len,
    const yibao_str_t *mask, size_t nmask, yibao_answer_t *ans,
    void **parsed)
{
    size_t          n;
    json_t         *doc, *msg;
    const char     *s;
    json_error_t    jerr;
    unsigned char   head[YIBAO_ANSWER_QUOTE_MAX];

    memset(ans, 0, sizeof(yibao_answer_t));

    doc = yibao_json_load((const char *) data, len, 0, &jerr);
    *parsed = doc;

    if (doc == NULL) {
        yibao_answer_not_json(data, len, mask, nmask, ans);
        return YIBAO_OK;
    }

    ans->is_json = 1;

    if (!json_is_object(doc)) {
        snprintf(ans->summary, sizeof(ans->summary),
                 "a JSON %s instead of an envelope",
                 json_is_array(doc) ? "array" : "scalar");
        return YIBAO_OK;
    }

    yibao_answer_infcode(doc, ans);

    if (!ans->is_envelope) {
        yibao_answer_other(doc, mask, nmask, ans);
        return YIBAO_OK;
    }

    msg = json_object_get(doc, "err_msg");
    s = json_is_string(msg) ? json_string_value(msg) : "";
    n = yibao_answer_mask((const unsigned char *) s, strlen(s), mask, nmask,
                          head);
    yibao_envelope_echo(ans->summary, sizeof(ans->summary), head, n);

    return YIBAO_OK;
}


/* the summary of an answer that is not JSON: its size and start */

static void
yibao_answer_not_json(const unsigned char *data, size_t len,
    const yibao_str_t *mask, size_t nmask, yibao_answer_t *ans)
{
    size_t         i, n;
    unsigned char  tmp[60];
    unsigned char  head[YIBAO_ANSWER_QUOTE_MAX];

    n = yibao_answer_mask(data, len, mask, nmask, head);
    n = n < 60 ? n : 60;

    for (i = 0; i < n; i++) {
        tmp[i] = (head[i] >= 0x20 && head[i] < 0x7f
                  && head[i] != '"' && head[i] != '\\')
                 ? head[i] : '?';
    }

    snprintf(ans->summary, sizeof(ans->summary),
             "%zu bytes of non-JSON starting \"%.*s\"",
             len, (int) n, (const char *) tmp);
}


/*
 * An envelope's infcode: an integer an int holds, or "0" or "-1" as a
 * string; anything else is no envelope.
 */

static void
yibao_answer_infcode(json_t *doc, yibao_answer_t *ans)
{
    json_t      *v;
    const char  *s;

    v = json_object_get(doc, "infcode");

    /* an integer that an int cannot hold is no infcode: cut to an int,
     * 4294967296 would read as 0, a success */

    if (json_is_integer(v) && json_integer_value(v) >= INT_MIN
        && json_integer_value(v) <= INT_MAX)
    {
        ans->is_envelope = 1;
        ans->infcode = (int) json_integer_value(v);

    } else if (json_is_string(v)) {
        s = json_string_value(v);

        if (strcmp(s, "0") == 0 || strcmp(s, "-1") == 0) {
            ans->is_envelope = 1;
            ans->infcode = atoi(s);
        }
    }
}


/*
 * The summary of a JSON object without an infcode (a gateway's
 * {"code":401,"message":...}): its code and message.
 */

static void
yibao_answer_other(json_t *doc, const yibao_str_t *mask, size_t nmask,
    yibao_answer_t *ans)
{
    size_t          n;
    json_t         *code, *msg;
    const char     *s;
    unsigned char   tmp[200];
    unsigned char   head[YIBAO_ANSWER_QUOTE_MAX];

    code = json_object_get(doc, "code");
    msg = json_object_get(doc, "message");

    if (msg == NULL) {
        msg = json_object_get(doc, "msg");
    }

    if (msg == NULL) {
        msg = json_object_get(doc, "err_msg");
    }

    s = json_is_string(msg) ? json_string_value(msg) : "";
    n = yibao_answer_mask((const unsigned char *) s, strlen(s), mask, nmask,
                          head);
    yibao_envelope_echo((char *) tmp, sizeof(tmp), head, n);

    if (json_is_integer(code)) {
        snprintf(ans->summary, sizeof(ans->summary),
                 "code %" JSON_INTEGER_FORMAT " message \"%s\"",
                 json_integer_value(code), (const char *) tmp);

        /* the code too: a long one could be any number */
        yibao_mask_digits((unsigned char *) ans->summary,
                          strlen(ans->summary),
                          (unsigned char *) ans->summary);

    } else {
        snprintf(ans->summary, sizeof(ans->summary),
                 "a JSON object without infcode, message \"%s\"",
                 (const char *) tmp);
    }
}


/*
 * The start of a text the platform sent, to be quoted: at most
 * YIBAO_ANSWER_QUOTE_MAX bytes copied to out, with runs of digits and
 * the mask values masked before the quote is cut, so that a cut never
 * leaves the start of an ID number or a psn_no unmasked.  Returns the
 * bytes copied.
 */

static size_t
yibao_answer_mask(const unsigned char *s, size_t len, const yibao_str_t *mask,
    size_t nmask, unsigned char *out)
{
    if (len > YIBAO_ANSWER_QUOTE_MAX) {
        len = YIBAO_ANSWER_QUOTE_MAX;
    }

    memcpy(out, s, len);

    yibao_mask_digits(out, len, out);
    yibao_mask_values(out, len, mask, nmask);

    return len;
}


int
yibao_answer_replace_token(const unsigned char *data, size_t len,
    const yibao_str_t *from, const yibao_str_t *to, yibao_alloc_t *a,
    yibao_str_t *out, size_t *count)
{
    size_t          i, n;
    unsigned char  *p;

    n = 0;

    for (i = 0; i + from->len + 2 <= len; i++) {
        if (data[i] == '"' && data[i + from->len + 1] == '"'
            && memcmp(data + i + 1, from->data, from->len) == 0)
        {
            n++;
            i += from->len + 1;
        }
    }

    *count = n;

    p = yibao_alloc(a, len - n * from->len + n * to->len + 1);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    out->data = p;

    for (i = 0; i < len; /* void */) {
        if (n && i + from->len + 2 <= len && data[i] == '"'
            && data[i + from->len + 1] == '"'
            && memcmp(data + i + 1, from->data, from->len) == 0)
        {
            *p++ = '"';
            memcpy(p, to->data, to->len);
            p += to->len;
            *p++ = '"';
            i += from->len + 2;
            continue;
        }

        *p++ = data[i++];
    }

    out->len = (size_t) (p - out->data);

    return YIBAO_OK;
}


int
yibao_envelope_error(int gwerr, const char *text, const yibao_tm_t *now,
    yibao_alloc_t *a, yibao_str_t *out)
{
    char                    head[256], code[16];
    unsigned char          *p;
    yibao_envelope_out_t    o;
    const yibao_gwerr_t    *e;

    e = yibao_gwerr_find(gwerr);

    snprintf(code, sizeof(code), "YB%04d ", e->code % 10000);

    snprintf(head, sizeof(head),
             "{\"infcode\":-1,\"inf_refmsgid\":null,"
             "\"refmsg_time\":\"%04d%02d%02d%02d%02d%02d%03d\","
             "\"respond_time\":\"%04d%02d%02d%02d%02d%02d%03d\","
             "\"err_msg\":",
             now->year % 10000, now->mon % 100, now->mday % 100,
             now->hour % 100, now->min % 100, now->sec % 100,
             now->msec % 1000,
             now->year % 10000, now->mon % 100, now->mday % 100,
             now->hour % 100, now->min % 100, now->sec % 100,
             now->msec % 1000);

    if (text == NULL) {
        text = e->text;
    }

    o.p = NULL;
    o.len = 0;
    o.size = 0;
    yibao_envelope_put_error(&o, head, code, text);

    p = yibao_alloc(a, o.len);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    o.p = p;
    o.len = 0;
    o.size = (size_t) -1;
    yibao_envelope_put_error(&o, head, code, text);

    out->data = p;
    out->len = o.len;

    return YIBAO_OK;
}


/* The error envelope; err_msg is code and text, of any length. */

static void
yibao_envelope_put_error(yibao_envelope_out_t *o, const char *head,
    const char *code, const char *text)
{
    static const char  tail[] = ",\"warn_msg\":null,\"cainfo\":null,"
                                "\"signtype\":null,\"output\":null}";

    yibao_envelope_put(o, head, strlen(head));
    yibao_envelope_put(o, "\"", 1);
    yibao_envelope_put(o, code, strlen(code));
    yibao_envelope_put_text(o, (const unsigned char *) text, strlen(text));
    yibao_envelope_put(o, "\"", 1);
    yibao_envelope_put(o, tail, sizeof(tail) - 1);
}


/*
 * The text of an error may quote any bytes the caller sent (jansson's
 * messages do, cut anywhere): escaped, and with a byte that does not
 * start a well-formed UTF-8 character written as '?', so that the
 * error envelope is always valid JSON.
 */

static void
yibao_envelope_put_text(yibao_envelope_out_t *o, const unsigned char *s,
    size_t n)
{
    size_t  i, k, start;

    start = 0;

    for (i = 0; i < n; /* void */) {

        if (s[i] < 0x80) {
            i++;
            continue;
        }

        k = (s[i] >= 0xf0) ? 4 : (s[i] >= 0xe0) ? 3 : 2;

        if (k <= n - i && yibao_code_is_utf8(s + i, k)) {
            i += k;
            continue;
        }

        yibao_envelope_put_escaped(o, s + start, i - start);
        yibao_envelope_put(o, "?", 1);
        start = ++i;
    }

    yibao_envelope_put_escaped(o, s + start, n - start);
}


static json_t *
yibao_envelope_input_node(const yibao_envelope_t *env, const char *node)
{
    json_t  *input;

    input = json_object_get((json_t *) env->doc, "input");

    return json_object_get(input, node);
}


int
yibao_envelope_input_get(const yibao_envelope_t *env, const char *node,
    const char *key, yibao_str_t *out)
{
    json_t  *v;

    v = json_object_get(yibao_envelope_input_node(env, node), key);

    if (!json_is_string(v)) {
        return YIBAO_ERR_NOT_FOUND;
    }

    out->data = (const unsigned char *) json_string_value(v);
    out->len = json_string_length(v);

    return YIBAO_OK;
}


int
yibao_envelope_input_set(yibao_envelope_t *env, const char *node,
    const char *key, const yibao_str_t *value)
{
    json_t  *o;

    o = yibao_envelope_input_node(env, node);

    if (!json_is_string(json_object_get(o, key))) {
        return YIBAO_ERR_NOT_FOUND;
    }

    if (json_object_set_new(o, key,
                            json_stringn((const char *) value->data,
                                         value->len))
        != 0)
    {
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}
