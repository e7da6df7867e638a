// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_vifdpdk.c - runs the real vifdpdk (EAL --no-huge, vdevs) against a
 * shared-memory file this test writes like vifd would, and checks what
 * comes out of its ports and its counters.
 *
 *   test_vifdpdk [forward|args|hotplug]     (no argument: all)
 *
 * forward: net_pcap ports read prepared frames (trunk and two services)
 *          and write what they send; checks frames out (tag popped,
 *          tag pushed, host-bound by mark with the MAC rewritten), every
 *          drop reason counted in the per-worker rows, SIGTERM -> exit 0
 *          and engine_pid cleared.
 * args:    bad options and ports give a clear message and a nonzero exit,
 *          never a crash.
 * hotplug: a port request for a veth becomes ACTIVE (af_xdp or
 *          af_packet), forwards a frame, and REMOVE frees the slot.
 *
 * Needs root (EAL, veths): exits 77 otherwise.  Every run uses its own
 * --file-prefix, shm file, temp dir and link names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_packet.h>

#include "harness.h"
#include "pkt.h"
#include "shm.h"

#define TRUNK_IFX 7
#define SVC_A_IFX 11 /* VIF 101 */
#define SVC_K_IFX 13 /* VIF 103, kill switch engaged */
#define MARK_A 0x10065

static const __u8 mac_router[6] = { 0x02, 0xaa, 0, 0, 0, 0x01 };
static const __u8 mac_svc_a[6] = { 0x02, 0x5e, 0, 0, 0x65, 0x01 };
static const __u8 mac_port_a[6] = { 0x02, 0x50, 0, 0, 0x65, 0x02 };
static const __u8 mac_svc_k[6] = { 0x02, 0x5e, 0, 0, 0x67, 0x01 };

static char tmpdir[64];
static char shm_path[128];
static unsigned int run_no;

static const char *vifdpdk(void)
{
	const char *p = getenv("VIFDPDK");

	return p ? p : "./dataplane/dpdk/vifdpdk";
}

static __be32 ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/* ---- pcap files --------------------------------------------------------- */

struct pcap_rec {
	__u32 sec, usec, incl, orig;
};

static int pcap_write(const char *path, struct pkt *frames, int n)
{
	const __u32 hdr[6] = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 };
	FILE *f = fopen(path, "w");
	int i;

	if (!f)
		return -errno;
	fwrite(hdr, sizeof(hdr), 1, f);
	for (i = 0; i < n; i++) {
		struct pcap_rec r = { 1, (__u32)i, (__u32)frames[i].len,
				      (__u32)frames[i].len };

		fwrite(&r, sizeof(r), 1, f);
		fwrite(frames[i].data, frames[i].len, 1, f);
	}
	return fclose(f) ? -errno : 0;
}

/* Read up to max frames; returns how many, or -errno. */
static int pcap_read(const char *path, struct pkt *frames, int max)
{
	struct pcap_rec r;
	__u32 hdr[6];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return -errno;
	if (fread(hdr, sizeof(hdr), 1, f) != 1) {
		fclose(f);
		return 0;
	}
	while (n < max && fread(&r, sizeof(r), 1, f) == 1) {
		if (r.incl > PKT_MAX)
			break;
		frames[n].len = r.incl;
		if (fread(frames[n].data, r.incl, 1, f) != 1)
			break;
		n++;
	}
	fclose(f);
	return n;
}

/* ---- the writer's side of the shared memory ---------------------------- */

/* vifd's protocol: fill the inactive slot, then flip the index. */
static void put_vif(struct vif_shm *shm, struct vif_entry *e)
{
	__u32 cur = shm->index[e->vlan];
	__u32 next = VIF_INDEX_MAKE(VIF_INDEX_GEN(cur) + 1,
				    !VIF_INDEX_SLOT(cur));

	e->gen = VIF_INDEX_GEN(next);
	shm->policy[e->vlan * 2 + VIF_INDEX_SLOT(next)] = *e;
	__atomic_store_n(&shm->index[e->vlan], next, __ATOMIC_RELEASE);
	shm->ports[e->svc_ifindex].vlan = e->vlan;
}

