/*
 * coracle-net: a pod's interface on Coracle's embedded bridge network, over rtnetlink.
 *
 *   coracle-net add -n NETNS -b BRIDGE -v HOSTVETH -i IFNAME -a ADDR/PREFIX -g GATEWAY -m MAC
 *
 * Makes the bridge if it is missing (with GATEWAY/PREFIX on it, up) and turns on IPv4
 * forwarding, as the bridge plugin does with isGateway; makes a veth pair whose peer is born
 * as IFNAME inside NETNS with MAC, puts HOSTVETH on the bridge with hairpin on and up; then,
 * inside NETNS: ADDR on IFNAME, IFNAME and lo up, the default route via GATEWAY. Prints
 * {"hostVeth","hostMac","bridgeMac","mac"}; on failure deletes the pair it made (the peer
 * goes with it) and prints {"error","errno"}. The caller vets every argument's form.
 *
 *   coracle-net del -b BRIDGE -v HOSTVETH
 *
 * Takes HOSTVETH off BRIDGE and down, if it is there and on that bridge: the pod behind it is
 * cut off from the network at once, without the RCU wait of deleting the link (tens of ms);
 * the pair goes with the pod's netns. Prints {"detached":true|false}.
 *
 * Raw rtnetlink by hand: the messages are few and fixed; iproute2 would cost an exec (ms)
 * per step, and libmnl would be a new build dependency for a hundred lines it would save.
 */
#include <fcntl.h>
#include <sched.h>

#include "json-out.h"
#include "netlink.h"
#include "str-opts.h"

static void write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(value);

	if (fd < 0)
		fail("open %s", path);
	if (write(fd, value, (size_t)len) != len)
		fail("write %s", path);
	close(fd);
}

static void mac_string(char *out, const unsigned char *mac)
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static void check(int rc, const char *fmt, const char *arg)
{
	if (rc < 0) {
		errno = -rc;
		fail(fmt, arg);
	}
}

static int host_fd = -1, made_index;

/* A failed ADD deletes the pair it made: the peer in the pod's netns goes with it. */
static void undo_veth(void)
{
	if (made_index > 0)
		link_del(host_fd, made_index);
}

