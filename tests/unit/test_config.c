/*
 * Unit tests for config.c from what fuzzing found (tests/fuzz/fuzz_config.c):
 * what `senko config show` prints must load again as the same
 * configuration; a value with a control byte and a branch name git would
 * refuse are errors.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "log.h"

static char conf_path[] = "/tmp/senko-test-config-XXXXXX";

static void
write_conf(const char *text)
{
	FILE *fp = fopen(conf_path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* config_print() without its first line (it names the file). */
static char *
printed(const struct config *cfg)
{
	char *text = NULL, *body;
	size_t size = 0;
	FILE *fp = open_memstream(&text, &size);

	assert_non_null(fp);
	config_print(cfg, fp);
	fclose(fp);
	body = strchr(text, '\n');
	assert_non_null(body);
	memmove(text, body + 1, strlen(body + 1) + 1);
	return text;
}

/* Load text, print it, load the print: both prints must be the same. */
static struct config *
load_print_reload(const char *text, char **first)
{
	struct config *cfg, *again;
	char *second;

	write_conf(text);
	cfg = config_load(conf_path);
	assert_non_null(cfg);
	*first = printed(cfg);
	config_free(cfg);
	write_conf(*first);
	again = config_load(conf_path);
	assert_non_null(again);
	second = printed(again);
	assert_string_equal(*first, second);
	free(second);
	return again;
}

static const char source_head[] =
	"[source app]\nuser = someone\nrepo = thing\n";

static void
test_many_files_print_within_the_line_limit(void **state)
{
	struct buf text = BUF_INIT;
	struct config *cfg;
	char *out, *line;
	int i;

	(void)state;
	buf_addstr(&text, source_head);
	/* Ten lines of files add up to one list far longer than a line. */
	for (i = 0; i < 10; i++)
		buf_addf(&text, "files = lib/module_number_%02d.py "
		    "www/static/page_number_%02d.html\n", i, i);
	cfg = load_print_reload(text.data, &out);
	assert_int_equal(cfg->sources[0].nfiles, 20);
	assert_string_equal(cfg->sources[0].files[19],
	    "www/static/page_number_09.html");
	for (line = out; *line; line += strcspn(line, "\n") + 1) {
		assert_true(strcspn(line, "\n") <= 198);
		if (line[strcspn(line, "\n")] == '\0')
			break;
	}
	free(out);
	config_free(cfg);
	buf_release(&text);
}

static void
test_long_values_print_back(void **state)
{
	struct buf text = BUF_INIT, port = BUF_INIT;
	struct config *cfg;
	char *out;

	(void)state;
	/* "port=" and 190 characters: 195, within the 198 a line may have,
	 * but not once padded as "port   = ...". */
	buf_addstr(&port, "/dev/serial/by-id/");
	while (port.len < 190)
		buf_addch(&port, 'x');
	buf_addf(&text, "%s[device d]\nport=%s\nsource = app\n", source_head,
	    port.data);
	cfg = load_print_reload(text.data, &out);
	assert_string_equal(cfg->devices[0].port, port.data);
	free(out);
	config_free(cfg);
	buf_release(&text);
	buf_release(&port);
}

static void
test_file_named_like_a_comment_prints_back(void **state)
{
	struct buf text = BUF_INIT, name = BUF_INIT;
	struct config *cfg;
	char *out;

	(void)state;
	/* A name that fills a printed line, so that the next one starts a
	 * continuation line. */
	while (name.len < 75)
		buf_addch(&name, 'n');
	/* Only a leading '/' gets such names past the comment rules; at
	 * the start of a continuation line '[' would open a section. */
	buf_addf(&text, "[source app]\nuser = a\nrepo = b\n"
	    "files = main.py /#autosave# /;odd\nfiles = %s [device x]\n",
	    name.data);
	cfg = load_print_reload(text.data, &out);
	assert_non_null(strstr(out, "\n /[device"));
	assert_int_equal(cfg->sources[0].nfiles, 6);
	assert_string_equal(cfg->sources[0].files[1], "#autosave#");
	assert_string_equal(cfg->sources[0].files[2], ";odd");
	assert_string_equal(cfg->sources[0].files[4], "[device");
	assert_int_equal(cfg->ndevices, 0);
	free(out);
	config_free(cfg);
	buf_release(&text);
	buf_release(&name);
}