static void vif_fill(struct vif_entry *e, __u16 vlan, __u32 ifindex,
		     __u32 flags, const __u8 svc_mac[6])
{
	char a[32];

	memset(e, 0, sizeof(*e));
	e->vlan = vlan;
	e->flags = flags;
	e->svc_ifindex = ifindex;
	e->mark = 0x10000 + vlan;
	e->table = 1000 + vlan;
	snprintf(a, sizeof(a), "10.100.%u.1", vlan);
	e->addr = ip4(a);
	snprintf(a, sizeof(a), "10.100.%u.0", vlan);
	e->subnet = ip4(a);
	e->netmask = ip4("255.255.255.0");
	snprintf(a, sizeof(a), "10.100.%u.254", vlan);
	e->host_addr = ip4(a);
	memcpy(e->svc_mac, svc_mac, 6);
	memcpy(e->port_mac, mac_port_a, 6);
	e->port_mac[4] = (__u8)vlan;
}

struct sums {
	struct vif_global_stats g;
	struct vif_stats v[VIF_VLAN_SLOTS];
};

static void sum_workers(const struct vif_shm *shm, struct sums *s)
{
	unsigned int w, i, r;

	memset(s, 0, sizeof(*s));
	for (w = 0; w < VIF_SHM_MAX_WORKERS; w++) {
		const struct vif_shm_worker *k = &shm->workers[w];

		s->g.trunk_rx_packets += k->global.trunk_rx_packets;
		s->g.svc_rx_packets += k->global.svc_rx_packets;
		for (r = 0; r < VIF_DROP__MAX; r++)
			s->g.drops[r] += k->global.drops[r];
		for (i = 0; i < VIF_VLAN_SLOTS; i++) {
			s->v[i].rx_packets += k->stats[i].rx_packets;
			s->v[i].tx_packets += k->stats[i].tx_packets;
			s->v[i].host_packets += k->stats[i].host_packets;
			for (r = 0; r < VIF_DROP__MAX; r++)
				s->v[i].drops[r] += k->stats[i].drops[r];
		}
	}
}

/* ---- running the engine ------------------------------------------------- */

/*
 * A fresh file, initialised by vif_shm_map() in a child that exits, then
 * mapped here without it: vif_shm_map()'s flock outlives its close() (the
 * mapping holds the open file), so a test that kept its own mapping from
 * vif_shm_map() would block the engine's.  See the final report.
 */
