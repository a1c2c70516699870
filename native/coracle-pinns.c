/*
 * coracle-pinns: makes a pod's namespaces and pins them to files, so that they outlive
 * every process (no infra container needed), like CRI-O's pinns.
 *
 *   coracle-pinns -d DIR [-n] [-i] [-u] [-h HOSTNAME] [-s KEY=VALUE]...
 *   coracle-pinns -d DIR -r
 *
 * Unshares the namespaces asked for (-n net, -i ipc, -u uts) in this process, sets the
 * hostname and the sysctls inside them (sysctls under /proc/sys are those of the calling
 * task's namespaces), then bind-mounts /proc/self/ns/X onto DIR/X. Prints
 * {"net":"DIR/net",...} and exits 0; on failure undoes its own pins, prints
 * {"error":"...","errno":N} and exits 1. The caller vets sysctl names; DIR must exist.
 * With -r it removes the pins in DIR (lazy unmount, unlink) and prints {"removed":N}.
 *
 *   coracle-pinns -d DIR -p PID -t STARTTIME
 *
 * Pins the pid namespace of process PID (a pod's pause process) at DIR/pid, only if that
 * process is the one that started at STARTTIME (field 22 of /proc/PID/stat): the process is
 * held by an open /proc/PID directory, which fails once it is gone even if its number is
 * reused, and the start time is read through it before and after the namespace is opened.
 * Prints {"pid":"DIR/pid"}.
 */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include "json-out.h"

#define MAX_SYSCTLS 128

struct ns {
	const char *name;
	int flag;
	int wanted;
	int created;
	int pinned;
	char path[4096];
};

static struct ns namespaces[] = {
	{ "net", CLONE_NEWNET, 0, 0, 0, "" },
	{ "ipc", CLONE_NEWIPC, 0, 0, 0, "" },
	{ "uts", CLONE_NEWUTS, 0, 0, 0, "" },
};
#define NS_COUNT (sizeof(namespaces) / sizeof(namespaces[0]))

static void unpin_all(void)
{
	for (size_t i = 0; i < NS_COUNT; i++) {
		struct ns *ns = &namespaces[i];
		if (ns->pinned)
			umount2(ns->path, MNT_DETACH);
		if (ns->created)
			unlink(ns->path);
	}
}

static void write_sysctl(const char *assignment)
{
	char key[512], path[600];
	const char *eq = strchr(assignment, '=');
	size_t klen;
	int fd;
	ssize_t len;

	if (!eq || eq == assignment || (klen = (size_t)(eq - assignment)) >= sizeof(key)) {
		errno = EINVAL;
		fail("sysctl \"%s\": not KEY=VALUE", assignment);
	}
	memcpy(key, assignment, klen);
	key[klen] = '\0';
	if (strstr(key, "..")) {
		errno = EINVAL;
		fail("sysctl \"%s\": bad name", key);
	}
	/* Kubernetes writes sysctls with dots; a name with slashes is already a path. */
	if (!strchr(key, '/'))
		for (char *p = key; *p; p++)
			if (*p == '.')
				*p = '/';
	snprintf(path, sizeof(path), "/proc/sys/%s", key);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("sysctl %.*s: open %s", (int)klen, assignment, path);
	len = (ssize_t)strlen(eq + 1);
	errno = 0;
	if (write(fd, eq + 1, (size_t)len) != len) {
		/* A short write is the kernel taking less than the value: not a value it accepts. */
		if (errno == 0)
			errno = EINVAL;
		fail("sysctl %.*s: write", (int)klen, assignment);
	}
	close(fd);
}

/* The start time (clock ticks after boot) of the process that the /proc/PID dir fd holds. */
static unsigned long long start_time(int procfd, const char *pid)
{
	char buf[4096], *p;
	unsigned long long t = 0;
	ssize_t len;
	int fd = openat(procfd, "stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fail("process %s: read its stat", pid);
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		fail("process %s: read its stat", pid);
	buf[len] = '\0';
	/* The name (field 2) may hold spaces and parens: fields are counted after the last ')'. */
	p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &t) != 1) {
		errno = EINVAL;
		fail("process %s: unreadable stat", pid);
	}
	return t;
}

static char pid_pin[4096];
static int pid_pin_state; /* 1: file made, 2: mounted */

static void unpin_pid(void)
{
	if (pid_pin_state == 2)
		umount2(pid_pin, MNT_DETACH);
	if (pid_pin_state >= 1)
		unlink(pid_pin);
}

