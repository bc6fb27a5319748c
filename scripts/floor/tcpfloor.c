// tcpfloor: the kernel's floor under the million-connection benchmark (scripts/floor.sh,
// docs/bench.md). It does what gows serve and gows bench make the kernel do for each
// connection, and nothing else: no runtime, no parsing, no Redis.
//
//   tcpfloor serve ADDR PORT ROUNDS
//       listens with SO_REUSEPORT (run several), accepts every connection, answers each
//       request with a 110-byte reply, and on SIGUSR1 writes one 120-byte message to every
//       connection it holds (the broadcast). SIGTERM ends it.
//   tcpfloor dial ADDR PORT SRC_FIRST NSRC CONNS RATE ROUNDS WAIT TIMES_FILE
//       opens CONNS connections at RATE per second (0: unpaced) from NSRC source addresses
//       starting at SRC_FIRST (IP_BIND_ADDRESS_NO_PORT), does ROUNDS request/reply round
//       trips on each (2 stands for the WebSocket upgrade and the login), then waits up to
//       WAIT seconds for one broadcast message per connection and writes each arrival time
//       (CLOCK_REALTIME, seconds) to TIMES_FILE. Closes with RST.
//
// Every process prints one summary line to stdout: key=value pairs the driver adds up.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { REQ = 160, REPLY = 110, MSG = 120, EVENTS = 512 };

static volatile sig_atomic_t stopping, broadcasting;

static void on_signal(int sig) {
	if (sig == SIGUSR1)
		broadcasting = 1;
	else
		stopping = 1;
}

static double wall(void) {
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static void die(const char *what) {
	perror(what);
	exit(2);
}

static struct sockaddr_in addr(const char *ip, int port) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", ip);
		exit(2);
	}
	return a;
}

static int serve(const char *ip, int port, int rounds) {
	static char buf[4096], reply[REPLY], msg[MSG];
	memset(reply, 'r', sizeof reply);
	memset(msg, 'm', sizeof msg);
	struct sockaddr_in a = addr(ip, port);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 65535) < 0)
		die("listen");
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = l}, evs[EVENTS];
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) < 0)
		die("epoll");
	struct rlimit lim;
	getrlimit(RLIMIT_NOFILE, &lim);
	int *held = calloc(lim.rlim_cur, sizeof *held), n = 0;
	long accepted = 0, refused = 0, sent = 0;
	double bcast_cpu = 0;
	while (!stopping) {
		if (broadcasting) {
			broadcasting = 0;
			double c = cpu();
			for (int i = 0; i < n; i++)
				if (held[i] >= 0 && write(held[i], msg, sizeof msg) == sizeof msg)
					sent++;
			bcast_cpu += cpu() - c;
		}
		int k = epoll_wait(ep, evs, EVENTS, -1);
		if (k < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < k; i++) {
			int fd = evs[i].data.fd;
			if (fd == l) {
				for (;;) {
					int c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
					if (c < 0) {
						if (errno == EMFILE || errno == ENFILE)
							refused++; // the connection stays in the backlog; the client times out
						break;
					}
					accepted++;
					held[n++] = c;
					struct epoll_event ce = {.events = EPOLLIN, .data.u64 = (unsigned long)(n - 1) << 32 | (unsigned)c};
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce) < 0)
						die("epoll_ctl");
				}
				continue;
			}
			int c = (int)(unsigned)evs[i].data.u64, slot = (int)(evs[i].data.u64 >> 32);
			ssize_t r = read(c, buf, sizeof buf);
			if (r > 0 && rounds > 0) {
				if (write(c, reply, sizeof reply) != sizeof reply)
					r = -1;
			}
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				close(c);
				held[slot] = -1;
			}
		}
	}
	printf("role=serve accepted=%ld refused=%ld broadcast_sent=%ld broadcast_cpu=%.3f cpu=%.3f\n", accepted,
	       refused, sent, bcast_cpu, cpu());
	return 0;
}

