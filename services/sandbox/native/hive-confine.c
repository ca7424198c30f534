/*
 * hive-confine: the launcher between the sandbox and every governed process.
 *
 *   hive-confine --parent PID [--ruleset FD]... [--drop-caps] [--status-fd FD] -- PATH ARGV0 [ARGS...]
 *
 * The sandbox (Python) builds the Landlock rulesets -- that is where the policy
 * lives and is tested -- and passes their file descriptors here. This program
 * only does what must happen between fork and exec, which Python cannot do
 * without giving up vfork (a preexec_fn costs ~6 ms per spawn):
 *
 *  - it dies with the sandbox (PR_SET_PDEATHSIG) and, being a child subreaper,
 *    sees every descendant of the governed process, even those that
 *    double-forked or called setsid(); when the governed process exits, when
 *    the sandbox dies, or when it is told to (SIGUSR1), it SIGKILLs all of them;
 *  - it forks the governed process into a session of its own, which
 *    gets PR_SET_PDEATHSIG too, drops every capability when the sandbox runs as
 *    root (--drop-caps), sets no_new_privs and enters the Landlock domains
 *    (one per --ruleset, stacked) before exec. The launcher itself stays
 *    outside those domains: with Landlock's signal scoping the governed tree
 *    cannot signal or ptrace the one process that guarantees its cleanup.
 *
 * Signals from the sandbox: SIGTERM/SIGINT/SIGHUP are forwarded to every
 * descendant; SIGUSR1 means "kill the whole tree now" (the sandbox never needs
 * to SIGKILL this process, which would orphan the tree). The launcher exits
 * with the governed process's status: its exit code, or the same signal.
 * Errors before exec are reported on stderr with the prefix "hive-confine:" and
 * exit code 126 (setup failed) or 127 (exec failed). With --status-fd the
 * launcher also writes one line there once the program is running ("ok") or
 * could not start ("error: <what>: <strerror>"), so the sandbox can tell "failed to
 * start" from a program that exits 127 itself.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#define SECBIT_NOROOT (1 << 0)
#define SECBIT_NOROOT_LOCKED (1 << 1)
#define SECBIT_NO_SETUID_FIXUP (1 << 2)
#define SECBIT_NO_SETUID_FIXUP_LOCKED (1 << 3)
#define SECBIT_KEEP_CAPS_LOCKED (1 << 5)
#define SECBIT_NO_CAP_AMBIENT_RAISE (1 << 6)
#define SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)

#define MAX_RULESETS 8
#define MAX_RLIMITS 8
#define MAX_PIDS 65536

static pid_t child;        /* the governed process */
static int child_status;   /* its wait status, once reaped */
static int child_done;

/* Reap every exited descendant; remember the governed process's status. */
static void reap(void) {
    pid_t done;
    int st;
    while ((done = waitpid(-1, &st, WNOHANG)) > 0) {
        if (done == child) {
            child_status = st;
            child_done = 1;
        }
    }
}

static int report_fd = -1; /* in the child: CLOEXEC pipe to the launcher (EOF = exec'd) */

static void die(int code, const char *what) {
    int err = errno;
    dprintf(2, "hive-confine: %s: %s\n", what, strerror(err));
    if (report_fd >= 0) dprintf(report_fd, "%s: %s", what, strerror(err));
    _exit(code);
}

static void drop_capabilities(void) {
    /* Root without capabilities: cannot ptrace or read the memory of
     * non-dumpable services, override file permissions, or regain privileges
     * through setuid binaries (securebits locked). */
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) die(126, "PR_CAPBSET_DROP");
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
               SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
               SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) die(126, "PR_SET_SECUREBITS");
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) != 0) die(126, "capset");
}

/* Every descendant of `root`, read from /proc/<pid>/task/<tid>/children. Being a child
 * subreaper, the launcher is an ancestor of everything the governed process started,
 * double-forked daemons included, so a walk down from it finds them all without
 * scanning /proc (a whole-/proc scan cost milliseconds per command). */
static int descendants(pid_t root, pid_t *out, int max) {
    int found = 0, next = 0;
    pid_t current = root;
    for (;;) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task", (int)current);
        DIR *tasks = opendir(path);
        if (tasks) {
            struct dirent *t;
            while ((t = readdir(tasks)) != NULL) {
                if (t->d_name[0] == '.') continue;
                char children[320];
                snprintf(children, sizeof children, "/proc/%d/task/%s/children", (int)current, t->d_name);
                FILE *f = fopen(children, "re");
                if (!f) continue;
                int pid;
                while (fscanf(f, "%d", &pid) == 1 && found < max) out[found++] = (pid_t)pid;
                fclose(f);
            }
            closedir(tasks);
        }
        if (next >= found) return found;
        current = out[next++];
    }
}

static void signal_tree(int sig) {
    static pid_t found[MAX_PIDS];
    int n = descendants(getpid(), found, MAX_PIDS);
    for (int i = 0; i < n; i++) kill(found[i], sig);
}

