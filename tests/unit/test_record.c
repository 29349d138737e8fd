/* Unit tests for board/record.c: the board's record as an index and
 * pages; one changed file changes one page; what is read back is checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "log.h"
#include "manifest.h"
#include "record.h"

#define SHA_A "0123456789abcdef0123456789abcdef01234567"
#define SHA_B "89abcdef0123456789abcdef0123456789abcdef"

static void
project(struct manifest *m, size_t n, size_t changed)
{
	char path[64];
	size_t i;

	manifest_init(m);
	snprintf(m->commit, sizeof(m->commit), "%s", changed < n ? SHA_B :
	    SHA_A);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "pkg%zu/m%zu.py", i % 20, i);
		manifest_add(m, path, i == changed ? SHA_B : SHA_A, 10,
		    0100644);
	}
	manifest_sort(m);
}

/* Read rec back as a board's record would be read. */
static int
read_back(const struct record *rec, struct manifest *out)
{
	struct record_index ix;
	struct manifest v1 = MANIFEST_INIT;
	unsigned k;

	if (record_read_index(rec->index.data, rec->index.len, "test", &ix,
	    &v1) == -1 || ix.version != 2 || ix.npages != rec->npages ||
	    !record_digest_matches(&ix, rec->pages, rec->npages))
		return -1;
	for (k = 0; k < ix.npages; k++)
		if (record_read_page(rec->pages[k].data, rec->pages[k].len, k,
		    ix.npages, "test", out) == -1)
			return -1;
	manifest_sort(out);
	snprintf(out->commit, sizeof(out->commit), "%s", ix.commit);
	return 0;
}

static void
test_round_trip(void **state)
{
	static const size_t sizes[] = { 0, 1, 41, 48, 49, 2000 };
	size_t s, i;

	(void)state;
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct manifest m, back = MANIFEST_INIT;
		struct record rec = RECORD_INIT;

		project(&m, sizes[s], (size_t)-1);
		assert_int_equal(record_encode(&m, &rec), 0);
		/* Pages of RECORD_PAGE_FILES files or so, a power of two. */
		assert_true(rec.npages >= 1);
		assert_int_equal(rec.npages & (rec.npages - 1), 0);
		assert_true(m.n <= (size_t)rec.npages * RECORD_PAGE_FILES);
		assert_true(rec.npages == 1 ||
		    m.n > (size_t)rec.npages / 2 * RECORD_PAGE_FILES);
		assert_int_equal(read_back(&rec, &back), 0);
		assert_string_equal(back.commit, m.commit);
		assert_int_equal(back.n, m.n);
		for (i = 0; i < m.n; i++) {
			assert_string_equal(back.entries[i].path,
			    m.entries[i].path);
			assert_string_equal(back.entries[i].sha,
			    m.entries[i].sha);
		}
		manifest_release(&m);
		manifest_release(&back);
		record_release(&rec);
	}
}

/* The point of pages: one changed file of 2,000 changes one small page. */
static void
test_one_change_one_page(void **state)
{
	struct manifest m1, m2;
	struct record r1 = RECORD_INIT, r2 = RECORD_INIT;
	unsigned k, differ = 0;
	size_t total = 0;

	(void)state;
	project(&m1, 2000, (size_t)-1);
	project(&m2, 2000, 777);
	assert_int_equal(record_encode(&m1, &r1), 0);
	assert_int_equal(record_encode(&m2, &r2), 0);
	assert_int_equal(r1.npages, r2.npages);
	for (k = 0; k < r1.npages; k++) {
		total += r2.pages[k].len;
		if (r1.pages[k].len != r2.pages[k].len || memcmp(r1.pages[k].data,
		    r2.pages[k].data, r1.pages[k].len) != 0) {
			differ++;
			assert_true(r2.pages[k].len < 4096);
		}
	}
	assert_int_equal(differ, 1);
	assert_true(total > 100000);
	assert_true(r2.index.len < 128);
	assert_true(strcmp(r1.index.data, r2.index.data) != 0);
	manifest_release(&m1);
	manifest_release(&m2);
	record_release(&r1);
	record_release(&r2);
}

/* What a board hands back is checked, not trusted. */
static void
test_damaged_refused(void **state)
{
	static const char *const bad_index[] = {
		"{\"commit\":\"\",\"digest\":\"" SHA_A "\",\"pages\":3,\"v\":2}",
		"{\"commit\":\"\",\"digest\":\"" SHA_A "\",\"pages\":0,\"v\":2}",
		"{\"commit\":\"\",\"digest\":\"xyz\",\"pages\":1,\"v\":2}",
		"{\"commit\":\"\",\"digest\":\"" SHA_A "\",\"pages\":1,\"v\":3}",
		"{\"commit\":\"zz\",\"digest\":\"" SHA_A "\",\"pages\":1,\"v\":2}",
		"[]", "", "{\"v\":2",
	};
	struct manifest m, out = MANIFEST_INIT;
	struct record rec = RECORD_INIT;
	struct record_index ix;
	size_t i;
	char *p;

	(void)state;
	for (i = 0; i < sizeof(bad_index) / sizeof(bad_index[0]); i++)
		assert_int_equal(record_read_index(bad_index[i],
		    strlen(bad_index[i]), "test", &ix, &out), -1);
	project(&m, 200, (size_t)-1);
	assert_int_equal(record_encode(&m, &rec), 0);
	assert_true(rec.npages > 1);
	/* A page swapped with another: paths on the wrong page. */
	assert_int_equal(record_read_page(rec.pages[1].data, rec.pages[1].len,
	    0, rec.npages, "test", &out), -1);
	manifest_release(&out);
	/* A page changed by hand (same length): the digest says so. */
	assert_int_equal(record_read_index(rec.index.data, rec.index.len,
	    "test", &ix, &out), 0);
	assert_true(record_digest_matches(&ix, rec.pages, rec.npages));
	p = strstr(rec.pages[0].data, SHA_A);
	assert_non_null(p);
	p[0] = 'f';
	assert_false(record_digest_matches(&ix, rec.pages, rec.npages));
	assert_false(record_digest_matches(&ix, rec.pages, rec.npages / 2));
	manifest_release(&m);
	record_release(&rec);
}