enum { CONNECTING = 255, UP = 0 };

static int dial(const char *ip, int port, const char *src_first, int nsrc, long conns, double rate, int rounds,
		double wait_s, const char *times_file) {
	static char buf[4096], req[REQ];
	memset(req, 'q', sizeof req);
	struct sockaddr_in dst = addr(ip, port), src = addr(src_first, 0);
	unsigned first = ntohl(src.sin_addr.s_addr);
	struct rlimit lim;
	getrlimit(RLIMIT_NOFILE, &lim);
	unsigned char *state = calloc(lim.rlim_cur, 1); // per fd: CONNECTING, round trips left, or UP
	double *arrivals = calloc(conns, sizeof *arrivals);
	int ep = epoll_create1(0);
	if (ep < 0 || !state || !arrivals)
		die("setup");
	struct epoll_event evs[EVENTS];
	long opened = 0, up = 0, failed = 0, dropped = 0, received = 0;
	double start = wall(), ramp_end = 0, deadline = 0;
	while (!stopping) {
		double t = wall();
		if (up + failed == conns && ramp_end == 0) {
			ramp_end = t;
			deadline = t + wait_s;
			fprintf(stderr, "ramp done\n");
		}
		if (ramp_end > 0 && (received == up || t > deadline))
			break;
		long due = rate > 0 ? (long)((t - start) * rate) + 1 : conns;
		for (; opened < conns && opened < due; opened++) {
			int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
			struct linger rst = {1, 0};
			src.sin_addr.s_addr = htonl(first + (unsigned)(opened % nsrc));
			if (s < 0 || setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0 ||
			    setsockopt(s, SOL_SOCKET, SO_LINGER, &rst, sizeof rst) < 0 ||
			    bind(s, (struct sockaddr *)&src, sizeof src) < 0 ||
			    (connect(s, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)) {
				failed++;
				if (s >= 0)
					close(s);
				continue;
			}
			state[s] = CONNECTING;
			struct epoll_event ev = {.events = EPOLLOUT, .data.fd = s};
			if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0)
				die("epoll_ctl");
		}
		int k = epoll_wait(ep, evs, EVENTS, 1);
		if (k < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < k; i++) {
			int s = evs[i].data.fd, ok = !(evs[i].events & (EPOLLERR | EPOLLHUP));
			if (ok && state[s] == CONNECTING) {
				struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
				epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
				state[s] = rounds;
				if (rounds > 0)
					ok = write(s, req, sizeof req) == sizeof req;
				else
					up++;
				if (ok)
					continue;
			}
			ssize_t r = ok ? read(s, buf, sizeof buf) : -1;
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0) {
				if (state[s] != UP)
					failed++;
				else
					dropped++;
				epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
				close(s);
				continue;
			}
			if (state[s] == UP) { // the broadcast
				arrivals[received++] = wall();
				continue;
			}
			if (--state[s] == UP)
				up++;
			else if (write(s, req, sizeof req) != sizeof req)
				failed++;
		}
	}
	FILE *f = fopen(times_file, "w");
	if (!f)
		die(times_file);
	for (long i = 0; i < received; i++)
		fprintf(f, "%.6f\n", arrivals[i]);
	fclose(f);
	printf("role=dial target=%ld up=%ld failed=%ld dropped=%ld start=%.6f ramp_end=%.6f received=%ld cpu=%.3f\n",
	       conns, up, failed, dropped, start, ramp_end, received, cpu());
	return 0;
}

int main(int argc, char **argv) {
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 11 && strcmp(argv[1], "dial") == 0)
		return dial(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]), atol(argv[6]), atof(argv[7]),
			    atoi(argv[8]), atof(argv[9]), argv[10]);
	fprintf(stderr, "usage: tcpfloor serve ADDR PORT ROUNDS\n"
			"       tcpfloor dial ADDR PORT SRC_FIRST NSRC CONNS RATE ROUNDS WAIT TIMES_FILE\n");
	return 2;
}