/* SIGKILL everything below us until nothing is left (a dying tree may still
 * fork for an instant), reaping as we go. */
static void kill_tree(void) {
    for (int round = 0; round < 50; round++) {
        static pid_t found[MAX_PIDS];
        int n = descendants(getpid(), found, MAX_PIDS);
        if (n == 0) return;
        for (int i = 0; i < n; i++) kill(found[i], SIGKILL);
        reap();
        usleep(1000);
    }
}

static void exit_like(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        kill(getpid(), sig);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 126);
}

int main(int argc, char **argv) {
    pid_t parent = 0;
    int rulesets[MAX_RULESETS], nrulesets = 0, drop_caps = 0, status_fd = -1, i;
    int rl_which[MAX_RLIMITS], nrl = 0;
    struct rlimit rl_value[MAX_RLIMITS];
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--parent") == 0 && i + 1 < argc) {
            parent = (pid_t)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ruleset") == 0 && i + 1 < argc && nrulesets < MAX_RULESETS) {
            rulesets[nrulesets++] = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--rlimit") == 0 && i + 1 < argc && nrl < MAX_RLIMITS) {
            /* RESOURCE:SOFT:HARD, numbers (resource ids as in <sys/resource.h>). */
            unsigned long long soft, hard;
            if (sscanf(argv[++i], "%d:%llu:%llu", &rl_which[nrl], &soft, &hard) != 3) {
                dprintf(2, "hive-confine: bad --rlimit %s\n", argv[i]);
                return 126;
            }
            rl_value[nrl].rlim_cur = soft;
            rl_value[nrl].rlim_max = hard;
            nrl++;
        } else if (strcmp(argv[i], "--status-fd") == 0 && i + 1 < argc) {
            status_fd = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--drop-caps") == 0) {
            drop_caps = 1;
        } else {
            dprintf(2, "hive-confine: unknown argument %s\n", argv[i]);
            return 126;
        }
    }
    if (argc - i < 2) {
        dprintf(2, "usage: hive-confine --parent PID [--ruleset FD]... [--drop-caps] -- PATH ARGV0 [ARGS...]\n");
        return 126;
    }
    const char *path = argv[i];
    char **target_argv = &argv[i + 1];

    /* Signals are taken synchronously (sigwaitinfo) so nothing interrupts the
     * /proc walk; blocked before the death signal is armed so none is lost. */
    sigset_t handled;
    sigemptyset(&handled);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) sigaddset(&handled, sigs[k]);
    sigprocmask(SIG_BLOCK, &handled, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) die(126, "PR_SET_PDEATHSIG");
    if (parent && getppid() != parent) _exit(126); /* the sandbox is already gone */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die(126, "PR_SET_CHILD_SUBREAPER");

    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) die(126, "pipe2");
    child = fork();
    if (child < 0) die(126, "fork");
    if (child == 0) {
        close(report[0]);
        report_fd = report[1];
        if (status_fd >= 0) close(status_fd);
        pid_t launcher = getppid();
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die(126, "PR_SET_PDEATHSIG");
        if (getppid() != launcher) _exit(126);
        setsid(); /* its own session and group, as an unconfined governed process has */
        for (int r = 0; r < nrl; r++) {
            if (setrlimit(rl_which[r], &rl_value[r]) != 0) die(126, "setrlimit");
        }
        if (drop_caps) drop_capabilities();
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(126, "PR_SET_NO_NEW_PRIVS");
        for (int r = 0; r < nrulesets; r++) {
            if (syscall(SYS_landlock_restrict_self, rulesets[r], 0) != 0) die(126, "landlock_restrict_self");
            close(rulesets[r]);
        }
        sigprocmask(SIG_UNBLOCK, &handled, NULL);
        execv(path, target_argv);
        die(127, path);
    }
    for (int r = 0; r < nrulesets; r++) close(rulesets[r]);
    close(report[1]);
    {
        /* EOF: the child exec'd (the pipe is close-on-exec); text: why it did not. */
        char why[512];
        ssize_t n, got = 0;
        while ((n = read(report[0], why + got, sizeof why - 1 - got)) > 0 || (n < 0 && errno == EINTR)) {
            if (n > 0) got += n;
        }
        close(report[0]);
        why[got] = 0;
        if (status_fd >= 0) {
            if (got) dprintf(status_fd, "error: %s\n", why);
            else dprintf(status_fd, "ok\n");
            close(status_fd);
        }
    }

    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&handled, &info);
        if (sig < 0) continue;
        if (sig == SIGUSR1 || (sig != SIGCHLD && parent && getppid() != parent)) {
            /* Told to, or the sandbox died (the death signal): kill it all. */
            kill_tree();
            if (sig != SIGUSR1) _exit(137);
        } else if (sig != SIGCHLD) {
            signal_tree(sig);
        }
        reap();
        if (child_done) {
            /* The governed process is gone: nothing it started may outlive it. */
            kill_tree();
            exit_like(child_status);
        }
    }
}
