/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "yibao_gwerr.h"
#include "yibao_hash.h"
#include "yibao_registry.h"
#include "yibao_tsv.h"
#include "yibao_test_alloc.h"


#define U(s)          ((const unsigned char *) (s))
#define ROW7(a, b, c, d, e, f, g)                                            \
    a "\t" b "\t" c "\t" d "\t" e "\t" f "\t" g "\n"

#define ORG1          "PDY60134132080312D6001"
#define ORG2          "PDY60134132080312D6002"
#define ORG3          "PDY60134132080312D6003"
#define ORG4          "PDY60134132080312D6004"
#define ORG5          "PDY60134132080312D6005"
#define ORG9          "PDY60134132080312D6009"

#define SK1           "SK-DEMO-SECRET-0001"
#define SECRET_ALL    "village-subsystem-secret-0001"
#define SECRET_A      "his-vendor-a-secret-000001"

#define KEYS_GOOD                                                            \
    "# key_id\tak\tsk\n"                                                     \
    "k-H37010200001\tAK-DEMO-0001\t" SK1 "\n"                                \
    "k-H37010200105\tAK-DEMO-0105\tSK-DEMO-SECRET-0105\n"                    \
    "\n"                                                                     \
    "k-H37010200002\tAK-DEMO-0002\tSK-DEMO-SECRET-0002\n"

#define CLINICS_HEAD                                                         \
    "# org_code\tname\tadmdvs\tmode\tentity_code\tentity_name\tkey_id\n"

#define ROW_ORG4                                                             \
    ROW7(ORG4, "某镇卫生院", "370102", "own", "H37010200001", "某镇卫生院",  \
         "k-H37010200001")

#define ROW_ORG1                                                             \
    ROW7(ORG1, "某村卫生室", "370102", "township", "H37010200001",           \
         "某镇卫生院", "k-H37010200001")

#define CLINICS_GOOD                                                         \
    CLINICS_HEAD                                                             \
    ROW_ORG4                                                                 \
    ROW_ORG1                                                                 \
    "\n"                                                                     \
    ROW7(ORG2, "二村卫生室", "370102", "township", "H37010200001",           \
         "某镇卫生院", "k-H37010200001")                                     \
    ROW7(ORG3, "三村卫生室", "370103", "own", "H37010200105",                \
         "三村卫生室", "k-H37010200105")                                     \
    "# township hospital 2\n"                                                \
    ROW7(ORG5, "五村卫生室", "370105", "township", "H37010200002",           \
         "另镇卫生院", "k-H37010200002")

#define CALLERS_GOOD                                                         \
    "# caller_id\tsecret\tclinics\tinfnos\n"                                 \
    "village-subsystem\t" SECRET_ALL "\t*\t*\n"                              \
    "his-a\t" SECRET_A "\tadmdvs:370102\t1101,2201-2208,2601,5203,9001\n"    \
    "his-ro\this-readonly-secret-001\t" ORG1 "\t1101\n"                      \
    "his-b\this-vendor-b-secret-0001\t" ORG3 ",H37010200001\t"               \
    "2203A,2204-2204\n"                                                      \
    "his-c\this-vendor-c-secret-0001\tadmdvs:37,admdvs:4\t9001\n"


typedef struct {
    yibao_test_ctx_t      base;
    yibao_err_t           err;
    yibao_keys_t         *keys;
    yibao_clinics_t      *clinics;
    yibao_callers_t      *callers;
} test_ctx_t;


typedef enum {
    TEST_KEYS = 0,
    TEST_CLINICS,
    TEST_CALLERS
} test_file_e;


/* A parse that fails at line with exactly msg. */

typedef struct {
    const char           *data;
    size_t                line;
    const char           *msg;
} test_failure_t;


/* May caller act for clinic with infno?  gwerr 0: yes, else msg. */

typedef struct {
    const char           *caller;
    const char           *clinic;
    const char           *infno;
    int                   gwerr;
    const char           *msg;
} test_permission_t;

#define CLINIC_DENIED   YIBAO_GWERR_DENIED_CLINIC
#define INFNO_DENIED    YIBAO_GWERR_DENIED_INFNO

#define TEST_NCASES(a)  (sizeof(a) / sizeof((a)[0]))


static int
test_setup(void **state)
{
    return yibao_test_ctx_setup(state, sizeof(test_ctx_t));
}


static void
test_err_reset(test_ctx_t *t)
{
    memset(&t->err, 0, sizeof(yibao_err_t));
    t->err.line = 12345;
}


/* Parses data (NUL-terminated) as a which file, err reset first. */

static void *
test_parse(test_ctx_t *t, test_file_e which, const char *data)
{
    size_t  len;

    test_err_reset(t);
    len = strlen(data);

    switch (which) {

    case TEST_KEYS:
        return yibao_keys_parse(U(data), len, &t->base.alloc, &t->err);

    case TEST_CLINICS:
        return yibao_clinics_parse(U(data), len, t->keys, &t->base.alloc,
                                   &t->err);

    default: /* TEST_CALLERS */
        return yibao_callers_parse(U(data), len, &t->base.alloc, &t->err);
    }
}


static yibao_keys_t *
test_keys(test_ctx_t *t, const char *data)
{
    return test_parse(t, TEST_KEYS, data);
}


static yibao_clinics_t *
test_clinics(test_ctx_t *t, const char *data)
{
    return test_parse(t, TEST_CLINICS, data);
}


static yibao_callers_t *
test_callers(test_ctx_t *t, const char *data)
{
    return test_parse(t, TEST_CALLERS, data);
}


/*
 * Parses the three files into t->keys, t->clinics and t->callers.
 * Returns NULL, or the name of the file that failed (t->err says why).
 */

static const char *
test_load(test_ctx_t *t, const char *keys, const char *clinics,
    const char *callers)
{
    t->keys = test_keys(t, keys);
    if (t->keys == NULL) {
        return "keys";
    }

    t->clinics = test_clinics(t, clinics);
    if (t->clinics == NULL) {
        return "clinics";
    }

    t->callers = test_callers(t, callers);
    if (t->callers == NULL) {
        return "callers";
    }

    return NULL;
}


/* The setup plus the good keys, clinics and callers files. */

static int
test_setup_all(void **state)
{
    test_ctx_t  *t;
    const char  *failed;

    if (test_setup(state) != 0) {
        return -1;
    }

    t = *state;

    failed = test_load(t, KEYS_GOOD, CLINICS_GOOD, CALLERS_GOOD);

    if (failed != NULL) {
        print_error("setup: %s: %s\n", failed, t->err.msg);
        return -1;
    }

    return 0;
}


/* The parse failed at line with exactly msg. */

static void
test_failed(test_ctx_t *t, const void *result, size_t line, const char *msg)
{
    assert_null(result);
    assert_string_equal(t->err.msg, msg);
    assert_int_equal(t->err.line, line);
    assert_int_equal(t->err.gwerr, YIBAO_GWERR_NONE);
}


static void
test_failures(test_ctx_t *t, test_file_e which, const test_failure_t *cases,
    size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        test_failed(t, test_parse(t, which, cases[i].data), cases[i].line,
                    cases[i].msg);
    }
}


static const yibao_clinic_t *
test_find_clinic(test_ctx_t *t, const char *code)
{
    return yibao_clinics_find(t->clinics, U(code), strlen(code));
}


static const yibao_caller_t *
test_find_caller(test_ctx_t *t, const char *id)
{
    const yibao_caller_t  *caller;

    caller = yibao_callers_find(t->callers, U(id), strlen(id));
    assert_non_null(caller);

    return caller;
}


static void
test_str_equal(const yibao_str_t *s, const char *v)
{
    assert_int_equal(s->len, strlen(v));
    assert_memory_equal(s->data, v, s->len);
}


/* hash */


static void
test_hash_basic(void **state)
{
    test_ctx_t    *t = *state;

    int            values[1000];
    char           keys[1000][16];
    size_t         i;
    yibao_hash_t  *h;

    h = yibao_hash_create(1000, &t->base.alloc);
    assert_non_null(h);
    assert_int_equal(yibao_hash_count(h), 0);

    for (i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "key-%zu", i);
        assert_int_equal(yibao_hash_insert(h, U(keys[i]), strlen(keys[i]),
                                           &values[i]),
                         YIBAO_OK);
    }

    assert_int_equal(yibao_hash_count(h), 1000);

    for (i = 0; i < 1000; i++) {
        assert_ptr_equal(yibao_hash_find(h, U(keys[i]), strlen(keys[i])),
                         &values[i]);
    }

    assert_null(yibao_hash_find(h, U("key-1000"), 8));
    assert_null(yibao_hash_find(h, U("key-"), 4));
    assert_null(yibao_hash_find(h, U("key-0001"), 8));
    assert_null(yibao_hash_find(h, U(""), 0));

    /* the length counts, not a NUL */
    assert_ptr_equal(yibao_hash_find(h, U("key-12xyz"), 6), &values[12]);

    /* the table is full: a new key does not fit, a duplicate is found */
    assert_int_equal(yibao_hash_insert(h, U("extra"), 5, &values[0]),
                     YIBAO_ERR_TOO_LARGE);
    assert_int_equal(yibao_hash_insert(h, U("key-5"), 5, &values[0]),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_hash_count(h), 1000);
}


static void
test_hash_duplicate(void **state)
{
    test_ctx_t    *t = *state;

    int            a, b;
    yibao_hash_t  *h;

    h = yibao_hash_create(4, &t->base.alloc);
    assert_non_null(h);

    assert_int_equal(yibao_hash_insert(h, U("k1"), 2, &a), YIBAO_OK);
    assert_int_equal(yibao_hash_insert(h, U("k1"), 2, &b), YIBAO_ERR_INVALID);
    assert_ptr_equal(yibao_hash_find(h, U("k1"), 2), &a);
    assert_int_equal(yibao_hash_count(h), 1);

    /* a prefix and the empty key are other keys */
    assert_int_equal(yibao_hash_insert(h, U("k"), 1, &b), YIBAO_OK);
    assert_int_equal(yibao_hash_insert(h, U(""), 0, &b), YIBAO_OK);
    assert_int_equal(yibao_hash_insert(h, NULL, 0, &a), YIBAO_ERR_INVALID);
    assert_ptr_equal(yibao_hash_find(h, U("k"), 1), &b);
    assert_ptr_equal(yibao_hash_find(h, NULL, 0), &b);

    /* NULL values are refused: find could not tell them from "none" */
    assert_int_equal(yibao_hash_insert(h, U("k2"), 2, NULL),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_hash_count(h), 3);
}


