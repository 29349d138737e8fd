/*
 * helper-notify_listen: stand in for systemd's notify socket.
 *
 *   helper-notify_listen PATH
 *
 * Binds a datagram socket at PATH and prints every datagram it receives
 * as one line (newlines inside shown as " | "), flushing each, until
 * killed.  Prints "LISTENING" once bound.  Node has no AF_UNIX datagram
 * sockets, hence this program.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un sun;
	char msg[4096];
	ssize_t n, i;
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: helper-notify_listen PATH\n");
		return 2;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, argv[1], strlen(argv[1]));
	unlink(argv[1]);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		perror(argv[1]);
		return 1;
	}
	printf("LISTENING\n");
	fflush(stdout);
	for (;;) {
		n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n < 0)
			return 1;
		for (i = 0; i < n; i++)
			if (msg[i] == '\n')
				msg[i] = '|';
		msg[n] = '\0';
		printf("%s\n", msg);
		fflush(stdout);
	}
}
