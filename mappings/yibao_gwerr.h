/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_GWERR_H_INCLUDED_
#define _YIBAO_GWERR_H_INCLUDED_


#include "yibao_types.h"


/*
 * Gateway error codes.  Every rejection the gateway makes is answered
 * in the national envelope (infcode -1) with err_msg starting "YBnnnn",
 * and with the HTTP status of this table.  The ranges:
 *
 *   YB1xxx  the request body or envelope is malformed       (4xx)
 *   YB2xxx  caller authentication and authorization         (401/403)
 *   YB3xxx  registry, routing, policy                       (4xx)
 *   YB4xxx  code translation and business checks            (422)
 *   YB5xxx  the gateway itself failed                       (5xx)
 *   YB6xxx  the platform could not be reached or misbehaved (502/504)
 *
 * Codes are never reused: operations search logs by them.
 */

typedef enum {
    YIBAO_GWERR_NONE = 0,

    YIBAO_GWERR_BODY_EMPTY = 1001,
    YIBAO_GWERR_BODY_TOO_LARGE = 1002,
    YIBAO_GWERR_JSON_INVALID = 1003,
    YIBAO_GWERR_JSON_TOO_DEEP = 1004,
    YIBAO_GWERR_ENVELOPE_NOT_OBJECT = 1005,
    YIBAO_GWERR_FIELD_MISSING = 1006,
    YIBAO_GWERR_FIELD_INVALID = 1007,
    YIBAO_GWERR_INPUT_NOT_OBJECT = 1008,
    YIBAO_GWERR_CONTENT_TYPE = 1009,
    YIBAO_GWERR_METHOD = 1010,
    YIBAO_GWERR_BAD_REQUEST = 1011,
    YIBAO_GWERR_JSON_TOO_MANY = 1012,
    YIBAO_GWERR_MSGID_REUSED = 1013,
    YIBAO_GWERR_NOT_FOUND = 1014,      /* nginx.conf's location / */
    YIBAO_GWERR_CALLER_GONE = 1015,    /* nginx's 499: logged only */

    YIBAO_GWERR_AUTH_MISSING = 2001,
    YIBAO_GWERR_AUTH_UNKNOWN_CALLER = 2002,
    YIBAO_GWERR_AUTH_SIGNATURE = 2003,
    YIBAO_GWERR_AUTH_TIMESTAMP = 2004,
    YIBAO_GWERR_AUTH_NONCE_FORMAT = 2005,
    YIBAO_GWERR_AUTH_REPLAY = 2006,
    YIBAO_GWERR_AUTH_CERT = 2007,
    YIBAO_GWERR_DENIED_CLINIC = 2101,
    YIBAO_GWERR_DENIED_INFNO = 2102,

    YIBAO_GWERR_CLINIC_UNKNOWN = 3001,
    YIBAO_GWERR_NO_ROUTE = 3002,
    YIBAO_GWERR_NO_VALID_KEY = 3003,
    YIBAO_GWERR_RATE_LIMITED = 3101,
    YIBAO_GWERR_OFFLINE_LIMIT = 3102,  /* 记账: the clinic's day */

    YIBAO_GWERR_UNMAPPED = 4001,
    YIBAO_GWERR_CODE_INVALID = 4002,
    YIBAO_GWERR_ID_NUMBER = 4003,
    YIBAO_GWERR_FEE_AMOUNT = 4004,
    YIBAO_GWERR_FEEDETL_SN = 4005,
    YIBAO_GWERR_AUDIT_REFUSED = 4010,
    YIBAO_GWERR_OFFLINE_INVALID = 4020, /* 记账: the record */

    YIBAO_GWERR_INTERNAL = 5001,
    YIBAO_GWERR_SIGN_FAILED = 5002,
    YIBAO_GWERR_MSGID_EXHAUSTED = 5003,
    YIBAO_GWERR_NONCE_STORE_FULL = 5004,
    YIBAO_GWERR_STORE_DOWN = 5005,
    YIBAO_GWERR_IN_PROGRESS = 5101,
    YIBAO_GWERR_JOURNAL_FORGOTTEN = 5102,
    YIBAO_GWERR_VISIT_SETTLED = 5103,

    YIBAO_GWERR_UPSTREAM_UNREACHABLE = 6001,
    YIBAO_GWERR_UPSTREAM_TIMEOUT = 6002,
    YIBAO_GWERR_UPSTREAM_STATUS = 6003,
    YIBAO_GWERR_UPSTREAM_NOT_ENVELOPE = 6004,
    YIBAO_GWERR_UPSTREAM_TOO_LARGE = 6005,
    YIBAO_GWERR_OUTCOME_UNKNOWN = 6010,
    YIBAO_GWERR_RESOLVED_NOT_DONE = 6011,
    YIBAO_GWERR_RESOLVED_REVERSED = 6012,
    YIBAO_GWERR_SIGNIN_FAILED = 6013,
    YIBAO_GWERR_PLATFORM_DOWN = 6020   /* switch to 记账 */
} yibao_gwerr_e;


typedef struct {
    int                   code;
    int                   http_status;
    const char           *name;
    const char           *text;
} yibao_gwerr_t;


/*
 * Returns the table row of a code; an unknown code yields the row of
 * YIBAO_GWERR_INTERNAL, so the result is never NULL.
 */
const yibao_gwerr_t *yibao_gwerr_find(int code);


#endif /* _YIBAO_GWERR_H_INCLUDED_ */
