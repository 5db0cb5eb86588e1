/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_TSV_H_INCLUDED_
#define _YIBAO_TSV_H_INCLUDED_


#include "yibao_types.h"


/*
 * A reader of the gateway's TAB-separated data files, given as bytes.
 * It never allocates and never copies: lines and fields point into the
 * caller's bytes.
 *
 * Lines end with LF; one CR before the LF (or before the end of the
 * data) is stripped; the last line needs no LF.  A UTF-8 byte order
 * mark at the very start is skipped.  Lines that are empty or hold only
 * spaces and TABs, and lines whose first byte is '#', are skipped but
 * counted in the line numbers.
 */

typedef struct {
    const unsigned char  *pos;
    const unsigned char  *last;
    size_t                line;      /* 1-based, of the line returned */
} yibao_tsv_t;


/* Prepares tsv to read data[0..len). */
void yibao_tsv_init(yibao_tsv_t *tsv, const unsigned char *data, size_t len);

/*
 * Sets *line to the next record line (without its line end) and
 * tsv->line to its 1-based number; returns 1, or 0 at the end of data.
 */
int yibao_tsv_next(yibao_tsv_t *tsv, yibao_str_t *line);

/*
 * Splits line on every TAB and stores the first n fields (at most) in
 * fields[]; returns the number of fields in the line, which may exceed
 * n.  "a\t\tb" has 3 fields, the second empty; a line has at least 1.
 */
size_t yibao_tsv_split(const yibao_str_t *line, yibao_str_t *fields,
    size_t n);

/*
 * An upper bound of the number of record lines in data[0..len) (the
 * number of lines), for sizing arrays before reading.
 */
size_t yibao_tsv_max_lines(const unsigned char *data, size_t len);


#endif /* _YIBAO_TSV_H_INCLUDED_ */
