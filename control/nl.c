/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * nl.c - rtnetlink for vifd over libmnl: the only file in the tree that
 * includes libmnl.  See nl.h for the contract.
 *
 * Every request goes through nl_talk(): one request, NLM_F_ACK, answers
 * read until the ACK/NLMSG_DONE (MNL_CB_STOP).  The socket is nonblocking
 * so the daemon's loop can never hang on it; rtnetlink answers inside
 * sendmsg()/recvmsg(), so EAGAIN before the ACK is rare and is waited out
 * with poll() up to NL_TIMEOUT_MS.  Leftovers of an earlier exchange (an
 * answer that came after a timeout) are drained, EAGAIN meaning done,
 * before each request so they cannot be mistaken for the new one's.
 *
 * Errors carry the kernel's extended ACK (NETLINK_EXT_ACK): its message,
 * the attribute it blamed and the one it missed end up in nl_errmsg().
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <libmnl/libmnl.h>

#include "nl.h"

/*
 * The kernel sizes dump skbs up to the largest buffer it has seen us pass
 * to recvmsg(), capped at 32 KiB: a 32 KiB buffer is never truncated.
 */
#define NL_RECV_SIZE 32768
#define NL_REQ_SIZE 1024
#define NL_RCVBUF (1 << 20)
/* A burst of 4094 VIFs is ~8k link events of ~1 KiB each. */
#define NL_EVENTS_RCVBUF (16 << 20)
#define NL_EXTACK_MAX 256
#define NL_RULE_DEL_MAX 64 /* duplicate copies nl_rule_del will remove */

_Static_assert((int)NL_ROUTE_UNICAST == (int)RTN_UNICAST, "RTN_UNICAST");
_Static_assert((int)NL_ROUTE_BLACKHOLE == (int)RTN_BLACKHOLE, "RTN_BLACKHOLE");
_Static_assert((int)NL_ROUTE_UNREACHABLE == (int)RTN_UNREACHABLE,
	       "RTN_UNREACHABLE");
_Static_assert((int)NL_ROUTE_PROHIBIT == (int)RTN_PROHIBIT, "RTN_PROHIBIT");
_Static_assert(NL_IFNAME_MAX == IFNAMSIZ, "IFNAMSIZ");

struct nl {
	struct mnl_socket *sock;
	unsigned int portid;
	unsigned int seq;
	/* The request in flight, to map an extack offset to an attribute. */
	const struct nlmsghdr *req_sent;
	char errmsg[NL_ERRMSG_MAX];
	/* Extended ACK of the last answer: message, blamed/missing attr. */
	char ext_msg[NL_EXTACK_MAX];
	int ext_attr;
	int ext_miss;
	/*
	 * The kernel refuses an identical rule under NLM_F_EXCL itself
	 * (since 4.16).  Probed from the first rule dump: kernels that new
	 * report FRA_PROTOCOL (4.17), and every netns has rules with it.
	 */
	bool rules_excl;
	char req[NL_REQ_SIZE] __attribute__((aligned(8)));
	char buf[NL_RECV_SIZE] __attribute__((aligned(8)));
};

/* ---- messages --------------------------------------------------------- */

static void nl_reset(struct nl *nl)
{
	nl->errmsg[0] = '\0';
	nl->ext_msg[0] = '\0';
	nl->ext_attr = -1;
	nl->ext_miss = -1;
}

/*
 * Record "<what>: <strerror> (<err>)[; kernel: <extack>]" and return err.
 * Call it right after the failing nl_talk(), before another request
 * replaces the extack.
 */
static int nl_fail(struct nl *nl, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int nl_fail(struct nl *nl, int err, const char *fmt, ...)
{
	size_t len, size = sizeof(nl->errmsg);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(nl->errmsg, size, fmt, ap);
	va_end(ap);
	len = strlen(nl->errmsg);
	len += snprintf(nl->errmsg + len, size - len, ": %s (%d)",
			strerror(-err), err);
	if (len < size && nl->ext_msg[0])
		len += snprintf(nl->errmsg + len, size - len, "; kernel: %s",
				nl->ext_msg);
	if (len < size && nl->ext_attr >= 0)
		len += snprintf(nl->errmsg + len, size - len,
				"; kernel rejected attribute %d",
				nl->ext_attr);
	if (len < size && nl->ext_miss >= 0)
		snprintf(nl->errmsg + len, size - len,
			 "; kernel missed attribute %d", nl->ext_miss);
	return err;
}

static int nl_check_ifname(struct nl *nl, const char *op, const char *name)
{
	if (!name || !name[0])
		return nl_fail(nl, -EINVAL, "Couldn't %s: empty interface name",
			       op);
	if (strnlen(name, NL_IFNAME_MAX) >= NL_IFNAME_MAX)
		return nl_fail(nl, -ENAMETOOLONG,
			       "Couldn't %s '%s': interface names are at most 15 characters",
			       op, name);
	return 0;
}

static const char *ip_str(__be32 addr, char *buf)
{
	return inet_ntop(AF_INET, &addr, buf, INET_ADDRSTRLEN);
}

static const char *route_type_str(unsigned int type)
{
	switch (type) {
	case RTN_UNICAST:
		return "unicast";
	case RTN_LOCAL:
		return "local";
	case RTN_BROADCAST:
		return "broadcast";
	case RTN_BLACKHOLE:
		return "blackhole";
	case RTN_UNREACHABLE:
		return "unreachable";
	case RTN_PROHIBIT:
		return "prohibit";
	default:
		return "other";
	}
}

/* "blackhole default metric 10 table 100", as `ip route` would say it. */
static const char *route_str(const struct nl_route *r, char *buf, size_t size)
{
	char a[INET_ADDRSTRLEN];
	size_t len;

	if (r->type && r->type != RTN_UNICAST)
		len = snprintf(buf, size, "%s ", route_type_str(r->type));
	else
		len = 0;
	if (len < size) {
		if (!r->prefix_len && !r->dst)
			len += snprintf(buf + len, size - len, "default");
		else
			len += snprintf(buf + len, size - len, "%s/%u",
					ip_str(r->dst, a), r->prefix_len);
	}
	if (len < size && r->gateway)
		len += snprintf(buf + len, size - len, " via %s",
				ip_str(r->gateway, a));
	if (len < size && r->oif)
		len += snprintf(buf + len, size - len, " dev %d", r->oif);
	if (len < size && r->priority)
		len += snprintf(buf + len, size - len, " metric %u",
				r->priority);
	if (len < size)
		snprintf(buf + len, size - len, " table %u", r->table);
	return buf;
}

/* ---- the exchange ----------------------------------------------------- */

struct nl_talk_ctx {
	struct nl *nl;
	mnl_cb_t cb; /* per data message, may be NULL */
	void *data;
};

static int extack_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, NLMSGERR_ATTR_MAX) < 0)
		return MNL_CB_OK; /* newer than our headers */
	switch (type) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_OK;
		break;
	case NLMSGERR_ATTR_OFFS:
	case NLMSGERR_ATTR_MISS_TYPE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_OK;
		break;
	default:
		return MNL_CB_OK;
	}
	tb[type] = attr;
	return MNL_CB_OK;
}

