/*
 * Unit tests for rollout.c's decisions: which commit a board gets now,
 * when the next ring is released (soak, offline boards, pins), bad
 * commits, the rollback target, and how health is judged; and that the
 * state files read back what was written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fsutil.h"
#include "log.h"
#include "rollout.h"
#include "session.h"

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define C3 "3333333333333333333333333333333333333333"

static enum rollout_action
decide(const struct rollout_source *s, const struct rollout_device *d,
    const char *upstream, unsigned ring, bool pinned)
{
	struct rollout_input in = { s, d, upstream, ring, pinned, true };

	return rollout_decide(&in);
}

static void
test_rings_in_order(void **state)
{
	struct rollout_source s;
	struct rollout_device d;
	struct rollout_board b[3] = {
		{ 0, false, true, false },
		{ 1, false, true, false },
		{ 2, false, true, false },
	};

	(void)state;
	rollout_source_init(&s);
	rollout_device_init(&d);
	assert_true(rollout_begin(&s, C1, 0, 100));
	assert_false(rollout_begin(&s, C1, 0, 101));
	assert_int_equal(decide(&s, &d, C1, 0, false), ROLLOUT_UPDATE);
	assert_int_equal(decide(&s, &d, C1, 1, false), ROLLOUT_WAIT);
	assert_int_equal(decide(&s, &d, C1, 2, false), ROLLOUT_WAIT);
	/* Ring 0 not healthy yet: nothing moves. */
	assert_false(rollout_advance(&s, b, 3, 0, 100));
	assert_int_equal(s.ring, 0);
	b[0].healthy = true;
	assert_true(rollout_advance(&s, b, 3, 0, 100));
	assert_int_equal(s.ring, 1);
	assert_int_equal(decide(&s, &d, C1, 1, false), ROLLOUT_UPDATE);
	assert_int_equal(decide(&s, &d, C1, 2, false), ROLLOUT_WAIT);
	b[1].healthy = true;
	assert_true(rollout_advance(&s, b, 3, 0, 100));
	assert_int_equal(s.ring, 2);
	b[2].healthy = true;
	assert_true(rollout_advance(&s, b, 3, 0, 100));
	assert_true(s.done);
	assert_int_equal(decide(&s, &d, C1, 9, false), ROLLOUT_UPDATE);
}

static void
test_soak_holds_the_next_ring(void **state)
{
	struct rollout_source s;
	struct rollout_board b[2] = {
		{ 0, false, true, true },
		{ 1, false, true, false },
	};

	(void)state;
	rollout_source_init(&s);
	rollout_begin(&s, C1, 0, 1000);
	assert_true(rollout_advance(&s, b, 2, 60, 1000));
	assert_int_equal(s.ring, 0);
	assert_int_equal(s.ring_healthy_since, 1000);
	assert_int_equal(rollout_soak_ends(&s, 60), 1060);
	assert_int_equal(rollout_soak_ends(&s, 0), 0);
	rollout_advance(&s, b, 2, 60, 1059);
	assert_int_equal(s.ring, 0);
	/* A board that turns unhealthy starts the soak again. */
	b[0].healthy = false;
	rollout_advance(&s, b, 2, 60, 1030);
	assert_int_equal(s.ring_healthy_since, 0);
	b[0].healthy = true;
	rollout_advance(&s, b, 2, 60, 1040);
	rollout_advance(&s, b, 2, 60, 1099);
	assert_int_equal(s.ring, 0);
	rollout_advance(&s, b, 2, 60, 1100);
	assert_int_equal(s.ring, 1);
	assert_int_equal(rollout_soak_ends(&s, 60), 0);
}

static void
test_offline_and_pinned_boards_do_not_block(void **state)
{
	struct rollout_source s;
	struct rollout_board b[4] = {
		{ 0, false, true, true },
		{ 0, false, false, false }, /* offline */
		{ 1, true, true, false },   /* pinned: outside the rollout */
		{ 3, false, true, false },  /* rings 1 and 2 have no board */
	};

	(void)state;
	rollout_source_init(&s);
	rollout_begin(&s, C1, 0, 5);
	assert_true(rollout_advance(&s, b, 4, 0, 5));
	assert_int_equal(s.ring, 3);
	assert_false(s.done);
}

