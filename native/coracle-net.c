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
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "json-out.h"

#define MSG_MAX 4096

struct msg {
	union {
		struct nlmsghdr h;
		char buf[MSG_MAX];
	};
};

struct link {
	int index;
	int master;
	unsigned char mac[6];
	int has_mac;
};

static unsigned int seq;

static int nl_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return fd;
}

static void msg_init(struct msg *m, int type, int flags)
{
	memset(m, 0, sizeof(*m));
	m->h.nlmsg_len = NLMSG_LENGTH(0);
	m->h.nlmsg_type = (unsigned short)type;
	m->h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
	m->h.nlmsg_seq = ++seq;
}

/* Appends `len` bytes (aligned) to the message; the fixed sizes here never overflow it. */
static void *msg_put(struct msg *m, const void *data, size_t len)
{
	char *at = m->buf + NLMSG_ALIGN(m->h.nlmsg_len);

	if (NLMSG_ALIGN(m->h.nlmsg_len) + RTA_ALIGN(len) > sizeof(m->buf)) {
		errno = EMSGSIZE;
		fail("netlink message too long");
	}
	if (data)
		memcpy(at, data, len);
	else
		memset(at, 0, len);
	m->h.nlmsg_len = (unsigned int)(NLMSG_ALIGN(m->h.nlmsg_len) + len);
	return at;
}

static struct rtattr *attr_put(struct msg *m, int type, const void *data, size_t len)
{
	struct rtattr *a = msg_put(m, NULL, RTA_LENGTH(0));

	a->rta_type = (unsigned short)type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		msg_put(m, data, len);
	return a;
}

static void attr_str(struct msg *m, int type, const char *s)
{
	attr_put(m, type, s, strlen(s) + 1);
}

static void attr_u32(struct msg *m, int type, unsigned int v)
{
	attr_put(m, type, &v, sizeof(v));
}

static void nest_end(struct msg *m, struct rtattr *a)
{
	a->rta_len = (unsigned short)(m->buf + m->h.nlmsg_len - (char *)a);
}

/*
 * Sends `m` and reads until its ack. A reply of type RTM_NEWLINK (to RTM_GETLINK) is parsed
 * into `out`. Returns 0 or -errno.
 */
static int nl_call(int fd, struct msg *m, struct link *out)
{
	static char rbuf[16384];
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	if (sendto(fd, m->buf, m->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != m->h.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;
			}
			if (h->nlmsg_type == RTM_NEWLINK && out) {
				struct ifinfomsg *ifi = NLMSG_DATA(h);
				int len = (int)IFLA_PAYLOAD(h);

				memset(out, 0, sizeof(*out));
				out->index = ifi->ifi_index;
				for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
					if (a->rta_type == IFLA_MASTER && RTA_PAYLOAD(a) == 4)
						memcpy(&out->master, RTA_DATA(a), 4);
					if (a->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(a) == 6) {
						memcpy(out->mac, RTA_DATA(a), 6);
						out->has_mac = 1;
					}
				}
			}
		}
	}
}

static int link_get(int fd, const char *name, struct link *out)
{
	struct msg m;

	msg_init(&m, RTM_GETLINK, 0);
	msg_put(&m, NULL, sizeof(struct ifinfomsg));
	attr_str(&m, IFLA_IFNAME, name);
	attr_u32(&m, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return nl_call(fd, &m, out);
}

/* Flags up or down; master: -1 untouched, 0 none, else that ifindex. */
static int link_set(int fd, int index, int up, int master)
{
	struct msg m;
	struct ifinfomsg *ifi;

	msg_init(&m, RTM_NEWLINK, 0);
	ifi = msg_put(&m, NULL, sizeof(*ifi));
	ifi->ifi_index = index;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	if (master >= 0)
		attr_u32(&m, IFLA_MASTER, (unsigned int)master);
	return nl_call(fd, &m, NULL);
}

static int link_del(int fd, int index)
{
	struct msg m;
	struct ifinfomsg *ifi;

	msg_init(&m, RTM_DELLINK, 0);
	ifi = msg_put(&m, NULL, sizeof(*ifi));
	ifi->ifi_index = index;
	return nl_call(fd, &m, NULL);
}

static int bridge_create(int fd, const char *name)
{
	struct msg m;
	struct rtattr *info;

	msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	msg_put(&m, NULL, sizeof(struct ifinfomsg));
	attr_str(&m, IFLA_IFNAME, name);
	info = attr_put(&m, IFLA_LINKINFO, NULL, 0);
	attr_str(&m, IFLA_INFO_KIND, "bridge");
	nest_end(&m, info);
	return nl_call(fd, &m, NULL);
}

static int veth_create(int fd, const char *host, const char *peer, int nsfd, const unsigned char *mac)
{
	struct msg m;
	struct rtattr *info, *data, *peer_attr;
	struct ifinfomsg *pifi;

	msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	msg_put(&m, NULL, sizeof(struct ifinfomsg));
	attr_str(&m, IFLA_IFNAME, host);
	info = attr_put(&m, IFLA_LINKINFO, NULL, 0);
	attr_str(&m, IFLA_INFO_KIND, "veth");
	data = attr_put(&m, IFLA_INFO_DATA, NULL, 0);
	peer_attr = attr_put(&m, VETH_INFO_PEER, NULL, 0);
	pifi = msg_put(&m, NULL, sizeof(*pifi));
	pifi->ifi_family = AF_UNSPEC;
	attr_str(&m, IFLA_IFNAME, peer);
	attr_u32(&m, IFLA_NET_NS_FD, (unsigned int)nsfd);
	attr_put(&m, IFLA_ADDRESS, mac, 6);
	nest_end(&m, peer_attr);
	nest_end(&m, data);
	nest_end(&m, info);
	return nl_call(fd, &m, NULL);
}

static int addr_add(int fd, int index, struct in_addr addr, int prefix)
{
	struct msg m;
	struct ifaddrmsg *ifa;
	struct in_addr brd = addr;

	msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	ifa = msg_put(&m, NULL, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned int)index;
	attr_put(&m, IFA_LOCAL, &addr, 4);
	attr_put(&m, IFA_ADDRESS, &addr, 4);
	if (prefix < 31) {
		brd.s_addr |= htonl(prefix == 0 ? 0xffffffffu : (1u << (32 - prefix)) - 1);
		attr_put(&m, IFA_BROADCAST, &brd, 4);
	}
	return nl_call(fd, &m, NULL);
}

static int route_add_default(int fd, int index, struct in_addr gw)
{
	struct msg m;
	struct rtmsg *rt;

	msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	rt = msg_put(&m, NULL, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	attr_put(&m, RTA_GATEWAY, &gw, 4);
	attr_u32(&m, RTA_OIF, (unsigned int)index);
	return nl_call(fd, &m, NULL);
}

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
	int opt;

	if (argc < 2) {
		errno = EINVAL;
		fail("usage: coracle-net add|del ...");
	}
	optind = 2;
	while ((opt = getopt(argc, argv, "n:b:v:i:a:g:m:")) != -1) {
		switch (opt) {
		case 'n': netns = optarg; break;
		case 'b': bridge = optarg; break;
		case 'v': veth = optarg; break;
		case 'i': ifname = optarg; break;
		case 'a': cidr = optarg; break;
		case 'g': gateway = optarg; break;
		case 'm': mac = optarg; break;
		default:
			errno = EINVAL;
			fail("usage: coracle-net add -n NETNS -b BRIDGE -v HOSTVETH -i IFNAME -a ADDR/PREFIX -g GATEWAY -m MAC | del -b BRIDGE -v HOSTVETH");
		}
	}
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