/* The TLVs after an NLMSG_ERROR/NLMSG_DONE payload of plen bytes. */
static void nl_parse_extack(struct nl *nl, const struct nlmsghdr *nlh,
			    size_t plen)
{
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = {};
	const struct nlmsghdr *req = nl->req_sent;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) ||
	    mnl_nlmsg_get_payload_len(nlh) < plen)
		return;
	mnl_attr_parse(nlh, plen, extack_attr_cb, tb);
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(nl->ext_msg, sizeof(nl->ext_msg), "%s",
			 mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]));
	if (tb[NLMSGERR_ATTR_OFFS] && req) {
		/* An offset into our request: name the attribute there. */
		__u32 off = mnl_attr_get_u32(tb[NLMSGERR_ATTR_OFFS]);

		if (off >= sizeof(*req) &&
		    off + sizeof(struct nlattr) <= req->nlmsg_len) {
			const struct nlattr *a =
				(const void *)((const char *)req + off);

			nl->ext_attr = a->nla_type & NLA_TYPE_MASK;
		}
	}
	if (tb[NLMSGERR_ATTR_MISS_TYPE])
		nl->ext_miss = mnl_attr_get_u32(tb[NLMSGERR_ATTR_MISS_TYPE]);
}

static int nl_cb_error(const struct nlmsghdr *nlh, void *data)
{
	struct nl_talk_ctx *t = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t plen = sizeof(*e);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	/* Without NLM_F_CAPPED the kernel echoed our request's payload. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED) &&
	    e->msg.nlmsg_len >= sizeof(struct nlmsghdr))
		plen += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	nl_parse_extack(t->nl, nlh, plen);
	if (!e->error)
		return MNL_CB_STOP; /* the ACK */
	errno = e->error < 0 ? -e->error : e->error;
	return MNL_CB_ERROR;
}

/* NLMSG_DONE ends a dump; since 4.x it carries the dump's own error. */
static int nl_cb_done(const struct nlmsghdr *nlh, void *data)
{
	struct nl_talk_ctx *t = data;
	int error;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(int))
		return MNL_CB_STOP;
	memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof(error));
	nl_parse_extack(t->nl, nlh, sizeof(int));
	if (error >= 0)
		return MNL_CB_STOP;
	errno = -error;
	return MNL_CB_ERROR;
}

static int nl_cb_data(const struct nlmsghdr *nlh, void *data)
{
	struct nl_talk_ctx *t = data;

	return t->cb ? t->cb(nlh, t->data) : MNL_CB_OK;
}

/*
 * libmnl fails a whole datagram on NLM_F_DUMP_INTR (the table changed
 * under the dump) and would then never see NLMSG_DONE.  Note and clear the
 * flag instead, finish the dump, and report -EINTR at the end.
 */
static bool nl_strip_dump_intr(void *buf, size_t len)
{
	struct nlmsghdr *nlh = buf;
	int rem = (int)len;
	bool intr = false;

	while (mnl_nlmsg_ok(nlh, rem)) {
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) {
			nlh->nlmsg_flags &= ~NLM_F_DUMP_INTR;
			intr = true;
		}
		nlh = mnl_nlmsg_next(nlh, &rem);
	}
	return intr;
}

/* Discard whatever an earlier exchange left queued; EAGAIN = done. */
static void nl_drain(struct nl *nl)
{
	int fd = mnl_socket_get_fd(nl->sock);

	for (;;) {
		ssize_t n = recv(fd, nl->buf, sizeof(nl->buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;
	}
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int nl_wait(struct nl *nl, long long deadline)
{
	struct pollfd pfd = {
		.fd = mnl_socket_get_fd(nl->sock),
		.events = POLLIN,
	};

	for (;;) {
		long long left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Send nlh (built in nl->req) with a fresh seq and NLM_F_ACK, and run cb
 * over every data message of the answer until the ACK or NLMSG_DONE.
 * Returns 0 or -errno; on a kernel error the extack is in nl->ext_*.
 */
static int nl_talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb,
		   void *data)
{
	/* libmnl takes a non-const array it never writes to. */
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = nl_cb_error,
		[NLMSG_DONE] = nl_cb_done,
	};
	struct nl_talk_ctx t = { .nl = nl, .cb = cb, .data = data };
	long long deadline;
	bool intr = false;
	int err, ret;

	nl->ext_msg[0] = '\0';
	nl->ext_attr = -1;
	nl->ext_miss = -1;
	nl_drain(nl);

	if (++nl->seq == 0) /* seq 0 would turn off libmnl's seq check */
		nl->seq = 1;
	nlh->nlmsg_seq = nl->seq;
	nlh->nlmsg_flags |= NLM_F_ACK;
	nl->req_sent = nlh;

	while (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0) {
		if (errno != EINTR)
			return -errno;
	}

	deadline = now_ms() + NL_TIMEOUT_MS;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf,
						sizeof(nl->buf));

		if (n < 0) {
			err = -errno;
			if (err == -EINTR)
				continue;
			if (err == -EAGAIN) {
				err = nl_wait(nl, deadline);
				if (err)
					return err;
				continue;
			}
			return err;
		}
		if (nl_strip_dump_intr(nl->buf, n))
			intr = true;
		ret = mnl_cb_run2(nl->buf, n, nl->seq, nl->portid, nl_cb_data,
				  &t, ctl, NLMSG_MIN_TYPE);
		if (ret == MNL_CB_ERROR)
			return errno ? -errno : -EPROTO;
		if (ret == MNL_CB_STOP)
			break;
	}
	return intr ? -EINTR : 0;
}

/*
 * Many requests in one sendmsg: the kernel runs them one after the other
 * and queues an ACK (or error) for each, so one round trip does what
 * nl_talk() needs n for.  buf holds n messages with seq first .. first +
 * n - 1 and NLM_F_ACK; errs[i] gets message i's 0 or -errno.  Returns 0
 * once every answer is in, or -errno when the exchange itself failed.
 * Requests that answer with data (dumps) do not belong here.
 */
static int nl_talk_many(struct nl *nl, const void *buf, size_t len,
			__u32 first, size_t n, int *errs)
{
	const struct nlmsgerr *e;
	const struct nlmsghdr *h;
	long long deadline;
	size_t got = 0;
	__u32 i;
	int rem;

	nl_drain(nl);
	for (i = 0; i < n; i++)
		errs[i] = 1; /* no answer yet */
	while (mnl_socket_sendto(nl->sock, buf, len) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	deadline = now_ms() + NL_TIMEOUT_MS;
	while (got < n) {
		ssize_t r = mnl_socket_recvfrom(nl->sock, nl->buf,
						sizeof(nl->buf));

		if (r < 0) {
			int err = -errno;

			if (err == -EINTR)
				continue;
			if (err == -EAGAIN) {
				err = nl_wait(nl, deadline);
				if (err)
					return err;
				continue;
			}
			return err;
		}
		rem = (int)r;
		for (h = (const struct nlmsghdr *)nl->buf; mnl_nlmsg_ok(h, rem);
		     h = mnl_nlmsg_next(h, &rem)) {
			if (h->nlmsg_type != NLMSG_ERROR ||
			    h->nlmsg_pid != nl->portid ||
			    h->nlmsg_seq - first >= n ||
			    mnl_nlmsg_get_payload_len(h) < sizeof(*e))
				continue;
			i = h->nlmsg_seq - first;
			e = mnl_nlmsg_get_payload(h);
			if (errs[i] == 1)
				got++;
			errs[i] = e->error <= 0 ? e->error : -e->error;
		}
	}
	return 0;
}

static struct nlmsghdr *nl_msg(struct nl *nl, __u16 type, __u16 flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->req);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

/* ---- handles ---------------------------------------------------------- */

static int nl_setup(struct nl *nl, __u32 groups, int rcvbuf)
{
	int one = 1, fd;

	nl->sock = mnl_socket_open2(NETLINK_ROUTE,
				    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!nl->sock)
		return -errno;
	fd = mnl_socket_get_fd(nl->sock);
	/* FORCE passes rmem_max with CAP_NET_ADMIN; else take what we get. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		return -errno;
	/*
	 * Extended ACKs, ACKs without our request echoed back, and strict
	 * checking of requests (which also makes the kernel honour dump
	 * filters).  Kernels without them still work, only less helpfully,
	 * so their absence is not an error.
	 */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_GET_STRICT_CHK, &one,
			      sizeof(one));
	if (mnl_socket_bind(nl->sock, groups, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned int)time(NULL);
	nl_reset(nl);
	return 0;
}

static int nl_open_groups(struct nl **out, __u32 groups, int rcvbuf)
{
	struct nl *nl;
	int err;

	*out = NULL;
	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	err = nl_setup(nl, groups, rcvbuf);
	if (err) {
		nl_close(nl);
		return err;
	}
	*out = nl;
	return 0;
}

int nl_open(struct nl **out)
{
	return nl_open_groups(out, 0, NL_RCVBUF);
}

void nl_close(struct nl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl);
}

struct netns_open {
	int netns_fd;
	struct nl *nl;
	int err;
};

/*
 * A netlink socket belongs to the namespace of the thread that created
 * it, for good.  This thread enters the target namespace, creates the
 * socket and ends; the namespace lives on through the socket.
 */
static void *netns_open_thread(void *arg)
{
	struct netns_open *o = arg;

	if (setns(o->netns_fd, CLONE_NEWNET) < 0) {
		o->err = -errno;
		return NULL;
	}
	o->err = nl_open(&o->nl);
	return NULL;
}

int nl_open_netns_fd(struct nl **out, int netns_fd)
{
	struct netns_open o = { .netns_fd = netns_fd };
	pthread_t th;
	int err;

	*out = NULL;
	if (netns_fd < 0)
		return -EBADF;
	err = pthread_create(&th, NULL, netns_open_thread, &o);
	if (err)
		return -err;
	pthread_join(th, NULL);
	if (o.err)
		return o.err;
	*out = o.nl;
	return 0;
}

int nl_open_netns(struct nl **out, const char *netns_path)
{
	int fd, err;

	*out = NULL;
	fd = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = nl_open_netns_fd(out, fd);
	close(fd);
	return err;
}

const char *nl_errmsg(const struct nl *nl)
{
	return nl ? nl->errmsg : "";
}

int nl_fd(const struct nl *nl)
{
	return mnl_socket_get_fd(nl->sock);
}

/* ---- links ------------------------------------------------------------ */

static int copy_str(char *dst, size_t size, const struct nlattr *attr)
{
	const char *s = mnl_attr_get_str(attr);

	if (strnlen(s, size) >= size)
		return -EBADMSG;
	strcpy(dst, s);
	return 0;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
		return MNL_CB_OK; /* newer than our headers */
	switch (type) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		break;
	case IFLA_MTU:
	case IFLA_LINK:
	case IFLA_LINK_NETNSID:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		break;
	case IFLA_ADDRESS:
		if (mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0)
			return MNL_CB_ERROR;
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return MNL_CB_ERROR;
		break;
	default:
		return MNL_CB_OK;
	}
	tb[type] = attr;
	return MNL_CB_OK;
}

