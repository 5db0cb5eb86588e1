/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * yibao-maptool: the gateway's code-mapping tables (对码表,
 * mappings/yibao_map.h) checked and queried with the gateway's own
 * code, so that a table this tool accepts is a table nginx accepts:
 *
 *     yibao-maptool validate FILE...
 *     yibao-maptool lookup --kind KIND [--dict NAME] [--clinic ORG]
 *         [--entity CODE] [--admdvs NNNNNN] CODE FILE...
 *     yibao-maptool reverse (the same options) CODE FILE...
 *
 * validate prints the rows of every file, per kind and per scope type,
 * or every problem as "FILE line N: message" (the first of each file,
 * as nginx -t would, then a duplicate across the files); lookup maps a
 * clinic's local code to the national one, reverse a national code
 * back, both in the gateway's order of scopes, and print the row that
 * answered and the less specific rows it overrides.
 *
 * Exit status: validate 0 when every file is valid, 1 otherwise, 2 on
 * a usage error; lookup and reverse 0 when found, 1 when not found, 2
 * on a usage error or when the tables are not valid.
 */


#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "yibao_map.h"
#include "yibao_tsv.h"


#define MAPTOOL_OK        0
#define MAPTOOL_FAILED    1
#define MAPTOOL_USAGE     2

#define MAPTOOL_DICTS_MAX  256

/* the scope types, the most specific first: the gateway's order */

typedef enum {
    MAPTOOL_SCOPE_CLINIC = 0,
    MAPTOOL_SCOPE_ENTITY,
    MAPTOOL_SCOPE_ADMDVS6,
    MAPTOOL_SCOPE_ADMDVS4,
    MAPTOOL_SCOPE_ADMDVS2,
    MAPTOOL_SCOPE_GLOBAL,
    MAPTOOL_SCOPE_MAX
} maptool_scope_e;


typedef union maptool_block_u  maptool_block_t;

union maptool_block_u {
    maptool_block_t      *next;

    /* keeps the memory after the header maximally aligned */
    long double           ld;
    long long             ll;
    void                 *p;
};


typedef struct {
    maptool_block_t      *blocks;
} maptool_arena_t;


typedef struct {
    const char           *path;
    unsigned char        *data;
    size_t                len;
    size_t                rows;
    int                   ok;
} maptool_file_t;


typedef struct {
    char                  name[32];
    size_t                rows;
} maptool_dict_t;


typedef struct {
    size_t                kinds[YIBAO_KIND_MAX];
    size_t                scopes[MAPTOOL_SCOPE_MAX];
    maptool_dict_t        dicts[MAPTOOL_DICTS_MAX];
    size_t                ndicts;
    size_t                other_dicts;
} maptool_stats_t;


typedef struct {
    maptool_arena_t       arena;
    yibao_alloc_t         alloc;
    maptool_file_t       *files;
    size_t                nfiles;
    yibao_map_t          *map;
    size_t                problems;
} maptool_tables_t;


/* what lookup and reverse were asked */

typedef struct {
    int                   reverse;
    yibao_kind_e          kind;
    yibao_str_t           dict;
    const char           *clinic;
    const char           *entity;
    const char           *admdvs;
    const char           *code;
} maptool_query_t;


/* a row that answered for one scope type */

typedef struct {
    int                   found;
    yibao_map_hit_t       hit;
    char                  scope[64];
} maptool_level_t;


static void *maptool_alloc(void *ctx, size_t size);
static void maptool_arena_free(maptool_arena_t *arena);
static int maptool_read(const char *path, unsigned char **data,
    size_t *len);
static int maptool_load(maptool_tables_t *t, char **paths, size_t n);
static void maptool_unload(maptool_tables_t *t);
static void maptool_duplicate(const maptool_tables_t *t,
    const yibao_err_t *err);
static const char *maptool_label_path(const maptool_tables_t *t,
    const char *p, const char **end);
static size_t maptool_count(maptool_stats_t *st, const unsigned char *data,
    size_t len);
static int maptool_scope_type(const yibao_str_t *v);
static int maptool_validate(int argc, char **argv);
static int maptool_query(int argc, char **argv, int reverse);
static int maptool_probe(const maptool_tables_t *t,
    const maptool_query_t *q, const char *org, const char *entity,
    const char *admdvs, yibao_map_hit_t *hit);