static void
test_hash_sizes(void **state)
{
    test_ctx_t    *t = *state;

    int            a;
    yibao_hash_t  *h;

    h = yibao_hash_create(0, &t->base.alloc);
    assert_non_null(h);
    assert_null(yibao_hash_find(h, U("k"), 1));
    assert_int_equal(yibao_hash_insert(h, U("k"), 1, &a),
                     YIBAO_ERR_TOO_LARGE);

    h = yibao_hash_create(1, &t->base.alloc);
    assert_non_null(h);
    assert_int_equal(yibao_hash_insert(h, U("k"), 1, &a), YIBAO_OK);
    assert_int_equal(yibao_hash_insert(h, U("j"), 1, &a),
                     YIBAO_ERR_TOO_LARGE);
    assert_ptr_equal(yibao_hash_find(h, U("k"), 1), &a);
    assert_null(yibao_hash_find(h, U("j"), 1));

    /* refused before any allocation */
    t->base.arena.calls = 0;
    assert_null(yibao_hash_create(((size_t) 1 << 30) + 1, &t->base.alloc));
    assert_int_equal(t->base.arena.calls, 0);
}


/* Many keys that differ in one byte only, as org codes do. */

static void
test_hash_similar_keys(void **state)
{
    test_ctx_t     *t = *state;

    char           *keys, tmp[32];
    size_t          i, n;
    yibao_hash_t   *h;
    unsigned char   probe[22];

    n = 50000;

    keys = malloc(n * 22);
    assert_non_null(keys);

    h = yibao_hash_create(n, &t->base.alloc);
    assert_non_null(h);

    for (i = 0; i < n; i++) {
        snprintf(tmp, sizeof(tmp), "PDY%zu00000000000000%04zu", i / 10000,
                 i % 10000);
        memcpy(&keys[i * 22], tmp, 22);

        assert_int_equal(yibao_hash_insert(h, U(&keys[i * 22]), 22,
                                           &keys[i * 22]),
                         YIBAO_OK);
    }

    for (i = 0; i < n; i++) {
        memcpy(probe, &keys[i * 22], 22);
        assert_ptr_equal(yibao_hash_find(h, probe, 22), &keys[i * 22]);

        probe[21] = 'X';
        assert_null(yibao_hash_find(h, probe, 22));
    }

    assert_int_equal(yibao_hash_count(h), n);

    assert_int_equal(yibao_hash_key(U("PDY60134132080312D6001"), 22),
                     yibao_hash_key(U("PDY60134132080312D6001"), 22));
    assert_int_not_equal(yibao_hash_key(U("PDY60134132080312D6001"), 22),
                         yibao_hash_key(U("PDY60134132080312D6002"), 22));

    free(keys);
}


static void
test_hash_nomem(void **state)
{
    test_ctx_t  *t = *state;

    size_t       n;

    for (n = 1; n <= 3; n++) {
        yibao_test_arena_fail_at(&t->base.arena, n);
        assert_null(yibao_hash_create(10, &t->base.alloc));
        assert_int_equal(t->base.arena.failed, 1);
        t->base.arena.failed = 0;
    }

    yibao_test_arena_fail_at(&t->base.arena, 4);
    assert_non_null(yibao_hash_create(10, &t->base.alloc));
    assert_int_equal(t->base.arena.calls, 3);
}


/* tsv */


typedef struct {
    size_t                line;
    const char           *text;
} test_line_t;


static void
test_tsv_expect(const char *data, size_t len, const test_line_t *expect,
    size_t n)
{
    size_t       i;
    yibao_tsv_t  tsv;
    yibao_str_t  line;

    yibao_tsv_init(&tsv, U(data), len);

    for (i = 0; i < n; i++) {
        assert_int_equal(yibao_tsv_next(&tsv, &line), 1);
        assert_int_equal(tsv.line, expect[i].line);
        test_str_equal(&line, expect[i].text);
    }

    assert_int_equal(yibao_tsv_next(&tsv, &line), 0);
    assert_int_equal(yibao_tsv_next(&tsv, &line), 0);
}


static void
test_tsv_lines(void **state)
{
    static const char         data[] =
        "\xef\xbb\xbf# comment\n"     /* 1 */
        "a\tb\n"                      /* 2 */
        "\n"                          /* 3 */
        "  \t \n"                     /* 4 */
        "#\tnot\ta\trecord\r\n"       /* 5 */
        "c\td\r\n"                    /* 6 */
        "\r\n"                        /* 7 */
        " #x\n"                       /* 8 */
        "e\r\r\n"                     /* 9 */
        "last";                       /* 10 */
    static const test_line_t  expect[] = {
        { 2, "a\tb" },
        { 6, "c\td" },
        { 8, " #x" },
        { 9, "e\r" },
        { 10, "last" },
    };

    (void) state;

    test_tsv_expect(data, sizeof(data) - 1, expect, 5);
}


static void
test_tsv_edges(void **state)
{
    static const test_line_t  one[] = { { 1, "x" } };
    static const test_line_t  two[] = { { 2, "y" } };

    (void) state;

    test_tsv_expect(NULL, 0, NULL, 0);
    test_tsv_expect("", 0, NULL, 0);
    test_tsv_expect("\n\n\r\n", 4, NULL, 0);
    test_tsv_expect("# only a comment", 16, NULL, 0);
    test_tsv_expect("\xef\xbb\xbf", 3, NULL, 0);
    test_tsv_expect("x", 1, one, 1);
    test_tsv_expect("x\r", 2, one, 1);
    test_tsv_expect("x\n", 2, one, 1);
    test_tsv_expect("\ny\n", 3, two, 1);

    /* the length ends the data, not a NUL */
    test_tsv_expect("x\nsecond line", 2, one, 1);

    /* a BOM only at the very start */
    test_tsv_expect("\n\xef\xbb\xbfy", 5, (test_line_t[]) {
                        { 2, "\xef\xbb\xbfy" } }, 1);
}


static void
test_tsv_split(void **state)
{
    size_t       n;
    yibao_str_t  line, f[4];

    (void) state;

    line.data = U("a\tbc\t\td");
    line.len = 7;

    n = yibao_tsv_split(&line, f, 4);
    assert_int_equal(n, 4);
    test_str_equal(&f[0], "a");
    test_str_equal(&f[1], "bc");
    test_str_equal(&f[2], "");
    test_str_equal(&f[3], "d");

    /* more fields than room: counted, not stored */
    f[2].len = 99;
    n = yibao_tsv_split(&line, f, 2);
    assert_int_equal(n, 4);
    test_str_equal(&f[0], "a");
    test_str_equal(&f[1], "bc");
    assert_int_equal(f[2].len, 99);

    line.data = U("a\t");
    line.len = 2;
    assert_int_equal(yibao_tsv_split(&line, f, 4), 2);
    test_str_equal(&f[0], "a");
    test_str_equal(&f[1], "");

    line.data = U("\t");
    line.len = 1;
    assert_int_equal(yibao_tsv_split(&line, f, 4), 2);
    test_str_equal(&f[0], "");
    test_str_equal(&f[1], "");

    line.data = U("single");
    line.len = 6;
    assert_int_equal(yibao_tsv_split(&line, f, 4), 1);
    test_str_equal(&f[0], "single");

    line.data = NULL;
    line.len = 0;
    assert_int_equal(yibao_tsv_split(&line, f, 4), 1);
    assert_int_equal(f[0].len, 0);

    assert_int_equal(yibao_tsv_split(&line, NULL, 0), 1);
}


static void
test_tsv_max_lines(void **state)
{
    (void) state;

    assert_int_equal(yibao_tsv_max_lines(NULL, 0), 0);
    assert_int_equal(yibao_tsv_max_lines(U("a"), 1), 1);
    assert_int_equal(yibao_tsv_max_lines(U("a\n"), 2), 1);
    assert_int_equal(yibao_tsv_max_lines(U("a\nb"), 3), 2);
    assert_int_equal(yibao_tsv_max_lines(U("\n\n\n"), 3), 3);
    assert_int_equal(yibao_tsv_max_lines(U("a\r\nb\r\n"), 6), 2);
}


/* keys */


static void
test_keys_good(void **state)
{
    test_ctx_t         *t = *state;

    yibao_keys_t       *keys;
    const yibao_key_t  *key;

    keys = test_keys(t, KEYS_GOOD);
    assert_non_null(keys);
    assert_int_equal(yibao_keys_count(keys), 3);

    key = yibao_keys_find(keys, U("k-H37010200105"), 14);
    assert_non_null(key);
    test_str_equal(&key->id, "k-H37010200105");
    test_str_equal(&key->ak, "AK-DEMO-0105");
    test_str_equal(&key->sk, "SK-DEMO-SECRET-0105");

    key = yibao_keys_find(keys, U("k-H37010200001"), 14);
    assert_non_null(key);
    test_str_equal(&key->sk, SK1);

    assert_null(yibao_keys_find(keys, U("k-H37010200003"), 14));
    assert_null(yibao_keys_find(keys, U("k-H3701020000"), 13));
    assert_null(yibao_keys_find(keys, U("AK-DEMO-0105"), 12));

    /* a success leaves err alone */
    assert_int_equal(t->err.line, 12345);
    assert_string_equal(t->err.msg, "");
}


static void
test_keys_empty(void **state)
{
    test_ctx_t    *t = *state;

    yibao_keys_t  *keys;

    keys = test_keys(t, "");
    assert_non_null(keys);
    assert_int_equal(yibao_keys_count(keys), 0);
    assert_null(yibao_keys_find(keys, U("k"), 1));

    keys = test_keys(t, "# nothing here\n\n");
    assert_non_null(keys);
    assert_int_equal(yibao_keys_count(keys), 0);

    keys = yibao_keys_parse(NULL, 0, &t->base.alloc, &t->err);
    assert_non_null(keys);
    assert_int_equal(yibao_keys_count(keys), 0);
}