static int linkinfo_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFLA_INFO_MAX) < 0)
		return MNL_CB_OK;
	if (type != IFLA_INFO_KIND)
		return MNL_CB_OK;
	if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
		return MNL_CB_ERROR;
	tb[type] = attr;
	return MNL_CB_OK;
}

static int link_parse(const struct nlmsghdr *nlh, struct nl_link *out)
{
	const struct nlattr *tb[IFLA_MAX + 1] = {};
	const struct nlattr *info[IFLA_INFO_MAX + 1] = {};
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifm))
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->ifindex = ifm->ifi_index;
	out->flags = ifm->ifi_flags;
	out->link_netnsid = -1;
	if (mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, tb) ==
	    MNL_CB_ERROR)
		return -EBADMSG;
	if (!tb[IFLA_IFNAME] ||
	    copy_str(out->name, sizeof(out->name), tb[IFLA_IFNAME]))
		return -EBADMSG;
	if (tb[IFLA_MTU])
		out->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_LINK])
		out->link = (int)mnl_attr_get_u32(tb[IFLA_LINK]);
	if (tb[IFLA_LINK_NETNSID])
		out->link_netnsid =
			(int)mnl_attr_get_u32(tb[IFLA_LINK_NETNSID]);
	if (tb[IFLA_ADDRESS] &&
	    mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == sizeof(out->mac)) {
		memcpy(out->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]),
		       sizeof(out->mac));
		out->has_mac = true;
	}
	if (tb[IFLA_LINKINFO]) {
		if (mnl_attr_parse_nested(tb[IFLA_LINKINFO], linkinfo_attr_cb,
					  info) == MNL_CB_ERROR)
			return -EBADMSG;
		if (info[IFLA_INFO_KIND] &&
		    copy_str(out->kind, sizeof(out->kind),
			     info[IFLA_INFO_KIND]))
			return -EBADMSG;
	}
	return 0;
}

struct link_get_ctx {
	struct nl_link *out;
	int err;
	bool found;
};

static int link_get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_get_ctx *c = data;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	c->err = link_parse(nlh, c->out);
	c->found = !c->err;
	return MNL_CB_OK;
}

/* RTM_GETLINK for one link, by ifindex when > 0, else by name. */
static int link_get(struct nl *nl, int ifindex, const char *name,
		    struct nl_link *out)
{
	struct link_get_ctx c = { .out = out };
	struct nlmsghdr *nlh = nl_msg(nl, RTM_GETLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	int err;

	ifm->ifi_family = AF_UNSPEC;
	if (ifindex > 0)
		ifm->ifi_index = ifindex;
	else
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	err = nl_talk(nl, nlh, link_get_cb, &c);
	if (err)
		return err;
	if (c.err)
		return c.err;
	return c.found ? 0 : -ENODEV;
}

int nl_link_get(struct nl *nl, const char *name, struct nl_link *out)
{
	int err;

	nl_reset(nl);
	err = nl_check_ifname(nl, "look up link", name);
	if (err)
		return err;
	err = link_get(nl, 0, name, out);
	if (err)
		return nl_fail(nl, err, "Couldn't look up link '%s'", name);
	return 0;
}

int nl_link_index(struct nl *nl, const char *name)
{
	struct nl_link link;
	int err;

	err = nl_link_get(nl, name, &link);
	return err ? err : link.ifindex;
}

int nl_link_mac(struct nl *nl, int ifindex, __u8 mac[6])
{
	struct nl_link link;
	int err;

	nl_reset(nl);
	if (ifindex <= 0)
		return nl_fail(nl, -EINVAL, "Couldn't read MAC of ifindex %d",
			       ifindex);
	err = link_get(nl, ifindex, NULL, &link);
	if (err)
		return nl_fail(nl, err, "Couldn't read MAC of ifindex %d",
			       ifindex);
	if (!link.has_mac)
		return nl_fail(nl, -EOPNOTSUPP,
			       "Couldn't read MAC of '%s' (ifindex %d): no 6-byte hardware address",
			       link.name, ifindex);
	memcpy(mac, link.mac, sizeof(link.mac));
	return 0;
}

struct nsid_ctx {
	int nsid;
};

static int nsid_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(attr, NETNSA_MAX) < 0)
		return MNL_CB_OK;
	if (mnl_attr_get_type(attr) != NETNSA_NSID)
		return MNL_CB_OK;
	if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_ERROR;
	tb[NETNSA_NSID] = attr;
	return MNL_CB_OK;
}

static int nsid_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[NETNSA_MAX + 1] = {};
	struct nsid_ctx *c = data;

	if (nlh->nlmsg_type != RTM_NEWNSID)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(struct rtgenmsg), nsid_attr_cb, tb) ==
	    MNL_CB_ERROR)
		return MNL_CB_OK;
	if (tb[NETNSA_NSID])
		c->nsid = (int)mnl_attr_get_u32(tb[NETNSA_NSID]);
	return MNL_CB_OK;
}

