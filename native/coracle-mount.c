/*
 * coracle-mount: mounts and unmounts a container's overlay root.
 *
 *   coracle-mount -t TARGET [-u UPPER -w WORK] [-r] [-C DIR] -l LOWER[:LOWER...]
 *   coracle-mount -t TARGET -b SOURCE [-r]
 *   coracle-mount -U TARGET
 *   coracle-mount -T TARGET -s SIZE
 *
 * Lower dirs are given nearest first, relative to DIR when -C is given: the helper changes
 * into DIR first, so that a long stack of layers fits overlayfs's one-page option limit
 * (as containers/storage does with its short links). Without -u and -w the overlay has only
 * lower dirs and is read-only (a snapshotter's view). -b bind-mounts SOURCE on TARGET (a
 * snapshot of one layer); -r makes either mount read-only. Prints {"mounted":"TARGET"} or
 * {"unmounted":"TARGET"}. -T mounts a tmpfs (a pod's /dev/shm, shared by its containers)
 * of SIZE bytes, mode 1777, nosuid, nodev, noexec. On failure {"error":"...","errno":N} and exit 1. Unmounting
 * something that is not mounted is no error.
 */
#include <sys/mount.h>
#include <unistd.h>

#include "json-out.h"
#include "str-opts.h"

static void done(const char *key, const char *target)
{
	printf("{\"%s\":", key);
	json_string(stdout, target);
	puts("}");
	exit(fflush(stdout) == 0 ? 0 : 1);
}

int main(int argc, char **argv)
{
	const char *target = NULL, *upper = NULL, *work = NULL, *lower = NULL, *dir = NULL, *unmount = NULL;
	const char *tmpfs = NULL, *size = NULL, *bind = NULL, *readonly = NULL;
	const struct str_opt opts[] = {
		STR_OPT('t', &target), STR_OPT('u', &upper), STR_OPT('w', &work), STR_OPT('l', &lower), STR_OPT('C', &dir), STR_OPT('U', &unmount),
		STR_OPT('T', &tmpfs), STR_OPT('s', &size), STR_OPT('b', &bind), BOOL_OPT('r', &readonly), STR_OPTS_END,
	};
	unsigned long flags;
	char options[4096];
	int n;

	parse_str_opts(argc, argv, opts,
		       "usage: coracle-mount -t TARGET [-u UPPER -w WORK] [-r] [-C DIR] -l LOWER[:LOWER...] | -t TARGET -b SOURCE [-r] | -U TARGET | -T TARGET -s SIZE");
	flags = readonly ? MS_RDONLY : 0;
	if (unmount) {
		if (umount2(unmount, 0) < 0) {
			if (errno == EINVAL || errno == ENOENT)
				done("unmounted", unmount);
			/* Busy: detach it now, the kernel frees it when the last user goes. */
			if (errno != EBUSY || umount2(unmount, MNT_DETACH) < 0)
				fail("unmount %s", unmount);
		}
		done("unmounted", unmount);
	}
	if (tmpfs) {
		if (!size || strspn(size, "0123456789") != strlen(size) || !*size) {
			errno = EINVAL;
			fail("-T needs -s SIZE in bytes");
		}
		n = snprintf(options, sizeof(options), "mode=1777,size=%s", size);
		if (mount("shm", tmpfs, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) < 0)
			fail("mount tmpfs on %s", tmpfs);
		done("mounted", tmpfs);
	}
	if (target && bind) {
		if (mount(bind, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			fail("bind %s on %s", bind, target);
		/* A bind takes its read-only flag only from a remount of itself. */
		if (flags & MS_RDONLY && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
			int saved = errno;
			umount2(target, MNT_DETACH);
			errno = saved;
			fail("remount %s read-only", target);
		}
		done("mounted", target);
	}
	if (!target || !lower || !*lower || !upper != !work) {
		errno = EINVAL;
		fail("-t and -l are required, -u and -w both or neither");
	}
	if (upper)
		n = snprintf(options, sizeof(options), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
	else
		n = snprintf(options, sizeof(options), "lowerdir=%s", lower);
	if (n < 0 || (size_t)n >= sizeof(options)) {
		errno = E2BIG;
		fail("overlay options for %s are longer than a page", target);
	}
	if (dir && chdir(dir) < 0)
		fail("chdir %s", dir);
	if (mount("overlay", target, "overlay", upper ? flags : flags | MS_RDONLY, options) < 0)
		fail("mount overlay on %s", target);
	done("mounted", target);
}