static void
test_keys_errors(void **state)
{
    test_ctx_t                   *t = *state;

    char                          buf[1024];
    static const test_failure_t   cases[] = {
        { "# k\nk1\tak\n", 2,
          "expected 3 to 5 TAB-separated fields, got 2" },
        { "k1\tak\tsk\textra\n", 1,
          "expected 3 or 5 TAB-separated fields (valid_from and valid_to "
          "together), got 4" },
        { "k1\tak\tsk\t\n", 1,
          "expected 3 or 5 TAB-separated fields (valid_from and valid_to "
          "together), got 4" },
        { "k1\tak\tsk\ta\tb\tc\n", 1,
          "expected 3 to 5 TAB-separated fields, got 6" },
        { "k1 ak sk\n", 1, "expected 3 to 5 TAB-separated fields, got 1" },
        { "k0\ta\ts\n\tak\tsk\n", 2, "column 1 \"key_id\" is empty" },
        { "k 1\tak\tsk\n", 1,
          "column 1 \"key_id\" has a byte that is not printable ASCII "
          "(byte 2)" },
        { "k1\t\tsk\n", 1, "column 2 \"ak\" is empty" },
        { "k1\tak\t\n", 1, "column 3 \"sk\" is empty" },
        { "k1\tak\tmy secret\n", 1,
          "column 3 \"sk\" has a byte that is not printable ASCII "
          "(byte 3)" },
        { "k1\tak\tsk\xc3\xa9\n", 1,
          "column 3 \"sk\" has a byte that is not printable ASCII "
          "(byte 3)" },
        { "# keys\nk1\ta\ts\n\nk2\ta\ts\nk1\tb\tt\n", 5,
          "column 1 \"key_id\": \"k1\" is a duplicate of line 2 (two "
          "keys of a key_id need valid_from and valid_to)" },
    };

    test_failures(t, TEST_KEYS, cases, TEST_NCASES(cases));

    memset(buf, 'k', 65);
    memcpy(buf + 65, "\tak\tsk\n", 8);
    test_failed(t, test_keys(t, buf), 1,
                "column 1 \"key_id\" is longer than 64 bytes");

    /* 64 bytes are enough */
    memmove(buf, buf + 1, strlen(buf));
    assert_non_null(test_keys(t, buf));

    memcpy(buf, "k1\tak\t", 6);
    memset(buf + 6, 's', 513);
    memcpy(buf + 6 + 513, "\n", 2);
    test_failed(t, test_keys(t, buf), 1,
                "column 3 \"sk\" is longer than 512 bytes");
}


/* two keys per key_id, their times, the choice of the signing key */

#define T_FROM1       "2026-01-01T00:00:00+08:00"
#define T_TO1         "2027-01-01T00:00:00+08:00"
#define T_FROM2       "2026-12-01T00:00:00+08:00"
#define T_TO2         "2028-01-01T00:00:00+08:00"

/* the same instants in seconds since the epoch */
#define S_FROM1       INT64_C(1767196800)
#define S_TO1         INT64_C(1798732800)
#define S_FROM2       INT64_C(1796054400)
#define S_TO2         INT64_C(1830268800)

#define KEYS_ROTATION                                                        \
    "k-H37010200001\tAK-OLD\tSK-OLD-SECRET\t" T_FROM1 "\t" T_TO1 "\n"         \
    "k-H37010200002\tAK-TWO\tSK-TWO-SECRET\n"                                \
    "k-H37010200001\tAK-NEW\tSK-NEW-SECRET\t" T_FROM2 "\t" T_TO2 "\n"


static void
test_time_parse(void **state)
{
    char     buf[YIBAO_TIME_LEN];
    int64_t  t;
    size_t   i;

    static const char  *bad[] = {
        "2026-01-01", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z", "2026-01-01X00:00:00Z",
        "2026-01-01T00:00:00+8:00", "2026-01-01T00:00:00+15:00",
        "1969-12-31T23:59:59Z", "2026-01-01T00:00:00z",
        "2026-0a-01T00:00:00Z"
    };

    (void) state;

    assert_int_equal(yibao_time_parse(U("1970-01-01T00:00:00Z"), 20, &t),
                     YIBAO_OK);
    assert_true(t == 0);

    assert_int_equal(yibao_time_parse(U(T_FROM1), 25, &t), YIBAO_OK);
    assert_true(t == S_FROM1);
    assert_int_equal(yibao_time_parse(U("2025-12-31 16:00:00Z"), 20, &t),
                     YIBAO_OK);
    assert_true(t == S_FROM1);
    assert_int_equal(yibao_time_parse(U("2025-12-31T12:00:00-04:00"), 25,
                                      &t),
                     YIBAO_OK);
    assert_true(t == S_FROM1);

    /* a leap day */
    assert_int_equal(yibao_time_parse(U("2028-02-29T12:00:00Z"), 20, &t),
                     YIBAO_OK);
    yibao_time_format(t, buf);
    assert_string_equal(buf, "2028-02-29T12:00:00Z");

    yibao_time_format(S_TO2, buf);
    assert_string_equal(buf, "2027-12-31T16:00:00Z");

    for (i = 0; i < TEST_NCASES(bad); i++) {
        assert_int_equal(yibao_time_parse(U(bad[i]), strlen(bad[i]), &t),
                         YIBAO_ERR_INVALID);
    }
}


static void
test_keys_rotation(void **state)
{
    test_ctx_t         *t = *state;

    char                label[YIBAO_KEY_LABEL_LEN];
    yibao_keys_t       *keys;
    const yibao_key_t  *key, *older, *two;

    keys = test_keys(t, KEYS_ROTATION);
    assert_non_null(keys);
    assert_int_equal(yibao_keys_count(keys), 3);

    /* the id finds the newer (the later valid_from), whatever the order */
    key = yibao_keys_find(keys, U("k-H37010200001"), 14);
    assert_non_null(key);
    test_str_equal(&key->ak, "AK-NEW");
    assert_true(key->valid_from == S_FROM2);
    assert_true(key->valid_to == S_TO2);

    older = key->older;
    assert_non_null(older);
    test_str_equal(&older->ak, "AK-OLD");
    assert_null(older->older);

    /* the index is the key's slot */
    assert_ptr_equal(yibao_keys_at(keys, older->index), older);
    assert_ptr_equal(yibao_keys_at(keys, key->index), key);
    assert_int_not_equal(older->index, key->index);
    assert_true(older->index < 3 && key->index < 3);
    assert_null(yibao_keys_at(keys, 3));

    two = yibao_keys_find(keys, U("k-H37010200002"), 14);
    assert_non_null(two);
    assert_null(two->older);
    assert_true(two->valid_from == 0);
    assert_true(two->valid_to == YIBAO_KEY_NEVER);

    assert_int_equal(yibao_key_label(key, label), 25);
    assert_string_equal(label, "k-H37010200001@1796054400");
    yibao_key_label(two, label);
    assert_string_equal(label, "k-H37010200002@0");

    /* the same keys, the other order */
    keys = test_keys(t, "k-H37010200001\tAK-NEW\tSK-NEW-SECRET\t" T_FROM2
                        "\t" T_TO2 "\n"
                        "k-H37010200001\tAK-OLD\tSK-OLD-SECRET\t" T_FROM1
                        "\t" T_TO1 "\n");
    assert_non_null(keys);
    key = yibao_keys_find(keys, U("k-H37010200001"), 14);
    test_str_equal(&key->ak, "AK-NEW");
    test_str_equal(&key->older->ak, "AK-OLD");
    assert_int_equal(key->index, 0);
    assert_int_equal(key->older->index, 1);
}


static void
test_keys_rotation_errors(void **state)
{
    test_ctx_t                   *t = *state;

    static const test_failure_t   cases[] = {
        { "k1\tak\tsk\t2026-01-01\t" T_TO1 "\n", 1,
          "column 4 \"valid_from\": \"2026-01-01\" is not "
          "YYYY-MM-DDTHH:MM:SS and Z or +HH:MM" },
        { "k1\tak\tsk\t" T_FROM1 "\tnever\n", 1,
          "column 5 \"valid_to\": \"never\" is not "
          "YYYY-MM-DDTHH:MM:SS and Z or +HH:MM" },
        { "k1\tak\tsk\t" T_TO1 "\t" T_FROM1 "\n", 1,
          "column 5 \"valid_to\" is not after column 4 \"valid_from\"" },
        { "k1\tak\tsk\t" T_FROM1 "\t" T_FROM1 "\n", 1,
          "column 5 \"valid_to\" is not after column 4 \"valid_from\"" },
        { "k1\ta\tsk\t" T_FROM1 "\t" T_TO1 "\n"
          "k1\tb\tsk\n", 2,
          "column 1 \"key_id\": \"k1\" is a duplicate of line 1 (two keys "
          "of a key_id need valid_from and valid_to)" },
        { "k1\ta\tsk\t" T_FROM1 "\t" T_TO1 "\n"
          "k1\ta\tsk2\t" T_FROM2 "\t" T_TO2 "\n", 2,
          "column 1 \"key_id\": \"k1\" is a duplicate of line 1 with the "
          "same AK" },
        { "k1\ta\tsk\t" T_FROM1 "\t" T_TO1 "\n"
          "k1\tb\tsk2\t" T_FROM1 "\t" T_TO2 "\n", 2,
          "column 1 \"key_id\": \"k1\" is a duplicate of line 1 with the "
          "same valid_from" },
        { "k1\ta\tsk\t" T_FROM1 "\t" T_TO1 "\n"
          "k1\tb\tsk2\t" T_FROM2 "\t" T_TO2 "\n"
          "k1\tc\tsk3\t2027-06-01T00:00:00Z\t" T_TO2 "\n", 3,
          "column 1 \"key_id\": \"k1\" is a duplicate of line 1 (a key_id "
          "has two keys at most)" },
    };

    test_failures(t, TEST_KEYS, cases, TEST_NCASES(cases));
}