/* The id our namespace knows netns_fd's namespace by, -1 if none yet. */
static int netns_id(struct nl *nl, int netns_fd, int *nsid)
{
	struct nsid_ctx c = { .nsid = NETNSA_NSID_NOT_ASSIGNED };
	struct nlmsghdr *nlh = nl_msg(nl, RTM_GETNSID, 0);
	struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	int err;

	g->rtgen_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, NETNSA_FD, (__u32)netns_fd);
	err = nl_talk(nl, nlh, nsid_cb, &c);
	*nsid = c.nsid;
	return err;
}

/*
 * After EEXIST: is name already the veth we want?  0 if so; -EEXIST with
 * the reason in why otherwise; another -errno if we could not tell.
 */
static int veth_check(struct nl *nl, const char *name, const char *peer,
		      int netns_fd, char *why, size_t whylen)
{
	struct nl_link link, plink;
	struct nl *pnl = NULL;
	int err, nsid;

	err = link_get(nl, 0, name, &link);
	if (err == -ENODEV) {
		snprintf(why, whylen, "peer name '%s' is taken%s", peer,
			 netns_fd >= 0 ? " in the target namespace" : "");
		return -EEXIST;
	}
	if (err)
		return err;
	if (strcmp(link.kind, "veth")) {
		snprintf(why, whylen, "'%s' exists and is a%s%s, not a veth",
			 name, link.kind[0] ? " " : " device without kind",
			 link.kind);
		return -EEXIST;
	}
	if (netns_fd < 0) {
		if (link.link_netnsid != -1) {
			snprintf(why, whylen,
				 "veth '%s' exists with its peer in another namespace",
				 name);
			return -EEXIST;
		}
		err = link_get(nl, link.link, NULL, &plink);
	} else {
		err = netns_id(nl, netns_fd, &nsid);
		if (err)
			return err;
		if (link.link_netnsid == -1 || link.link_netnsid != nsid) {
			snprintf(why, whylen,
				 "veth '%s' exists with its peer in another namespace",
				 name);
			return -EEXIST;
		}
		err = nl_open_netns_fd(&pnl, netns_fd);
		if (!err)
			err = link_get(pnl, link.link, NULL, &plink);
		nl_close(pnl);
	}
	if (err == -ENODEV) {
		snprintf(why, whylen, "veth '%s' exists without a visible peer",
			 name);
		return -EEXIST;
	}
	if (err)
		return err;
	if (strcmp(plink.name, peer)) {
		snprintf(why, whylen, "veth '%s' exists with peer '%s'", name,
			 plink.name);
		return -EEXIST;
	}
	return 0;
}

int nl_veth_create(struct nl *nl, const char *name, const char *peer_name,
		   int peer_netns_fd)
{
	char ext[NL_EXTACK_MAX], why[128];
	struct nlattr *linfo, *data, *peer;
	struct ifinfomsg *ifm;
	struct nlmsghdr *nlh;
	int err;

	nl_reset(nl);
	err = nl_check_ifname(nl, "create veth", name);
	if (!err)
		err = nl_check_ifname(nl, "create veth peer", peer_name);
	if (err)
		return err;

	nlh = nl_msg(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	linfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	/* The peer is a whole ifinfomsg + attributes inside the nest. */
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
	if (peer_netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (__u32)peer_netns_fd);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linfo);

	err = nl_talk(nl, nlh, NULL, NULL);
	if (err != -EEXIST)
		goto out;

	/* Maybe it is already the pair we want: that is success. */
	snprintf(ext, sizeof(ext), "%s", nl->ext_msg);
	why[0] = '\0';
	err = veth_check(nl, name, peer_name, peer_netns_fd, why, sizeof(why));
	if (!err)
		return 0;
	if (err == -EEXIST) {
		snprintf(nl->ext_msg, sizeof(nl->ext_msg), "%s", ext);
		nl->ext_attr = -1;
		nl->ext_miss = -1;
		return nl_fail(nl, err,
			       "Couldn't create veth '%s' (peer '%s'): %s",
			       name, peer_name, why);
	}
out:
	if (err)
		return nl_fail(nl, err, "Couldn't create veth '%s' (peer '%s')",
			       name, peer_name);
	return 0;
}

int nl_link_set_up(struct nl *nl, int ifindex)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	int err;

	nl_reset(nl);
	if (ifindex <= 0)
		return nl_fail(nl, -EINVAL, "Couldn't set ifindex %d up",
			       ifindex);
	nlh = nl_msg(nl, RTM_SETLINK, 0);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	err = nl_talk(nl, nlh, NULL, NULL);
	if (err)
		return nl_fail(nl, err, "Couldn't set ifindex %d up", ifindex);
	return 0;
}

/* One legacy ethtool set; the ioctl acts in the socket's netns. */
static int ethtool_set(struct nl *nl, const char *ifname, __u32 cmd,
		       __u32 value)
{
	struct ethtool_value ev = { .cmd = cmd, .data = value };
	struct ifreq ifr = {};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	if (ioctl(mnl_socket_get_fd(nl->sock), SIOCETHTOOL, &ifr))
		return -errno;
	return 0;
}

int nl_link_xdp_peer_setup(struct nl *nl, const char *ifname)
{
	int err;

	nl_reset(nl);
	if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ)
		return nl_fail(nl, -EINVAL, "Bad interface name");
	err = ethtool_set(nl, ifname, ETHTOOL_SGRO, 1);
	if (err)
		return nl_fail(nl, err, "Couldn't turn GRO on for '%s'",
			       ifname);
	err = ethtool_set(nl, ifname, ETHTOOL_STXCSUM, 0);
	if (err)
		return nl_fail(nl, err,
			       "Couldn't turn tx checksum offload off for '%s'",
			       ifname);
	return 0;
}

int nl_link_del(struct nl *nl, const char *name)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	int err;

	nl_reset(nl);
	err = nl_check_ifname(nl, "delete link", name);
	if (err)
		return err;
	nlh = nl_msg(nl, RTM_DELLINK, 0);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	err = nl_talk(nl, nlh, NULL, NULL);
	if (err == -ENODEV)
		return 0; /* gone already: that is what we wanted */
	if (err)
		return nl_fail(nl, err, "Couldn't delete link '%s'", name);
	return 0;
}

/*
 * Bulk delete.  Unregistering a netdev waits for RCU grace periods, and
 * one RTM_DELLINK per link pays them per link (~25 ms with thousands of
 * links); the links of one group go in one unregister batch that pays
 * them once.  Names that do not exist are skipped.
 */
#define NL_BATCH_BYTES 32768