static void
test_names(void **state)
{
	char *name;

	(void)state;
	name = record_page_name(12);
	assert_string_equal(name, ".senko-12.json");
	assert_true(record_is_name(name));
	free(name);
	assert_true(record_is_name(".senko.json"));
	assert_true(record_is_name(".senko-0.json"));
	assert_false(record_is_name(".senko-.json"));
	assert_false(record_is_name(".senko-1a.json"));
	assert_false(record_is_name("lib/.senko-1.json"));
	assert_false(record_is_name("senko-1.json"));
}

/* Read a version 1 record as a board's index would be read. */
static int
v1_read(const char *text, struct manifest *out)
{
	struct record_index ix;

	if (record_read_index(text, strlen(text), "test", &ix, out) == -1)
		return -1;
	return ix.version == 1 ? 0 : -1;
}

/* A version 1 record, as senko before record.h's pages wrote it. */
static void
test_record_v1_read(void **state)
{
	static const char text[] = "{\"commit\":\"" SHA_B "\",\"files\":{"
	    "\"a b/c.json\":\"" SHA_A "\",\"lib/caf\u00e9 \\\"quoted\\\".py\":"
	    "\"" SHA_B "\",\"main.py\":\"" SHA_A "\"},\"v\":1}";
	static const char empty[] = "{\"commit\":\"\",\"files\":{},\"v\":1}";
	struct manifest back = MANIFEST_INIT;

	(void)state;
	assert_int_equal(v1_read(text, &back), 0);
	assert_string_equal(back.commit, SHA_B);
	assert_int_equal(back.n, 3);
	assert_string_equal(back.entries[0].path, "a b/c.json");
	assert_string_equal(back.entries[1].path,
	    "lib/caf\xc3\xa9 \"quoted\".py");
	assert_string_equal(back.entries[1].sha, SHA_B);
	assert_string_equal(back.entries[2].path, "main.py");
	manifest_release(&back);

	/* An empty board with an unknown commit. */
	assert_int_equal(v1_read(empty, &back), 0);
	assert_int_equal(back.n, 0);
	assert_string_equal(back.commit, "");
	manifest_release(&back);
}

static void
test_v1_hostile_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{\"v\":2,\"commit\":\"\",\"files\":{}}",
		"{\"v\":\"1\",\"commit\":\"\",\"files\":{}}",
		"{\"commit\":\"\",\"files\":{}}",
		"{\"v\":1,\"files\":{}}",
		"{\"v\":1,\"commit\":\"\"}",
		"{\"v\":1,\"commit\":\"\",\"files\":[]}",
		"{\"v\":1,\"commit\":\"nothex\",\"files\":{}}",
		"{\"v\":1,\"commit\":\"\",\"files\":{\"../x\":\"" SHA_A "\"}}",
		"{\"v\":1,\"commit\":\"\",\"files\":{\"/abs\":\"" SHA_A "\"}}",
		"{\"v\":1,\"commit\":\"\",\"files\":{\"a/./b\":\"" SHA_A "\"}}",
		"{\"v\":1,\"commit\":\"\",\"files\":{\"a\\u0001\":\"" SHA_A
		    "\"}}",
		"{\"v\":1,\"commit\":\"\",\"files\":{\"a\\u0000b\":\"" SHA_A
		    "\"}}",
		"{\"v\":1,\"commit\":\"\",\"files\":{\"a\\nb\":\"" SHA_A "\"}}",
		"{\"v\":1,\"commit\":\"\",\"files\":{\"a\":\"xyz\"}}",
		"{\"v\":1,\"commit\":\"\",\"files\":{\"a\":\""
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}",
		"{\"v\":1,\"commit\":\"\",\"files\":{\"a\":5}}",
		"{\"v\":1,\"commit\":\"\",\"files\":{\"a\":\"" SHA_A "\",\"a\":\""
		    SHA_B "\"}}",
	};
	struct manifest out = MANIFEST_INIT;
	size_t i;
	char *huge;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(v1_read(bad[i], &out), -1);
		assert_int_equal(out.n, 0);
	}
	huge = malloc(RECORD_TEXT_MAX + 2);
	memset(huge, ' ', RECORD_TEXT_MAX + 1);
	huge[RECORD_TEXT_MAX + 1] = '\0';
	assert_int_equal(v1_read(huge, &out), -1);
	free(huge);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_one_change_one_page),
		cmocka_unit_test(test_damaged_refused),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_record_v1_read),
		cmocka_unit_test(test_v1_hostile_refused),
	};

	log_init("test_record", -1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