static void
test_key_pick(void **state)
{
    test_ctx_t         *t = *state;

    char                label[YIBAO_KEY_LABEL_LEN];
    size_t              len;
    yibao_keys_t       *keys;
    const yibao_key_t  *newer, *older, *two;

    keys = test_keys(t, KEYS_ROTATION);
    assert_non_null(keys);

    newer = yibao_keys_find(keys, U("k-H37010200001"), 14);
    older = newer->older;
    two = yibao_keys_find(keys, U("k-H37010200002"), 14);

    /* before the older is valid: none */
    assert_null(yibao_key_pick(newer, S_FROM1 - 1, NULL, 0));

    /* the older until the newer's valid_from, the newer from then */
    assert_ptr_equal(yibao_key_pick(newer, S_FROM1, NULL, 0), older);
    assert_ptr_equal(yibao_key_pick(newer, S_FROM2 - 1, NULL, 0), older);
    assert_ptr_equal(yibao_key_pick(newer, S_FROM2, NULL, 0), newer);
    assert_ptr_equal(yibao_key_pick(newer, S_TO1, NULL, 0), newer);

    /* an operator's rollback: the older while it is valid */
    len = yibao_key_label(older, label);
    assert_ptr_equal(yibao_key_pick(newer, S_FROM2, U(label), len), older);
    assert_ptr_equal(yibao_key_pick(newer, S_TO1 - 1, U(label), len),
                     older);
    assert_ptr_equal(yibao_key_pick(newer, S_TO1, U(label), len), newer);

    /* a choice that names another key, or part of it, is no rollback */
    assert_ptr_equal(yibao_key_pick(newer, S_FROM2, U(label), len - 1),
                     newer);
    len = yibao_key_label(newer, label);
    assert_ptr_equal(yibao_key_pick(newer, S_FROM2, U(label), len), newer);
    assert_ptr_equal(yibao_key_pick(newer, S_FROM2, U("x"), 1), newer);

    /* every key expired: none */
    assert_null(yibao_key_pick(newer, S_TO2, NULL, 0));
    assert_null(yibao_key_pick(newer, S_TO2 + 86400, U(label), len));

    /* a key without times always signs; a choice changes nothing */
    assert_ptr_equal(yibao_key_pick(two, 0, NULL, 0), two);
    assert_ptr_equal(yibao_key_pick(two, S_TO2 * 10, U("x"), 1), two);
}


static void
test_key_state(void **state)
{
    test_ctx_t         *t = *state;

    yibao_keys_t       *keys;
    const yibao_key_t  *newer, *older, *two;

    keys = test_keys(t, KEYS_ROTATION);
    assert_non_null(keys);

    newer = yibao_keys_find(keys, U("k-H37010200001"), 14);
    older = newer->older;
    two = yibao_keys_find(keys, U("k-H37010200002"), 14);

    assert_int_equal(yibao_key_state(newer, 0, S_FROM2 - 1),
                     YIBAO_KEY_PENDING);
    assert_int_equal(yibao_key_state(newer, 0, S_FROM2),
                     YIBAO_KEY_NEVER_USED);
    assert_int_equal(yibao_key_state(newer, S_FROM2 + 5, S_FROM2 + 10),
                     YIBAO_KEY_ACTIVATED);

    /* 30 days before valid_to it is expiring, activated or not */
    assert_int_equal(yibao_key_state(older, S_FROM1,
                                     S_TO1 - YIBAO_KEY_EXPIRING_S - 1),
                     YIBAO_KEY_ACTIVATED);
    assert_int_equal(yibao_key_state(older, S_FROM1,
                                     S_TO1 - YIBAO_KEY_EXPIRING_S),
                     YIBAO_KEY_EXPIRING);
    assert_int_equal(yibao_key_state(older, 0, S_TO1 - 1),
                     YIBAO_KEY_EXPIRING);
    assert_int_equal(yibao_key_state(older, S_FROM1, S_TO1),
                     YIBAO_KEY_EXPIRED);

    /* a key without times never expires */
    assert_int_equal(yibao_key_state(two, 0, S_TO2 * 10),
                     YIBAO_KEY_NEVER_USED);
    assert_int_equal(yibao_key_state(two, 1, S_TO2 * 10),
                     YIBAO_KEY_ACTIVATED);

    assert_string_equal(yibao_key_state_name(YIBAO_KEY_NEVER_USED),
                        "never_used");
    assert_string_equal(yibao_key_state_name(YIBAO_KEY_ACTIVATED),
                        "activated");
    assert_string_equal(yibao_key_state_name(YIBAO_KEY_EXPIRING),
                        "expiring");
    assert_string_equal(yibao_key_state_name(YIBAO_KEY_EXPIRED), "expired");
    assert_string_equal(yibao_key_state_name(YIBAO_KEY_PENDING), "pending");

    assert_true(yibao_key_activates(U("9001"), 4));
    assert_true(yibao_key_activates(U("2207"), 4));
    assert_true(yibao_key_activates(U("2304"), 4));
    assert_false(yibao_key_activates(U("1101"), 4));
    assert_false(yibao_key_activates(U("2206"), 4));
    assert_false(yibao_key_activates(U("90"), 2));
}


/* the optional columns of the clinics file and the township link */

#define ROW13(a, b, c, d, e, f, g, h, i, j, k, l, m)                         \
    a "\t" b "\t" c "\t" d "\t" e "\t" f "\t" g "\t" h "\t" i "\t" j "\t"    \
    k "\t" l "\t" m "\n"


static void
test_clinics_optional(void **state)
{
    test_ctx_t            *t = *state;

    const yibao_clinic_t  *c;

    t->clinics = test_clinics(t,
        ROW_ORG4
        ROW13(ORG1, "一村卫生室", "370102", "township", "H37010200001",
              "某镇卫生院", "k-H37010200001", "H37010200001", "某县",
              "某镇", "320803101KAF", "是", "")
        ROW13(ORG3, "三村卫生室", "370102", "own", "H37010200105",
              "三村卫生室", "k-H37010200105", "H37010200001", "", "", "",
              "否", "无网络")
        ROW7(ORG5, "五村卫生室", "370102", "own", "H37010200002",
             "五村卫生室", "k-H37010200002") "\n"
        ORG2 "\t二村卫生室\t370102\town\tH37010200003\t二村卫生室\t"
        "k-H37010200002\t\tx县\n");
    assert_non_null(t->clinics);
    assert_int_equal(yibao_clinics_count(t->clinics), 5);

    c = test_find_clinic(t, ORG1);
    test_str_equal(yibao_clinic_township(c), "H37010200001");
    test_str_equal(&c->county, "某县");
    test_str_equal(&c->township, "某镇");
    test_str_equal(&c->org_id, "320803101KAF");
    assert_int_equal(c->included, YIBAO_INCLUDED_YES);
    test_str_equal(&c->reason, "");
    assert_int_equal(yibao_clinics_index(t->clinics, c), 1);
    assert_ptr_equal(yibao_clinics_at(t->clinics, 1), c);

    /* an own-designation village linked to its township hospital */
    c = test_find_clinic(t, ORG3);
    assert_int_equal(c->mode, YIBAO_SETTLE_OWN);
    test_str_equal(yibao_clinic_township(c), "H37010200001");
    assert_int_equal(c->included, YIBAO_INCLUDED_NO);
    test_str_equal(&c->reason, "无网络");

    /* without the columns: empty, unknown */
    c = test_find_clinic(t, ORG5);
    test_str_equal(yibao_clinic_township(c), "");
    test_str_equal(&c->county, "");
    assert_int_equal(c->included, YIBAO_INCLUDED_UNKNOWN);

    c = test_find_clinic(t, ORG2);
    test_str_equal(&c->county, "x县");
    test_str_equal(yibao_clinic_township(c), "");
    assert_null(yibao_clinics_at(t->clinics, 5));
}


static void
test_clinics_optional_errors(void **state)
{
    test_ctx_t                   *t = *state;

    static const test_failure_t   cases[] = {
        { ROW13(ORG1, "x", "370102", "own", "H37010200105", "x",
                "k-H37010200105", "H3701020000", "", "", "", "", ""), 1,
          "column 8 \"township_code\": \"H3701020000\" is not a national "
          "code ('H' or 'P' and 11 digits)" },
        { ROW13(ORG1, "x", "370102", "own", "H37010200105", "x",
                "k-H37010200105", "H37010200105", "", "", "", "", ""), 1,
          "column 8 \"township_code\": \"H37010200105\" is the clinic's "
          "own entity_code" },
        { ROW13(ORG1, "x", "370102", "township", "H37010200001", "x",
                "k-H37010200001", "H37010200002", "", "", "", "", ""), 1,
          "column 8 \"township_code\": \"H37010200002\" is not the "
          "entity_code of a \"township\" clinic" },
        { ROW13(ORG1, "x", "370102", "own", "H37010200105", "x",
                "k-H37010200105", "", "a\x01", "", "", "", ""), 1,
          "column 9 \"county\" has a control character (byte 2)" },
        { ROW13(ORG1, "x", "370102", "own", "H37010200105", "x",
                "k-H37010200105", "", "", "\xff", "", "", ""), 1,
          "column 10 \"township\" is not valid UTF-8" },
        { ROW13(ORG1, "x", "370102", "own", "H37010200105", "x",
                "k-H37010200105", "", "", "", "a b", "", ""), 1,
          "column 11 \"org_id\" has a byte that is not printable ASCII "
          "(byte 2)" },
        { ROW13(ORG1, "x", "370102", "own", "H37010200105", "x",
                "k-H37010200105", "", "", "", "", "maybe", ""), 1,
          "column 12 \"included\": \"maybe\" is not 是, 否, yes, no or "
          "empty" },
    };

    test_failures(t, TEST_CLINICS, cases, TEST_NCASES(cases));
}


/*
 * A caller allowed 50,000 clinics by org code: matched in its hash set,
 * the first, the last, and one not in the list; entity and admdvs items
 * beside them; an item given twice is no error.
 */