int nl_links_del_many(struct nl *nl, const char *const *names, size_t n,
		      __u32 group, int *errs)
{
	struct ifinfomsg *ifm;
	struct nlmsghdr *nlh;
	size_t i, k, len;
	char *buf;
	int err = 0;
	__u32 first;

	nl_reset(nl);
	if (!group)
		return nl_fail(nl, -EINVAL, "Couldn't delete links by group 0");
	buf = malloc(NL_BATCH_BYTES);
	if (!buf)
		return nl_fail(nl, -ENOMEM, "Couldn't delete %zu links", n);
	/* Step 1: every link into the group, many requests per sendmsg. */
	for (i = 0; !err && i < n; i = k) {
		len = 0;
		/* seq 0 is libmnl's "any": never inside a batch. */
		if (nl->seq > UINT32_MAX - NL_BATCH_BYTES)
			nl->seq = 0;
		first = nl->seq + 1;
		for (k = i; k < n && len + NL_REQ_SIZE <= NL_BATCH_BYTES;
		     k++) {
			++nl->seq;
			nlh = mnl_nlmsg_put_header(buf + len);
			nlh->nlmsg_type = RTM_NEWLINK;
			nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
			nlh->nlmsg_seq = nl->seq;
			ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
			ifm->ifi_family = AF_UNSPEC;
			mnl_attr_put_strz(nlh, IFLA_IFNAME, names[k]);
			mnl_attr_put_u32(nlh, IFLA_GROUP, group);
			len += NLMSG_ALIGN(nlh->nlmsg_len);
		}
		err = nl_talk_many(nl, buf, len, first, k - i, errs + i);
		for (; !err && i < k; i++)
			if (errs[i] == -ENODEV)
				errs[i] = 0; /* gone already */
	}
	free(buf);
	if (err)
		return nl_fail(nl, err, "Couldn't put %zu links into group %u",
			       n, group);
	/* Step 2: the group goes, in one unregister batch. */
	nlh = nl_msg(nl, RTM_DELLINK, 0);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, IFLA_GROUP, group);
	err = nl_talk(nl, nlh, NULL, NULL);
	if (err == -ENODEV)
		err = 0; /* nothing was left in it */
	if (err)
		return nl_fail(nl, err, "Couldn't delete link group %u", group);
	return 0;
}

/*
 * Why before the links: a netdev that still has routes when it is
 * unregistered makes the kernel flush every FIB table (fib_disable_ip ->
 * fib_flush), a walk over all routes, for each of the batch's links:
 * O(links x routes).  An address deleted on its own takes its own routes
 * out by key, and a link without routes unregisters without the walk.
 * 2000 veth pairs here: 3.2 s with addresses, 0.4 + 0.5 s without.
 */
int nl_addrs_del_many(struct nl *nl, const struct nl_addr *addrs, size_t n,
		      int *errs)
{
	struct ifaddrmsg *ifa;
	struct nlmsghdr *nlh;
	size_t i, k, len;
	char *buf;
	int err = 0;
	__u32 first;

	nl_reset(nl);
	buf = malloc(NL_BATCH_BYTES);
	if (!buf)
		return nl_fail(nl, -ENOMEM, "Couldn't delete %zu addresses",
			       n);
	for (i = 0; !err && i < n; i = k) {
		len = 0;
		if (nl->seq > UINT32_MAX - NL_BATCH_BYTES)
			nl->seq = 0;
		first = nl->seq + 1;
		for (k = i; k < n && len + NL_REQ_SIZE <= NL_BATCH_BYTES;
		     k++) {
			++nl->seq;
			nlh = mnl_nlmsg_put_header(buf + len);
			nlh->nlmsg_type = RTM_DELADDR;
			nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
			nlh->nlmsg_seq = nl->seq;
			ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
			ifa->ifa_family = AF_INET;
			ifa->ifa_prefixlen = addrs[k].prefix_len;
			ifa->ifa_scope = RT_SCOPE_UNIVERSE;
			ifa->ifa_index = (__u32)addrs[k].ifindex;
			mnl_attr_put(nlh, IFA_LOCAL, sizeof(addrs[k].addr),
				     &addrs[k].addr);
			mnl_attr_put(nlh, IFA_ADDRESS, sizeof(addrs[k].addr),
				     &addrs[k].addr);
			len += NLMSG_ALIGN(nlh->nlmsg_len);
		}
		err = nl_talk_many(nl, buf, len, first, k - i, errs + i);
		for (; !err && i < k; i++)
			if (errs[i] == -EADDRNOTAVAIL || errs[i] == -ENODEV)
				errs[i] = 0; /* gone already */
	}
	free(buf);
	if (err)
		return nl_fail(nl, err, "Couldn't delete %zu addresses", n);
	return 0;
}

/* Shared state of the *_list() dumps. */
struct list_ctx {
	void *cb;   /* the typed user callback */
	void *ctx;
	int err;    /* first error from cb or from parsing; cb then stops */
	int ifindex;
	__u32 table;
};

static int link_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct list_ctx *c = data;
	nl_link_cb cb = (nl_link_cb)c->cb;
	struct nl_link link;
	int err;

	if (c->err || nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	err = link_parse(nlh, &link);
	if (!err)
		err = cb(&link, c->ctx);
	if (err < 0)
		c->err = err;
	return MNL_CB_OK;
}

int nl_link_list(struct nl *nl, nl_link_cb cb, void *ctx)
{
	struct list_ctx c = { .cb = (void *)cb, .ctx = ctx };
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	int err;

	nl_reset(nl);
	nlh = nl_msg(nl, RTM_GETLINK, NLM_F_DUMP);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	err = nl_talk(nl, nlh, link_list_cb, &c);
	if (!err)
		err = c.err;
	if (err)
		return nl_fail(nl, err, "Couldn't list links");
	return 0;
}

/* ---- addresses -------------------------------------------------------- */

static int addr_msg(struct nl *nl, __u16 type, __u16 flags, int ifindex,
		    __be32 addr, __u8 prefix_len)
{
	struct nlmsghdr *nlh = nl_msg(nl, type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefix_len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (__u32)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, sizeof(addr), &addr);
	/* IFA_ADDRESS too: on delete it makes the prefix length count. */
	mnl_attr_put(nlh, IFA_ADDRESS, sizeof(addr), &addr);
	return nl_talk(nl, nlh, NULL, NULL);
}

int nl_addr_add(struct nl *nl, int ifindex, __be32 addr, __u8 prefix_len)
{
	char a[INET_ADDRSTRLEN];
	int err;

	nl_reset(nl);
	if (ifindex <= 0 || prefix_len > 32)
		err = -EINVAL;
	else
		err = addr_msg(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
			       ifindex, addr, prefix_len);
	/* EEXIST: this very address/prefix is on this link already. */
	if (err && err != -EEXIST)
		return nl_fail(nl, err,
			       "Couldn't add address %s/%u on ifindex %d",
			       ip_str(addr, a), prefix_len, ifindex);
	return 0;
}

int nl_addr_del(struct nl *nl, int ifindex, __be32 addr, __u8 prefix_len)
{
	char a[INET_ADDRSTRLEN];
	int err;

	nl_reset(nl);
	if (ifindex <= 0 || prefix_len > 32)
		err = -EINVAL;
	else
		err = addr_msg(nl, RTM_DELADDR, 0, ifindex, addr, prefix_len);
	/* Not there, or its link gone with it: that is what we wanted. */
	if (err == -EADDRNOTAVAIL || err == -ENODEV)
		return 0;
	if (err)
		return nl_fail(nl, err,
			       "Couldn't delete address %s/%u on ifindex %d",
			       ip_str(addr, a), prefix_len, ifindex);
	return 0;
}

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFA_MAX) < 0)
		return MNL_CB_OK;
	if (type != IFA_LOCAL && type != IFA_ADDRESS)
		return MNL_CB_OK;
	/* An IPv4 address is 4 bytes, the size of a u32. */
	if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_ERROR;
	tb[type] = attr;
	return MNL_CB_OK;
}

static int addr_list_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFA_MAX + 1] = {};
	struct list_ctx *c = data;
	nl_addr_cb cb = (nl_addr_cb)c->cb;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct nl_addr a = {};
	const struct nlattr *local;
	int err;

	if (c->err || nlh->nlmsg_type != RTM_NEWADDR)
		return MNL_CB_OK;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa) ||
	    mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) ==
		    MNL_CB_ERROR) {
		c->err = -EBADMSG;
		return MNL_CB_OK;
	}
	if (ifa->ifa_family != AF_INET ||
	    (c->ifindex && (int)ifa->ifa_index != c->ifindex))
		return MNL_CB_OK;
	local = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!local)
		return MNL_CB_OK;
	a.ifindex = (int)ifa->ifa_index;
	memcpy(&a.addr, mnl_attr_get_payload(local), sizeof(a.addr));
	a.prefix_len = ifa->ifa_prefixlen;
	a.scope = ifa->ifa_scope;
	err = cb(&a, c->ctx);
	if (err < 0)
		c->err = err;
	return MNL_CB_OK;
}

