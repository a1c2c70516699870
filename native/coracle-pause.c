/*
 * coracle-pause: the infra process of a pod with a pod-wide pid namespace. It is pid 1
 * there: it holds the namespace while containers come and go, reaps the orphans they leave,
 * and exits on SIGTERM or SIGINT. Built static: its root holds nothing else.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig)
{
	(void)sig;
	_exit(0);
}

static void reap(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(void)
{
	struct sigaction term = { .sa_handler = quit }, chld = { .sa_handler = reap, .sa_flags = SA_NOCLDSTOP };

	if (getpid() != 1)
		return 1;
	sigaction(SIGTERM, &term, NULL);
	sigaction(SIGINT, &term, NULL);
	sigaction(SIGCHLD, &chld, NULL);
	for (;;)
		pause();
}