static void
test_allowed_long_list(void **state)
{
    test_ctx_t            *t = *state;

    char                  *line, *p;
    size_t                 i, n;
    yibao_clinic_t         clinic;
    const yibao_caller_t  *caller;

    n = 50000;
    line = test_malloc(n * 23 + 256);
    assert_non_null(line);

    p = line + sprintf(line, "big\tbig-caller-secret-0001\t");

    for (i = 0; i < n; i++) {
        p += sprintf(p, "PDY6013413208%09zu,", i);
    }

    p += sprintf(p, "PDY6013413208%09zu,H37010200009,admdvs:4201\t*\n",
                 (size_t) 7);

    t->callers = test_callers(t, line);
    test_free(line);
    assert_non_null(t->callers);

    caller = test_find_caller(t, "big");

    memset(&clinic, 0, sizeof(yibao_clinic_t));
    clinic.name.data = U("x");
    clinic.name.len = 1;
    clinic.admdvs.data = U("370102");
    clinic.admdvs.len = 6;
    clinic.entity_code.data = U("H37010200001");
    clinic.entity_code.len = 12;

    clinic.org_code.data = U("PDY6013413208000000000");
    clinic.org_code.len = 22;
    assert_int_equal(yibao_caller_allowed(caller, &clinic, U("1101"), 4,
                                          NULL),
                     YIBAO_OK);

    clinic.org_code.data = U("PDY6013413208000049999");
    assert_int_equal(yibao_caller_allowed(caller, &clinic, U("1101"), 4,
                                          NULL),
                     YIBAO_OK);

    clinic.org_code.data = U("PDY6013413208000050000");
    assert_int_equal(yibao_caller_allowed(caller, &clinic, U("1101"), 4,
                                          NULL),
                     YIBAO_ERR_DENIED);

    /* by its entity */
    clinic.entity_code.data = U("H37010200009");
    assert_int_equal(yibao_caller_allowed(caller, &clinic, U("1101"), 4,
                                          NULL),
                     YIBAO_OK);

    /* by a prefix of its admdvs, not by a code that only starts alike */
    clinic.entity_code.data = U("H37010200001");
    clinic.admdvs.data = U("420105");
    assert_int_equal(yibao_caller_allowed(caller, &clinic, U("1101"), 4,
                                          NULL),
                     YIBAO_OK);
    clinic.admdvs.data = U("420501");
    assert_int_equal(yibao_caller_allowed(caller, &clinic, U("1101"), 4,
                                          NULL),
                     YIBAO_ERR_DENIED);
}


/* clinics */


static void
test_clinics_good(void **state)
{
    test_ctx_t            *t = *state;

    const yibao_clinic_t  *c;

    assert_int_equal(yibao_clinics_count(t->clinics), 5);

    c = test_find_clinic(t, ORG1);
    assert_non_null(c);
    test_str_equal(&c->org_code, ORG1);
    test_str_equal(&c->name, "某村卫生室");
    test_str_equal(&c->admdvs, "370102");
    assert_int_equal(c->mode, YIBAO_SETTLE_TOWNSHIP);
    test_str_equal(&c->entity_code, "H37010200001");
    test_str_equal(&c->entity_name, "某镇卫生院");
    assert_ptr_equal(c->key, yibao_keys_find(t->keys, U("k-H37010200001"),
                                             14));

    c = test_find_clinic(t, ORG3);
    assert_non_null(c);
    assert_int_equal(c->mode, YIBAO_SETTLE_OWN);
    test_str_equal(&c->key->id, "k-H37010200105");
    test_str_equal(&c->admdvs, "370103");

    c = test_find_clinic(t, ORG5);
    assert_non_null(c);
    test_str_equal(&c->entity_name, "另镇卫生院");
    test_str_equal(&c->key->sk, "SK-DEMO-SECRET-0002");

    assert_non_null(test_find_clinic(t, ORG2));
    assert_non_null(test_find_clinic(t, ORG4));
    assert_null(test_find_clinic(t, ORG9));
    assert_null(test_find_clinic(t, "pdy60134132080312d6001"));
    assert_null(test_find_clinic(t, ""));
}


/* By national code: only clinics with their own designation. */

static void
test_clinics_find_by_entity(void **state)
{
    test_ctx_t            *t = *state;

    const yibao_clinic_t  *c;

    c = test_find_clinic(t, "H37010200105");
    assert_non_null(c);
    test_str_equal(&c->org_code, ORG3);

    /* the township hospital's own row, not a village settling there */
    c = test_find_clinic(t, "H37010200001");
    assert_non_null(c);
    test_str_equal(&c->org_code, ORG4);

    /* only township clinics name H37010200002 */
    assert_null(test_find_clinic(t, "H37010200002"));
    assert_null(test_find_clinic(t, "H37010200009"));
    assert_null(test_find_clinic(t, "H3701020010"));
}


static void
test_clinics_crlf_comments(void **state)
{
    test_ctx_t            *t = *state;

    yibao_clinics_t       *clinics;
    const yibao_clinic_t  *c;

    clinics = test_clinics(t, "\xef\xbb\xbf# demo clinics\r\n"
                           "\r\n"
                           "#" ORG2 "\tcommented\tout\r\n"
                           ORG4 "\t某镇卫生院\t370102\town\tH37010200001"
                           "\t某镇卫生院\tk-H37010200001\r\n"
                           ORG3 "\t三村卫生室\t370103\town\tH37010200105"
                           "\t三村卫生室\tk-H37010200105");
    assert_non_null(clinics);
    assert_int_equal(yibao_clinics_count(clinics), 2);

    c = yibao_clinics_find(clinics, U(ORG4), 22);
    assert_non_null(c);
    test_str_equal(&c->key->id, "k-H37010200001");

    /* positions: the coverage slot of a clinic, and back */
    assert_ptr_equal(yibao_clinics_at(clinics,
                         yibao_clinics_index(clinics, c)), c);
    assert_int_equal(yibao_clinics_index(clinics,
                         yibao_clinics_at(clinics, 0)), 0);
    assert_null(yibao_clinics_at(clinics, 2));
    assert_null(yibao_clinics_find(clinics, U(ORG2), 22));

    c = yibao_clinics_find(clinics, U("H37010200105"), 12);
    assert_non_null(c);
    test_str_equal(&c->entity_name, "三村卫生室");

    /* a CRLF file reports the same line numbers */
    test_failed(t, test_clinics(t, "# head\r\n"
                                ORG4 "\tx\t370102\town\tH37010200001\tx"
                                "\tk-H37010200001\r\n"
                                "\r\n"
                                "x\r\n"),
                4, "expected 7 to 13 TAB-separated fields, got 1");
}


/* The results own copies: the input may be released. */

static void
test_clinics_copy(void **state)
{
    test_ctx_t            *t = *state;

    size_t                 len;
    unsigned char         *data;
    yibao_clinics_t       *clinics;
    const yibao_clinic_t  *c;

    len = strlen(CLINICS_GOOD);
    data = malloc(len);
    assert_non_null(data);
    memcpy(data, CLINICS_GOOD, len);

    clinics = yibao_clinics_parse(data, len, t->keys, &t->base.alloc, &t->err);
    assert_non_null(clinics);

    memset(data, 'x', len);
    free(data);

    c = yibao_clinics_find(clinics, U(ORG2), 22);
    assert_non_null(c);
    test_str_equal(&c->org_code, ORG2);
    test_str_equal(&c->name, "二村卫生室");
    test_str_equal(&c->key->id, "k-H37010200001");
}


static void
test_clinics_errors(void **state)
{
    test_ctx_t                   *t = *state;

    static const test_failure_t   cases[] = {
        { CLINICS_HEAD ROW_ORG4
          ORG1 "\tname\t370102\town\tH37010200001\n",
          3, "expected 7 to 13 TAB-separated fields, got 5" },

        { ROW_ORG4 ROW_ORG1
          ORG2 "\tx\t370102\town\tH37010200003\tx\tk-H37010200001"
          "\t\t\t\t\t\t\t\n",
          3, "expected 7 to 13 TAB-separated fields, got 14" },

        { ROW7("PDY60134132080312D600", "x", "370102", "own",
               "H37010200001", "x", "k-H37010200001"),
          1, "column 1 \"org_code\": \"PDY60134132080312D600\" is not a "
          "22-character org code of [0-9A-Z]" },

        { ROW7("pdy60134132080312d6001", "x", "370102", "own",
               "H37010200001", "x", "k-H37010200001"),
          1, "column 1 \"org_code\": \"pdy60134132080312d6001\" is not a "
          "22-character org code of [0-9A-Z]" },

        { ROW7(ORG1, "", "370102", "own", "H37010200001", "x",
               "k-H37010200001"),
          1, "column 2 \"name\" is empty" },

        { ROW7(ORG1, "bad \xe6\x9f", "370102", "own", "H37010200001", "x",
               "k-H37010200001"),
          1, "column 2 \"name\" is not valid UTF-8" },

        { ROW7(ORG1, "\xed\xa0\x80", "370102", "own", "H37010200001", "x",
               "k-H37010200001"),
          1, "column 2 \"name\" is not valid UTF-8" },

        { ROW7(ORG1, "a\x01" "b", "370102", "own", "H37010200001", "x",
               "k-H37010200001"),
          1, "column 2 \"name\" has a control character (byte 2)" },

        { CLINICS_HEAD
          ROW7(ORG1, "x", "37010", "own", "H37010200001", "x",
               "k-H37010200001"),
          2, "column 3 \"admdvs\": \"37010\" is not 6 digits" },

        { ROW7(ORG1, "x", "37O102", "own", "H37010200001", "x",
               "k-H37010200001"),
          1, "column 3 \"admdvs\": \"37O102\" is not 6 digits" },

        { ROW7(ORG1, "x", "370102", "Own", "H37010200001", "x",
               "k-H37010200001"),
          1, "column 4 \"mode\": \"Own\" is not \"own\" or \"township\"" },

        { ROW7(ORG1, "x", "370102", "自己", "H37010200001", "x",
               "k-H37010200001"),
          1, "column 4 \"mode\": \"自己\" is not \"own\" or \"township\"" },

        { ROW7(ORG1, "x", "370102", "", "H37010200001", "x",
               "k-H37010200001"),
          1, "column 4 \"mode\": \"\" is not \"own\" or \"township\"" },

        { ROW7(ORG1, "x", "370102", "township", "X37010200001", "x",
               "k-H37010200001"),
          1, "column 5 \"entity_code\": \"X37010200001\" is not a "
          "national code ('H' or 'P' and 11 digits)" },

        { ROW7(ORG1, "x", "370102", "township", "H37010200001", "",
               "k-H37010200001"),
          1, "column 6 \"entity_name\" is empty" },

        { ROW7(ORG1, "x", "370102", "township", "H37010200001", "\xff",
               "k-H37010200001"),
          1, "column 6 \"entity_name\" is not valid UTF-8" },

        { CLINICS_HEAD ROW_ORG4 "\n"
          ROW7(ORG1, "x", "370102", "township", "H37010200001", "x", "k1"),
          4, "column 7 \"key_id\": key \"k1\" is not in the keys file" },

        { ROW7(ORG1, "x", "370102", "township", "H37010200001", "x", ""),
          1, "column 7 \"key_id\": key \"\" is not in the keys file" },

        /* a value in a message is escaped */

        { ROW7(ORG1, "x", "370102", "own\x01\"", "H37010200001", "x",
               "k-H37010200001"),
          1, "column 4 \"mode\": \"own\\x01\\\"\" is not \"own\" or "
          "\"township\"" },
    };

    test_failures(t, TEST_CLINICS, cases, TEST_NCASES(cases));
}