static int shm_fresh(struct vif_shm **shm)
{
	char err[256] = "";
	void *p;
	pid_t pid;
	int fd, st;

	snprintf(shm_path, sizeof(shm_path), "/dev/shm/vifplane-test-dpdk-%d-%u",
		 (int)getpid(), run_no);
	unlink(shm_path);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct vif_shm *m;

		if (vif_shm_map(shm_path, VIF_SHM_CREATE, &m, err,
				sizeof(err))) {
			fprintf(stderr, "vif_shm_map: %s\n", err);
			_exit(1);
		}
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return -EIO;
	fd = open(shm_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	p = mmap(NULL, sizeof(**shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	*shm = p;
	return 0;
}

/*
 * Start vifdpdk with EAL args for this run and our options (NULL
 * terminated), its output in log.  Returns the pid or -errno.
 */
static pid_t engine_spawn(const char *lcores, const char *log,
			  const char *const *opts)
{
	char prefix[64];
	const char *argv[64];
	int n = 0, fd;
	pid_t pid;

	snprintf(prefix, sizeof(prefix), "vifdt%d_%u", (int)getpid(),
		 run_no++);
	argv[n++] = vifdpdk();
	argv[n++] = "-l";
	argv[n++] = lcores;
	argv[n++] = "--no-huge";
	argv[n++] = "-m";
	argv[n++] = "512";
	argv[n++] = "--no-pci";
	argv[n++] = "--file-prefix";
	argv[n++] = prefix;
	argv[n++] = "--log-level=pmd.*:warning";
	while (*opts && n < 62)
		argv[n++] = *opts++;
	argv[n] = NULL;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	return pid;
}

/* Wait for pid; its exit status, or 1000 + signal, or -ETIMEDOUT. */
static int engine_wait(pid_t pid, int timeout_ms)
{
	int st, i;

	for (i = 0; i < timeout_ms / 10; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) :
					       1000 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -ETIMEDOUT;
}

static void dump_log(const char *log)
{
	char line[512];
	FILE *f = fopen(log, "r");

	if (!f)
		return;
	fprintf(stderr, "---- %s\n", log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

static bool file_has(const char *path, const char *needle)
{
	char buf[65536];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, needle) != NULL;
}

static bool need_root(void)
{
	if (geteuid() == 0)
		return true;
	printf("skip: needs root (EAL, vdevs, veths)\n");
	return false;
}

/* ---- forward ----------------------------------------------------------- */

enum { T_FWD = 3, S_FWD = 2 };

static int test_forward(void)
{
	struct pkt *tin = NULL, *ain = NULL, *kin = NULL, *out = NULL;
	char p_tin[128], p_tout[128], p_ain[128], p_aout[128], p_kin[128],
		p_kout[128], p_empty[128], p_hm[128], p_hd[128], log[128];
	char a_trunk[512], a_svc[512], a_k[512], a_hm[512], a_hd[512];
	struct vif_shm *shm = NULL;
	struct sums *s = NULL;
	struct vif_entry e;
	int nt = 0, na = 0, nk = 0, n, i, ret = -1, st;
	pid_t pid = -1;

	if (!need_root())
		return TEST_SKIP;
	tin = calloc(16, sizeof(*tin));
	ain = calloc(16, sizeof(*ain));
	kin = calloc(4, sizeof(*kin));
	out = calloc(16, sizeof(*out));
	s = calloc(1, sizeof(*s));
	if (!tin || !ain || !kin || !out || !s)
		goto out;
	if (!ASSERT_OK(shm_fresh(&shm), "shm"))
		goto out;

	/* Policy as vifd writes it: 101 active, 102 inactive, 103 with its
	 * kill switch engaged. */
	shm->config.trunk_ifindex = TRUNK_IFX;
	vif_fill(&e, 101, SVC_A_IFX, VIF_F_ACTIVE, mac_svc_a);
	memcpy(e.port_mac, mac_port_a, 6);
	e.mark = MARK_A;
	put_vif(shm, &e);
	vif_fill(&e, 102, 12, 0, mac_svc_a);
	put_vif(shm, &e);
	vif_fill(&e, 103, SVC_K_IFX, VIF_F_ACTIVE | VIF_F_KILLSWITCH,
		 mac_svc_k);
	put_vif(shm, &e);

	/* Trunk: three for 101, then one of each trunk drop reason. */
	for (i = 0; i < T_FWD; i++)
		pkt_udp4_frame(&tin[nt++], mac_svc_a, mac_router, 101,
			       ip4("192.0.2.1"), ip4("10.100.101.1"), 64 + i);
	pkt_udp4_frame(&tin[nt++], mac_svc_a, mac_router, -1,
		       ip4("192.0.2.1"), ip4("10.100.101.1"), 64);
	pkt_udp4_frame(&tin[nt++], mac_svc_a, mac_router, 0,
		       ip4("192.0.2.1"), ip4("10.100.101.1"), 64);
	pkt_udp4_frame(&tin[nt++], mac_svc_a, mac_router, 4095,
		       ip4("192.0.2.1"), ip4("10.100.101.1"), 64);
	pkt_init(&tin[nt]);
	pkt_eth(&tin[nt], mac_svc_a, mac_router);
	pkt_tag(&tin[nt], 0x88a8, 101);
	pkt_tag(&tin[nt], 0x8100, 101);
	pkt_type(&tin[nt], 0x0800);
	pkt_pad_to(&tin[nt++], 64);
	pkt_udp4_frame(&tin[nt++], mac_svc_a, mac_router, 200,
		       ip4("192.0.2.1"), ip4("10.100.200.1"), 64);
	pkt_udp4_frame(&tin[nt++], mac_svc_a, mac_router, 102,
		       ip4("192.0.2.1"), ip4("10.100.102.1"), 64);
	pkt_init(&tin[nt]);
	pkt_zeros(&tin[nt++], 10);

	/* Service 101: two to the router, one to the host, then spoof,
	 * tagged and a foreign ethertype. */
	for (i = 0; i < S_FWD; i++)
		pkt_udp4_frame(&ain[na++], mac_router, mac_svc_a, -1,
			       ip4("10.100.101.1"), ip4("198.51.100.7"),
			       80 + i);
	pkt_udp4_frame(&ain[na++], mac_port_a, mac_svc_a, -1,
		       ip4("10.100.101.1"), ip4("10.100.101.254"), 70);
	pkt_udp4_frame(&ain[na++], mac_router, mac_svc_a, -1,
		       ip4("10.9.9.9"), ip4("198.51.100.7"), 64);
	pkt_udp4_frame(&ain[na++], mac_router, mac_svc_a, 101,
		       ip4("10.100.101.1"), ip4("198.51.100.7"), 64);
	pkt_init(&ain[na]);
	pkt_eth(&ain[na], mac_router, mac_svc_a);
	pkt_type(&ain[na], 0x88cc);
	pkt_pad_to(&ain[na++], 64);
	/* Service 103: kill switch. */
	pkt_udp4_frame(&kin[nk++], mac_router, mac_svc_k, -1,
		       ip4("10.100.103.1"), ip4("198.51.100.7"), 64);

#define P(buf, name) snprintf(buf, sizeof(buf), "%s/" name, tmpdir)
	P(p_tin, "trunk-in.pcap");
	P(p_tout, "trunk-out.pcap");
	P(p_ain, "a-in.pcap");
	P(p_aout, "a-out.pcap");
	P(p_kin, "k-in.pcap");
	P(p_kout, "k-out.pcap");
	P(p_empty, "empty.pcap");
	P(p_hm, "host-mark.pcap");
	P(p_hd, "host-default.pcap");
	P(log, "forward.log");
#undef P
	if (!ASSERT_OK(pcap_write(p_tin, tin, nt), "trunk pcap") ||
	    !ASSERT_OK(pcap_write(p_ain, ain, na), "svc pcap") ||
	    !ASSERT_OK(pcap_write(p_kin, kin, nk), "svc k pcap") ||
	    !ASSERT_OK(pcap_write(p_empty, NULL, 0), "empty pcap"))
		goto out;
	snprintf(a_trunk, sizeof(a_trunk),
		 "net_pcap0,rx_pcap=%s,tx_pcap=%s,ifindex=%d", p_tin, p_tout,
		 TRUNK_IFX);
	snprintf(a_svc, sizeof(a_svc),
		 "net_pcap1,rx_pcap=%s,tx_pcap=%s,ifindex=%d", p_ain, p_aout,
		 SVC_A_IFX);
	snprintf(a_k, sizeof(a_k), "net_pcap2,rx_pcap=%s,tx_pcap=%s,ifindex=%d",
		 p_kin, p_kout, SVC_K_IFX);
	snprintf(a_hm, sizeof(a_hm), "0x%x=net_pcap3,rx_pcap=%s,tx_pcap=%s",
		 MARK_A, p_empty, p_hm);
	snprintf(a_hd, sizeof(a_hd), "net_pcap4,rx_pcap=%s,tx_pcap=%s",
		 p_empty, p_hd);
	{
		const char *opts[] = { "--",	     "--shm",	  shm_path,
				       "--trunk",    a_trunk,	  "--port",
				       a_svc,	     "--port",	  a_k,
				       "--host-port", a_hm,	  "--host-port",
				       a_hd,	     NULL };

		pid = engine_spawn("0,1", log, opts);
	}
	if (!ASSERT_TRUE(pid > 0, "spawn"))
		goto out;

	/* Every frame read is counted once, dropped or not. */
	for (i = 0; i < 1500; i++) {
		sum_workers(shm, s);
		if (s->g.trunk_rx_packets == (__u64)nt &&
		    s->g.svc_rx_packets == (__u64)(na + nk) &&
		    __atomic_load_n(&shm->hdr.engine_pid, __ATOMIC_ACQUIRE))
			break;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		usleep(10000);
	}
	if (!ASSERT_TRUE(pid > 0, "engine still running") ||
	    !ASSERT_EQ(s->g.trunk_rx_packets, nt, "trunk frames seen") ||
	    !ASSERT_EQ(s->g.svc_rx_packets, na + nk, "service frames seen") ||
	    !ASSERT_EQ(shm->hdr.engine_pid, pid, "engine_pid") ||
	    !ASSERT_EQ(shm->hdr.n_workers, 1, "n_workers"))
		goto out;
	/* Settle: the last frames may still sit in a tx buffer. */
	usleep(200000);
	kill(pid, SIGTERM);
	st = engine_wait(pid, 15000);
	pid = -1;
	if (!ASSERT_EQ(st, 0, "exit status after SIGTERM") ||
	    !ASSERT_EQ(shm->hdr.engine_pid, 0, "engine_pid cleared"))
		goto out;

	/* Counters: the logic's, in the per-worker rows. */
	sum_workers(shm, s);
	if (!ASSERT_EQ(s->g.drops[VIF_DROP_UNTAGGED], 1, "untagged") ||
	    !ASSERT_EQ(s->g.drops[VIF_DROP_PRIO_TAG], 1, "prio tag") ||
	    !ASSERT_EQ(s->g.drops[VIF_DROP_VID_RESERVED], 1, "vid 4095") ||
	    !ASSERT_EQ(s->g.drops[VIF_DROP_QINQ], 1, "qinq") ||
	    !ASSERT_EQ(s->g.drops[VIF_DROP_UNKNOWN_VLAN], 1, "unknown vlan") ||
	    !ASSERT_EQ(s->g.drops[VIF_DROP_INACTIVE], 1, "inactive") ||
	    !ASSERT_EQ(s->v[102].drops[VIF_DROP_INACTIVE], 1,
		       "inactive, per vif") ||
	    !ASSERT_EQ(s->g.drops[VIF_DROP_MALFORMED], 1, "malformed") ||
	    !ASSERT_EQ(s->v[101].drops[VIF_DROP_SPOOF], 1, "spoof") ||
	    !ASSERT_EQ(s->v[101].drops[VIF_DROP_SVC_TAGGED], 1,
		       "service tagged") ||
	    !ASSERT_EQ(s->v[101].drops[VIF_DROP_PROTO], 1, "ethertype") ||
	    !ASSERT_EQ(s->v[103].drops[VIF_DROP_KILLSWITCH], 1,
		       "kill switch") ||
	    !ASSERT_EQ(s->v[101].rx_packets, T_FWD, "101 rx") ||
	    !ASSERT_EQ(s->v[101].tx_packets, S_FWD + 1, "101 tx") ||
	    !ASSERT_EQ(s->v[101].host_packets, 1, "101 host"))
		goto out;

	/* Frames: trunk -> service untagged, byte for byte. */
	n = pcap_read(p_aout, out, 16);
	if (!ASSERT_EQ(n, T_FWD, "frames out of service 101"))
		goto out;
	for (i = 0; i < T_FWD; i++) {
		struct pkt want;

		pkt_udp4_frame(&want, mac_svc_a, mac_router, -1,
			       ip4("192.0.2.1"), ip4("10.100.101.1"), 64 + i - 4);
		if (!ASSERT_EQ(out[i].len, want.len, "untagged length") ||
		    !ASSERT_MEM_EQ(out[i].data, want.data, want.len,
				   "tag popped"))
			goto out;
	}
	/* Service -> trunk tagged with 101. */
	n = pcap_read(p_tout, out, 16);
	if (!ASSERT_EQ(n, S_FWD, "frames out of the trunk"))
		goto out;
	for (i = 0; i < S_FWD; i++) {
		struct pkt want;

		pkt_udp4_frame(&want, mac_router, mac_svc_a, 101,
			       ip4("10.100.101.1"), ip4("198.51.100.7"),
			       80 + i + 4);
		if (!ASSERT_EQ(out[i].len, want.len, "tagged length") ||
		    !ASSERT_MEM_EQ(out[i].data, want.data, want.len,
				   "tag pushed"))
			goto out;
	}
	/* Host-bound: the mark's port, addressed to that port's MAC. */
	n = pcap_read(p_hm, out, 16);
	if (!ASSERT_EQ(n, 1, "host-bound frames on the mark's port") ||
	    !ASSERT_TRUE(memcmp(out[0].data, mac_port_a, 6) != 0,
			 "dst MAC rewritten to the host port's") ||
	    !ASSERT_EQ(out[0].len, ain[S_FWD].len, "host frame length") ||
	    !ASSERT_MEM_EQ(out[0].data + 6, ain[S_FWD].data + 6,
			   ain[S_FWD].len - 6, "host frame otherwise intact"))
		goto out;
	n = pcap_read(p_hd, out, 16);
	if (!ASSERT_EQ(n, 0, "nothing on the default host port"))
		goto out;
	n = pcap_read(p_kout, out, 16);
	if (!ASSERT_EQ(n, 0, "nothing to the kill-switched service"))
		goto out;
	ret = 0;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (ret)
		dump_log(log);
	vif_shm_unmap(shm);
	unlink(shm_path);
	free(tin);
	free(ain);
	free(kin);
	free(out);
	free(s);
	return ret;
}

/* ---- args -------------------------------------------------------------- */

struct bad_case {
	const char *lcores;
	const char *opts[8];
	int want_exit;
	const char *want_msg;
};

static int test_args(void)
{
	char log[128], shm_opt[160];
	int ret = 0, st;
	unsigned int i, j;
	struct bad_case cases[] = {
		{ "0,1", { "--", "--bogus" }, 2, "unknown option '--bogus'" },
		{ "0,1", { "--", "--port", "net_ring0,ifindex=abc" }, 2,
		  "ifindex must be 1.." },
		{ "0,1", { "--", "--host-port", "0x1=" }, 2,
		  "empty device arguments" },
		{ "0,1", { "--", "--port", ",ifindex=3" }, 2,
		  "does not start with a device name" },
		{ "0,1",
		  { "--", "--host-port", "net_null0", "--host-port",
		    "net_null1" },
		  2, "only one can be the default" },
		{ "0,1", { "--", "--trunk", "net_null0", "--trunk", "x" }, 2,
		  "--trunk given twice" },
		{ "0,1",
		  { "--", "--port", "net_null0,ifindex=5", "--port",
		    "net_null1,ifindex=5" },
		  2, "ifindex 5 given to both" },
		{ "0,1", { "--bogus-eal", "--" }, 2,
		  "Couldn't initialise EAL" },
		{ "0,1", { "--", "--shm", shm_opt, "--trunk", "net_nosuchpmd0" },
		  1, "Couldn't probe device 'net_nosuchpmd0'" },
		{ "0,1", { "--", "--shm", shm_opt, "--port", "net_null0" }, 1,
		  "has no kernel ifindex" },
		{ "0,1", { "--", "--shm", "/nonexistent-dir/x" }, 1,
		  "Couldn't map shared state" },
		{ "0", { "--", "--shm", shm_opt }, 1, "no worker lcore" },
	};

	if (!need_root())
		return TEST_SKIP;
	snprintf(shm_opt, sizeof(shm_opt), "/dev/shm/vifplane-test-dpdk-%d-args",
		 (int)getpid());
	snprintf(log, sizeof(log), "%s/args.log", tmpdir);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *opts[10];
		pid_t pid;

		for (j = 0; j < 8 && cases[i].opts[j]; j++)
			opts[j] = cases[i].opts[j];
		opts[j] = NULL;
		pid = engine_spawn(cases[i].lcores, log, opts);
		st = pid > 0 ? engine_wait(pid, 20000) : -1;
		if (!ASSERT_EQ(st, cases[i].want_exit, cases[i].want_msg) ||
		    !ASSERT_TRUE(file_has(log, cases[i].want_msg),
				 cases[i].want_msg)) {
			dump_log(log);
			ret = -1;
		}
	}
	unlink(shm_opt);
	return ret;
}

/* ---- hotplug ----------------------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* One UDP frame from the service end of the veth, by packet socket. */
static int send_from(const char *ifname, const struct pkt *p)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	int fd, ret = 0;

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		return -errno;
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	sll.sll_halen = 6;
	if (sendto(fd, p->data, p->len, 0, (struct sockaddr *)&sll,
		   sizeof(sll)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int wait_state(struct vif_shm_req *r, __u32 want, int ms)
{
	int i;

	for (i = 0; i < ms / 10; i++) {
		__u32 st = __atomic_load_n(&r->state, __ATOMIC_ACQUIRE);

		if (st == want)
			return 0;
		if (st == VIF_SHM_REQ_FAILED && want != st)
			return -EIO;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static int test_hotplug(void)
{
	char host[IF_NAMESIZE], svc[IF_NAMESIZE], log[128], p_empty[128],
		p_tout[128], a_trunk[512];
	struct vif_shm *shm = NULL;
	struct vif_shm_req *r;
	struct pkt *out = NULL, f;
	struct sums *s = NULL;
	struct vif_entry e;
	int ret = -1, i, n, st;
	unsigned int ifx;
	pid_t pid = -1;

	if (!need_root())
		return TEST_SKIP;
	snprintf(host, sizeof(host), "vdh%d", (int)getpid() % 100000);
	snprintf(svc, sizeof(svc), "vds%d", (int)getpid() % 100000);
	sh("ip link del %s 2>/dev/null", host);
	if (sh("ip link add %s type veth peer name %s", host, svc)) {
		printf("skip: cannot create a veth pair\n");
		return TEST_SKIP;
	}
	out = calloc(8, sizeof(*out));
	s = calloc(1, sizeof(*s));
	if (!out || !s)
		goto out;
	/* Quiet links: no IPv6 chatter to count; the tag stays in the frame. */
	sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 net.ipv6.conf.%s.disable_ipv6=1",
	   host, svc);
	sh("ethtool -K %s rxvlan off txvlan off tx off >/dev/null 2>&1; ethtool -K %s rxvlan off txvlan off tx off >/dev/null 2>&1",
	   host, svc);
	sh("ip link set %s up && ip link set %s up", host, svc);
	ifx = if_nametoindex(host);
	if (!ASSERT_TRUE(ifx > 0, "veth ifindex") ||
	    !ASSERT_OK(shm_fresh(&shm), "shm"))
		goto out;

	shm->config.trunk_ifindex = TRUNK_IFX;
	vif_fill(&e, 150, ifx, VIF_F_ACTIVE, mac_svc_a);
	put_vif(shm, &e);
	r = &shm->req[5];
	r->kind = VIF_SHM_PORT_SERVICE;
	r->ifindex = ifx;
	snprintf(r->ifname, sizeof(r->ifname), "%s", host);
	__atomic_store_n(&r->state, VIF_SHM_REQ_WANTED, __ATOMIC_RELEASE);

	snprintf(p_empty, sizeof(p_empty), "%s/empty.pcap", tmpdir);
	snprintf(p_tout, sizeof(p_tout), "%s/hp-trunk-out.pcap", tmpdir);
	snprintf(log, sizeof(log), "%s/hotplug.log", tmpdir);
	if (!ASSERT_OK(pcap_write(p_empty, NULL, 0), "empty pcap"))
		goto out;
	snprintf(a_trunk, sizeof(a_trunk),
		 "net_pcap0,rx_pcap=%s,tx_pcap=%s,ifindex=%d", p_empty, p_tout,
		 TRUNK_IFX);
	{
		const char *opts[] = { "--",	  "--shm", shm_path,
				       "--trunk", a_trunk, NULL };

		pid = engine_spawn("0,1", log, opts);
	}
	if (!ASSERT_TRUE(pid > 0, "spawn"))
		goto out;
	if (!ASSERT_OK(wait_state(r, VIF_SHM_REQ_ACTIVE, 20000),
		       "request ACTIVE"))
		goto out;
	printf("     port request ACTIVE: port %u (%s)\n", r->port_id,
	       file_has(log, "'net_af_xdp_vr5': service") ? "net_af_xdp" :
							    "net_af_packet");

	/* A frame from the service end reaches the trunk, tagged. */
	pkt_udp4_frame(&f, mac_router, mac_svc_a, -1, ip4("10.100.150.1"),
		       ip4("198.51.100.7"), 64);
	for (i = 0; i < 300; i++) {
		if (i % 50 == 0 && !ASSERT_OK(send_from(svc, &f), "send"))
			goto out;
		sum_workers(shm, s);
		if (s->v[150].tx_packets >= 1)
			break;
		usleep(10000);
	}
	if (!ASSERT_TRUE(s->v[150].tx_packets >= 1,
			 "frame from the hotplugged port forwarded"))
		goto out;

	__atomic_store_n(&r->state, VIF_SHM_REQ_REMOVE, __ATOMIC_RELEASE);
	if (!ASSERT_OK(wait_state(r, VIF_SHM_REQ_FREE, 10000),
		       "request FREE after REMOVE"))
		goto out;
	kill(pid, SIGTERM);
	st = engine_wait(pid, 15000);
	pid = -1;
	if (!ASSERT_EQ(st, 0, "exit status after SIGTERM") ||
	    !ASSERT_EQ(shm->hdr.engine_pid, 0, "engine_pid cleared"))
		goto out;
	n = pcap_read(p_tout, out, 8);
	if (!ASSERT_TRUE(n >= 1, "tagged frame on the trunk") ||
	    !ASSERT_EQ(out[0].data[12], 0x81, "802.1Q tpid") ||
	    !ASSERT_EQ(out[0].data[15], 150, "VLAN 150"))
		goto out;
	ret = 0;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (ret)
		dump_log(log);
	sh("ip link del %s 2>/dev/null", host);
	vif_shm_unmap(shm);
	unlink(shm_path);
	free(out);
	free(s);
	return ret;
}

static const struct test_case cases[] = {
	TEST_CASE(test_forward),
	TEST_CASE(test_args),
	TEST_CASE(test_hotplug),
};

int main(int argc, char **argv)
{
	struct test_case one[1];
	const struct test_case *run = cases;
	size_t n = ARRAY_SIZE(cases), i;
	int ret;

	if (argc > 1) {
		n = 0;
		for (i = 0; i < ARRAY_SIZE(cases); i++)
			if (!strcmp(cases[i].name + 5, argv[1]))
				one[n++] = cases[i];
		if (!n) {
			fprintf(stderr, "unknown case '%s'\n", argv[1]);
			return 1;
		}
		run = one;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vifdpdk-test-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = harness_run(run, n);
	sh("rm -rf '%s'", tmpdir);
	return ret;
}