static int do_add(const char *netns, const char *bridge, const char *veth, const char *ifname, const char *cidr, const char *gateway, const char *mac_text)
{
	char addr_text[64], host_mac[18], bridge_mac[18];
	unsigned char mac[6];
	struct in_addr addr, gw;
	struct link br, host, pod;
	int prefix, nsfd, pod_fd, rc;
	const char *slash = strchr(cidr, '/');

	if (!slash || (size_t)(slash - cidr) >= sizeof(addr_text) || sscanf(slash + 1, "%d", &prefix) != 1 || prefix < 1 || prefix > 30) {
		errno = EINVAL;
		fail("address %s: not ADDR/PREFIX", cidr);
	}
	memcpy(addr_text, cidr, (size_t)(slash - cidr));
	addr_text[slash - cidr] = '\0';
	if (inet_pton(AF_INET, addr_text, &addr) != 1 || inet_pton(AF_INET, gateway, &gw) != 1) {
		errno = EINVAL;
		fail("address %s or gateway %s: not IPv4", cidr, gateway);
	}
	if (sscanf(mac_text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
		errno = EINVAL;
		fail("mac %s: not a MAC", mac_text);
	}
	nsfd = open(netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		fail("open netns %s", netns);
	host_fd = nl_open();
	if (host_fd < 0)
		fail("netlink socket");

	/* The bridge, once per network: every step takes "already there" as done. */
	rc = link_get(host_fd, bridge, &br);
	if (rc == -ENODEV) {
		rc = bridge_create(host_fd, bridge);
		if (rc < 0 && rc != -EEXIST)
			check(rc, "create bridge %s", bridge);
		rc = link_get(host_fd, bridge, &br);
	}
	check(rc, "bridge %s", bridge);
	rc = addr_add(host_fd, br.index, gw, prefix);
	if (rc < 0 && rc != -EEXIST)
		check(rc, "gateway address on bridge %s", bridge);
	check(link_set(host_fd, br.index, 1, -1), "bridge %s up", bridge);
	write_file("/proc/sys/net/ipv4/ip_forward", "1");

	fail_cleanup = undo_veth;
	check(veth_create(host_fd, veth, ifname, nsfd, mac), "create veth %s", veth);
	check(link_get(host_fd, veth, &host), "veth %s", veth);
	made_index = host.index;
	check(link_set(host_fd, host.index, 1, br.index), "veth %s on the bridge", veth);
	{
		char path[128];

		snprintf(path, sizeof(path), "/sys/class/net/%s/brport/hairpin_mode", veth);
		write_file(path, "1");
	}
	/* The bridge's MAC may follow its ports': read once the port is on. */
	check(link_get(host_fd, bridge, &br), "bridge %s", bridge);

	if (setns(nsfd, CLONE_NEWNET) < 0)
		fail("enter netns %s", netns);
	/* A netlink socket belongs to the netns it was made in: this one is the pod's. */
	pod_fd = nl_open();
	if (pod_fd < 0)
		fail("netlink socket in netns %s", netns);
	check(link_get(pod_fd, ifname, &pod), "%s in the pod", ifname);
	check(addr_add(pod_fd, pod.index, addr, prefix), "address on %s", ifname);
	check(link_set(pod_fd, pod.index, 1, -1), "%s up", ifname);
	{
		struct link lo;

		check(link_get(pod_fd, "lo", &lo), "%s in the pod", "lo");
		check(link_set(pod_fd, lo.index, 1, -1), "%s up", "lo");
	}
	check(route_add_default(pod_fd, pod.index, gw), "default route via %s", gateway);

	mac_string(host_mac, host.mac);
	mac_string(bridge_mac, br.mac);
	fputs("{\"hostVeth\":", stdout);
	json_string(stdout, veth);
	printf(",\"hostMac\":\"%s\",\"bridgeMac\":\"%s\",\"mac\":\"%s\"}\n", host_mac, bridge_mac, mac_text);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int do_del(const char *bridge, const char *veth)
{
	struct link br, host;
	int fd = nl_open(), rc, detached = 0;

	if (fd < 0)
		fail("netlink socket");
	rc = link_get(fd, veth, &host);
	if (rc != -ENODEV) {
		check(rc, "veth %s", veth);
		rc = link_get(fd, bridge, &br);
		if (rc != -ENODEV) {
			check(rc, "bridge %s", bridge);
			/* Only a port of this bridge is ours to cut. */
			if (host.master == br.index) {
				check(link_set(fd, host.index, 0, 0), "veth %s off the bridge", veth);
				detached = 1;
			}
		}
	}
	printf("{\"detached\":%s}\n", detached ? "true" : "false");
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *netns = NULL, *bridge = NULL, *veth = NULL, *ifname = NULL, *cidr = NULL, *gateway = NULL, *mac = NULL;
	const struct str_opt opts[] = {
		STR_OPT('n', &netns), STR_OPT('b', &bridge), STR_OPT('v', &veth), STR_OPT('i', &ifname),
		STR_OPT('a', &cidr), STR_OPT('g', &gateway), STR_OPT('m', &mac), STR_OPTS_END,
	};

	if (argc < 2) {
		errno = EINVAL;
		fail("usage: coracle-net add|del ...");
	}
	optind = 2;
	parse_str_opts(argc, argv, opts,
		       "usage: coracle-net add -n NETNS -b BRIDGE -v HOSTVETH -i IFNAME -a ADDR/PREFIX -g GATEWAY -m MAC | del -b BRIDGE -v HOSTVETH");
	if (!bridge || !veth || strlen(bridge) >= IFNAMSIZ || strlen(veth) >= IFNAMSIZ) {
		errno = EINVAL;
		fail("-b BRIDGE and -v HOSTVETH are required, each under %d bytes", IFNAMSIZ);
	}
	if (strcmp(argv[1], "del") == 0)
		return do_del(bridge, veth);
	if (strcmp(argv[1], "add") != 0 || !netns || !ifname || !cidr || !gateway || !mac || strlen(ifname) >= IFNAMSIZ) {
		errno = EINVAL;
		fail("add needs -n -i -a -g -m (IFNAME under %d bytes)", IFNAMSIZ);
	}
	return do_add(netns, bridge, veth, ifname, cidr, gateway, mac);
}
