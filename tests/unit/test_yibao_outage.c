/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_outage.h"


static const yibao_outage_conf_t  conf = { 3, 10000 };


static yibao_outage_verdict_e
ev(yibao_outage_t *o, yibao_outage_event_e e, uint64_t now, int *changed)
{
    int  c;

    return yibao_outage_apply(o, &conf, e, now, changed ? changed : &c);
}


static void
test_down_after_failures_in_a_row(void **state)
{
    int             changed;
    yibao_outage_t  o;

    (void) state;

    memset(&o, 0, sizeof(o));

    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT, 1, NULL),
                     YIBAO_OUTAGE_SEND);

    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 2, &changed);
    assert_false(changed);
    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 3, &changed);
    assert_false(changed);

    /* a success between them starts the count again */
    ev(&o, YIBAO_OUTAGE_EV_SUCCESS, 4, &changed);
    assert_false(changed);
    assert_int_equal(o.failures, 0);

    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 5, NULL);
    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 6, NULL);
    assert_int_equal(yibao_outage_effective(&o), YIBAO_OUTAGE_UP);
    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 7, &changed);
    assert_true(changed);
    assert_int_equal(yibao_outage_effective(&o), YIBAO_OUTAGE_DOWN);
    assert_int_equal(o.since, 7);
    assert_int_equal(o.changes, 1);

    /* down: nothing is sent, counted */
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT, 8, NULL),
                     YIBAO_OUTAGE_REFUSE);
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT_PROBE, 8, NULL),
                     YIBAO_OUTAGE_REFUSE);
    assert_int_equal(o.refused, 2);

    /* more failures while down keep its start */
    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 9, &changed);
    assert_false(changed);
    assert_int_equal(o.since, 7);
}


static void
test_probe_after_retry(void **state)
{
    int             changed;
    yibao_outage_t  o;

    (void) state;

    memset(&o, 0, sizeof(o));

    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 0, NULL);
    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 0, NULL);
    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 100, NULL);
    assert_int_equal(o.state, YIBAO_OUTAGE_DOWN);

    /* not before retry, and never a money-moving one */
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT_PROBE, 10099, NULL),
                     YIBAO_OUTAGE_REFUSE);
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT, 10100, NULL),
                     YIBAO_OUTAGE_REFUSE);

    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT_PROBE, 10100, &changed),
                     YIBAO_OUTAGE_PROBE);
    assert_true(changed);
    assert_int_equal(yibao_outage_effective(&o), YIBAO_OUTAGE_PROBING);

    /* one probe at a time */
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT_PROBE, 10101, NULL),
                     YIBAO_OUTAGE_REFUSE);
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT, 10101, NULL),
                     YIBAO_OUTAGE_REFUSE);

    /* the probe failed: down for another retry */
    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 10200, &changed);
    assert_true(changed);
    assert_int_equal(o.state, YIBAO_OUTAGE_DOWN);
    assert_int_equal(o.since, 10200);
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT_PROBE, 20199, NULL),
                     YIBAO_OUTAGE_REFUSE);
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT_PROBE, 20200, NULL),
                     YIBAO_OUTAGE_PROBE);

    /* a probe never heard of: another one after retry */
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT_PROBE, 30199, NULL),
                     YIBAO_OUTAGE_REFUSE);
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT_PROBE, 30200, NULL),
                     YIBAO_OUTAGE_PROBE);

    /* it answered: up, everything is sent */
    ev(&o, YIBAO_OUTAGE_EV_SUCCESS, 30300, &changed);
    assert_true(changed);
    assert_int_equal(yibao_outage_effective(&o), YIBAO_OUTAGE_UP);
    assert_int_equal(o.failures, 0);
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT, 30301, NULL),
                     YIBAO_OUTAGE_SEND);
}


static void
test_operator_switch(void **state)
{
    int             changed;
    yibao_outage_t  o;

    (void) state;

    memset(&o, 0, sizeof(o));

    /* down by the operator: refused, no probe however long */
    ev(&o, YIBAO_OUTAGE_EV_SWITCH_DOWN, 1, &changed);
    assert_true(changed);
    assert_int_equal(yibao_outage_effective(&o), YIBAO_OUTAGE_DOWN);
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT_PROBE, 1000000, NULL),
                     YIBAO_OUTAGE_REFUSE);

    /* a success seen meanwhile does not lift the operator's switch */
    ev(&o, YIBAO_OUTAGE_EV_SUCCESS, 1000001, &changed);
    assert_false(changed);
    assert_int_equal(yibao_outage_effective(&o), YIBAO_OUTAGE_DOWN);

    ev(&o, YIBAO_OUTAGE_EV_SWITCH_AUTO, 1000002, &changed);
    assert_true(changed);
    assert_int_equal(yibao_outage_effective(&o), YIBAO_OUTAGE_UP);

    /* up by the operator: sent however many failures; counted */
    ev(&o, YIBAO_OUTAGE_EV_SWITCH_UP, 1000003, &changed);
    assert_false(changed);
    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 1000004, NULL);
    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 1000004, NULL);
    ev(&o, YIBAO_OUTAGE_EV_FAILURE, 1000004, &changed);
    assert_false(changed);
    assert_int_equal(ev(&o, YIBAO_OUTAGE_EV_ADMIT, 1000005, NULL),
                     YIBAO_OUTAGE_SEND);

    /* back to auto: what was seen holds */
    ev(&o, YIBAO_OUTAGE_EV_SWITCH_AUTO, 1000006, &changed);
    assert_true(changed);
    assert_int_equal(yibao_outage_effective(&o), YIBAO_OUTAGE_DOWN);
    ev(&o, YIBAO_OUTAGE_EV_READ, 1000007, &changed);
    assert_false(changed);
}


static void
test_names_and_classes(void **state)
{
    (void) state;

    assert_string_equal(yibao_outage_state_name(YIBAO_OUTAGE_PROBING),
                        "probing");
    assert_string_equal(yibao_outage_state_name(
                            (yibao_outage_state_e) 99), "up");
    assert_string_equal(yibao_outage_switch_name(YIBAO_OUTAGE_FORCE_DOWN),
                        "down");

    assert_int_equal(yibao_outage_switch_parse(
                         (const unsigned char *) "down", 4),
                     YIBAO_OUTAGE_FORCE_DOWN);
    assert_int_equal(yibao_outage_switch_parse(
                         (const unsigned char *) "auto", 4),
                     YIBAO_OUTAGE_AUTO);
    assert_int_equal(yibao_outage_switch_parse(
                         (const unsigned char *) "dow", 3), -1);
    assert_int_equal(yibao_outage_switch_parse(
                         (const unsigned char *) "upx", 3), -1);

    assert_true(yibao_outage_may_probe(YIBAO_INFNO_READ));
    assert_true(yibao_outage_may_probe(YIBAO_INFNO_COMPUTE));
    assert_false(yibao_outage_may_probe(YIBAO_INFNO_CREATE));
    assert_false(yibao_outage_may_probe(YIBAO_INFNO_MONEY));
    assert_false(yibao_outage_may_probe(YIBAO_INFNO_REPLACE));
    assert_false(yibao_outage_may_probe(YIBAO_INFNO_COMPENSATE));
    assert_false(yibao_outage_may_probe(YIBAO_INFNO_STATEMENT));
    assert_false(yibao_outage_may_probe(YIBAO_INFNO_OTHER));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_down_after_failures_in_a_row),
        cmocka_unit_test(test_probe_after_retry),
        cmocka_unit_test(test_operator_switch),
        cmocka_unit_test(test_names_and_classes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