int nl_addr_list(struct nl *nl, int ifindex, nl_addr_cb cb, void *ctx)
{
	struct list_ctx c = { .cb = (void *)cb, .ctx = ctx,
			      .ifindex = ifindex };
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	int err;

	nl_reset(nl);
	nlh = nl_msg(nl, RTM_GETADDR, NLM_F_DUMP);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_index = ifindex > 0 ? (__u32)ifindex : 0; /* strict filter */
	err = nl_talk(nl, nlh, addr_list_cb, &c);
	if (!err)
		err = c.err;
	if (err)
		return nl_fail(nl, err, "Couldn't list addresses");
	return 0;
}

/* ---- policy rules ----------------------------------------------------- */

static int rule_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, FRA_MAX) < 0)
		return MNL_CB_OK;
	switch (type) {
	case FRA_PRIORITY:
	case FRA_TABLE:
	case FRA_FWMARK:
	case FRA_FWMASK:
	case FRA_SUPPRESS_IFGROUP:
	case FRA_SUPPRESS_PREFIXLEN:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		break;
	case FRA_PROTOCOL:
		if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
			return MNL_CB_ERROR;
		break;
	case FRA_DST:
	case FRA_SRC:
	case FRA_IIFNAME:
	case FRA_OIFNAME:
	case FRA_GOTO:
	case FRA_FLOW:
	case FRA_TUN_ID:
	case FRA_L3MDEV:
	case FRA_UID_RANGE:
	case FRA_IP_PROTO:
	case FRA_SPORT_RANGE:
	case FRA_DPORT_RANGE:
		/* Only their presence matters (other_selectors). */
		if (mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0)
			return MNL_CB_ERROR;
		break;
	default:
		return MNL_CB_OK;
	}
	tb[type] = attr;
	return MNL_CB_OK;
}

/* 0, 1 for "not IPv4, skip", or -EBADMSG. */
static int rule_parse(const struct nlmsghdr *nlh, struct nl_rule *out)
{
	static const int selectors[] = {
		FRA_DST, FRA_SRC, FRA_IIFNAME, FRA_OIFNAME, FRA_GOTO,
		FRA_FLOW, FRA_TUN_ID, FRA_L3MDEV, FRA_UID_RANGE,
		FRA_IP_PROTO, FRA_SPORT_RANGE, FRA_DPORT_RANGE,
	};
	/* Dumped even when unset, as -1 ("suppress nothing"). */
	static const int suppressors[] = {
		FRA_SUPPRESS_IFGROUP, FRA_SUPPRESS_PREFIXLEN,
	};
	const struct nlattr *tb[FRA_MAX + 1] = {};
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	size_t i;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*frh))
		return -EBADMSG;
	if (frh->family != AF_INET)
		return 1;
	if (mnl_attr_parse(nlh, sizeof(*frh), rule_attr_cb, tb) ==
	    MNL_CB_ERROR)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->action = frh->action;
	out->table = tb[FRA_TABLE] ? mnl_attr_get_u32(tb[FRA_TABLE]) :
				     frh->table;
	if (tb[FRA_PRIORITY])
		out->priority = mnl_attr_get_u32(tb[FRA_PRIORITY]);
	if (tb[FRA_FWMARK])
		out->fwmark = mnl_attr_get_u32(tb[FRA_FWMARK]);
	if (tb[FRA_FWMASK])
		out->fwmask = mnl_attr_get_u32(tb[FRA_FWMASK]);
	if (tb[FRA_PROTOCOL])
		out->protocol = mnl_attr_get_u8(tb[FRA_PROTOCOL]);
	out->other_selectors = frh->src_len || frh->dst_len || frh->tos ||
			       (frh->flags & FIB_RULE_INVERT);
	for (i = 0; i < sizeof(selectors) / sizeof(selectors[0]); i++)
		if (tb[selectors[i]])
			out->other_selectors = true;
	for (i = 0; i < sizeof(suppressors) / sizeof(suppressors[0]); i++)
		if (tb[suppressors[i]] &&
		    mnl_attr_get_u32(tb[suppressors[i]]) != 0xffffffffu)
			out->other_selectors = true;
	return 0;
}

static int rule_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct list_ctx *c = data;
	nl_rule_cb cb = (nl_rule_cb)c->cb;
	struct nl_rule rule;
	int err;

	if (c->err || nlh->nlmsg_type != RTM_NEWRULE)
		return MNL_CB_OK;
	err = rule_parse(nlh, &rule);
	if (err == 1)
		return MNL_CB_OK;
	if (!err)
		err = cb(&rule, c->ctx);
	if (err < 0)
		c->err = err;
	return MNL_CB_OK;
}

static int rule_list(struct nl *nl, nl_rule_cb cb, void *ctx)
{
	struct list_ctx c = { .cb = (void *)cb, .ctx = ctx };
	struct nlmsghdr *nlh = nl_msg(nl, RTM_GETRULE, NLM_F_DUMP);
	struct fib_rule_hdr *frh;
	int err;

	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = AF_INET;
	err = nl_talk(nl, nlh, rule_list_cb, &c);
	return err ? err : c.err;
}

int nl_rule_list(struct nl *nl, nl_rule_cb cb, void *ctx)
{
	int err;

	nl_reset(nl);
	err = rule_list(nl, cb, ctx);
	if (err)
		return nl_fail(nl, err, "Couldn't list rules");
	return 0;
}

/* One rule as vifd writes it: fwmark/fwmask, then to a table or dropped. */
struct rule_spec {
	__u32 fwmark, fwmask, table, priority;
	__u8 action; /* FR_ACT_TO_TBL or FR_ACT_BLACKHOLE */
};

struct rule_find {
	const struct rule_spec *want;
	bool found;
	bool saw_protocol;
};

static int rule_find_cb(const struct nl_rule *r, void *ctx)
{
	struct rule_find *f = ctx;
	const struct rule_spec *w = f->want;

	if (r->protocol)
		f->saw_protocol = true;

	if (r->action == w->action && !r->other_selectors &&
	    r->fwmark == w->fwmark && r->fwmask == w->fwmask &&
	    (w->action != FR_ACT_TO_TBL || r->table == w->table) &&
	    r->priority == w->priority)
		f->found = true;
	return 0;
}

static int rule_msg(struct nl *nl, __u16 type, __u16 flags,
		    const struct rule_spec *rs)
{
	struct nlmsghdr *nlh = nl_msg(nl, type, flags);
	struct fib_rule_hdr *frh;

	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = AF_INET;
	frh->action = rs->action;
	if (rs->action == FR_ACT_TO_TBL) {
		frh->table = rs->table < 256 ? rs->table : RT_TABLE_UNSPEC;
		mnl_attr_put_u32(nlh, FRA_TABLE, rs->table);
	}
	mnl_attr_put_u32(nlh, FRA_FWMARK, rs->fwmark);
	mnl_attr_put_u32(nlh, FRA_FWMASK, rs->fwmask);
	mnl_attr_put_u32(nlh, FRA_PRIORITY, rs->priority);
	if (type == RTM_NEWRULE)
		mnl_attr_put_u8(nlh, FRA_PROTOCOL, RTPROT_STATIC);
	return nl_talk(nl, nlh, NULL, NULL);
}

