/*
 * helper-repl: drive serial.c, repl.c and devfs.c from test scripts.
 *
 *   helper-repl [-b BAUD] [-k] [-t] [-v] PORT CMD [ARG...] [, CMD [ARG...]]...
 *
 * Opens PORT once (repl_open) and runs the commands in order on that one
 * connection.  Each prints its result on stdout; a failing command prints
 * "error errno=NAME" and the helper exits 1 after closing the port.
 * -t prints "running CMD" on stderr as each command starts; -k goes on
 * after a failed command (the exit status is still 1).
 * "open-errno" only opens and prints "errno=NAME" (or "errno=0").
 *
 * Commands: info | exec CODE | exec-file FILE | timeout MS (repl_set_timeout) |
 * soft-reset | hard-reset |
 * mkdir PATH | stat PATH | ls DIR | hash PATH | algo |
 * read PATH | write PATH FILE | rm PATH | mv FROM TO | clean DIR |
 * quote TEXT | hash-host sha1|sha256 FILE | serial-twice |
 * hold (open, print "held", wait for stdin to close) |
 * peek (send a bare Enter, print what comes back).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "devfs.h"
#include "fsutil.h"
#include "log.h"
#include "repl.h"
#include "serial.h"

static const char *
errno_name(int e)
{
	switch (e) {
	case 0: return "0";
	case ENOENT: return "ENOENT";
	case ENODEV: return "ENODEV";
	case EBUSY: return "EBUSY";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EIO: return "EIO";
	case EREMOTEIO: return "EREMOTEIO";
	case EINVAL: return "EINVAL";
	case ENOTSUP: return "ENOTSUP";
	case ENOTDIR: return "ENOTDIR";
	case EEXIST: return "EEXIST";
	case ENOSPC: return "ENOSPC";
	case ENOBUFS: return "ENOBUFS";
	default: return "other";
	}
}

static int
read_all(const char *path, struct buf *out)
{
	return fs_read_file(path, out);
}

static int trace;
static int keep_going;

static int
do_cmd(struct repl *r, int argc, char **argv)
{
	const char *cmd = argv[0];
	struct buf b = BUF_INIT;
	char hex[DEVFS_HASH_HEXSZ];
	int rc = 0;

#define NEED(n) do { if (argc != (n) + 1) { \
	fprintf(stderr, "helper-repl: %s takes %d argument(s)\n", cmd, n); \
	exit(2); } } while (0)

	if (trace) {
		fprintf(stderr, "running %s\n", cmd);
		fflush(stderr);
	}
	if (strcmp(cmd, "info") == 0) {
		const struct repl_info *in = repl_info(r);

		printf("version=%s\nplatform=%s\nunique_id=%s\n"
		    "raw_paste=%d\nstdin_buffer=%d\nsha1=%d\nsha256=%d\n"
		    "deflate=%d\nzlib=%d\nfree_flash=%llu\nfree_heap=%llu\n",
		    in->version, in->platform, in->unique_id,
		    in->has_raw_paste, in->has_stdin_buffer, in->has_sha1,
		    in->has_sha256, in->has_deflate, in->has_zlib,
		    (unsigned long long)in->free_flash,
		    (unsigned long long)in->free_heap);
	} else if (strcmp(cmd, "exec") == 0) {
		NEED(1);
		rc = repl_exec(r, argv[1], &b);
		fwrite(b.data, 1, b.len, stdout);
		if (rc == -1 && errno == EREMOTEIO)
			printf("exception=%s\n", repl_last_exception(r));
	} else if (strcmp(cmd, "exec-file") == 0) {
		struct buf code = BUF_INIT;

		NEED(1);
		if (read_all(argv[1], &code) == -1)
			exit(2);
		rc = repl_exec(r, code.data, &b);
		fwrite(b.data, 1, b.len, stdout);
		buf_release(&code);
	} else if (strcmp(cmd, "timeout") == 0) {
		NEED(1);
		repl_set_timeout(r, atoi(argv[1]));
	} else if (strcmp(cmd, "soft-reset") == 0) {
		rc = repl_soft_reset(r);
	} else if (strcmp(cmd, "hard-reset") == 0) {
		rc = repl_hard_reset(r);
	} else if (strcmp(cmd, "mkdir") == 0) {
		NEED(1);
		rc = devfs_mkdir_p(r, argv[1]);
	} else if (strcmp(cmd, "stat") == 0) {
		uint64_t size;
		bool is_dir;

		NEED(1);
		rc = devfs_stat(r, argv[1], &size, &is_dir);
		if (rc == 0)
			printf("%s %llu\n", is_dir ? "dir" : "file",
			    (unsigned long long)size);
	} else if (strcmp(cmd, "ls") == 0) {
		struct devfs_list l = { NULL, 0 };
		size_t i;

		NEED(1);
		rc = devfs_list(r, argv[1], &l);
		for (i = 0; rc == 0 && i < l.n; i++)
			printf("%s %llu %s\n", l.entries[i].is_dir ? "d" : "f",
			    (unsigned long long)l.entries[i].size,
			    l.entries[i].path);
		devfs_list_release(&l);
	} else if (strcmp(cmd, "hash") == 0) {
		NEED(1);
		rc = devfs_hash(r, argv[1], hex);
		if (rc == 0)
			printf("%s\n", hex);
	} else if (strcmp(cmd, "algo") == 0) {
		printf("%s\n", devfs_hash_algo(r) == DEVFS_HASH_GIT_SHA1 ?
		    "sha1" : "sha256");
	} else if (strcmp(cmd, "read") == 0) {
		NEED(1);
		rc = devfs_read(r, argv[1], &b);
		if (rc == 0)
			fwrite(b.data, 1, b.len, stdout);
	} else if (strcmp(cmd, "write") == 0) {
		NEED(2);
		if (read_all(argv[2], &b) == -1)
			exit(2);
		rc = devfs_write_small(r, argv[1], b.data, b.len);
	} else if (strcmp(cmd, "rm") == 0) {
		NEED(1);
		rc = devfs_remove(r, argv[1]);
	} else if (strcmp(cmd, "mv") == 0) {
		NEED(2);
		rc = devfs_rename(r, argv[1], argv[2]);
	} else if (strcmp(cmd, "clean") == 0) {
		NEED(1);
		rc = devfs_clean_temps(r, argv[1]);
	} else {
		fprintf(stderr, "helper-repl: unknown command %s\n", cmd);
		exit(2);
	}
	buf_release(&b);
	if (rc == -1)
		printf("error errno=%s\n", errno_name(errno));
	fflush(stdout);
	return rc;
}

/* Commands that need no board connection. */
static int
offline_cmd(int argc, char **argv)
{
	struct buf b = BUF_INIT;
	char hex[DEVFS_HASH_HEXSZ];
	int fd, rc;

	if (strcmp(argv[0], "quote") == 0 && argc == 2) {
		repl_quote(&b, argv[1], strlen(argv[1]));
		printf("%s\n", b.data);
		buf_release(&b);
		return 0;
	}
	if (strcmp(argv[0], "hash-host") == 0 && argc == 3) {
		fd = open(argv[2], O_RDONLY);
		if (fd == -1) {
			perror(argv[2]);
			return 1;
		}
		rc = devfs_hash_host(strcmp(argv[1], "sha1") == 0 ?
		    DEVFS_HASH_GIT_SHA1 : DEVFS_HASH_SHA256, fd, hex);
		close(fd);
		if (rc == 0)
			printf("%s\n", hex);
		return rc == 0 ? 0 : 1;
	}
	return -2;
}