static void
test_clinics_names(void **state)
{
    test_ctx_t  *t = *state;

    char         name[256], line[1024];

    /* 66 three-byte characters and two ASCII ones: 200 bytes */
    memset(name, 0, sizeof(name));

    while (strlen(name) < 198) {
        strcat(name, "卫");
    }

    strcat(name, "ab");
    assert_int_equal(strlen(name), 200);

    snprintf(line, sizeof(line), ORG1 "\t%s\t370102\town\tH37010200001"
             "\t%s\tk-H37010200001\n", name, name);
    assert_non_null(test_clinics(t, line));

    strcat(name, "c");

    snprintf(line, sizeof(line), ORG1 "\t%s\t370102\town\tH37010200001"
             "\tx\tk-H37010200001\n", name);
    test_failed(t, test_clinics(t, line), 1,
                "column 2 \"name\" is longer than 200 bytes (201)");

    snprintf(line, sizeof(line), ORG1 "\tx\t370102\town\tH37010200001"
             "\t%s\tk-H37010200001\n", name);
    test_failed(t, test_clinics(t, line), 1,
                "column 6 \"entity_name\" is longer than 200 bytes (201)");
}


static void
test_clinics_duplicates(void **state)
{
    test_ctx_t       *t = *state;

    yibao_clinics_t  *clinics;

    test_failed(t, test_clinics(t, CLINICS_GOOD
                                ROW7(ORG2, "again", "370102", "township",
                                     "H37010200001", "x",
                                     "k-H37010200001")),
                9, "column 1 \"org_code\": \"" ORG2 "\" is a duplicate of "
                "line 5");

    test_failed(t, test_clinics(t, CLINICS_GOOD
                                ROW7(ORG9, "x", "370103", "own",
                                     "H37010200105", "x",
                                     "k-H37010200105")),
                9, "column 5 \"entity_code\": \"H37010200105\" is already "
                "the code of the \"own\" clinic of line 6");

    /* the first error in file order wins */
    test_failed(t, test_clinics(t, ROW_ORG1 "# c\n" ROW_ORG1 "x\n"), 3,
                "column 1 \"org_code\": \"" ORG1 "\" is a duplicate of "
                "line 1");

    /* township clinics share their hospital's code with its own row */
    clinics = test_clinics(t, ROW_ORG1 ROW_ORG4
                           ROW7(ORG2, "x", "370102", "township",
                                "H37010200001", "x", "k-H37010200001"));
    assert_non_null(clinics);
    assert_int_equal(yibao_clinics_count(clinics), 3);
}


/* callers */


static void
test_callers_good(void **state)
{
    test_ctx_t            *t = *state;

    const yibao_caller_t  *caller;

    assert_int_equal(yibao_callers_count(t->callers), 5);

    caller = test_find_caller(t, "his-a");
    test_str_equal(yibao_caller_id(caller), "his-a");
    test_str_equal(yibao_caller_secret(caller), SECRET_A);

    caller = test_find_caller(t, "village-subsystem");
    test_str_equal(yibao_caller_secret(caller), SECRET_ALL);

    assert_null(yibao_callers_find(t->callers, U("his"), 3));
    assert_null(yibao_callers_find(t->callers, U("HIS-A"), 5));
    assert_null(yibao_callers_find(t->callers, U(SECRET_A),
                                   strlen(SECRET_A)));
}


static void
test_callers_errors(void **state)
{
    test_ctx_t                   *t = *state;

#define CALLER_OK   "c0\tsecret-secret-0000\t*\t*\n"
#define SECRET16    "secret-secret-16"

    static const test_failure_t   cases[] = {
        { "# callers\n" CALLER_OK "c1\t" SECRET16 "\t*\n",
          3, "expected 4 TAB-separated fields, got 3" },
        { "\t" SECRET16 "\t*\t*\n",
          1, "column 1 \"caller_id\" is empty" },
        { "c\xc3\xa9\t" SECRET16 "\t*\t*\n",
          1, "column 1 \"caller_id\" has a byte that is not printable "
          "ASCII (byte 2)" },
        { "c1\t\t*\t*\n",
          1, "column 2 \"secret\" is empty" },
        { "c1\tsecret-secret-1\t*\t*\n",
          1, "column 2 \"secret\" is shorter than 16 characters" },
        { "c1\tsecret secret 16\t*\t*\n",
          1, "column 2 \"secret\" has a byte that is not printable ASCII "
          "(byte 7)" },
        { CALLER_OK CALLER_OK,
          2, "column 1 \"caller_id\": \"c0\" is a duplicate of line 1" },

        /* clinics */

        { "c1\t" SECRET16 "\t\t*\n",
          1, "column 3 \"clinics\" is empty" },
        { "c1\t" SECRET16 "\t" ORG1 ",," ORG2 "\t*\n",
          1, "column 3 \"clinics\": item 2 is empty" },
        { "c1\t" SECRET16 "\t" ORG1 ",\t*\n",
          1, "column 3 \"clinics\": item 2 is empty" },
        { "c1\t" SECRET16 "\t,\t*\n",
          1, "column 3 \"clinics\": item 1 is empty" },
        { "c1\t" SECRET16 "\t*," ORG1 "\t*\n",
          1, "column 3 \"clinics\": item \"*\" is not \"*\" alone, an org "
          "code, a national code or admdvs:<prefix>" },
        { "c1\t" SECRET16 "\tclinic-1\t*\n",
          1, "column 3 \"clinics\": item \"clinic-1\" is not \"*\" alone, "
          "an org code, a national code or admdvs:<prefix>" },
        { "c1\t" SECRET16 "\t " ORG1 "\t*\n",
          1, "column 3 \"clinics\": item \" " ORG1 "\" is not \"*\" alone, "
          "an org code, a national code or admdvs:<prefix>" },
        { "c1\t" SECRET16 "\tadmdvs:\t*\n",
          1, "column 3 \"clinics\": item \"admdvs:\" is not "
          "admdvs:<1 to 6 digits>" },
        { "c1\t" SECRET16 "\tadmdvs:37a\t*\n",
          1, "column 3 \"clinics\": item \"admdvs:37a\" is not "
          "admdvs:<1 to 6 digits>" },
        { "c1\t" SECRET16 "\tadmdvs:3701020\t*\n",
          1, "column 3 \"clinics\": item \"admdvs:3701020\" is not "
          "admdvs:<1 to 6 digits>" },

        /* infnos */

        { "c1\t" SECRET16 "\t*\t\n",
          1, "column 4 \"infnos\" is empty" },
        { "c1\t" SECRET16 "\t*\t1101,,2201\n",
          1, "column 4 \"infnos\": item 2 is empty" },
        { "c1\t" SECRET16 "\t*\t1101,\n",
          1, "column 4 \"infnos\": item 2 is empty" },
        { "c1\t" SECRET16 "\t*\t1101,22O1\n",
          1, "column 4 \"infnos\": item \"22O1\" is not \"*\" alone, an "
          "infno (4 digits and an optional letter) or a range" },
        { "c1\t" SECRET16 "\t*\t2203a\n",
          1, "column 4 \"infnos\": item \"2203a\" is not \"*\" alone, an "
          "infno (4 digits and an optional letter) or a range" },
        { "c1\t" SECRET16 "\t*\t1101,*\n",
          1, "column 4 \"infnos\": item \"*\" is not \"*\" alone, an "
          "infno (4 digits and an optional letter) or a range" },
        { "c1\t" SECRET16 "\t*\t2208-2201\n",
          1, "column 4 \"infnos\": range \"2208-2201\" is not "
          "<4 digits>-<4 digits>, low to high" },
        { "c1\t" SECRET16 "\t*\t2201-22\n",
          1, "column 4 \"infnos\": range \"2201-22\" is not "
          "<4 digits>-<4 digits>, low to high" },
        { "c1\t" SECRET16 "\t*\t2201A-2208\n",
          1, "column 4 \"infnos\": range \"2201A-2208\" is not "
          "<4 digits>-<4 digits>, low to high" },
        { "c1\t" SECRET16 "\t*\t-\n",
          1, "column 4 \"infnos\": range \"-\" is not "
          "<4 digits>-<4 digits>, low to high" },
        { "c1\t" SECRET16 "\t*\t2201-2208-2209\n",
          1, "column 4 \"infnos\": range \"2201-2208-2209\" is not "
          "<4 digits>-<4 digits>, low to high" },
    };

    test_failures(t, TEST_CALLERS, cases, TEST_NCASES(cases));

#undef CALLER_OK
#undef SECRET16
}


/* No message ever holds a secret, whatever the mistake. */