static int rule_add(struct nl *nl, const struct rule_spec *rs)
{
	struct rule_find f = { .want = rs };
	int err;

	/*
	 * Rules are not keyed, so older kernels store duplicates: look
	 * before adding.  Newer ones refuse an identical rule under
	 * NLM_F_EXCL, atomically and without the O(rules) dump per add
	 * (4094 VIFs: 4.6 s of dumps vs 0.2 s), so once a dump has shown
	 * such a kernel, the handle leaves the check to it.
	 */
	if (!nl->rules_excl) {
		err = rule_list(nl, rule_find_cb, &f);
		if (err == -EINTR) /* the rules changed under the dump */
			err = rule_list(nl, rule_find_cb, &f);
		if (err)
			return err;
		if (f.found)
			return 0;
		nl->rules_excl = f.saw_protocol;
	}
	err = rule_msg(nl, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, rs);
	return err == -EEXIST ? 0 : err;
}

static int rule_del(struct nl *nl, const struct rule_spec *rs)
{
	int i, err = 0;

	/* Duplicates are possible (added by others): remove every copy. */
	for (i = 0; i < NL_RULE_DEL_MAX; i++) {
		err = rule_msg(nl, RTM_DELRULE, 0, rs);
		if (err)
			break;
	}
	return err == -ENOENT ? 0 : err;
}

int nl_rule_add(struct nl *nl, __u32 fwmark, __u32 table, __u32 priority)
{
	struct rule_spec rs = { fwmark, 0xffffffffu, table, priority,
				FR_ACT_TO_TBL };
	int err;

	nl_reset(nl);
	/* fwmark 0 would be no selector at all: every packet matches. */
	err = !fwmark || table == RT_TABLE_UNSPEC ? -EINVAL :
						      rule_add(nl, &rs);
	if (err)
		return nl_fail(nl, err,
			       "Couldn't add rule fwmark 0x%x lookup %u pref %u",
			       fwmark, table, priority);
	return 0;
}

int nl_rule_del(struct nl *nl, __u32 fwmark, __u32 table, __u32 priority)
{
	struct rule_spec rs = { fwmark, 0xffffffffu, table, priority,
				FR_ACT_TO_TBL };
	int err;

	nl_reset(nl);
	err = !fwmark || table == RT_TABLE_UNSPEC ? -EINVAL :
						      rule_del(nl, &rs);
	if (err)
		return nl_fail(nl, err,
			       "Couldn't delete rule fwmark 0x%x lookup %u pref %u",
			       fwmark, table, priority);
	return 0;
}

int nl_rule_blackhole_add(struct nl *nl, __u32 fwmark, __u32 fwmask,
			  __u32 priority)
{
	struct rule_spec rs = { fwmark, fwmask, 0, priority,
				FR_ACT_BLACKHOLE };
	int err;

	nl_reset(nl);
	/* A zero mask, or a mark outside it, would drop unmarked packets
	 * too (every packet matches (0 ^ 0) & mask == 0): refuse both. */
	err = !fwmask || !fwmark || (fwmark & ~fwmask) ? -EINVAL :
							 rule_add(nl, &rs);
	if (err)
		return nl_fail(nl, err,
			       "Couldn't add rule fwmark 0x%x/0x%x blackhole pref %u",
			       fwmark, fwmask, priority);
	return 0;
}

int nl_rule_blackhole_del(struct nl *nl, __u32 fwmark, __u32 fwmask,
			  __u32 priority)
{
	struct rule_spec rs = { fwmark, fwmask, 0, priority,
				FR_ACT_BLACKHOLE };
	int err;

	nl_reset(nl);
	err = !fwmask || !fwmark ? -EINVAL : rule_del(nl, &rs);
	if (err)
		return nl_fail(nl, err,
			       "Couldn't delete rule fwmark 0x%x/0x%x blackhole pref %u",
			       fwmark, fwmask, priority);
	return 0;
}

/* ---- routes ----------------------------------------------------------- */

static int route_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, RTA_MAX) < 0)
		return MNL_CB_OK;
	switch (type) {
	case RTA_TABLE:
	case RTA_OIF:
	case RTA_PRIORITY:
	/* IPv4 addresses: 4 bytes, validated as a u32. */
	case RTA_DST:
	case RTA_GATEWAY:
	case RTA_PREFSRC:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		break;
	case RTA_MULTIPATH:
		if (mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0)
			return MNL_CB_ERROR;
		break;
	default:
		return MNL_CB_OK;
	}
	tb[type] = attr;
	return MNL_CB_OK;
}

static __be32 attr_ip(const struct nlattr *attr)
{
	__be32 a = 0;

	if (attr)
		memcpy(&a, mnl_attr_get_payload(attr), sizeof(a));
	return a;
}

/* 0, 1 for "not one to report", or -EBADMSG. */
static int route_parse(const struct nlmsghdr *nlh, struct nl_route *out)
{
	const struct nlattr *tb[RTA_MAX + 1] = {};
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return -EBADMSG;
	if (rtm->rtm_family != AF_INET || (rtm->rtm_flags & RTM_F_CLONED))
		return 1;
	if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb) ==
	    MNL_CB_ERROR)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) :
				     rtm->rtm_table;
	out->dst = attr_ip(tb[RTA_DST]);
	out->prefix_len = rtm->rtm_dst_len;
	out->type = rtm->rtm_type;
	out->protocol = rtm->rtm_protocol;
	out->scope = rtm->rtm_scope;
	out->gateway = attr_ip(tb[RTA_GATEWAY]);
	out->prefsrc = attr_ip(tb[RTA_PREFSRC]);
	if (tb[RTA_OIF])
		out->oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	if (tb[RTA_PRIORITY])
		out->priority = mnl_attr_get_u32(tb[RTA_PRIORITY]);
	out->multipath = tb[RTA_MULTIPATH] != NULL;
	return 0;
}

static int route_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct list_ctx *c = data;
	nl_route_cb cb = (nl_route_cb)c->cb;
	struct nl_route r;
	int err;

	if (c->err || nlh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	err = route_parse(nlh, &r);
	if (err == 1 || (!err && c->table && r.table != c->table))
		return MNL_CB_OK;
	if (!err)
		err = cb(&r, c->ctx);
	if (err < 0)
		c->err = err;
	return MNL_CB_OK;
}