static int maptool_same(const maptool_level_t *a, const maptool_level_t *b);
static int maptool_differs(const maptool_level_t *a,
    const maptool_level_t *b);
static void maptool_find_row(const maptool_tables_t *t,
    const maptool_query_t *q, const char *scope, const yibao_str_t *local,
    const char **path, size_t *line);
static int maptool_str_is(const yibao_str_t *s, const char *c, size_t len);
static void maptool_usage(FILE *out);


static const char  *maptool_scope_names[] = {
    "clinic", "entity", "admdvs:6", "admdvs:4", "admdvs:2", "*"
};


int
main(int argc, char **argv)
{
    if (argc < 2) {
        maptool_usage(stderr);
        return MAPTOOL_USAGE;
    }

    if (strcmp(argv[1], "validate") == 0) {
        return maptool_validate(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "lookup") == 0) {
        return maptool_query(argc - 1, argv + 1, 0);
    }

    if (strcmp(argv[1], "reverse") == 0) {
        return maptool_query(argc - 1, argv + 1, 1);
    }

    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0
        || strcmp(argv[1], "help") == 0)
    {
        maptool_usage(stdout);
        return MAPTOOL_OK;
    }

    fprintf(stderr, "yibao-maptool: unknown command \"%s\"\n", argv[1]);
    maptool_usage(stderr);

    return MAPTOOL_USAGE;
}


static void
maptool_usage(FILE *out)
{
    fprintf(out,
        "usage: yibao-maptool validate FILE...\n"
        "       yibao-maptool lookup --kind KIND [--dict NAME] "
        "[--clinic ORG]\n"
        "                     [--entity CODE] [--admdvs NNNNNN] "
        "CODE FILE...\n"
        "       yibao-maptool reverse --kind KIND [--dict NAME] "
        "[--clinic ORG]\n"
        "                     [--entity CODE] [--admdvs NNNNNN] "
        "CODE FILE...\n"
        "\n"
        "KIND is drug, item, consumable, diagnosis, operation, chronic, "
        "staff,\n"
        "dept, or dict:NAME (or dict with --dict NAME).  lookup maps a "
        "local\n"
        "code to the national one, reverse a national code to the local "
        "one,\n"
        "the most specific scope first: clinic, entity, admdvs 6/4/2 "
        "digits, *.\n"
        "\n"
        "exit status: validate 0 valid, 1 invalid; lookup/reverse 0 "
        "found,\n"
        "1 not found; 2 usage error (or invalid tables for "
        "lookup/reverse)\n");
}


/* the allocator behind yibao_alloc_t: one malloc() a block */

static void *
maptool_alloc(void *ctx, size_t size)
{
    maptool_arena_t  *arena = ctx;

    maptool_block_t  *b;

    if (size > (size_t) -1 - sizeof(maptool_block_t)) {
        return NULL;
    }

    b = malloc(sizeof(maptool_block_t) + (size != 0 ? size : 1));
    if (b == NULL) {
        return NULL;
    }

    b->next = arena->blocks;
    arena->blocks = b;

    return b + 1;
}


static void
maptool_arena_free(maptool_arena_t *arena)
{
    maptool_block_t  *b, *next;

    for (b = arena->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    arena->blocks = NULL;
}


/*
 * Reads a whole regular file, as the gateway does; prints what is
 * wrong and returns -1 on failure.
 */

static int
maptool_read(const char *path, unsigned char **data, size_t *len)
{
    int             fd;
    size_t          size, got;
    ssize_t         n;
    struct stat     st;
    unsigned char  *p;

    fd = open(path, O_RDONLY);

    if (fd == -1) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        goto failed;
    }

    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s: not a regular file\n", path);
        goto failed;
    }

    size = (size_t) st.st_size;

    p = malloc(size != 0 ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        goto failed;
    }

    for (got = 0; got < size; got += (size_t) n) {
        n = read(fd, p + got, size - got);

        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            if (n == 0) {
                fprintf(stderr, "%s: changed while it was read\n", path);

            } else {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
            }

            free(p);
            goto failed;
        }
    }

    close(fd);

    *data = p;
    *len = size;

    return 0;

