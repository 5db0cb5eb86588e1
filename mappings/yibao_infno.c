/*
 * Copyright (C) yibao-gateway authors
 */


#include "yibao_infno.h"
#include "yibao_codes.h"


/*
 * The classes of the national interface's transactions (see the
 * header): each row a range of numbers, looked up by the number of the
 * infno; a number in no row is YIBAO_INFNO_OTHER.
 */

typedef struct {
    unsigned                   from;
    unsigned                   to;
    yibao_infno_class_e        cls;
} yibao_infno_row_t;


static const yibao_infno_row_t  yibao_infno_table[] = {
    { 1101, 1101, YIBAO_INFNO_READ },        /* person */
    { 1201, 1201, YIBAO_INFNO_READ },        /* institution */
    { 1301, 1319, YIBAO_INFNO_READ },        /* catalogues */
    { 1901, 1901, YIBAO_INFNO_READ },        /* dictionary */
    { 2001, 2001, YIBAO_INFNO_READ },        /* treatment check */
    { 2102, 2103, YIBAO_INFNO_MONEY },       /* pharmacy settlement */
    { 2201, 2201, YIBAO_INFNO_CREATE },      /* registration */
    { 2202, 2202, YIBAO_INFNO_REPLACE },     /* registration cancelled */
    { 2203, 2203, YIBAO_INFNO_REPLACE },     /* visit information */
    { 2204, 2204, YIBAO_INFNO_CREATE },      /* fee lines uploaded */
    { 2205, 2205, YIBAO_INFNO_REPLACE },     /* fee lines cancelled */
    { 2206, 2206, YIBAO_INFNO_COMPUTE },     /* pre-settlement */
    { 2207, 2208, YIBAO_INFNO_MONEY },       /* settlement, its undoing */
    { 2301, 2303, YIBAO_INFNO_CREATE },      /* inpatient fee lines */
    { 2304, 2305, YIBAO_INFNO_MONEY },       /* inpatient settlement */
    { 2401, 2405, YIBAO_INFNO_CREATE },      /* admission, discharge */
    { 2601, 2601, YIBAO_INFNO_COMPENSATE },  /* reversal */
    { 3201, 3201, YIBAO_INFNO_STATEMENT },   /* statement check */
    { 5101, 5102, YIBAO_INFNO_READ },
    { 5201, 5206, YIBAO_INFNO_READ },        /* visit, fees, settlement */
    { 5301, 5304, YIBAO_INFNO_READ },
    { 9001, 9001, YIBAO_INFNO_CREATE },      /* sign-in: a sign_no */
    { 9101, 9101, YIBAO_INFNO_CREATE }       /* file upload */
};


static const char  *yibao_infno_class_names[] = {
    "other", "read", "statement", "compute", "replace", "create", "money",
    "compensate"
};


yibao_infno_class_e
yibao_infno_class(const unsigned char *infno, size_t len)
{
    size_t    i;
    unsigned  n;

    if (infno == NULL || !yibao_code_is_infno(infno, len)) {
        return YIBAO_INFNO_OTHER;
    }

    n = (unsigned) yibao_code_number(infno, 4);

    for (i = 0; i < sizeof(yibao_infno_table) / sizeof(yibao_infno_row_t);
         i++)
    {
        if (n >= yibao_infno_table[i].from && n <= yibao_infno_table[i].to) {
            return yibao_infno_table[i].cls;
        }
    }

    return YIBAO_INFNO_OTHER;
}


const char *
yibao_infno_class_name(yibao_infno_class_e cls)
{
    if ((unsigned) cls > YIBAO_INFNO_COMPENSATE) {
        cls = YIBAO_INFNO_OTHER;
    }

    return yibao_infno_class_names[cls];
}


int
yibao_infno_cacheable(const unsigned char *infno, size_t len)
{
    return len == 4 && yibao_infno_class(infno, len) == YIBAO_INFNO_READ;
}


int
yibao_infno_journaled(const unsigned char *infno, size_t len)
{
    switch (yibao_infno_class(infno, len)) {

    case YIBAO_INFNO_STATEMENT:
    case YIBAO_INFNO_CREATE:
    case YIBAO_INFNO_MONEY:
    case YIBAO_INFNO_COMPENSATE:
        return 1;

    default:
        return 0;
    }
}


int
yibao_infno_lost_unknown(const unsigned char *infno, size_t len)
{
    switch (yibao_infno_class(infno, len)) {

    case YIBAO_INFNO_CREATE:
    case YIBAO_INFNO_MONEY:
    case YIBAO_INFNO_COMPENSATE:
        return 1;

    default:
        return 0;
    }
}


int
yibao_infno_money(const unsigned char *infno, size_t len)
{
    return yibao_infno_class(infno, len) == YIBAO_INFNO_MONEY;
}