static int pin_pid(const char *dir, const char *pid, const char *start)
{
	char proc[64], source[64];
	unsigned long long want;
	int procfd, nsfd, fd;

	if (!*pid || strspn(pid, "0123456789") != strlen(pid) || strlen(pid) > 10 || sscanf(start, "%llu", &want) != 1) {
		errno = EINVAL;
		fail("-p PID -t STARTTIME: bad values");
	}
	snprintf(proc, sizeof(proc), "/proc/%s", pid);
	procfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		fail("process %s", pid);
	if (start_time(procfd, pid) != want) {
		errno = ESRCH;
		fail("process %s: not the process that started at %s", pid, start);
	}
	nsfd = openat(procfd, "ns/pid", O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		fail("process %s: open its pid namespace", pid);
	/* Still the same process: the namespace opened is its own, not a successor's. */
	if (start_time(procfd, pid) != want) {
		errno = ESRCH;
		fail("process %s: gone while its namespace was opened", pid);
	}
	snprintf(pid_pin, sizeof(pid_pin), "%s/pid", dir);
	fail_cleanup = unpin_pid;
	fd = open(pid_pin, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		fail("create %s", pid_pin);
	pid_pin_state = 1;
	close(fd);
	snprintf(source, sizeof(source), "/proc/self/fd/%d", nsfd);
	if (mount(source, pid_pin, NULL, MS_BIND, NULL) < 0)
		fail("bind the pid namespace of %s on %s", pid, pid_pin);
	pid_pin_state = 2;
	fputs("{\"pid\":", stdout);
	json_string(stdout, pid_pin);
	fputs("}\n", stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Pins of a pod that is going away, or of one a crash left half made. */
static int remove_pins(const char *dir)
{
	static const char *const kinds[] = { "net", "ipc", "uts", "pid" };
	int removed = 0;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, kinds[i]);
		if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			fail("unmount %s", path);
		if (unlink(path) < 0) {
			if (errno != ENOENT)
				fail("remove %s", path);
		} else {
			removed++;
		}
	}
	printf("{\"removed\":%d}\n", removed);
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *hostname = NULL, *pid = NULL, *start = NULL;
	const char *sysctls[MAX_SYSCTLS];
	int nsysctls = 0, flags = 0, opt, remove = 0;

	while ((opt = getopt(argc, argv, "d:niuh:s:rp:t:")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'r': remove = 1; break;
		case 'p': pid = optarg; break;
		case 't': start = optarg; break;
		case 'n': namespaces[0].wanted = 1; break;
		case 'i': namespaces[1].wanted = 1; break;
		case 'u': namespaces[2].wanted = 1; break;
		case 'h': hostname = optarg; break;
		case 's':
			if (nsysctls == MAX_SYSCTLS) {
				errno = E2BIG;
				fail("more than %d sysctls", MAX_SYSCTLS);
			}
			sysctls[nsysctls++] = optarg;
			break;
		default:
			errno = EINVAL;
			fail("usage: coracle-pinns -d DIR [-n] [-i] [-u] [-h HOSTNAME] [-s KEY=VALUE]... | -d DIR -r | -d DIR -p PID -t STARTTIME");
		}
	}
	if (!dir) {
		errno = EINVAL;
		fail("-d DIR is required");
	}
	if (remove)
		return remove_pins(dir);
	if (pid || start) {
		if (!pid || !start) {
			errno = EINVAL;
			fail("-p PID needs -t STARTTIME");
		}
		return pin_pid(dir, pid, start);
	}
	for (size_t i = 0; i < NS_COUNT; i++) {
		if (namespaces[i].wanted) {
			flags |= namespaces[i].flag;
			snprintf(namespaces[i].path, sizeof(namespaces[i].path), "%s/%s", dir, namespaces[i].name);
		}
	}
	if (flags == 0) {
		errno = EINVAL;
		fail("no namespace asked for");
	}
	if (hostname && !namespaces[2].wanted) {
		errno = EINVAL;
		fail("a hostname needs its own uts namespace (-u)");
	}

	fail_cleanup = unpin_all;
	if (unshare(flags) < 0)
		fail("unshare");
	if (hostname && sethostname(hostname, strlen(hostname)) < 0)
		fail("sethostname %s", hostname);
	for (int i = 0; i < nsysctls; i++)
		write_sysctl(sysctls[i]);

	for (size_t i = 0; i < NS_COUNT; i++) {
		struct ns *ns = &namespaces[i];
		char source[64];
		int fd;

		if (!ns->wanted)
			continue;
		fd = open(ns->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (fd < 0)
			fail("create %s", ns->path);
		ns->created = 1;
		close(fd);
		snprintf(source, sizeof(source), "/proc/self/ns/%s", ns->name);
		if (mount(source, ns->path, NULL, MS_BIND, NULL) < 0)
			fail("bind %s on %s", source, ns->path);
		ns->pinned = 1;
	}

	fputc('{', stdout);
	int first = 1;
	for (size_t i = 0; i < NS_COUNT; i++) {
		if (!namespaces[i].wanted)
			continue;
		printf("%s\"%s\":", first ? "" : ",", namespaces[i].name);
		json_string(stdout, namespaces[i].path);
		first = 0;
	}
	fputs("}\n", stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