failed:

    close(fd);
    return -1;
}


/*
 * Adds every file to one builder, as the gateway's yibao_mappings
 * does, and builds the map.  Every problem is printed; t->problems
 * counts them.  A file is labelled "#<n>" for the builder, so that
 * the duplicate message can be given back with the file's path.
 * Returns 0 when the map was built (with every file or, after
 * problems, with the valid ones).
 */

static int
maptool_load(maptool_tables_t *t, char **paths, size_t n)
{
    int                   rc;
    char                  label[32];
    size_t                i;
    yibao_str_t           lab;
    yibao_err_t           err;
    maptool_file_t       *f;
    yibao_map_builder_t  *b;

    memset(t, 0, sizeof(maptool_tables_t));

    t->alloc.alloc = maptool_alloc;
    t->alloc.ctx = &t->arena;

    t->files = calloc(n != 0 ? n : 1, sizeof(maptool_file_t));
    if (t->files == NULL) {
        fprintf(stderr, "yibao-maptool: out of memory\n");
        return -1;
    }

    t->nfiles = n;

    b = yibao_map_builder_create(&t->alloc);
    if (b == NULL) {
        fprintf(stderr, "yibao-maptool: out of memory\n");
        return -1;
    }

    for (i = 0; i < n; i++) {
        f = &t->files[i];
        f->path = paths[i];

        if (maptool_read(f->path, &f->data, &f->len) != 0) {
            t->problems++;
            continue;
        }

        snprintf(label, sizeof(label), "#%zu", i + 1);
        lab.data = (const unsigned char *) label;
        lab.len = strlen(label);

        memset(&err, 0, sizeof(yibao_err_t));

        rc = yibao_map_builder_add_named(b, &lab, f->data, f->len, &err);

        if (rc != YIBAO_OK) {
            if (err.line) {
                fprintf(stderr, "%s line %zu: %s\n", f->path, err.line,
                        err.msg);

            } else {
                fprintf(stderr, "%s: %s\n", f->path, err.msg);
            }

            t->problems++;

            if (rc == YIBAO_ERR_NOMEM) {
                return -1;
            }

            continue;
        }

        f->ok = 1;
    }

    memset(&err, 0, sizeof(yibao_err_t));

    t->map = yibao_map_build(b, &err);

    if (t->map == NULL) {
        maptool_duplicate(t, &err);
        t->problems++;
        return -1;
    }

    return 0;
}


static void
maptool_unload(maptool_tables_t *t)
{
    size_t  i;

    for (i = 0; i < t->nfiles; i++) {
        free(t->files[i].data);
    }

    free(t->files);
    maptool_arena_free(&t->arena);
}


/*
 * A build() error: a duplicate reads
 *     "#3" line 9: column 3 ... is a duplicate of "#1" line 4
 * (or "... of line 4" within one file), and is printed with the paths
 * of the files instead of their labels; anything else as it is.
 */

static void
maptool_duplicate(const maptool_tables_t *t, const yibao_err_t *err)
{
    char        *dup;
    const char  *path, *other, *p, *end;

    p = err->msg;

    path = maptool_label_path(t, p, &end);

    if (path == NULL || err->line == 0) {
        fprintf(stderr, "yibao-maptool: %s\n", err->msg);
        return;
    }

    /* skip the label's own "line N: " */

    p = strstr(end, ": ");
    if (p == NULL) {
        fprintf(stderr, "yibao-maptool: %s\n", err->msg);
        return;
    }

    p += 2;

    dup = strstr(p, " is a duplicate of ");
    other = NULL;

    if (dup != NULL) {
        other = maptool_label_path(t, dup + 19, &end);
    }

    if (other == NULL) {
        fprintf(stderr, "%s line %zu: %s\n", path, err->line, p);
        return;
    }

    fprintf(stderr, "%s line %zu: %.*s is a duplicate of %s%s\n", path,
            err->line, (int) (dup - p), p, other, end);
}


/* "#<n>" at p: the path of file n, *end just after the closing quote */