static void
test_bad_commit_halts_and_holds(void **state)
{
	struct rollout_source s;
	struct rollout_device d, failed;
	struct rollout_board b[2] = {
		{ 0, false, true, true },
		{ 1, false, true, false },
	};

	(void)state;
	rollout_source_init(&s);
	rollout_device_init(&d);
	rollout_begin(&s, C2, 0, 10);
	rollout_add_bad(&s, C2);
	s.halted = true;
	assert_false(rollout_advance(&s, b, 2, 0, 10));
	assert_int_equal(s.ring, 0);
	assert_int_equal(decide(&s, &d, C2, 1, false), ROLLOUT_HOLD);
	assert_int_equal(decide(&s, &d, C2, 0, false), ROLLOUT_HOLD);
	/* The board that failed goes back to its last healthy commit. */
	rollout_device_init(&failed);
	snprintf(failed.commit, sizeof(failed.commit), "%s", C2);
	failed.health = ROLLOUT_UNHEALTHY;
	snprintf(failed.last_healthy, sizeof(failed.last_healthy), "%s", C1);
	assert_int_equal(decide(&s, &failed, C2, 0, false),
	    ROLLOUT_ROLLBACK);
	assert_string_equal(rollout_rollback_commit(&failed, C2), C1);
	/* rollback = no: it stays. */
	{
		struct rollout_input in = { &s, &failed, C2, 0, false, false };

		assert_int_equal(rollout_decide(&in), ROLLOUT_HOLD);
	}
	/* Upstream moves on: a new rollout, every ring may get it. */
	assert_true(rollout_begin(&s, C3, 0, 20));
	assert_false(s.halted);
	assert_true(rollout_is_bad(&s, C2));
	assert_int_equal(decide(&s, &d, C3, 0, false), ROLLOUT_UPDATE);
	/* Upstream back on the bad commit: halted at once. */
	assert_true(rollout_begin(&s, C2, 0, 30));
	assert_true(s.halted);
	assert_int_equal(decide(&s, &d, C2, 0, false), ROLLOUT_HOLD);
	/* A pin wins over everything. */
	assert_int_equal(decide(&s, &failed, C2, 0, true), ROLLOUT_PIN);
}

static void
test_bad_list_is_bounded(void **state)
{
	struct rollout_source s;
	char c[GITHASH_HEXSZ];
	int i;

	(void)state;
	rollout_source_init(&s);
	for (i = 0; i < ROLLOUT_BAD_MAX + 3; i++) {
		snprintf(c, sizeof(c), "%040x", i);
		rollout_add_bad(&s, c);
		rollout_add_bad(&s, c);
	}
	assert_int_equal(s.nbad, ROLLOUT_BAD_MAX);
	assert_true(rollout_is_bad(&s, c));
	snprintf(c, sizeof(c), "%040x", 0);
	assert_false(rollout_is_bad(&s, c));
}

static void
test_rollback_commit_skips_the_one_on_board(void **state)
{
	struct rollout_device d;

	(void)state;
	rollout_device_init(&d);
	assert_null(rollout_rollback_commit(&d, C1));
	snprintf(d.last_healthy, sizeof(d.last_healthy), "%s", C2);
	assert_null(rollout_rollback_commit(&d, C2));
	snprintf(d.previous_healthy, sizeof(d.previous_healthy), "%s", C1);
	assert_string_equal(rollout_rollback_commit(&d, C2), C1);
	assert_string_equal(rollout_rollback_commit(&d, C3), C2);
}