static int route_list(struct nl *nl, __u32 table, nl_route_cb cb, void *ctx)
{
	struct list_ctx c = { .cb = (void *)cb, .ctx = ctx, .table = table };
	struct nlmsghdr *nlh = nl_msg(nl, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	int err;

	rtm->rtm_family = AF_INET;
	/* With strict checking the kernel dumps just this table. */
	if (table)
		mnl_attr_put_u32(nlh, RTA_TABLE, table);
	err = nl_talk(nl, nlh, route_list_cb, &c);
	/* A table with no routes does not exist, and that is all. */
	if (err == -ENOENT && table)
		err = 0;
	return err ? err : c.err;
}

int nl_route_list(struct nl *nl, __u32 table, nl_route_cb cb, void *ctx)
{
	int err;

	nl_reset(nl);
	err = route_list(nl, table, cb, ctx);
	if (err)
		return nl_fail(nl, err, "Couldn't list routes of table %u",
			       table);
	return 0;
}

struct route_find {
	const struct nl_route *want;
	struct nl_route in_way; /* same dst/prefix/metric, if any */
	bool found, same;
};

static int route_find_cb(const struct nl_route *r, void *ctx)
{
	struct route_find *f = ctx;
	const struct nl_route *w = f->want;

	if (r->dst != w->dst || r->prefix_len != w->prefix_len ||
	    r->priority != w->priority || f->same)
		return 0;
	f->found = true;
	f->in_way = *r;
	/* oif 0 in the request means "resolved from the gateway". */
	if (r->type == w->type && !r->multipath && r->gateway == w->gateway &&
	    (!w->oif || r->oif == w->oif))
		f->same = true;
	return 0;
}

static int route_msg(struct nl *nl, __u16 cmd, __u16 flags,
		     const struct nl_route *r)
{
	struct nlmsghdr *nlh = nl_msg(nl, cmd, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = r->prefix_len;
	rtm->rtm_table = r->table < 256 ? r->table : RT_TABLE_UNSPEC;
	rtm->rtm_type = r->type;
	if (cmd == RTM_NEWROUTE) {
		rtm->rtm_protocol = RTPROT_STATIC;
		/* As ip-route does: unicast without a gateway is on-link. */
		rtm->rtm_scope = r->type == RTN_UNICAST && !r->gateway ?
					 RT_SCOPE_LINK :
					 RT_SCOPE_UNIVERSE;
	} else {
		rtm->rtm_scope = RT_SCOPE_NOWHERE; /* any scope */
	}
	mnl_attr_put_u32(nlh, RTA_TABLE, r->table);
	if (r->prefix_len)
		mnl_attr_put(nlh, RTA_DST, sizeof(r->dst), &r->dst);
	if (r->gateway)
		mnl_attr_put(nlh, RTA_GATEWAY, sizeof(r->gateway), &r->gateway);
	if (r->oif)
		mnl_attr_put_u32(nlh, RTA_OIF, (__u32)r->oif);
	if (r->priority)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, r->priority);
	return nl_talk(nl, nlh, NULL, NULL);
}

static int route_add(struct nl *nl, const struct nl_route *r)
{
	char want[128], got[128];
	struct route_find f = { .want = r };
	char ext[NL_EXTACK_MAX];
	int err;

	nl_reset(nl);
	route_str(r, want, sizeof(want));
	if (!r->table || r->prefix_len > 32 ||
	    (r->type == RTN_UNICAST && !r->gateway && !r->oif))
		return nl_fail(nl, -EINVAL, "Couldn't add route %s", want);
	/*
	 * EXCL: a route for the same dst/prefix/metric must not be silently
	 * stacked on top of another; EEXIST is then checked against ours.
	 */
	err = route_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r);
	if (err != -EEXIST)
		goto out;
	snprintf(ext, sizeof(ext), "%s", nl->ext_msg);
	err = route_list(nl, r->table, route_find_cb, &f);
	if (err == -EINTR) { /* the table changed under the dump: again */
		f = (struct route_find){ .want = r };
		err = route_list(nl, r->table, route_find_cb, &f);
	}
	if (err)
		goto out;
	if (f.same)
		return 0;
	snprintf(nl->ext_msg, sizeof(nl->ext_msg), "%s", ext);
	if (f.found)
		return nl_fail(nl, -EEXIST,
			       "Couldn't add route %s: %s is in the way",
			       want, route_str(&f.in_way, got, sizeof(got)));
	err = -EEXIST;
out:
	if (err)
		return nl_fail(nl, err, "Couldn't add route %s", want);
	return 0;
}

static int route_del(struct nl *nl, const struct nl_route *r)
{
	char want[128];
	int err;

	nl_reset(nl);
	route_str(r, want, sizeof(want));
	if (!r->table || r->prefix_len > 32)
		return nl_fail(nl, -EINVAL, "Couldn't delete route %s", want);
	err = route_msg(nl, RTM_DELROUTE, 0, r);
	if (err == -ESRCH)
		return 0; /* not there: that is what we wanted */
	if (err)
		return nl_fail(nl, err, "Couldn't delete route %s", want);
	return 0;
}

int nl_route_add(struct nl *nl, __u32 table, __be32 dst, __u8 prefix_len,
		 __be32 gateway, int oif)
{
	struct nl_route r = {
		.table = table, .dst = dst, .prefix_len = prefix_len,
		.type = RTN_UNICAST, .gateway = gateway, .oif = oif,
	};

	return route_add(nl, &r);
}

int nl_route_del(struct nl *nl, __u32 table, __be32 dst, __u8 prefix_len,
		 __be32 gateway, int oif)
{
	struct nl_route r = {
		.table = table, .dst = dst, .prefix_len = prefix_len,
		.type = RTN_UNICAST, .gateway = gateway, .oif = oif,
	};

	return route_del(nl, &r);
}

static bool route_type_ok(enum nl_route_type type)
{
	return type == NL_ROUTE_BLACKHOLE || type == NL_ROUTE_UNREACHABLE ||
	       type == NL_ROUTE_PROHIBIT;
}

int nl_route_add_type(struct nl *nl, __u32 table, __be32 dst,
		      __u8 prefix_len, enum nl_route_type type,
		      __u32 priority)
{
	struct nl_route r = {
		.table = table, .dst = dst, .prefix_len = prefix_len,
		.type = (__u8)type, .priority = priority,
	};

	if (!route_type_ok(type)) {
		nl_reset(nl);
		return nl_fail(nl, -EINVAL,
			       "Couldn't add route of type %d: not blackhole, unreachable or prohibit",
			       (int)type);
	}
	return route_add(nl, &r);
}

int nl_route_del_type(struct nl *nl, __u32 table, __be32 dst,
		      __u8 prefix_len, enum nl_route_type type,
		      __u32 priority)
{
	struct nl_route r = {
		.table = table, .dst = dst, .prefix_len = prefix_len,
		.type = (__u8)type, .priority = priority,
	};

	if (!route_type_ok(type)) {
		nl_reset(nl);
		return nl_fail(nl, -EINVAL,
			       "Couldn't delete route of type %d: not blackhole, unreachable or prohibit",
			       (int)type);
	}
	return route_del(nl, &r);
}

/* ---- events ----------------------------------------------------------- */

int nl_events_open(struct nl **out, __u32 groups)
{
	if (!groups) {
		*out = NULL;
		return -EINVAL;
	}
	return nl_open_groups(out, groups, NL_EVENTS_RCVBUF);
}

struct events_ctx {
	nl_event_cb cb;
	void *ctx;
	int count;
	int err;
};

static void event_deliver(struct events_ctx *c, const struct nl_event *ev)
{
	int err;

	if (c->err)
		return;
	err = c->cb(ev, c->ctx);
	if (err < 0)
		c->err = err;
	else
		c->count++;
}

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct events_ctx *c = data;
	struct nl_event ev = { .msg_type = nlh->nlmsg_type };

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		/* A message we cannot parse is dropped, not fatal. */
		if (link_parse(nlh, &ev.link))
			return MNL_CB_OK;
		ev.type = nlh->nlmsg_type == RTM_NEWLINK ? NL_EVENT_LINK_NEW :
							  NL_EVENT_LINK_DEL;
		break;
	default:
		ev.type = NL_EVENT_OTHER;
		break;
	}
	event_deliver(c, &ev);
	return MNL_CB_OK;
}

int nl_events_read(struct nl *nl, nl_event_cb cb, void *ctx)
{
	struct events_ctx c = { .cb = cb, .ctx = ctx };

	nl_reset(nl);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf,
						sizeof(nl->buf));

		if (n < 0) {
			int err = -errno;

			if (err == -EINTR)
				continue;
			if (err == -EAGAIN)
				break; /* all pending events read */
			if (err == -ENOBUFS) {
				/* Lost events; the socket carries on. */
				struct nl_event ev = {
					.type = NL_EVENT_OVERRUN,
				};

				event_deliver(&c, &ev);
				continue;
			}
			return nl_fail(nl, err, "Couldn't read netlink events");
		}
		/* seq and portid 0: multicast, no checks. */
		mnl_cb_run(nl->buf, n, 0, 0, event_cb, &c);
	}
	return c.err ? c.err : c.count;
}
