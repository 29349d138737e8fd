/*
 * Unit tests for notify.c: what systemd would read from $NOTIFY_SOCKET,
 * received on a socket the test binds (a path one and an abstract one).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fsutil.h"
#include "log.h"
#include "notify.h"

struct listener {
	int fd;
	char dir[64];    /* "" for an abstract socket */
	char env[128];   /* the NOTIFY_SOCKET value */
};

static struct listener *
listener_new(int abstract)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct sockaddr_un sa;
	struct timeval tv = { 5, 0 };
	socklen_t salen;

	assert_non_null(l);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (abstract) {
		snprintf(l->env, sizeof(l->env), "@senko-test-notify-%ld-%ld",
		    (long)getpid(), (long)time(NULL));
		memcpy(sa.sun_path, l->env, strlen(l->env));
		sa.sun_path[0] = '\0';
		salen = offsetof(struct sockaddr_un, sun_path) + strlen(l->env);
	} else {
		snprintf(l->dir, sizeof(l->dir), "/tmp/senko-notify-XXXXXX");
		assert_non_null(mkdtemp(l->dir));
		snprintf(l->env, sizeof(l->env), "%s/notify", l->dir);
		memcpy(sa.sun_path, l->env, strlen(l->env) + 1);
		salen = sizeof(sa);
	}
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, salen), 0);
	/* A missing datagram fails the test instead of hanging it. */
	assert_int_equal(setsockopt(l->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", l->env, 1), 0);
	return l;
}

static void
listener_free(struct listener *l)
{
	unsetenv("NOTIFY_SOCKET");
	close(l->fd);
	if (l->dir[0])
		fs_remove_tree(l->dir);
	free(l);
}

/* The next datagram, as a string; the test fails if none comes. */
static char *
receive(struct listener *l)
{
	static char msg[8192];
	ssize_t n;

	n = recv(l->fd, msg, sizeof(msg) - 1, 0);
	assert_true(n >= 0);
	msg[n] = '\0';
	return msg;
}

static void
assert_nothing_queued(struct listener *l)
{
	char c;

	assert_int_equal(recv(l->fd, &c, 1, MSG_DONTWAIT), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static int
setup(void **state)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	*state = NULL;
	return 0;
}

static int
teardown(void **state)
{
	if (*state)
		listener_free(*state);
	return 0;
}

static void
test_no_socket_is_a_noop(void **state)
{
	(void)state;
	assert_int_equal(notify_ready(), 0);
	assert_int_equal(notify_status("polling %s", "app"), 0);
	assert_int_equal(notify_watchdog(), 0);
	assert_int_equal(notify_reloading(), 0);
	assert_int_equal(notify_stopping(), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(notify_ready(), 0);
	assert_int_equal(notify_status("x"), 0);
}

static void
states_arrive(struct listener *l)
{
	assert_int_equal(notify_ready(), 0);
	assert_string_equal(receive(l), "READY=1");
	assert_int_equal(notify_watchdog(), 0);
	assert_string_equal(receive(l), "WATCHDOG=1");
	assert_int_equal(notify_stopping(), 0);
	assert_string_equal(receive(l), "STOPPING=1");
	assert_int_equal(notify_status("3 devices, %d in sync", 2), 0);
	assert_string_equal(receive(l), "STATUS=3 devices, 2 in sync");
	assert_int_equal(notify_send("READY=1\nSTATUS=up"), 0);
	assert_string_equal(receive(l), "READY=1\nSTATUS=up");
	assert_nothing_queued(l);
}

static void
test_path_socket(void **state)
{
	struct listener *l = listener_new(0);

	*state = l;
	states_arrive(l);
}

static void
test_abstract_socket(void **state)
{
	struct listener *l = listener_new(1);

	*state = l;
	states_arrive(l);
}

static unsigned long long
monotonic_usec(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000;
}

static void
test_reloading_has_monotonic_time(void **state)
{
	struct listener *l = listener_new(0);
	unsigned long long before, after, stamp;
	char *msg, *end;

	*state = l;
	before = monotonic_usec();
	assert_int_equal(notify_reloading(), 0);
	after = monotonic_usec();
	msg = receive(l);
	assert_true(strncmp(msg, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
	stamp = strtoull(msg + 27, &end, 10);
	assert_string_equal(end, "");
	assert_true(stamp >= before && stamp <= after);
}

static void
test_status_cannot_inject_keys(void **state)
{
	struct listener *l = listener_new(1);
	char big[3000];

	*state = l;
	assert_int_equal(notify_status("board said: %s",
	    "oops\nREADY=1\r\tend\x7f"), 0);
	assert_string_equal(receive(l),
	    "STATUS=board said: oops READY=1  end ");
	/* Invalid UTF-8 (a stray byte, an overlong '/', a surrogate). */
	assert_int_equal(notify_status("caf\xc3\xa9 \xff \xc0\xaf \xed\xa0\x80"),
	    0);
	assert_string_equal(receive(l), "STATUS=caf\xc3\xa9 ? ?? ???");
	/* Long text is cut to what fits in one notification. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(notify_status("%s", big), 0);
	assert_int_equal(strlen(receive(l)), strlen("STATUS=") + 1024);
}

static void
test_bad_socket_names_fail(void **state)
{
	char name[200];

	(void)state;
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	assert_int_equal(notify_ready(), -1);
	assert_non_null(strstr(log_last_error(), "relative/notify"));
	memset(name, 'a', sizeof(name) - 1);
	name[0] = '/';
	name[sizeof(name) - 1] = '\0';
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_ready(), -1);
	setenv("NOTIFY_SOCKET", "/nonexistent/senko/notify", 1);
	assert_int_equal(notify_ready(), -1);
	assert_non_null(strstr(log_last_error(), "/nonexistent/senko/notify"));
	setenv("NOTIFY_SOCKET", "@senko-test-nobody-listens-here", 1);
	assert_int_equal(notify_watchdog(), -1);
	unsetenv("NOTIFY_SOCKET");
}

static void
test_watchdog_interval(void **state)
{
	char pid[32];

	(void)state;
	assert_int_equal(notify_watchdog_interval(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(notify_watchdog_interval(), 15000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_watchdog_interval(), 15000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_watchdog_interval(), 0);
	setenv("WATCHDOG_PID", "garbage", 1);
	assert_int_equal(notify_watchdog_interval(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "1", 1);
	assert_int_equal(notify_watchdog_interval(), 1);
	setenv("WATCHDOG_USEC", "0", 1);
	assert_int_equal(notify_watchdog_interval(), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	assert_int_equal(notify_watchdog_interval(), 0);
	setenv("WATCHDOG_USEC", "20s", 1);
	assert_int_equal(notify_watchdog_interval(), 0);
	setenv("WATCHDOG_USEC", "", 1);
	assert_int_equal(notify_watchdog_interval(), 0);
	unsetenv("WATCHDOG_USEC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_socket_is_a_noop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_path_socket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abstract_socket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_reloading_has_monotonic_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_cannot_inject_keys,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_socket_names_fail,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_interval, setup,
		    teardown),
	};

	log_init("test_notify", -1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