static void
test_all_files_prints_back_as_all_files(void **state)
{
	struct config *cfg;
	char *out;

	(void)state;
	/* No files key: the print must not invent one. */
	cfg = load_print_reload("[source app]\nuser = a\nrepo = b\n", &out);
	assert_int_equal(cfg->sources[0].nfiles, 0);
	assert_null(cfg->sources[0].files);
	free(out);
	config_free(cfg);
}

static void
test_folder_with_edge_spaces_prints_back(void **state)
{
	struct config *cfg;
	char *out;

	(void)state;
	/* Reading trims white space; slashes keep it, and are dropped. */
	cfg = load_print_reload("[source app]\nuser = a\nrepo = b\n"
	    "working_dir = / lib /\n[device d]\nport = /dev/ttyUSB0\n"
	    "source = app\ndest = /app /\n", &out);
	assert_string_equal(cfg->sources[0].working_dir, " lib ");
	assert_string_equal(cfg->devices[0].dest, "/app ");
	free(out);
	config_free(cfg);
}

static void
test_value_starting_with_semicolon_prints_back(void **state)
{
	struct config *cfg;
	char *out;

	(void)state;
	/* ";" after white space starts a comment; "repo=;x" is the repo ";x" */
	cfg = load_print_reload("[source app]\nuser = a\nrepo=;x\n", &out);
	assert_string_equal(cfg->sources[0].repo, ";x");
	free(out);
	config_free(cfg);
}

static void
test_control_byte_in_value_refused(void **state)
{
	(void)state;
	/* A CR inside a line (a file with mixed line ends). */
	write_conf("[senkod]\napi_url = http://127.0.0.1:8080\r/\n");
	assert_null(config_load(conf_path));
	assert_non_null(strstr(log_last_error(), "error"));
	write_conf("[source app]\nuser = some\033[2Jone\nrepo = thing\n");
	assert_null(config_load(conf_path));
	/* Nor white space in a URL: "x /" lost its '/', then its space. */
	write_conf("[senkod]\napi_url = http://127.0.0.1:8080/x /\n");
	assert_null(config_load(conf_path));
	/* A tab separates files and is fine. */
	write_conf("[source app]\nuser = a\nrepo = b\nfiles = x.py\ty.py\n");
	{
		struct config *cfg = config_load(conf_path);

		assert_non_null(cfg);
		assert_int_equal(cfg->sources[0].nfiles, 2);
		config_free(cfg);
	}
}

static bool
branch_loads(const char *branch)
{
	struct buf text = BUF_INIT;
	struct config *cfg;

	buf_addf(&text, "[source app]\nuser = a\nrepo = b\nbranch = %s\n",
	    branch);
	write_conf(text.data);
	buf_release(&text);
	cfg = config_load(conf_path);
	config_free(cfg);
	return cfg != NULL;
}

static void
test_branch_names_git_allows(void **state)
{
	struct config *cfg;

	(void)state;
	assert_true(branch_loads("main"));
	assert_true(branch_loads("feature/new-sensor"));
	assert_true(branch_loads("release-1.2"));
	assert_true(branch_loads("v2.x_fix"));
	/* git check-ref-format refuses these: no branch can have them. */
	assert_false(branch_loads("my branch"));
	assert_false(branch_loads("a..b"));
	assert_false(branch_loads("topic.lock"));
	assert_false(branch_loads("a/.hidden"));
	assert_false(branch_loads("-x"));
	assert_false(branch_loads("a~1"));
	assert_false(branch_loads("a:b"));
	assert_false(branch_loads("a@{1}"));
	assert_false(branch_loads("x/"));
	assert_false(branch_loads("x."));
	assert_false(branch_loads("@"));
	/* The url form: a component with a trailing space used to become a
	 * branch that printed back without it. */
	write_conf("[source app]\n"
	    "url = https://github.com/u/r/tree/main /lib\n");
	assert_null(config_load(conf_path));
	write_conf("[source app]\n"
	    "url = https://github.com/u/r/tree/feature/lib\n");
	cfg = config_load(conf_path);
	assert_non_null(cfg);
	assert_string_equal(cfg->sources[0].branch, "feature");
	assert_string_equal(cfg->sources[0].working_dir, "lib");
	config_free(cfg);
}

/* A [device] with extra, after a source app (path: a local folder). */
static struct config *
device_with(const char *extra, bool local)
{
	struct buf text = BUF_INIT;
	struct config *cfg;

	buf_addf(&text, "[source app]\n%s\n[device d]\nport = /dev/null\n"
	    "source = app\n%s\n", local ? "path = /tmp" :
	    "user = a\nrepo = b", extra);
	write_conf(text.data);
	buf_release(&text);
	cfg = config_load(conf_path);
	return cfg;
}

