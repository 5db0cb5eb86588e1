/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_CODES_H_INCLUDED_
#define _YIBAO_CODES_H_INCLUDED_


#include "yibao_types.h"


/*
 * Shape checks of national codes and envelope values
 * (the national interface specification).  Each returns
 * 1 when p[0..len) has the shape, 0 otherwise; none reads past len.
 */

/* 6 digits (GB/T 2260 region) */
int yibao_code_is_admdvs(const unsigned char *p, size_t len);

/* national institution code: 'H' or 'P' + 11 digits = 12 chars */
int yibao_code_is_fixmedins(const unsigned char *p, size_t len);

/* 22-char health-organisation code (weisheng jigou daima): [0-9A-Z] */
int yibao_code_is_org(const unsigned char *p, size_t len);

/* infno: 4 digits, optionally followed by one upper-case letter */
int yibao_code_is_infno(const unsigned char *p, size_t len);

/* "yyyy-MM-dd HH:mm:ss" naming a real calendar date and time */
int yibao_code_is_datetime(const unsigned char *p, size_t len);

/* "yyyyMMddHHmmss" naming a real calendar date and time */
int yibao_code_is_compact_time(const unsigned char *p, size_t len);

/*
 * msgid as the platform requires it: fixmedins code (12) +
 * yyyyMMddHHmmss (14, a real time) + 4 digits = 30 chars.
 */
int yibao_code_is_msgid(const unsigned char *p, size_t len);

/* 1..max chars of [A-Za-z0-9] */
int yibao_code_is_alnum(const unsigned char *p, size_t len, size_t max);

/*
 * The number of chars of [A-Za-z0-9] p[0..len) starts with: len when it
 * is all of them, else the 0-based position of the first other byte
 * (for a message that names it).
 */
size_t yibao_code_alnum_span(const unsigned char *p, size_t len);

/* 1 or more ASCII digits */
int yibao_code_is_digits(const unsigned char *p, size_t len);

/*
 * The value of the decimal digits p[0..len), which the caller has
 * checked (yibao_code_is_digits); len at most 9, so that it fits an int.
 */
int yibao_code_number(const unsigned char *p, size_t len);

/* well-formed UTF-8 without NUL */
int yibao_code_is_utf8(const unsigned char *p, size_t len);

/* the days of month 1..12 of a (proleptic Gregorian) year */
int yibao_code_days_in_month(int64_t year, int month);

/*
 * Days from 1970-01-01 to the date y-m-d (proleptic Gregorian, negative
 * before 1970), and back; the one calendar of the pure code (H. Hinnant's
 * days_from_civil and civil_from_days).
 */
int64_t yibao_code_days_from_civil(int64_t y, int m, int d);
void yibao_code_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/*
 * Writes p[0..len) into buf (YIBAO_QUOTE_LEN bytes) double-quoted for a
 * message: at most YIBAO_QUOTE_SHOW bytes of it (a UTF-8 character is
 * never cut), then "..."; printable ASCII as is, '"' and '\\' escaped,
 * the multi-byte characters of a valid UTF-8 value as they are, other
 * bytes as \xNN.  Returns buf.
 */
#define YIBAO_QUOTE_SHOW  64
#define YIBAO_QUOTE_LEN   (YIBAO_QUOTE_SHOW * 4 + 8)

const char *yibao_quote(char *buf, const unsigned char *p, size_t len);


/*
 * National coding standards (the 15 medical-insurance business coding
 * standards): shapes only, by prefix letter, length and charset; none of
 * these codes has a check character.
 */

/*
 * 西药中成药: 'X' or 'Z' + 22 of [0-9A-Z] (23 chars, e.g.
 * XJ01CAA040A001010102699); 中药饮片: 'T' + 9..29 digits
 */
int yibao_code_is_drug(const unsigned char *p, size_t len);

/*
 * 医疗服务项目: 15 digits (001102000010000), optionally "-" and a
 * provincial price code of [0-9A-Za-z.] (001102000010000-110200001),
 * at most 50 chars in all
 */
int yibao_code_is_item(const unsigned char *p, size_t len);

/* 医用耗材: 'C' + 19 digits (20 chars) */
int yibao_code_is_consumable(const unsigned char *p, size_t len);

/*
 * ICD-10 医保版 diagnosis: an upper-case letter, 2 digits, '.', 3 of
 * [0-9xX] (I10.x00, E11.900), optionally the 国临版 suffix 'x' or 'X' + 3
 * digits (I10.x00x002)
 */
int yibao_code_is_icd10(const unsigned char *p, size_t len);

/*
 * ICD-9-CM-3 医保版 operation: 2 digits, '.', 4 digits (51.2300),
 * optionally 'x' or 'X' + 3 digits
 */
int yibao_code_is_icd9cm3(const unsigned char *p, size_t len);

/* 门诊慢特病病种: 'M' + 5 digits (M01607) */
int yibao_code_is_chronic(const unsigned char *p, size_t len);

/*
 * 医保医师/护士/药师: 'D', 'N' or 'Y' + 12 digits (admdvs + sequence);
 * 药学/技术人员: "HY" or "HJ" + 12 digits
 */
int yibao_code_is_staff(const unsigned char *p, size_t len);

/*
 * 科别 (caty, dictionary dept): an upper-case letter + 2 digits,
 * optionally '.' + 2 digits (A03, A03.01)
 */
int yibao_code_is_caty(const unsigned char *p, size_t len);

/*
 * 18-digit ID number (GB 11643-1999, section 6): a 6-digit address
 * code, a real birth date yyyyMMdd from 1800 on, a 3-digit sequence
 * and the ISO 7064 MOD 11-2 check character (a digit, or 'X', 'x'
 * accepted).
 */
int yibao_code_is_id_number(const unsigned char *p, size_t len);


#endif /* _YIBAO_CODES_H_INCLUDED_ */