static const char *
maptool_label_path(const maptool_tables_t *t, const char *p,
    const char **end)
{
    size_t  n;

    if (p[0] != '"' || p[1] != '#') {
        return NULL;
    }

    p += 2;
    n = 0;

    while (*p >= '0' && *p <= '9' && n <= t->nfiles) {
        n = n * 10 + (size_t) (*p++ - '0');
    }

    if (*p != '"' || n == 0 || n > t->nfiles) {
        return NULL;
    }

    *end = p + 1;

    return t->files[n - 1].path;
}


/*
 * Counts the rows of a file that add() accepted, per kind, dictionary
 * and scope type; returns the number of rows.
 */

static size_t
maptool_count(maptool_stats_t *st, const unsigned char *data, size_t len)
{
    int           scope;
    size_t        rows, i;
    yibao_str_t   line, fields[2], dict;
    yibao_tsv_t   tsv;
    yibao_kind_e  kind;

    rows = 0;

    yibao_tsv_init(&tsv, data, len);

    while (yibao_tsv_next(&tsv, &line)) {

        if (yibao_tsv_split(&line, fields, 2) < 2
            || yibao_kind_parse(fields[0].data, fields[0].len, &kind, &dict)
               != YIBAO_OK)
        {
            continue;
        }

        scope = maptool_scope_type(&fields[1]);
        if (scope < 0) {
            continue;
        }

        rows++;
        st->kinds[kind]++;
        st->scopes[scope]++;

        if (kind != YIBAO_KIND_DICT) {
            continue;
        }

        for (i = 0; i < st->ndicts; i++) {
            if (maptool_str_is(&dict, st->dicts[i].name,
                               strlen(st->dicts[i].name)))
            {
                break;
            }
        }

        if (i == st->ndicts) {
            if (st->ndicts == MAPTOOL_DICTS_MAX) {
                st->other_dicts++;
                continue;
            }

            memcpy(st->dicts[i].name, dict.data, dict.len);
            st->dicts[i].name[dict.len] = '\0';
            st->ndicts++;
        }

        st->dicts[i].rows++;
    }

    return rows;
}


/* the scope type of a scope column add() accepted, -1 otherwise */

static int
maptool_scope_type(const yibao_str_t *v)
{
    if (v->len == 1 && v->data[0] == '*') {
        return MAPTOOL_SCOPE_GLOBAL;
    }

    if (v->len < 7) {
        return -1;
    }

    if (memcmp(v->data, "clinic:", 7) == 0) {
        return MAPTOOL_SCOPE_CLINIC;
    }

    if (memcmp(v->data, "entity:", 7) == 0) {
        return MAPTOOL_SCOPE_ENTITY;
    }

    if (memcmp(v->data, "admdvs:", 7) == 0) {
        switch (v->len - 7) {
        case 6:
            return MAPTOOL_SCOPE_ADMDVS6;
        case 4:
            return MAPTOOL_SCOPE_ADMDVS4;
        case 2:
            return MAPTOOL_SCOPE_ADMDVS2;
        default:
            return -1;
        }
    }

    return -1;
}