static void
test_no_secret_in_messages(void **state)
{
    test_ctx_t  *t = *state;

    size_t       i;
    const char  *keys[] = {
        "k1\tAK-PUBLIC\tSK-TOP-SECRET\textra\n",
        "k1\tAK-PUBLIC\nSK-TOP-SECRET\n",
        "k 1\tAK-PUBLIC\tSK-TOP-SECRET\n",
        "k1\t\tSK-TOP-SECRET\n",
        "k1\tAK-PUBLIC\tSK-TOP-SECRET \n",
        "k1\tAK-PUBLIC\tSK-TOP-SECRET\x7f\n",
        "k1\tAK-PUBLIC\tSK-TOP-SECRET\nk1\tAK-PUBLIC\tSK-TOP-SECRET\n",
    };
    const char  *callers[] = {
        "c1\tSK-TOP-SECRET\t*\n",
        "c1\tSK-TOP-SECRET\t*\t*\t*\n",
        "c1\tSK-TOP-SECRET\n",
        "c1\tSK-TOP-SECRET-LONG \t*\t*\n",
        "c 1\tSK-TOP-SECRET-LONG\t*\t*\n",
        "c1\tSK-TOP-SECRET-LONG\tnone\t*\n",
        "c1\tSK-TOP-SECRET-LONG\t*\tnone\n",
        "c1\tSK-TOP-SECRET-LONG\t*\t*\nc1\tSK-TOP-SECRET-LONG\t*\t*\n",
    };

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        assert_null(test_keys(t, keys[i]));
        assert_int_not_equal(t->err.msg[0], '\0');
        assert_null(strstr(t->err.msg, "SK-TOP"));
    }

    for (i = 0; i < sizeof(callers) / sizeof(callers[0]); i++) {
        assert_null(test_callers(t, callers[i]));
        assert_int_not_equal(t->err.msg[0], '\0');
        assert_null(strstr(t->err.msg, "SK-TOP"));
    }
}


/* caller permissions */


static int
test_allowed(test_ctx_t *t, const char *caller, const char *clinic,
    const char *infno)
{
    const yibao_clinic_t  *c;

    c = test_find_clinic(t, clinic);
    assert_non_null(c);

    test_err_reset(t);

    return yibao_caller_allowed(test_find_caller(t, caller), c, U(infno),
                                strlen(infno), &t->err);
}


static void
test_denied(test_ctx_t *t, const char *caller, const char *clinic,
    const char *infno, int gwerr, const char *msg)
{
    assert_int_equal(test_allowed(t, caller, clinic, infno),
                     YIBAO_ERR_DENIED);
    assert_int_equal(t->err.gwerr, gwerr);
    assert_int_equal(t->err.line, 0);
    assert_string_equal(t->err.msg, msg);
}


static void
test_permissions(test_ctx_t *t, const test_permission_t *cases, size_t n)
{
    size_t                    i;
    const test_permission_t  *c;

    for (i = 0; i < n; i++) {
        c = &cases[i];

        if (c->gwerr == 0) {
            assert_int_equal(test_allowed(t, c->caller, c->clinic, c->infno),
                             YIBAO_OK);

        } else {
            test_denied(t, c->caller, c->clinic, c->infno, c->gwerr, c->msg);
        }
    }
}


static void
test_allowed_all(void **state)
{
    test_ctx_t                      *t = *state;

    static const test_permission_t   cases[] = {
        { "village-subsystem", ORG1, "1101", 0, NULL },
        { "village-subsystem", ORG3, "2207A", 0, NULL },
        { "village-subsystem", ORG5, "9999", 0, NULL },

        /* "*" admits anything: the envelope checks come elsewhere */
        { "village-subsystem", ORG4, "x", 0, NULL },
    };

    test_permissions(t, cases, TEST_NCASES(cases));

    /* nothing written on success */
    assert_int_equal(t->err.line, 12345);
    assert_int_equal(t->err.gwerr, 0);
}


static void
test_allowed_admdvs(void **state)
{
    test_ctx_t                      *t = *state;

    /* his-a: admdvs:370102, 1101,2201-2208,2601,5203,9001 */

    static const test_permission_t   cases[] = {
        { "his-a", ORG1, "1101", 0, NULL },
        { "his-a", ORG2, "2201", 0, NULL },
        { "his-a", ORG4, "2208", 0, NULL },
        { "his-a", ORG1, "2207", 0, NULL },
        { "his-a", ORG1, "2207A", 0, NULL },
        { "his-a", ORG1, "2203A", 0, NULL },
        { "his-a", ORG1, "2601", 0, NULL },
        { "his-a", ORG1, "9001", 0, NULL },

        { "his-a", ORG3, "1101", CLINIC_DENIED,
          "caller \"his-a\" may not act for clinic " ORG3
          " (三村卫生室)" },
        { "his-a", ORG5, "1101", CLINIC_DENIED,
          "caller \"his-a\" may not act for clinic " ORG5
          " (五村卫生室)" },
        { "his-a", ORG1, "2209", INFNO_DENIED,
          "caller \"his-a\" may not use infno 2209" },
        { "his-a", ORG1, "2200", INFNO_DENIED,
          "caller \"his-a\" may not use infno 2200" },
        { "his-a", ORG1, "1101A", INFNO_DENIED,
          "caller \"his-a\" may not use infno 1101A" },
        { "his-a", ORG1, "2600", INFNO_DENIED,
          "caller \"his-a\" may not use infno 2600" },
        { "his-a", ORG1, "2207a", INFNO_DENIED,
          "caller \"his-a\" may not use infno \"2207a\"" },
        { "his-a", ORG1, "", INFNO_DENIED,
          "caller \"his-a\" may not use infno \"\"" },
        { "his-a", ORG1, "22\n\"x", INFNO_DENIED,
          "caller \"his-a\" may not use infno \"22\\x0a\\\"x\"" },

        /* the clinic is checked first */
        { "his-a", ORG3, "2209", CLINIC_DENIED,
          "caller \"his-a\" may not act for clinic " ORG3
          " (三村卫生室)" },

        /* his-c: admdvs:37,admdvs:4 - short prefixes */
        { "his-c", ORG3, "9001", 0, NULL },
        { "his-c", ORG5, "9001", 0, NULL },
    };

    test_permissions(t, cases, TEST_NCASES(cases));
}


static void
test_allowed_list(void **state)
{
    test_ctx_t                      *t = *state;

    static const test_permission_t   cases[] = {

        /* his-ro: ORG1 only, 1101 only */

        { "his-ro", ORG1, "1101", 0, NULL },
        { "his-ro", ORG2, "1101", CLINIC_DENIED,
          "caller \"his-ro\" may not act for clinic " ORG2
          " (二村卫生室)" },
        { "his-ro", ORG4, "1101", CLINIC_DENIED,
          "caller \"his-ro\" may not act for clinic " ORG4
          " (某镇卫生院)" },
        { "his-ro", ORG1, "2207", INFNO_DENIED,
          "caller \"his-ro\" may not use infno 2207" },

        /* his-b: ORG3 and entity H37010200001; 2203A exact, 2204-2204 */

        { "his-b", ORG3, "2203A", 0, NULL },
        { "his-b", ORG1, "2204", 0, NULL },
        { "his-b", ORG2, "2204A", 0, NULL },
        { "his-b", ORG4, "2204", 0, NULL },
        { "his-b", ORG5, "2204", CLINIC_DENIED,
          "caller \"his-b\" may not act for clinic " ORG5
          " (五村卫生室)" },
        { "his-b", ORG3, "2203", INFNO_DENIED,
          "caller \"his-b\" may not use infno 2203" },
        { "his-b", ORG3, "2203B", INFNO_DENIED,
          "caller \"his-b\" may not use infno 2203B" },
        { "his-b", ORG3, "2205", INFNO_DENIED,
          "caller \"his-b\" may not use infno 2205" },
        { "his-b", ORG3, "2203A ", INFNO_DENIED,
          "caller \"his-b\" may not use infno \"2203A \"" },
    };

    test_permissions(t, cases, TEST_NCASES(cases));
}


static void
test_allowed_no_err(void **state)
{
    test_ctx_t            *t = *state;

    const yibao_clinic_t  *c;
    const yibao_caller_t  *caller;

    caller = test_find_caller(t, "his-ro");

    c = test_find_clinic(t, ORG2);
    assert_int_equal(yibao_caller_allowed(caller, c, U("1101"), 4, NULL),
                     YIBAO_ERR_DENIED);

    c = test_find_clinic(t, ORG1);
    assert_int_equal(yibao_caller_allowed(caller, c, U("1102"), 4, NULL),
                     YIBAO_ERR_DENIED);
    assert_int_equal(yibao_caller_allowed(caller, c, U("1101"), 4, NULL),
                     YIBAO_OK);
}


/* the shipped demo files */


/*
 * Reads conf/demo/<name> into a malloc()ed, NUL-terminated buffer; the
 * directory is found from YIBAO_TEST_DATA (tests/unit/data, which need
 * not exist) or the working directory.  NULL if it cannot be read.
 */

static char *
test_demo_file(const char *name)
{
    long         n;
    char        *data, path[4096];
    FILE        *f;
    size_t       i;
    const char  *dir, *tail;

    f = NULL;
    dir = getenv("YIBAO_TEST_DATA");
    tail = "/tests/unit/data";

    if (dir != NULL) {
        i = strlen(dir);

        if (i > strlen(tail) && strcmp(dir + i - strlen(tail), tail) == 0) {
            snprintf(path, sizeof(path), "%.*s/conf/demo/%s",
                     (int) (i - strlen(tail)), dir, name);
            f = fopen(path, "rb");
        }
    }

    if (f == NULL) {
        snprintf(path, sizeof(path), "conf/demo/%s", name);
        f = fopen(path, "rb");
    }

    if (f == NULL) {
        print_message("cannot read %s\n", path);
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0
        || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }

    data = malloc(n + 1);

    if (data == NULL || fread(data, 1, n, f) != (size_t) n) {
        free(data);
        fclose(f);
        return NULL;
    }

    fclose(f);

    data[n] = '\0';

    return data;
}


