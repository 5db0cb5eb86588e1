/*
 * Copyright (C) yibao-gateway authors
 */


#include <string.h>

#include "yibao_codes.h"


static int yibao_code_is_time(const unsigned char *p, const size_t at[6]);


/*
 * Where the year (4 digits), month, day, hour, minute and second (2
 * digits each) of the two time shapes start.
 */
static const size_t  yibao_code_datetime_at[6] = { 0, 5, 8, 11, 14, 17 };
static const size_t  yibao_code_compact_time_at[6] = { 0, 4, 6, 8, 10, 12 };


int
yibao_code_is_admdvs(const unsigned char *p, size_t len)
{
    return len == 6 && yibao_code_is_digits(p, 6);
}


int
yibao_code_is_fixmedins(const unsigned char *p, size_t len)
{
    return len == 12
           && (p[0] == 'H' || p[0] == 'P')
           && yibao_code_is_digits(p + 1, 11);
}


int
yibao_code_is_org(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len != 22) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'Z'))) {
            return 0;
        }
    }

    return 1;
}


int
yibao_code_is_infno(const unsigned char *p, size_t len)
{
    if (len == 4) {
        return yibao_code_is_digits(p, 4);
    }

    return len == 5
           && yibao_code_is_digits(p, 4)
           && p[4] >= 'A' && p[4] <= 'Z';
}


int
yibao_code_is_datetime(const unsigned char *p, size_t len)
{
    if (len != 19
        || p[4] != '-' || p[7] != '-' || p[10] != ' '
        || p[13] != ':' || p[16] != ':')
    {
        return 0;
    }

    return yibao_code_is_time(p, yibao_code_datetime_at);
}


int
yibao_code_is_compact_time(const unsigned char *p, size_t len)
{
    if (len != 14) {
        return 0;
    }

    return yibao_code_is_time(p, yibao_code_compact_time_at);
}


int
yibao_code_is_msgid(const unsigned char *p, size_t len)
{
    return len == 30
           && yibao_code_is_fixmedins(p, 12)
           && yibao_code_is_compact_time(p + 12, 14)
           && yibao_code_is_digits(p + 26, 4);
}


int
yibao_code_is_alnum(const unsigned char *p, size_t len, size_t max)
{
    return len != 0 && len <= max && yibao_code_alnum_span(p, len) == len;
}


size_t
yibao_code_alnum_span(const unsigned char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9')
              || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= 'a' && p[i] <= 'z')))
        {
            break;
        }
    }

    return i;
}


int
yibao_code_is_utf8(const unsigned char *p, size_t len)
{
    size_t          i, n, k;
    uint32_t        cp, min;
    unsigned char   c;

    i = 0;

    while (i < len) {

        /* 8 bytes of ASCII without NUL at once */

        if (len - i >= 8) {
            uint64_t  w;

            memcpy(&w, p + i, 8);

            if (((w | ((w & 0x7f7f7f7f7f7f7f7fULL)
                       + 0x7f7f7f7f7f7f7f7fULL))
                 & 0x8080808080808080ULL) == 0x8080808080808080ULL
                && (w & 0x8080808080808080ULL) == 0)
            {
                i += 8;
                continue;
            }
        }

        c = p[i];

        if (c < 0x80) {
            if (c == 0) {
                return 0;
            }

            i++;
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;

        } else {
            /* a continuation byte, 0xc0/0xc1 (overlong) or above 0xf4 */
            return 0;
        }

        if (len - i <= n) {
            return 0;
        }

        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }

        i += n + 1;
    }

    return 1;
}


int
yibao_code_is_digits(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
    }

    return 1;
}


int
yibao_code_number(const unsigned char *p, size_t len)
{
    int     v;
    size_t  i;

    v = 0;

    for (i = 0; i < len; i++) {
        v = v * 10 + (p[i] - '0');
    }

    return v;
}


int
yibao_code_days_in_month(int64_t year, int month)
{
    static const int  days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (month == 2
        && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
    {
        return 29;
    }

    return days[month - 1];
}


int64_t
yibao_code_days_from_civil(int64_t y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= (m <= 2);
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


void
yibao_code_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t  z, era, doe, yoe, doy, mp;

    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}


/*
 * 1 if p holds digits naming a real calendar date and time: the year at
 * p + at[0] (4 digits), the month, day, hour, minute and second at
 * p + at[1..5] (2 digits each).
 */

static int
yibao_code_is_time(const unsigned char *p, const size_t at[6])
{
    int     v[6];
    size_t  i, n;

    for (i = 0; i < 6; i++) {
        n = (i == 0) ? 4 : 2;

        if (!yibao_code_is_digits(p + at[i], n)) {
            return 0;
        }

        v[i] = yibao_code_number(p + at[i], n);
    }

    /* year 0000 does not exist in the Gregorian calendar */

    if (v[0] < 1 || v[1] < 1 || v[1] > 12 || v[2] < 1) {
        return 0;
    }

    if (v[2] > yibao_code_days_in_month(v[0], v[1])) {
        return 0;
    }

    return v[3] <= 23 && v[4] <= 59 && v[5] <= 59;
}


/* national coding standards */

static int yibao_code_national_digits(const unsigned char *p, size_t n);
static int yibao_code_national_suffix(const unsigned char *p, size_t len);


int
yibao_code_is_drug(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len == 0) {
        return 0;
    }

    if (p[0] == 'T') {
        return len >= 10 && len <= 30
               && yibao_code_national_digits(p + 1, len - 1);
    }

    if ((p[0] != 'X' && p[0] != 'Z') || len != 23) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'Z'))) {
            return 0;
        }
    }

    return 1;
}


