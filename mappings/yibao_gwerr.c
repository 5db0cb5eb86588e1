/*
 * Copyright (C) yibao-gateway authors
 */


#include "yibao_gwerr.h"


static const yibao_gwerr_t  yibao_gwerr_table[] = {

    { YIBAO_GWERR_BODY_EMPTY, 400, "body_empty",
      "request body is empty" },
    { YIBAO_GWERR_BODY_TOO_LARGE, 413, "body_too_large",
      "request body is too large" },
    { YIBAO_GWERR_JSON_INVALID, 400, "json_invalid",
      "request body is not valid JSON" },
    { YIBAO_GWERR_JSON_TOO_DEEP, 400, "json_too_deep",
      "request JSON is nested too deeply" },
    { YIBAO_GWERR_ENVELOPE_NOT_OBJECT, 400, "envelope_not_object",
      "request body is not a JSON object" },
    { YIBAO_GWERR_FIELD_MISSING, 400, "field_missing",
      "envelope field is missing" },
    { YIBAO_GWERR_FIELD_INVALID, 400, "field_invalid",
      "envelope field is malformed" },
    { YIBAO_GWERR_INPUT_NOT_OBJECT, 400, "input_not_object",
      "envelope field \"input\" is not a JSON object" },
    { YIBAO_GWERR_CONTENT_TYPE, 415, "content_type",
      "unsupported Content-Type" },
    { YIBAO_GWERR_METHOD, 405, "method",
      "method not allowed" },
    { YIBAO_GWERR_BAD_REQUEST, 400, "bad_request",
      "malformed HTTP request" },
    { YIBAO_GWERR_JSON_TOO_MANY, 400, "json_too_many",
      "request JSON has too many values" },
    { YIBAO_GWERR_MSGID_REUSED, 409, "msgid_reused",
      "msgid already used for a different request" },
    { YIBAO_GWERR_NOT_FOUND, 404, "not_found",
      "no such endpoint" },

    { YIBAO_GWERR_CALLER_GONE, 499, "caller_gone",
      "the caller closed the connection before the answer" },

    { YIBAO_GWERR_AUTH_MISSING, 401, "auth_missing",
      "caller authentication header is missing" },
    { YIBAO_GWERR_AUTH_UNKNOWN_CALLER, 401, "auth_unknown_caller",
      "unknown caller" },
    { YIBAO_GWERR_AUTH_SIGNATURE, 401, "auth_signature",
      "caller signature does not match" },
    { YIBAO_GWERR_AUTH_TIMESTAMP, 401, "auth_timestamp",
      "caller timestamp outside the allowed window" },
    { YIBAO_GWERR_AUTH_NONCE_FORMAT, 401, "auth_nonce_format",
      "caller nonce is malformed" },
    { YIBAO_GWERR_AUTH_REPLAY, 401, "auth_replay",
      "caller nonce was already used" },
    { YIBAO_GWERR_AUTH_CERT, 401, "auth_cert",
      "client certificate missing or not verified" },
    { YIBAO_GWERR_DENIED_CLINIC, 403, "denied_clinic",
      "caller may not act for this clinic" },
    { YIBAO_GWERR_DENIED_INFNO, 403, "denied_infno",
      "caller may not use this transaction" },

    { YIBAO_GWERR_CLINIC_UNKNOWN, 403, "clinic_unknown",
      "clinic is not in the registry" },
    { YIBAO_GWERR_NO_ROUTE, 404, "no_route",
      "transaction has no upstream route" },
    { YIBAO_GWERR_NO_VALID_KEY, 503, "no_valid_key",
      "the entity has no key valid now (expired or not yet valid)" },
    { YIBAO_GWERR_RATE_LIMITED, 429, "rate_limited",
      "rate limit reached" },
    { YIBAO_GWERR_OFFLINE_LIMIT, 429, "offline_limit",
      "the clinic's 记账 records of the day reached their limit" },

    { YIBAO_GWERR_UNMAPPED, 422, "unmapped",
      "codes without a national mapping" },
    { YIBAO_GWERR_CODE_INVALID, 422, "code_invalid",
      "codes without the national shape" },
    { YIBAO_GWERR_ID_NUMBER, 422, "id_number",
      "invalid ID number" },
    { YIBAO_GWERR_FEE_AMOUNT, 422, "fee_amount",
      "fee amount is not count times price" },
    { YIBAO_GWERR_FEEDETL_SN, 422, "feedetl_sn",
      "feedetl_sn is not 1 to 15 digits" },
    { YIBAO_GWERR_AUDIT_REFUSED, 422, "audit_refused",
      "the fee-line audit refused the transaction" },
    { YIBAO_GWERR_OFFLINE_INVALID, 422, "offline_invalid",
      "the 记账 record cannot be taken" },

    { YIBAO_GWERR_INTERNAL, 500, "internal",
      "gateway internal error" },
    { YIBAO_GWERR_SIGN_FAILED, 500, "sign_failed",
      "signing the upstream request failed" },
    { YIBAO_GWERR_MSGID_EXHAUSTED, 503, "msgid_exhausted",
      "msgid sequence exhausted for this second" },
    { YIBAO_GWERR_NONCE_STORE_FULL, 503, "nonce_store_full",
      "nonce store is full" },
    { YIBAO_GWERR_STORE_DOWN, 503, "store_down",
      "the shared store is down and the limit policy is closed" },
    { YIBAO_GWERR_IN_PROGRESS, 409, "in_progress",
      "this msgid is being processed" },
    { YIBAO_GWERR_JOURNAL_FORGOTTEN, 503, "journal_forgotten",
      "the journal's store lost its records and this msgid could not be "
      "checked with the platform" },
    { YIBAO_GWERR_VISIT_SETTLED, 409, "visit_settled",
      "the visit has a settlement the journal cannot tie to this msgid" },

    { YIBAO_GWERR_UPSTREAM_UNREACHABLE, 502, "upstream_unreachable",
      "platform unreachable" },
    { YIBAO_GWERR_UPSTREAM_TIMEOUT, 504, "upstream_timeout",
      "platform did not answer in time" },
    { YIBAO_GWERR_UPSTREAM_STATUS, 502, "upstream_status",
      "platform answered with an HTTP error" },
    { YIBAO_GWERR_UPSTREAM_NOT_ENVELOPE, 502, "upstream_not_envelope",
      "platform answer is not a national envelope" },
    { YIBAO_GWERR_UPSTREAM_TOO_LARGE, 502, "upstream_too_large",
      "platform answer is too large" },
    { YIBAO_GWERR_OUTCOME_UNKNOWN, 502, "outcome_unknown",
      "the outcome is unknown; the transaction is not sent again" },
    { YIBAO_GWERR_RESOLVED_NOT_DONE, 409, "resolved_not_done",
      "resolved: the platform never did it; send it with a new msgid" },
    { YIBAO_GWERR_RESOLVED_REVERSED, 409, "resolved_reversed",
      "resolved: it was reversed; send it with a new msgid" },
    { YIBAO_GWERR_SIGNIN_FAILED, 502, "signin_failed",
      "the gateway could not sign the operator in (9001)" },
    { YIBAO_GWERR_PLATFORM_DOWN, 503, "platform_down",
      "the platform is unreachable: not sent; record the visit offline "
      "(记账) and settle it when the platform is back" },

    { 0, 0, NULL, NULL }
};


const yibao_gwerr_t *
yibao_gwerr_find(int code)
{
    const yibao_gwerr_t  *e;

    for (e = yibao_gwerr_table; e->code != 0; e++) {
        if (e->code == code) {
            return e;
        }
    }

    return yibao_gwerr_find(YIBAO_GWERR_INTERNAL);
}
