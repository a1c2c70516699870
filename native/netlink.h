/*
 * The few rtnetlink requests of coracle-net, by hand: a message builder, a call that reads
 * to the ack (and parses a link reply), and one function per request. Each returns 0 or
 * -errno; a message over MSG_MAX (never, with these fixed sizes) fails the helper.
 */
#ifndef CORACLE_NETLINK_H
#define CORACLE_NETLINK_H

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
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
	static char rbuf[32768];
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

/*
 * Starts in `m` the request that creates link `name` of `kind` ("bridge", "veth"). Returns
 * its IFLA_LINKINFO nest, left open for the kind's own data: the caller ends it.
 */
static struct rtattr *link_new(struct msg *m, const char *name, const char *kind)
{
	struct rtattr *info;

	msg_init(m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	msg_put(m, NULL, sizeof(struct ifinfomsg));
	attr_str(m, IFLA_IFNAME, name);
	info = attr_put(m, IFLA_LINKINFO, NULL, 0);
	attr_str(m, IFLA_INFO_KIND, kind);
	return info;
}

static int bridge_create(int fd, const char *name)
{
	struct msg m;
	struct rtattr *info = link_new(&m, name, "bridge");

	nest_end(&m, info);
	return nl_call(fd, &m, NULL);
}

static int veth_create(int fd, const char *host, const char *peer, int nsfd, const unsigned char *mac)
{
	struct msg m;
	struct rtattr *info = link_new(&m, host, "veth"), *data, *peer_attr;
	struct ifinfomsg *pifi;

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

#endif
