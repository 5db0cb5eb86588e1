/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_FIELDS_H_INCLUDED_
#define _YIBAO_FIELDS_H_INCLUDED_


#include "yibao_types.h"


/*
 * What operations need of a transaction for its log line: the ids that
 * tie a visit together (mdtrt_id, setl_id, psn_no), found wherever the
 * transaction carries them, the person's name (only to mask it where a
 * message quotes it), and masking of personal data.
 */

typedef struct {
    yibao_str_t           mdtrt_id;
    yibao_str_t           setl_id;
    yibao_str_t           psn_no;
    yibao_str_t           psn_name;     /* never logged: to mask it */
} yibao_fields_t;


/*
 * Fills the fields still empty in f with the first string (or number,
 * as its decimal text) of that name in doc (a json_t *), depth first,
 * at most 8 levels down.  The strings point into doc (or, for numbers,
 * into memory from a).  YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_fields_find(const void *doc, yibao_fields_t *f, yibao_alloc_t *a);

/*
 * The same over a JSON text (a platform answer): the strings found are
 * copied into memory from a, since the parsed document is released
 * before returning.  YIBAO_OK (also for text that is not JSON: nothing
 * found) or YIBAO_ERR_NOMEM.
 */
int yibao_fields_find_text(const unsigned char *data, size_t len,
    yibao_fields_t *f, yibao_alloc_t *a);

/*
 * yibao_fields_find() with the strings found copied into memory from a,
 * so that they outlive doc (a json_t *, for example the answer that
 * yibao_answer_parse() kept).  YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_fields_find_copy(const void *doc, yibao_fields_t *f,
    yibao_alloc_t *a);

/*
 * Copies text with every run of YIBAO_MASK_DIGITS or more digits (an ID
 * number, whose last character may be X, a psn_no, a bank card number)
 * kept only as its first 4 and last 4 characters, e.g.
 * 370102195603152017 -> 3701**********2017.  out has len bytes; it may
 * be in itself.
 */

#define YIBAO_MASK_DIGITS  15

void yibao_mask_digits(const unsigned char *in, size_t len,
    unsigned char *out);

/*
 * A value as an error message may show it (a caller's value echoed
 * back so that the caller sees what was wrong): at most max_chars
 * characters; ASCII letters, digits and punctuation as they are, but
 * '"', '\\' and ';' (a list's separator) and control characters as '?';
 * every other character (a UTF-8 sequence: it could be part of a name)
 * as '*'; then runs of digits masked as yibao_mask_digits() does, and
 * "..." when the value was longer.  buf has size bytes, at least
 * max_chars + 4; the text is NUL-terminated and its length returned.
 */
size_t yibao_echo(const unsigned char *p, size_t len, size_t max_chars,
    char *buf, size_t size);

/*
 * Masks in text (len bytes, changed in place) every occurrence of each
 * of the n values (a person's psn_no and name, which a platform's
 * message may quote): an ASCII value of 9 bytes or more keeps its first
 * and last 4 bytes, as yibao_mask_psn_no(); a shorter one, or one with
 * other bytes (a name: its UTF-8 is never cut), becomes all '*' bytes.
 * Values shorter than 4 bytes are left alone (too short to find
 * safely).
 */
void yibao_mask_values(unsigned char *text, size_t len,
    const yibao_str_t *values, size_t n);

/*
 * psn_no partly: the first 4 and the last 4 characters kept, the rest
 * '*' (values of 8 characters or fewer are fully starred).  out has len
 * bytes.
 */
void yibao_mask_psn_no(const unsigned char *in, size_t len,
    unsigned char *out);


#endif /* _YIBAO_FIELDS_H_INCLUDED_ */