static void
test_health(void **state)
{
	struct config_device dev;
	struct session_boot boot;
	char why[512];

	(void)state;
	memset(&dev, 0, sizeof(dev));
	memset(&boot, 0, sizeof(boot));
	dev.health = HEALTH_BOOT;
	boot.watched = true;
	assert_true(rollout_health_ok(&dev, &boot, why, sizeof(why)));
	boot.traceback = true;
	snprintf(boot.tail, sizeof(boot.tail), "ImportError: no module");
	assert_false(rollout_health_ok(&dev, &boot, why, sizeof(why)));
	assert_non_null(strstr(why, "ImportError: no module"));
	dev.health = HEALTH_NONE;
	assert_true(rollout_health_ok(&dev, &boot, why, sizeof(why)));
	dev.health = HEALTH_LINE;
	dev.health_line = "^READY$";
	dev.health_timeout = 10;
	boot.traceback = false;
	assert_false(rollout_health_ok(&dev, &boot, why, sizeof(why)));
	assert_non_null(strstr(why, "no line matching '^READY$' within 10s"));
	boot.line_seen = true;
	assert_true(rollout_health_ok(&dev, &boot, why, sizeof(why)));
	/* Not restarted (reset = none): nothing to judge. */
	dev.health = HEALTH_BOOT;
	memset(&boot, 0, sizeof(boot));
	assert_true(rollout_health_ok(&dev, &boot, why, sizeof(why)));
}

static void
test_files_round_trip(void **state)
{
	char dir[] = "/tmp/test_rollout.XXXXXX";
	struct rollout_source s, s2;
	struct rollout_device d;
	struct manifest m = MANIFEST_INIT, back = MANIFEST_INIT;
	struct manifest *kept = NULL;
	size_t nkept = 0, i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	rollout_source_init(&s);
	rollout_begin(&s, C1, 2, 77);
	rollout_add_bad(&s, C2);
	s.halted = true;
	snprintf(s.reason, sizeof(s.reason), "device 'x' failed");
	assert_int_equal(rollout_source_save(dir, "app", &s), 0);
	assert_int_equal(rollout_source_load(dir, "app", &s2), 0);
	assert_string_equal(s2.commit, C1);
	assert_int_equal(s2.ring, 2);
	assert_true(s2.halted);
	assert_true(rollout_is_bad(&s2, C2));
	assert_string_equal(s2.reason, "device 'x' failed");

	manifest_add(&m, "main.py", C3, 12, 0100644);
	snprintf(m.commit, sizeof(m.commit), "%s", C1);
	assert_int_equal(rollout_device_healthy(dir, "b", &m, NULL), 0);
	snprintf(m.commit, sizeof(m.commit), "%s", C2);
	assert_int_equal(rollout_device_healthy(dir, "b", &m, NULL), 0);
	assert_int_equal(rollout_device_load(dir, "b", &d), 0);
	assert_string_equal(d.last_healthy, C2);
	assert_string_equal(d.previous_healthy, C1);
	/* Failing on C2: the last healthy is C1 again. */
	assert_int_equal(rollout_device_unhealthy(dir, "b", C2, "boom"), 0);
	assert_int_equal(rollout_device_load(dir, "b", &d), 0);
	assert_int_equal(d.health, ROLLOUT_UNHEALTHY);
	assert_string_equal(d.last_healthy, C1);
	assert_int_equal(rollout_healthy_manifest(dir, "b", C1, &back), 0);
	assert_int_equal(back.n, 1);
	assert_string_equal(back.entries[0].sha, C3);
	assert_int_equal(rollout_kept_manifests(dir, "b", &kept, &nkept), 0);
	assert_true(nkept >= 1);
	for (i = 0; i < nkept; i++)
		manifest_release(&kept[i]);
	free(kept);
	manifest_release(&back);
	manifest_release(&m);
	fs_remove_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rings_in_order),
		cmocka_unit_test(test_soak_holds_the_next_ring),
		cmocka_unit_test(test_offline_and_pinned_boards_do_not_block),
		cmocka_unit_test(test_bad_commit_halts_and_holds),
		cmocka_unit_test(test_bad_list_is_bounded),
		cmocka_unit_test(test_rollback_commit_skips_the_one_on_board),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_files_round_trip),
	};

	log_init("test_rollout", -1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
