/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_TEST_RULES_H_INCLUDED_
#define _YIBAO_TEST_RULES_H_INCLUDED_


/*
 * The translation rules the unit tests of yibao_rules.c and
 * yibao_translate.c share: one rule of every shape (kinds, targets, a
 * name target, dictionaries, every check, "*", answer rules, a root
 * array).
 */

#define RULE(infno, dir, path, what)                                         \
    infno "\t" dir "\t" path "\t" what "\n"

#define RULES_TSV                                                            \
    "# test rules\n"                                                         \
    RULE("2204", "request", "feedetail[].medins_list_codg",                  \
         "drug,item,consumable\tfeedetail[].med_list_codg")                  \
    RULE("2204", "request", "feedetail[].bilg_dr_codg", "staff")             \
    RULE("2204", "request", "feedetail[].bilg_dept_codg", "dept")            \
    RULE("2204", "request", "feedetail[].det_item_fee_sumamt",               \
         "check:number")                                                     \
    RULE("2204", "request", "feedetail[].cnt", "check:number")               \
    RULE("2204", "request", "feedetail[].pric", "check:number")              \
    RULE("2204", "request", "feedetail[].prd_days", "check:number")          \
    RULE("2204", "request", "feedetail[]", "check:fee_amount")               \
    RULE("2204", "request", "feedetail[].feedetl_sn", "check:feedetl_sn")    \
    "\n"                                                                     \
    RULE("2203", "request", "mdtrtinfo.dise_codg",                           \
         "chronic,diagnosis\t-\tmdtrtinfo.dise_name")                        \
    RULE("2203", "request", "diseinfo[].diag_code",                          \
         "diagnosis\t-\tdiseinfo[].diag_name")                               \
    RULE("2201", "request", "data.psn_cert_type", "dict:psn_cert_type")      \
    RULE("2201", "request", "data.mdtrt_cert_type",                          \
         "dict:mdtrt_cert_type")                                             \
    RULE("2201", "request", "data", "check:id_number")                       \
    RULE("2201", "request", "data.caty", "dept")                             \
    RULE("*", "request", "data.atddr_no", "staff")                           \
    RULE("5204", "answer", "[].bilg_dr_codg", "staff")                       \
    RULE("5204", "answer", "[].med_list_codg",                               \
         "drug,item,consumable\t[].medins_list_codg")                        \
    RULE("5203", "answer", "setlinfo.psn_cert_type", "dict:psn_cert_type")

#define RULES_COUNT   19


#endif /* _YIBAO_TEST_RULES_H_INCLUDED_ */