int
yibao_code_is_item(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len < 15 || len > 50 || !yibao_code_national_digits(p, 15)) {
        return 0;
    }

    if (len == 15) {
        return 1;
    }

    if (p[15] != '-' || len == 16) {
        return 0;
    }

    for (i = 16; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9')
              || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= 'a' && p[i] <= 'z')
              || p[i] == '.'))
        {
            return 0;
        }
    }

    return 1;
}


int
yibao_code_is_consumable(const unsigned char *p, size_t len)
{
    return len == 20 && p[0] == 'C' && yibao_code_national_digits(p + 1, 19);
}


int
yibao_code_is_icd10(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len != 7 && len != 11) {
        return 0;
    }

    if (p[0] < 'A' || p[0] > 'Z' || !yibao_code_national_digits(p + 1, 2)
        || p[3] != '.')
    {
        return 0;
    }

    for (i = 4; i < 7; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || p[i] == 'x' || p[i] == 'X')) {
            return 0;
        }
    }

    return yibao_code_national_suffix(p + 7, len - 7);
}


int
yibao_code_is_icd9cm3(const unsigned char *p, size_t len)
{
    if (len != 7 && len != 11) {
        return 0;
    }

    return yibao_code_national_digits(p, 2)
           && p[2] == '.'
           && yibao_code_national_digits(p + 3, 4)
           && yibao_code_national_suffix(p + 7, len - 7);
}


int
yibao_code_is_chronic(const unsigned char *p, size_t len)
{
    return len == 6 && p[0] == 'M' && yibao_code_national_digits(p + 1, 5);
}


int
yibao_code_is_staff(const unsigned char *p, size_t len)
{
    if (len == 13) {
        return (p[0] == 'D' || p[0] == 'N' || p[0] == 'Y')
               && yibao_code_national_digits(p + 1, 12);
    }

    return len == 14
           && p[0] == 'H' && (p[1] == 'Y' || p[1] == 'J')
           && yibao_code_national_digits(p + 2, 12);
}


int
yibao_code_is_caty(const unsigned char *p, size_t len)
{
    if (len != 3 && len != 6) {
        return 0;
    }

    if (p[0] < 'A' || p[0] > 'Z' || !yibao_code_national_digits(p + 1, 2)) {
        return 0;
    }

    return len == 3 || (p[3] == '.' && yibao_code_national_digits(p + 4, 2));
}


int
yibao_code_is_id_number(const unsigned char *p, size_t len)
{
    size_t                i;
    unsigned              sum;
    unsigned char         check, date[14];
    static const char     checks[] = "10X98765432";
    static const uint8_t  weights[17] = {
        7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2
    };

    if (len != 18 || !yibao_code_national_digits(p, 17)) {
        return 0;
    }

    /* the birth date: a real day, as the midnight of yyyyMMdd */

    if (p[6] < '1' || (p[6] == '1' && p[7] < '8')) {
        return 0;
    }

    for (i = 0; i < 14; i++) {
        date[i] = i < 8 ? p[6 + i] : '0';
    }

    if (!yibao_code_is_compact_time(date, sizeof(date))) {
        return 0;
    }

    sum = 0;

    for (i = 0; i < 17; i++) {
        sum += (unsigned) (p[i] - '0') * weights[i];
    }

    check = p[17] == 'x' ? 'X' : p[17];

    return check == (unsigned char) checks[sum % 11];
}


static int
yibao_code_national_digits(const unsigned char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
    }

    return 1;
}


/* nothing, or the 国临版 extension 'x' + 3 digits */

static int
yibao_code_national_suffix(const unsigned char *p, size_t len)
{
    return len == 0
           || (len == 4 && (p[0] == 'x' || p[0] == 'X')
               && yibao_code_national_digits(p + 1, 3));
}


const char *
yibao_quote(char *buf, const unsigned char *p, size_t len)
{
    int                 utf8;
    char               *q;
    size_t              n, i;
    unsigned char       c;
    static const char   hex[] = "0123456789abcdef";

    utf8 = yibao_code_is_utf8(p, len);

    n = len;

    if (n > YIBAO_QUOTE_SHOW) {
        n = YIBAO_QUOTE_SHOW;

        /* do not cut a character */

        while (utf8 && n > 0 && (p[n] & 0xc0) == 0x80) {
            n--;
        }
    }

    q = buf;
    *q++ = '"';

    for (i = 0; i < n; i++) {
        c = p[i];

        if (c == '"' || c == '\\') {
            *q++ = '\\';
            *q++ = (char) c;

        } else if ((c >= 0x20 && c < 0x7f) || (c >= 0x80 && utf8)) {
            *q++ = (char) c;

        } else {
            *q++ = '\\';
            *q++ = 'x';
            *q++ = hex[c >> 4];
            *q++ = hex[c & 0x0f];
        }
    }

    *q++ = '"';

    if (n < len) {
        memcpy(q, "...", 3);
        q += 3;
    }

    *q = '\0';

    return buf;
}
