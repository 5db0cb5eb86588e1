/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_SIGNIN_H_INCLUDED_
#define _YIBAO_SIGNIN_H_INCLUDED_


#include "yibao_types.h"


/*
 * Sign-in on the callers' behalf: one sign_no per
 * contracting entity, operator and day, obtained by the gateway with
 * 9001 on first need and kept in the store until local midnight.
 */

/*
 * The store key "yibao:signin:{ENTITY}:OPTER:YYYYMMDD", allocated from a.
 * YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_signin_key(const yibao_str_t *entity, const yibao_str_t *opter,
    const yibao_tm_t *day, yibao_alloc_t *a, yibao_str_t *key);

/*
 * The 9001 input {"signIn":{"opter_no":..,"mac":..,"ip":..}} as a
 * json_t * (for yibao_resolve_envelope()), or NULL on NOMEM.
 */
void *yibao_signin_input(const yibao_str_t *opter, const yibao_str_t *mac,
    const yibao_str_t *ip);

/*
 * The sign_no of a 9001 answer (output.signinoutb.sign_no), allocated
 * from a.  YIBAO_OK; YIBAO_ERR_INVALID with reason (at most len - 1
 * bytes, cut at a character) when the platform refused or the answer
 * has none; YIBAO_ERR_NOMEM.
 */
int yibao_signin_answer(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_str_t *sign_no, char *reason, size_t size);

/* Milliseconds from now (local time) to the next local midnight. */
uint64_t yibao_signin_ttl_ms(const yibao_tm_t *now);


#endif /* _YIBAO_SIGNIN_H_INCLUDED_ */