static int
maptool_validate(int argc, char **argv)
{
    int               rc;
    size_t            i, n, nfiles, rows;
    maptool_file_t   *f;
    maptool_stats_t  *st;
    maptool_tables_t  t;

    if (argc < 2) {
        fprintf(stderr, "yibao-maptool: validate needs at least one "
                "FILE\n");
        maptool_usage(stderr);
        return MAPTOOL_USAGE;
    }

    for (i = 1; i < (size_t) argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "yibao-maptool: validate takes no option "
                    "\"%s\"\n", argv[i]);
            return MAPTOOL_USAGE;
        }
    }

    st = calloc(1, sizeof(maptool_stats_t));
    if (st == NULL) {
        fprintf(stderr, "yibao-maptool: out of memory\n");
        return MAPTOOL_FAILED;
    }

    rc = maptool_load(&t, argv + 1, (size_t) argc - 1);

    nfiles = 0;
    rows = 0;

    for (i = 0; i < t.nfiles; i++) {
        f = &t.files[i];

        if (!f->ok) {
            continue;
        }

        f->rows = maptool_count(st, f->data, f->len);
        rows += f->rows;
        nfiles++;

        printf("%s: %zu row%s\n", f->path, f->rows,
               f->rows == 1 ? "" : "s");
    }

    if (t.problems != 0 || rc != 0) {
        fprintf(stderr, "yibao-maptool: %zu problem%s: the gateway would "
                "refuse %s (nginx -t fails)\n", t.problems,
                t.problems == 1 ? "" : "s",
                t.nfiles == 1 ? "this table" : "these tables");
        maptool_unload(&t);
        free(st);
        return MAPTOOL_FAILED;
    }

    printf("ok: %zu file%s, %zu row%s, %zu bytes in memory\n", nfiles,
           nfiles == 1 ? "" : "s", yibao_map_rows(t.map),
           yibao_map_rows(t.map) == 1 ? "" : "s", yibao_map_bytes(t.map));

    printf("\nrows by kind\n");

    for (n = 0; n < YIBAO_KIND_DICT; n++) {
        printf("  %-28s %10zu\n", yibao_kind_name((yibao_kind_e) n),
               st->kinds[n]);
    }

    for (n = 0; n < st->ndicts; n++) {
        printf("  dict:%-23s %10zu\n", st->dicts[n].name, st->dicts[n].rows);
    }

    if (st->ndicts == 0 || st->other_dicts != 0) {
        printf("  %-28s %10zu\n", st->ndicts ? "dict:(others)" : "dict",
               st->ndicts ? st->other_dicts : st->kinds[YIBAO_KIND_DICT]);
    }

    printf("\nrows by scope type\n");

    for (n = 0; n < MAPTOOL_SCOPE_MAX; n++) {
        printf("  %-28s %10zu\n", maptool_scope_names[n], st->scopes[n]);
    }

    if (rows != yibao_map_rows(t.map)) {
        fprintf(stderr, "yibao-maptool: counted %zu rows, the map has "
                "%zu\n", rows, yibao_map_rows(t.map));
    }

    maptool_unload(&t);
    free(st);

    return MAPTOOL_OK;
}


