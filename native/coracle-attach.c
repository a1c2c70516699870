/*
 * coracle-attach SOCKET
 *
 * Joins a running container's stdio through its monitor's attach socket. conmon's attach
 * socket is SOCK_SEQPACKET, which Node cannot open: this helper stands in between.
 *   stdin  -> the container's stdin (end of stdin: shutdown(SHUT_WR), which closes the
 *             container's stdin unless it was started with stdin kept open)
 *   each packet from conmon is [pipe][data], pipe 2 for the container's stdout and 3 for
 *             its stderr (conmon's enum; 1 is stdin): stdout goes to fd 3, stderr to fd 4
 * stdout gets the one JSON line: {"attached":true} once connected, else the error; after
 * that the helper relays until conmon hangs up (the container ended) or it is killed
 * (the client went away: the container keeps running).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "json-out.h"

/* conmon reads at most this much per packet; a longer one would be cut. */
#define STDIN_CHUNK 8192
#define PACKET_MAX (64 * 1024 + 1)
#define PIPE_STDOUT 2
#define PIPE_STDERR 3

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* sun_path holds 107 bytes: a longer path is reached through its directory's fd. */
static int connect_attach(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char via[64];
	const char *target = path;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fail("socket");
	if (strlen(path) >= sizeof(addr.sun_path)) {
		char dir[4096];
		const char *slash = strrchr(path, '/');
		int dfd;

		if (!slash || (size_t)(slash - path) >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			fail("connect %s", path);
		}
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		dfd = open(dir, O_PATH | O_DIRECTORY);
		if (dfd < 0)
			fail("open %s", dir);
		snprintf(via, sizeof(via), "/proc/self/fd/%d/%s", dfd, slash + 1);
		target = via;
	}
	if (strlen(target) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		fail("connect %s", path);
	}
	strcpy(addr.sun_path, target);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail("connect %s", path);
	return fd;
}

int main(int argc, char **argv)
{
	static char buf[PACKET_MAX];
	struct pollfd fds[2];
	int sock;

	if (argc != 2) {
		errno = EINVAL;
		fail("usage: coracle-attach SOCKET");
	}
	sock = connect_attach(argv[1]);
	puts("{\"attached\":true}");
	fflush(stdout);
	close(STDOUT_FILENO);
	signal(SIGPIPE, SIG_IGN);

	fds[0] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = sock, .events = POLLIN };
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (fds[1].revents) {
			ssize_t n = recv(sock, buf, sizeof(buf), 0);

			if (n <= 0)
				return 0;
			if (n > 1 && (buf[0] == PIPE_STDOUT || buf[0] == PIPE_STDERR) &&
			    write_all(buf[0] == PIPE_STDERR ? 4 : 3, buf + 1, (size_t)n - 1) < 0)
				return 0;
		}
		if (fds[0].revents) {
			ssize_t n = read(STDIN_FILENO, buf, STDIN_CHUNK);

			if (n > 0) {
				if (send(sock, buf, (size_t)n, MSG_NOSIGNAL) < 0)
					return 0;
			} else if (n == 0 || errno != EINTR) {
				shutdown(sock, SHUT_WR);
				fds[0].fd = -1;
			}
		}
	}
}
