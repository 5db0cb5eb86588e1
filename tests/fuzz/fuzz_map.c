/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Mapping tables: yibao_map_builder_add_named() of up to 4 files,
 * yibao_map_build(), and lookups of the codes of the input: every row
 * of a file that was added must be found again, local to national in
 * its own scope and national to local.
 *
 * Input: the files, separated by RS (0x1e).
 */

#include "yibao_map.h"
#include "yibao_tsv.h"
#include "yibao_fuzz.h"


#define FUZZ_FILES  4


static void fuzz_check_rows(const yibao_map_t *map, const yibao_str_t *file);
static void fuzz_check_row(const yibao_map_t *map, const yibao_str_t *line);
static int fuzz_str_eq(const yibao_str_t *x, const yibao_str_t *y);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc, added[FUZZ_FILES];
    char                  name[16];
    size_t                i, n, rows;
    yibao_err_t           err;
    yibao_str_t           parts[FUZZ_FILES], label, line;
    yibao_tsv_t           tsv;
    yibao_map_t          *map;
    yibao_alloc_t         alloc;
    unsigned char        *copies[FUZZ_FILES];
    yibao_fuzz_arena_t    arena;
    yibao_map_builder_t  *b;

    yibao_fuzz_arena_init(&arena, &alloc);

    n = yibao_fuzz_split(data, size, parts, FUZZ_FILES);

    b = yibao_map_builder_create(&alloc);
    yibao_fuzz_assert(b != NULL);

    rows = 0;

    for (i = 0; i < n; i++) {
        copies[i] = yibao_fuzz_copy(&parts[i]);
        parts[i].data = copies[i];

        snprintf(name, sizeof(name), "f%zu.tsv", i + 1);
        label.data = (const unsigned char *) name;
        label.len = strlen(name);

        memset(&err, 0, sizeof(yibao_err_t));

        rc = (i == 0) ? yibao_map_builder_add(b, parts[i].data,
                                              parts[i].len, &err)
                      : yibao_map_builder_add_named(b, &label, parts[i].data,
                                                    parts[i].len, &err);

        added[i] = (rc == YIBAO_OK);

        if (!added[i]) {
            yibao_fuzz_assert(rc == YIBAO_ERR_SYNTAX
                              || rc == YIBAO_ERR_INVALID
                              || rc == YIBAO_ERR_TOO_LARGE
                              || rc == YIBAO_ERR_NOMEM);
            yibao_fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg))
                              != NULL);
            continue;
        }

        yibao_tsv_init(&tsv, parts[i].data, parts[i].len);

        while (yibao_tsv_next(&tsv, &line)) {
            rows++;
        }
    }

    memset(&err, 0, sizeof(yibao_err_t));

    map = yibao_map_build(b, &err);

    if (map == NULL) {
        yibao_fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);

    } else {
        /* a failed add() added nothing */
        yibao_fuzz_assert(yibao_map_rows(map) == rows);

        for (i = 0; i < n; i++) {
            if (added[i]) {
                fuzz_check_rows(map, &parts[i]);
            }
        }
    }

    for (i = 0; i < n; i++) {
        free(copies[i]);
    }

    yibao_fuzz_arena_free(&arena);

    return 0;
}


static void
fuzz_check_rows(const yibao_map_t *map, const yibao_str_t *file)
{
    yibao_str_t  line;
    yibao_tsv_t  tsv;

    yibao_tsv_init(&tsv, file->data, file->len);

    while (yibao_tsv_next(&tsv, &line)) {
        fuzz_check_row(map, &line);
    }
}


static void
fuzz_check_row(const yibao_map_t *map, const yibao_str_t *line)
{
    size_t              n;
    yibao_str_t         f[5], dict, empty;
    yibao_kind_e        kind;
    yibao_map_hit_t     hit;
    unsigned char       admdvs[6];
    yibao_map_scope_t   scope, *sp;

    n = yibao_tsv_split(line, f, 5);
    yibao_fuzz_assert(n == 4 || n == 5);

    if (n == 4) {
        f[4].data = NULL;
        f[4].len = 0;
    }

    yibao_fuzz_assert(yibao_kind_parse(f[0].data, f[0].len, &kind, &dict)
                      == YIBAO_OK);
    yibao_fuzz_assert(yibao_kind_is_national(kind, f[3].data, f[3].len));

    empty.data = (const unsigned char *) "";
    empty.len = 0;

    scope.org_code = empty;
    scope.entity_code = empty;
    scope.admdvs = empty;
    sp = &scope;

    if (f[1].len == 1 && f[1].data[0] == '*') {
        sp = NULL;

    } else if (f[1].len >= 7 && memcmp(f[1].data, "clinic:", 7) == 0) {
        scope.org_code.data = f[1].data + 7;
        scope.org_code.len = f[1].len - 7;

    } else if (f[1].len >= 7 && memcmp(f[1].data, "entity:", 7) == 0) {
        scope.entity_code.data = f[1].data + 7;
        scope.entity_code.len = f[1].len - 7;

    } else {
        yibao_fuzz_assert(f[1].len >= 7
                          && memcmp(f[1].data, "admdvs:", 7) == 0);
        yibao_fuzz_assert(f[1].len - 7 <= 6);

        /* a region of the prefix that no row can name exactly */
        memset(admdvs, 'z', 6);
        memcpy(admdvs, f[1].data + 7, f[1].len - 7);
        scope.admdvs.data = admdvs;
        scope.admdvs.len = 6;
    }

    yibao_fuzz_assert(yibao_map_lookup(map, kind, &dict, sp, f[2].data,
                                       f[2].len, &hit)
                      == 1);
    yibao_fuzz_assert(fuzz_str_eq(&hit.local, &f[2]));
    yibao_fuzz_assert(fuzz_str_eq(&hit.national, &f[3]));
    yibao_fuzz_assert(fuzz_str_eq(&hit.name, &f[4]));

    /* national to local: some row of that national code */

    yibao_fuzz_assert(yibao_map_reverse(map, kind, &dict, sp, f[3].data,
                                        f[3].len, &hit)
                      == 1);
    yibao_fuzz_assert(fuzz_str_eq(&hit.national, &f[3]));

    /* other kinds and a NULL hit do not crash */

    (void) yibao_map_lookup(map, (yibao_kind_e) ((kind + 1) % YIBAO_KIND_MAX),
                            &dict, sp, f[2].data, f[2].len, NULL);
    (void) yibao_map_reverse(map, kind, &dict, sp, f[2].data, f[2].len,
                             NULL);
}


static int
fuzz_str_eq(const yibao_str_t *x, const yibao_str_t *y)
{
    return x->len == y->len
           && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
}