static int
maptool_query(int argc, char **argv, int reverse)
{
    int               c, rc, i, winner, own[MAPTOOL_SCOPE_MAX];
    char              a4[7], a2[7], probed[128], *p, *end;
    const char       *kind, *dict, *path, *what;
    size_t            len, line;
    maptool_query_t   q;
    maptool_level_t   lv[MAPTOOL_SCOPE_MAX], full;
    maptool_tables_t  t;

    static const struct option  options[] = {
        { "kind",   required_argument, NULL, 'k' },
        { "dict",   required_argument, NULL, 'd' },
        { "clinic", required_argument, NULL, 'c' },
        { "entity", required_argument, NULL, 'e' },
        { "admdvs", required_argument, NULL, 'a' },
        { "help",   no_argument,       NULL, 'h' },
        { NULL,     0,                 NULL, 0 }
    };

    memset(&q, 0, sizeof(maptool_query_t));
    q.reverse = reverse;
    kind = NULL;
    dict = NULL;
    what = reverse ? "reverse" : "lookup";

    opterr = 0;
    optind = 1;

    while ((c = getopt_long(argc, argv, "k:d:c:e:a:h", options, NULL))
           != -1)
    {
        switch (c) {

        case 'k':
            kind = optarg;
            break;

        case 'd':
            dict = optarg;
            break;

        case 'c':
            q.clinic = optarg;
            break;

        case 'e':
            q.entity = optarg;
            break;

        case 'a':
            q.admdvs = optarg;
            break;

        case 'h':
            maptool_usage(stdout);
            return MAPTOOL_OK;

        default:
            fprintf(stderr, "yibao-maptool: %s: unknown option or missing "
                    "value \"%s\"\n", what, argv[optind - 1]);
            return MAPTOOL_USAGE;
        }
    }

    if (kind == NULL) {
        fprintf(stderr, "yibao-maptool: %s needs --kind\n", what);
        return MAPTOOL_USAGE;
    }

    if (strcmp(kind, "dict") == 0 && dict != NULL) {
        q.kind = YIBAO_KIND_DICT;
        q.dict.data = (const unsigned char *) dict;
        q.dict.len = strlen(dict);

        if (q.dict.len == 0 || q.dict.len > 30
            || strspn(dict, "abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
               != q.dict.len)
        {
            fprintf(stderr, "yibao-maptool: --dict \"%s\" is not a "
                    "dictionary name (1..30 letters, digits or _)\n", dict);
            return MAPTOOL_USAGE;
        }

    } else if (yibao_kind_parse((const unsigned char *) kind, strlen(kind),
                                &q.kind, &q.dict)
               != YIBAO_OK)
    {
        fprintf(stderr, "yibao-maptool: --kind \"%s\" is not drug, item, "
                "consumable, diagnosis, operation, chronic, staff, dept or "
                "dict:NAME (or dict with --dict NAME)\n", kind);
        return MAPTOOL_USAGE;

    } else if (dict != NULL
               && (q.kind != YIBAO_KIND_DICT
                   || !maptool_str_is(&q.dict, dict, strlen(dict))))
    {
        fprintf(stderr, "yibao-maptool: --dict \"%s\" does not go with "
                "--kind \"%s\"\n", dict, kind);
        return MAPTOOL_USAGE;
    }

    if (q.clinic != NULL && strlen(q.clinic) != 22) {
        fprintf(stderr, "yibao-maptool: --clinic \"%s\" is not a 22-char "
                "organisation code\n", q.clinic);
        return MAPTOOL_USAGE;
    }

    if (q.entity != NULL && strlen(q.entity) != 12) {
        fprintf(stderr, "yibao-maptool: --entity \"%s\" is not a 12-char "
                "institution code\n", q.entity);
        return MAPTOOL_USAGE;
    }

    if (q.admdvs != NULL
        && (strlen(q.admdvs) != 6 || strspn(q.admdvs, "0123456789") != 6))
    {
        fprintf(stderr, "yibao-maptool: --admdvs \"%s\" is not a 6-digit "
                "region code\n", q.admdvs);
        return MAPTOOL_USAGE;
    }

    if (argc - optind < 2) {
        fprintf(stderr, "yibao-maptool: %s needs a CODE and at least one "
                "FILE\n", what);
        maptool_usage(stderr);
        return MAPTOOL_USAGE;
    }

    q.code = argv[optind];
    len = strlen(q.code);

    if (len == 0) {
        fprintf(stderr, "yibao-maptool: the CODE is empty\n");
        return MAPTOOL_USAGE;
    }

    rc = maptool_load(&t, argv + optind + 1, (size_t) (argc - optind - 1));

    if (rc != 0 || t.problems != 0) {
        fprintf(stderr, "yibao-maptool: the tables are not valid (see "
                "\"yibao-maptool validate\")\n");
        maptool_unload(&t);
        return MAPTOOL_USAGE;
    }

    /*
     * The gateway's answer with the whole scope, then one probe per
     * scope type, each falling back to the less specific ones: a type
     * answered with a row of its own when its probe finds another row
     * than the probe one step less specific.  An admdvs probe with
     * non-digits in place of the last digits finds no row of the more
     * specific levels.
     */

    memset(&full, 0, sizeof(maptool_level_t));
    memset(lv, 0, sizeof(lv));

    full.found = maptool_probe(&t, &q, q.clinic, q.entity, q.admdvs,
                               &full.hit);

    lv[MAPTOOL_SCOPE_GLOBAL].found = maptool_probe(&t, &q, NULL, NULL, NULL,
                                        &lv[MAPTOOL_SCOPE_GLOBAL].hit);
    snprintf(lv[MAPTOOL_SCOPE_GLOBAL].scope, 64, "*");

    if (q.clinic != NULL) {
        lv[MAPTOOL_SCOPE_CLINIC].found = maptool_probe(&t, &q, q.clinic,
                                           NULL, NULL,
                                           &lv[MAPTOOL_SCOPE_CLINIC].hit);
        snprintf(lv[MAPTOOL_SCOPE_CLINIC].scope, 64, "clinic:%s", q.clinic);
    }

    if (q.entity != NULL) {
        lv[MAPTOOL_SCOPE_ENTITY].found = maptool_probe(&t, &q, NULL,
                                           q.entity, NULL,
                                           &lv[MAPTOOL_SCOPE_ENTITY].hit);
        snprintf(lv[MAPTOOL_SCOPE_ENTITY].scope, 64, "entity:%s", q.entity);
    }

    if (q.admdvs != NULL) {
        snprintf(a4, sizeof(a4), "%.4sxx", q.admdvs);
        snprintf(a2, sizeof(a2), "%.2sxxxx", q.admdvs);

        lv[MAPTOOL_SCOPE_ADMDVS6].found = maptool_probe(&t, &q, NULL, NULL,
                                            q.admdvs,
                                            &lv[MAPTOOL_SCOPE_ADMDVS6].hit);
        lv[MAPTOOL_SCOPE_ADMDVS4].found = maptool_probe(&t, &q, NULL, NULL,
                                            a4,
                                            &lv[MAPTOOL_SCOPE_ADMDVS4].hit);
        lv[MAPTOOL_SCOPE_ADMDVS2].found = maptool_probe(&t, &q, NULL, NULL,
                                            a2,
                                            &lv[MAPTOOL_SCOPE_ADMDVS2].hit);

        snprintf(lv[MAPTOOL_SCOPE_ADMDVS6].scope, 64, "admdvs:%s",
                 q.admdvs);
        snprintf(lv[MAPTOOL_SCOPE_ADMDVS4].scope, 64, "admdvs:%.4s",
                 q.admdvs);
        snprintf(lv[MAPTOOL_SCOPE_ADMDVS2].scope, 64, "admdvs:%.2s",
                 q.admdvs);
    }

    /* a type has a row of its own when its probe found another row */

    own[MAPTOOL_SCOPE_CLINIC] = maptool_differs(&lv[MAPTOOL_SCOPE_CLINIC],
                                                &lv[MAPTOOL_SCOPE_GLOBAL]);
    own[MAPTOOL_SCOPE_ENTITY] = maptool_differs(&lv[MAPTOOL_SCOPE_ENTITY],
                                                &lv[MAPTOOL_SCOPE_GLOBAL]);
    own[MAPTOOL_SCOPE_ADMDVS6] = maptool_differs(&lv[MAPTOOL_SCOPE_ADMDVS6],
                                                 &lv[MAPTOOL_SCOPE_ADMDVS4]);
    own[MAPTOOL_SCOPE_ADMDVS4] = maptool_differs(&lv[MAPTOOL_SCOPE_ADMDVS4],
                                                 &lv[MAPTOOL_SCOPE_ADMDVS2]);
    own[MAPTOOL_SCOPE_ADMDVS2] = maptool_differs(&lv[MAPTOOL_SCOPE_ADMDVS2],
                                                 &lv[MAPTOOL_SCOPE_GLOBAL]);
    own[MAPTOOL_SCOPE_GLOBAL] = lv[MAPTOOL_SCOPE_GLOBAL].found;

    if (!full.found) {
        p = probed;
        end = probed + sizeof(probed);

        if (q.clinic != NULL) {
            p += snprintf(p, end - p, "clinic:%s, ", q.clinic);
        }

        if (q.entity != NULL) {
            p += snprintf(p, end - p, "entity:%s, ", q.entity);
        }

        if (q.admdvs != NULL) {
            p += snprintf(p, end - p, "admdvs:%s/%.4s/%.2s, ", q.admdvs,
                          q.admdvs, q.admdvs);
        }

        snprintf(p, end - p, "*");

        printf("%s: no %s%s%.*s mapping (scopes %s)\n", q.code,
               yibao_kind_name(q.kind), q.dict.len ? ":" : "",
               (int) q.dict.len, q.dict.data, probed);

        maptool_unload(&t);
        return MAPTOOL_FAILED;
    }

    winner = -1;

    for (i = 0; i < MAPTOOL_SCOPE_MAX; i++) {
        if (own[i] && maptool_same(&lv[i], &full)) {
            winner = i;
            break;
        }
    }

    printf("local     %.*s\n", (int) full.hit.local.len,
           full.hit.local.data);
    printf("national  %.*s\n", (int) full.hit.national.len,
           full.hit.national.data);
    printf("name      %.*s\n", (int) full.hit.name.len, full.hit.name.data);

    if (winner < 0) {
        printf("scope     (unknown)\n");
        fprintf(stderr, "yibao-maptool: the row's scope could not be "
                "told\n");

    } else {
        maptool_find_row(&t, &q, lv[winner].scope, &full.hit.local, &path,
                         &line);
        printf("scope     %s\n", lv[winner].scope);

        if (path != NULL) {
            printf("row       %s line %zu\n", path, line);
        }
    }

    /* the less specific rows the answer overrides */

    for (i = winner + 1; winner >= 0 && i < MAPTOOL_SCOPE_MAX; i++) {
        if (!own[i]) {
            continue;
        }

        maptool_find_row(&t, &q, lv[i].scope, &lv[i].hit.local, &path,
                         &line);

        printf("overrides %s %.*s -> %.*s", lv[i].scope,
               (int) (reverse ? lv[i].hit.national.len
                              : lv[i].hit.local.len),
               reverse ? lv[i].hit.national.data : lv[i].hit.local.data,
               (int) (reverse ? lv[i].hit.local.len
                              : lv[i].hit.national.len),
               reverse ? lv[i].hit.local.data : lv[i].hit.national.data);

        if (path != NULL) {
            printf(" (%s line %zu)", path, line);
        }

        printf("\n");
    }

    maptool_unload(&t);

    return MAPTOOL_OK;
}


/* one gateway lookup or reverse with the scope fields given */

static int
maptool_probe(const maptool_tables_t *t, const maptool_query_t *q,
    const char *org, const char *entity, const char *admdvs,
    yibao_map_hit_t *hit)
{
    yibao_map_scope_t  scope;

    memset(&scope, 0, sizeof(yibao_map_scope_t));

    if (org != NULL) {
        scope.org_code.data = (const unsigned char *) org;
        scope.org_code.len = strlen(org);
    }

    if (entity != NULL) {
        scope.entity_code.data = (const unsigned char *) entity;
        scope.entity_code.len = strlen(entity);
    }

    if (admdvs != NULL) {
        scope.admdvs.data = (const unsigned char *) admdvs;
        scope.admdvs.len = strlen(admdvs);
    }

    if (q->reverse) {
        return yibao_map_reverse(t->map, q->kind, &q->dict, &scope,
                                 (const unsigned char *) q->code,
                                 strlen(q->code), hit);
    }

    return yibao_map_lookup(t->map, q->kind, &q->dict, &scope,
                            (const unsigned char *) q->code,
                            strlen(q->code), hit);
}


/* the same row: a hit's strings point into the map's copy of the row */

static int
maptool_same(const maptool_level_t *a, const maptool_level_t *b)
{
    return a->found && b->found
           && a->hit.local.data == b->hit.local.data;
}


/* a found a row, and another than b (b may have found none) */

static int
maptool_differs(const maptool_level_t *a, const maptool_level_t *b)
{
    return a->found && !maptool_same(a, b);
}


/*
 * The file and line of the row (kind, scope, local): unique in valid
 * tables, so the first line whose columns read so is the one.
 */

static void
maptool_find_row(const maptool_tables_t *t, const maptool_query_t *q,
    const char *scope, const yibao_str_t *local, const char **path,
    size_t *line)
{
    char                  kind[40];
    size_t                i;
    yibao_str_t           l, fields[3];
    yibao_tsv_t           tsv;
    const maptool_file_t  *f;

    *path = NULL;
    *line = 0;

    if (q->kind == YIBAO_KIND_DICT) {
        snprintf(kind, sizeof(kind), "dict:%.*s", (int) q->dict.len,
                 q->dict.data);

    } else {
        snprintf(kind, sizeof(kind), "%s", yibao_kind_name(q->kind));
    }

    for (i = 0; i < t->nfiles; i++) {
        f = &t->files[i];

        yibao_tsv_init(&tsv, f->data, f->len);

        while (yibao_tsv_next(&tsv, &l)) {
            if (yibao_tsv_split(&l, fields, 3) < 3
                || !maptool_str_is(&fields[0], kind, strlen(kind))
                || !maptool_str_is(&fields[1], scope, strlen(scope))
                || !maptool_str_is(&fields[2], (const char *) local->data,
                                   local->len))
            {
                continue;
            }

            *path = f->path;
            *line = tsv.line;
            return;
        }
    }
}


static int
maptool_str_is(const yibao_str_t *s, const char *c, size_t len)
{
    return s->len == len && (len == 0 || memcmp(s->data, c, len) == 0);
}