static void
test_rollout_keys(void **state)
{
	struct config *cfg;
	char *first;

	(void)state;
	cfg = device_with("", false);
	assert_non_null(cfg);
	assert_int_equal(cfg->devices[0].ring, 1);
	assert_int_equal(cfg->devices[0].health, HEALTH_BOOT);
	assert_int_equal(cfg->devices[0].health_timeout, 10);
	assert_true(cfg->devices[0].rollback);
	assert_null(cfg->devices[0].pin);
	assert_int_equal(cfg->sources[0].soak, 0);
	config_free(cfg);
	cfg = device_with("ring = 0\nhealth = line ^READY( [0-9]+)?$\n"
	    "health_timeout = 3s\npin = v1.2\nrollback = no\n", false);
	assert_non_null(cfg);
	assert_int_equal(cfg->devices[0].ring, 0);
	assert_int_equal(cfg->devices[0].health, HEALTH_LINE);
	assert_string_equal(cfg->devices[0].health_line, "^READY( [0-9]+)?$");
	assert_int_equal(cfg->devices[0].health_timeout, 3);
	assert_string_equal(cfg->devices[0].pin, "v1.2");
	assert_false(cfg->devices[0].rollback);
	config_free(cfg);
	/* What config check prints reads back the same. */
	cfg = load_print_reload("[source app]\nuser = a\nrepo = b\n"
	    "soak = 30m\n[device d]\nport = /dev/null\nsource = app\n"
	    "health = line ^READY$\npin = v1\n", &first);
	assert_int_equal(cfg->sources[0].soak, 1800);
	assert_string_equal(cfg->devices[0].health_line, "^READY$");
	free(first);
	config_free(cfg);
	/* Refused, naming the key. */
	assert_null(device_with("ring = 10\n", false));
	assert_null(device_with("health = line (\n", false));
	assert_null(device_with("health = line\n", false));
	assert_null(device_with("health = sometimes\n", false));
	assert_null(device_with("health_timeout = 0\n", false));
	assert_null(device_with("pin = a..b\n", false));
	assert_null(device_with("pin = v1\n", true));
}

/*
 * exclude = tests/ names the folder tests (below working_dir) and
 * everything under it, as files = lib/ names lib; it is kept as written
 * and prints back the same.
 */
static void
test_exclude_trailing_slash_names_a_folder(void **state)
{
	struct config *cfg;
	const struct config_source *src;
	char *first;

	(void)state;
	cfg = load_print_reload("[source app]\nuser = a\nrepo = b\n"
	    "exclude = tests/ sub/gen// *.md\n", &first);
	src = &cfg->sources[0];
	assert_non_null(strstr(first, "= tests/\n"));
	assert_non_null(strstr(first, "= sub/gen//\n"));
	assert_true(config_source_excludes(src, "tests/test_main.py"));
	assert_true(config_source_excludes(src, "tests/deep/x.py"));
	assert_true(config_source_excludes(src, "sub/gen/x.py"));
	assert_true(config_source_excludes(src, "notes.md"));
	/* A file named like the folder is not a folder. */
	assert_false(config_source_excludes(src, "tests"));
	assert_false(config_source_excludes(src, "sub/gen"));
	/* With a '/' the pattern is a path from working_dir, as in files. */
	assert_false(config_source_excludes(src, "lib/tests/x.py"));
	assert_false(config_source_excludes(src, "sub/general.py"));
	assert_false(config_source_excludes(src, "main.py"));
	free(first);
	config_free(cfg);
}

static int
setup(void **state)
{
	int fd = mkstemp(conf_path);

	(void)state;
	if (fd == -1)
		return -1;
	close(fd);
	log_init("test_config", -1, 0);
	log_thread_quiet(1);
	unsetenv("SENKO_TOKEN");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_files_print_within_the_line_limit),
		cmocka_unit_test(test_long_values_print_back),
		cmocka_unit_test(test_file_named_like_a_comment_prints_back),
		cmocka_unit_test(test_all_files_prints_back_as_all_files),
		cmocka_unit_test(test_folder_with_edge_spaces_prints_back),
		cmocka_unit_test(test_value_starting_with_semicolon_prints_back),
		cmocka_unit_test(test_control_byte_in_value_refused),
		cmocka_unit_test(test_branch_names_git_allows),
		cmocka_unit_test(test_rollout_keys),
		cmocka_unit_test(test_exclude_trailing_slash_names_a_folder),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