static void
test_demo(void **state)
{
    test_ctx_t                      *t = *state;

    char                            *keys, *clinics, *callers;
    const char                      *failed;
    const yibao_clinic_t            *c;
    static const test_permission_t   cases[] = {
        { "village-subsystem", "PDY60134132080312D6004", "2207", 0, NULL },
        { "his-vendor-a", "PDY60134132080312D6002", "2207A", 0, NULL },
        { "his-vendor-a", "PDY60134132080312D6002", "2401", INFNO_DENIED,
          "caller \"his-vendor-a\" may not use infno 2401" },
        { "his-readonly", "PDY60134132080312D6001", "1101", 0, NULL },
        { "his-readonly", "PDY60134132080312D6002", "1101", CLINIC_DENIED,
          "caller \"his-readonly\" may not act for clinic "
          "PDY60134132080312D6002 (东村卫生室)" },
    };

    keys = test_demo_file("keys.tsv");
    clinics = test_demo_file("clinics.tsv");
    callers = test_demo_file("callers.tsv");

    if (keys == NULL || clinics == NULL || callers == NULL) {
        free(keys);
        free(clinics);
        free(callers);
        skip();
    }

    failed = test_load(t, keys, clinics, callers);

    free(keys);
    free(clinics);
    free(callers);

    if (failed != NULL) {
        fail_msg("%s.tsv:%zu: %s", failed, t->err.line, t->err.msg);
    }

    assert_int_equal(yibao_keys_count(t->keys), 3);
    assert_int_equal(yibao_clinics_count(t->clinics), 7);
    assert_int_equal(yibao_callers_count(t->callers), 3);

    c = test_find_clinic(t, "H37010200105");
    assert_non_null(c);
    test_str_equal(&c->org_code, "PDY60134132080312D6005");
    test_str_equal(&c->key->id, "k-H37010200105");

    c = test_find_clinic(t, "H37010200001");
    assert_non_null(c);
    test_str_equal(&c->name, "某镇卫生院");

    c = test_find_clinic(t, "PDY60134132080312D6004");
    assert_non_null(c);
    test_str_equal(&c->entity_code, "H37010200002");
    assert_int_equal(c->mode, YIBAO_SETTLE_TOWNSHIP);

    test_str_equal(yibao_caller_secret(test_find_caller(t,
                                                        "village-subsystem")),
                   "demo-village-subsystem-secret-0001");

    test_permissions(t, cases, TEST_NCASES(cases));
}


/* allocation failures */


/*
 * Fails each allocation of a parse in turn: NULL and "out of memory"
 * until the parse needs no more allocations and succeeds.  Returns the
 * number of allocations of a success.
 */

static size_t
test_nomem_sweep(test_ctx_t *t, test_file_e which, const char *data)
{
    void    *r;
    size_t   n;

    r = NULL;

    for (n = 1; n < 100; n++) {
        yibao_test_arena_fail_at(&t->base.arena, n);

        r = test_parse(t, which, data);
        if (r != NULL) {
            break;
        }

        assert_int_equal(t->base.arena.failed, 1);
        assert_string_equal(t->err.msg, "out of memory");
        assert_int_equal(t->err.line, 0);
        t->base.arena.failed = 0;
    }

    assert_non_null(r);
    yibao_test_arena_fail_at(&t->base.arena, 0);

    return n - 1;
}


static void
test_nomem(void **state)
{
    test_ctx_t  *t = *state;

    /* copy, object, records, hash (3) */
    assert_int_equal(test_nomem_sweep(t, TEST_KEYS, KEYS_GOOD), 6);
    assert_int_equal(test_nomem_sweep(t, TEST_CLINICS, CLINICS_GOOD), 6);

    /*
     * plus a list per caller and per column that is not "*", and the
     * hash set (3) of each clinics list
     */
    assert_int_equal(test_nomem_sweep(t, TEST_CALLERS, CALLERS_GOOD),
                     6 + 8 + 4 * 3);

    /* with everything failing, still no crash */
    yibao_test_arena_fail_from(&t->base.arena, 1);
    assert_null(test_keys(t, KEYS_GOOD));
    assert_null(test_clinics(t, CLINICS_GOOD));
    assert_null(test_callers(t, CALLERS_GOOD));
    assert_null(yibao_hash_create(1, &t->base.alloc));
}


/* A file of more than 2^24 lines is refused before any allocation. */

static void
test_too_many_lines(void **state)
{
    test_ctx_t  *t = *state;

    char        *data;
    size_t       len;

    len = ((size_t) 1 << 24) + 1;
    data = malloc(len);
    assert_non_null(data);
    memset(data, '\n', len);

    test_err_reset(t);
    assert_null(yibao_keys_parse(U(data), len, &t->base.alloc, &t->err));
    assert_string_equal(t->err.msg, "the file has more than 16777216 lines");
    assert_int_equal(t->err.line, 0);

    assert_null(yibao_clinics_parse(U(data), len, t->keys, &t->base.alloc,
                                    &t->err));
    assert_null(yibao_callers_parse(U(data), len, &t->base.alloc, &t->err));
    assert_int_equal(t->base.arena.calls, 0);

    /* 2^24 lines are allowed */
    assert_non_null(yibao_keys_parse(U(data), len - 1, &t->base.alloc,
                                     &t->err));

    free(data);
}


/* size */


static double
test_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/*
 * 50,000 clinics, 2,000 township hospitals: the parse takes far less
 * than a second even under the sanitizers, and the duplicate at the end
 * is found with the right earlier line.
 */

static void
test_clinics_large(void **state)
{
    test_ctx_t            *t = *state;

    char                  *keys, *clinics, *p;
    size_t                 i, n, h;
    double                 start, took;
    yibao_keys_t          *k;
    yibao_clinics_t       *c;
    const yibao_clinic_t  *clinic;

    n = 50000;

    keys = malloc(2000 * 64);
    clinics = malloc(n * 160 + 256);
    assert_non_null(keys);
    assert_non_null(clinics);

    p = keys;

    for (h = 0; h < 2000; h++) {
        p += sprintf(p, "k-H3701%02zu%05zu\tAK%06zu\tSK-SECRET-%06zu\n",
                     h / 100, h, h, h);
    }

    p = clinics;
    p += sprintf(p, "# generated\n");

    for (i = 0; i < n; i++) {
        h = i / 25;
        p += sprintf(p, "PDY%019zu\t第%zu村卫生室\t3701%02zu\t%s"
                     "\tH3701%02zu%05zu\t第%zu镇卫生院\tk-H3701%02zu%05zu\n",
                     i, i, h / 100, (i % 25 == 0) ? "own" : "township",
                     h / 100, h, h, h / 100, h);
    }

    k = test_keys(t, keys);
    assert_non_null(k);
    assert_int_equal(yibao_keys_count(k), 2000);
    t->keys = k;

    start = test_now();
    c = test_clinics(t, clinics);
    took = test_now() - start;

    if (c == NULL) {
        fail_msg("line %zu: %s", t->err.line, t->err.msg);
    }

    print_message("parsed %zu clinics in %.1f ms\n", n, took * 1000);
    assert_true(took < 1.0);

    assert_int_equal(yibao_clinics_count(c), n);

    clinic = yibao_clinics_find(c, U("PDY0000000000000049999"), 22);
    assert_non_null(clinic);
    test_str_equal(&clinic->entity_code, "H37011901999");
    test_str_equal(&clinic->key->id, "k-H37011901999");

    clinic = yibao_clinics_find(c, U("H37011901999"), 12);
    assert_non_null(clinic);
    test_str_equal(&clinic->org_code, "PDY0000000000000049975");

    /* a duplicate at the end names the first line of the file */
    sprintf(p, "PDY%019d\tx\t370100\ttownship\tH370100%05d\tx"
            "\tk-H370100%05d\n", 0, 0, 0);

    start = test_now();
    test_failed(t, test_clinics(t, clinics), n + 2,
                "column 1 \"org_code\": \"PDY0000000000000000000\" is a "
                "duplicate of line 2");
    took = test_now() - start;
    assert_true(took < 1.0);

    free(keys);
    free(clinics);
}


/* the tests with an arena, and with the good files parsed into t too */

#define TEST_ARENA(f)                                                        \
    cmocka_unit_test_setup_teardown(f, test_setup, yibao_test_ctx_teardown)
#define TEST_FILES(f)                                                        \
    cmocka_unit_test_setup_teardown(f, test_setup_all,                       \
                                    yibao_test_ctx_teardown)


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        TEST_ARENA(test_hash_basic),
        TEST_ARENA(test_hash_duplicate),
        TEST_ARENA(test_hash_sizes),
        TEST_ARENA(test_hash_similar_keys),
        TEST_ARENA(test_hash_nomem),
        cmocka_unit_test(test_tsv_lines),
        cmocka_unit_test(test_tsv_edges),
        cmocka_unit_test(test_tsv_split),
        cmocka_unit_test(test_tsv_max_lines),
        TEST_ARENA(test_keys_good),
        TEST_ARENA(test_keys_empty),
        TEST_ARENA(test_keys_errors),
        TEST_FILES(test_clinics_good),
        TEST_FILES(test_clinics_find_by_entity),
        TEST_FILES(test_clinics_crlf_comments),
        TEST_FILES(test_clinics_copy),
        TEST_FILES(test_clinics_errors),
        TEST_FILES(test_clinics_names),
        TEST_FILES(test_clinics_duplicates),
        TEST_FILES(test_callers_good),
        cmocka_unit_test(test_time_parse),
        TEST_ARENA(test_keys_rotation),
        TEST_ARENA(test_keys_rotation_errors),
        TEST_ARENA(test_key_pick),
        TEST_ARENA(test_key_state),
        TEST_FILES(test_clinics_optional),
        TEST_FILES(test_clinics_optional_errors),
        TEST_ARENA(test_allowed_long_list),
        TEST_ARENA(test_callers_errors),
        TEST_ARENA(test_no_secret_in_messages),
        TEST_FILES(test_allowed_all),
        TEST_FILES(test_allowed_admdvs),
        TEST_FILES(test_allowed_list),
        TEST_FILES(test_allowed_no_err),
        TEST_ARENA(test_demo),
        TEST_FILES(test_nomem),
        TEST_ARENA(test_too_many_lines),
        TEST_ARENA(test_clinics_large),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