int
main(int argc, char **argv)
{
	unsigned baud = 115200;
	struct repl *r;
	int i, start, ch, rc = 0, verbose = 0;

	while ((ch = getopt(argc, argv, "+b:ktv")) != -1) {
		switch (ch) {
		case 'b':
			baud = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			keep_going = 1;
			break;
		case 't':
			trace = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			return 2;
		}
	}
	log_init("helper-repl", verbose, 0);
	argc -= optind;
	argv += optind;
	if (argc >= 1 && (rc = offline_cmd(argc, argv)) != -2)
		return rc;
	rc = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: helper-repl [-b BAUD] PORT CMD...\n");
		return 2;
	}
	if (strcmp(argv[1], "serial-twice") == 0) {
		struct serial *a, *b2;

		a = serial_open(argv[0], baud);
		if (a == NULL) {
			printf("first errno=%s\n", errno_name(errno));
			return 1;
		}
		b2 = serial_open(argv[0], baud);
		printf("second errno=%s\n", b2 ? "0" : errno_name(errno));
		serial_close(b2);
		serial_close(a);
		return 0;
	}
	if (strcmp(argv[1], "peek") == 0) {
		/* What the board says to a bare Enter: ">>> " at the
		 * friendly REPL, nothing in raw mode. */
		struct serial *s = serial_open(argv[0], baud);
		char got[256];
		ssize_t n;

		if (s == NULL)
			return 1;
		serial_drain(s, 50);
		if (serial_write(s, "\r", 1, 1000) == -1) {
			serial_close(s);
			return 1;
		}
		while ((n = serial_read(s, got, sizeof(got), 300)) > 0)
			fwrite(got, 1, (size_t)n, stdout);
		serial_close(s);
		return 0;
	}
	if (strcmp(argv[1], "hold") == 0) {
		struct serial *s = serial_open(argv[0], baud);
		char c;

		if (s == NULL)
			return 1;
		printf("held\n");
		fflush(stdout);
		while (read(0, &c, 1) > 0)
			;
		serial_close(s);
		return 0;
	}
	r = repl_open(argv[0], baud);
	if (strcmp(argv[1], "open-errno") == 0) {
		printf("errno=%s\n", r ? "0" : errno_name(errno));
		repl_close(r);
		return 0;
	}
	if (r == NULL) {
		printf("open error errno=%s\n", errno_name(errno));
		return 1;
	}
	for (start = 1, i = 1; i <= argc; i++) {
		if (i < argc && strcmp(argv[i], ",") != 0)
			continue;
		if (i > start && do_cmd(r, i - start, argv + start) == -1) {
			rc = 1;
			if (!keep_going)
				break;
		}
		start = i + 1;
	}
	repl_close(r);
	return rc;
}
