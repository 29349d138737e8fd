/*
 * Unit tests for progress.c: the line fits the terminal (a line that
 * wraps breaks the redraw), sizes are in one unit style, and a log line
 * never runs into the progress line.
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

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "progress.h"

static const char *const names[] = {
	"kitchen", "garage", "greenhouse-east", "greenhouse-west",
	"weather-station", "front-door", "cellar", "attic-fan",
};

/* 8 boards half way through 80 KiB each, started 2 s before now. */
static void
eight_boards(struct progress *p, double now)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->nslots = 8;
	p->slots = calloc(8, sizeof(*p->slots));
	for (i = 0; i < 8; i++) {
		p->slots[i].device = names[i];
		snprintf(p->slots[i].file, sizeof(p->slots[i].file),
		    "lib/drivers/sensor_%zu.py", i);
		p->slots[i].total = 80 * 1024;
		p->slots[i].sent = 40 * 1024 + i;
		p->slots[i].started = now - 2;
	}
}

static size_t
columns(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void
test_eight_boards_fit_80_columns(void **state)
{
	struct progress p;
	struct buf line = BUF_INIT;
	unsigned widths[] = { 80, 40, 20, 2 };
	size_t i, k;

	(void)state;
	eight_boards(&p, 100.0);
	for (k = 0; k < sizeof(widths) / sizeof(widths[0]); k++) {
		buf_reset(&line);
		progress_render(&p, 100.0, widths[k], &line);
		assert_true(columns(line.data) < widths[k]);
		assert_null(strchr(line.data, '\n'));
	}
	/* At 80 columns every board still shows, in short. */
	buf_reset(&line);
	progress_render(&p, 100.0, 80, &line);
	for (i = 0; i < 4; i++)
		assert_non_null(strstr(line.data, names[i]));
	assert_non_null(strstr(line.data, "kitchen 50%"));
	buf_release(&line);
	free(p.slots);
}

static void
test_wide_terminal_shows_files_in_one_unit_style(void **state)
{
	struct progress p;
	struct buf line = BUF_INIT;

	(void)state;
	eight_boards(&p, 100.0);
	p.nslots = 1;
	progress_render(&p, 100.0, 200, &line);
	assert_string_equal(line.data, "kitchen: lib/drivers/sensor_0.py "
	    "40.0 KiB/80.0 KiB 20.0 KiB/s");
	buf_release(&line);
	free(p.slots);
}

static void
test_log_line_clears_the_progress_line(void **state)
{
	char path[] = "/tmp/senko-progress-XXXXXX";
	struct progress p;
	struct buf out = BUF_INIT;
	const char *at;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	assert_non_null(freopen(path, "w", stderr));
	log_init("senko", 0, 0);
	progress_init(&p, true, 2);
	progress_start(&p, 0, "kitchen", 1000);
	progress_finish(&p, 0);
	log_info("kitchen: soft reset");
	progress_release(&p);
	fflush(stderr);
	assert_int_equal(fs_read_file(path, &out), 0);
	unlink(path);
	close(fd);
	/* The progress line was drawn, then erased before the message. */
	assert_non_null(strstr(out.data, "kitchen: done"));
	at = strstr(out.data, "senko: kitchen: soft reset\n");
	assert_non_null(at);
	assert_true(at - out.data >= 4);
	assert_memory_equal(at - 4, "\r\033[K", 4);
	/* Nothing of the progress is left after the last line. */
	assert_string_equal(out.data + out.len - 4, "\r\033[K");
	buf_release(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eight_boards_fit_80_columns),
		cmocka_unit_test(test_wide_terminal_shows_files_in_one_unit_style),
		cmocka_unit_test(test_log_line_clears_the_progress_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
