/*
 * framewire.h: read and write framewire wires from C and C++.
 *
 * Header-only. In exactly one source file, before including it:
 *
 *     #define FRAMEWIRE_IMPLEMENTATION
 *     #include "framewire.h"
 *
 * Needs GCC or Clang (the __atomic builtins, the same sequentially
 * consistent operations the Rust side uses), POSIX shared memory and
 * semaphores: compile with -D_GNU_SOURCE (for sem_clockwait) and link with
 * -lpthread (and -lrt on old glibc).
 *
 * This is the wire protocol of src/wire/README.md written a second time, in
 * C, from the documented layout alone; tests/foreign.rs checks it against the
 * Rust implementation byte for byte in both directions.
 *
 * Writing (an exec block's output port, whose segment name is in
 * FRAMEWIRE_WIRE_<PORT>):
 *
 *     fw_wire w;
 *     if (fw_writer_attach(&w, getenv("FRAMEWIRE_WIRE_DRIVE")) != 0) { perror(w.error); ... }
 *     int slot = fw_loan(&w, 100);              // ms; -1 on timeout or error
 *     memcpy(fw_slot(&w, slot), msg, 8);        // fill the slot in place
 *     fw_meta m = {0}; m.len = 8;
 *     fw_commit(&w, slot, &m);                  // publish and wake the readers
 *     fw_writer_detach(&w);
 *
 * Reading without registering (a seqlock copy: the writer owes the reader
 * nothing, so a slow or dead reader never holds the writer up):
 *
 *     fw_open(&w, name);
 *     fw_meta m; uint64_t last = 0;
 *     long n = fw_read_latest(&w, last, buf, sizeof buf, &m);   // >= 0: a new frame of n bytes
 *
 * Not here: registered zero-copy readers (pins and cursors; use the Rust API
 * or add them following the README), and sweeping dead readers (the
 * supervisor reclaims a block's entries when the block exits). A writer holds
 * an open-file-description lock on byte 140 of the segment while attached,
 * as the Rust writer does; the kernel releases it when the process dies.
 */
#ifndef FRAMEWIRE_H
#define FRAMEWIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Layout version 2 (src/wire/layout.rs). */
#define FW_LAYOUT_VERSION 2u
#define FW_POLICY_LATEST 0u
#define FW_POLICY_QUEUE 1u

/* A frame's metadata (the slot record's fields). */
typedef struct fw_meta {
    uint64_t seq;          /* assigned at commit */
    uint64_t timestamp_ns; /* capture time, CLOCK_MONOTONIC; 0 = now */
    uint64_t commit_ns;    /* assigned at commit */
    uint64_t len;          /* valid payload bytes */
    uint32_t width, height, stride, fourcc;
    uint64_t source_seq;
    uint32_t flags;
} fw_meta;

/* An open wire. */
typedef struct fw_wire {
    uint8_t *base;
    size_t size;
    uint64_t slot_size, slot_stride, meta_off, order_off, readers_off, payload_off;
    uint32_t slots, max_readers, policy, kind;
    char type_name[32];      /* message type, "" for images/bytes */
    uint32_t msg_size;
    int writer;              /* whether this handle is the writer */
    int fd;                  /* the segment, open while mapped: the writer's lock lives on it */
    uint32_t pid;
    uint64_t start;
    const char *error;       /* what failed, for the caller's message */
} fw_wire;

/* Maps wire `name` (as in FRAMEWIRE_WIRE_<PORT>) and checks its header. 0 or -1. */
int fw_open(fw_wire *w, const char *name);
/* Unmaps it. */
void fw_close(fw_wire *w);
/* Opens `name` and becomes its writer (refused while a live writer holds it). */
int fw_writer_attach(fw_wire *w, const char *name);
/* Gives up the writer's place and closes. */
void fw_writer_detach(fw_wire *w);
/* Loans a free slot, waiting up to timeout_ms for one (queue policy); -1 if none. */
int fw_loan(fw_wire *w, int timeout_ms);
/* The bytes of slot `slot` (slot_size of them). */
uint8_t *fw_slot(fw_wire *w, int slot);
/* Publishes loaned `slot` with `m` (seq and commit time are filled in); returns the seq, 0 on error. */
uint64_t fw_commit(fw_wire *w, int slot, fw_meta *m);
/* Returns loaned `slot` unpublished. */
void fw_abandon(fw_wire *w, int slot);
/* Copies the newest frame if newer than `newer_than`: its length (>= 0), -1 if none, -2 if `cap` is too small. */
long fw_read_latest(fw_wire *w, uint64_t newer_than, void *buf, size_t cap, fw_meta *m);
/* CLOCK_MONOTONIC in nanoseconds (the clock frames are stamped with). */
uint64_t fw_now_ns(void);

#ifdef __cplusplus
}
#endif

#ifdef FRAMEWIRE_IMPLEMENTATION

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Linux's open-file-description locks (3.15+); glibc names them only under
   _GNU_SOURCE, which the including file may not define early enough. */
#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#endif

/* Header offsets. */
#define FW_H_MAGIC 0
#define FW_H_VERSION 8
#define FW_H_STATE 12
#define FW_H_SLOT_SIZE 16
#define FW_H_SLOT_COUNT 24
#define FW_H_MAX_READERS 28
#define FW_H_POLICY 32
#define FW_H_KIND 36
#define FW_H_SLOT_STRIDE 40
#define FW_H_META_OFFSET 48
#define FW_H_READERS_OFFSET 56
#define FW_H_PAYLOAD_OFFSET 64
#define FW_H_TOTAL_SIZE 72
#define FW_H_ORDER_OFFSET 104
#define FW_H_COMMITTED 128
#define FW_H_WRITER_WAITING 136
#define FW_H_WRITER_PID 140
/* The byte whose open-file-description lock the attached writer holds. */
#define FW_WRITER_LOCK FW_H_WRITER_PID
#define FW_H_WRITER_START 144
#define FW_H_FRAMES_WRITTEN 152
#define FW_H_LAST_COMMIT_NS 160
#define FW_H_WRITER_TIMEOUTS 168
#define FW_H_WRITER_ATTACHES 176
#define FW_H_WRITER_PIDNS 184
#define FW_H_SPACE_SEM 192
#define FW_H_TYPE_NAME 320
#define FW_H_MSG_SIZE 352
/* Slot record (64 bytes). */
#define FW_M_SEQ 0
#define FW_M_TIMESTAMP 8
#define FW_M_COMMIT 16
#define FW_M_LEN 24
#define FW_M_WIDTH 32
#define FW_M_HEIGHT 36
#define FW_M_STRIDE 40
#define FW_M_FOURCC 44
#define FW_M_SOURCE_SEQ 48
#define FW_M_FLAGS 56
#define FW_META_SIZE 64
/* Reader entry (128 bytes). */
#define FW_R_STATE 0
#define FW_R_CURSOR 16
#define FW_R_HELD 24
#define FW_R_WAITING 28
#define FW_R_SEM 64
#define FW_READER_SIZE 128
#define FW_R_ACTIVE 2u
#define FW_LOANED UINT64_MAX

#define FW_U64(w, off) ((uint64_t *)((w)->base + (off)))
#define FW_U32(w, off) ((uint32_t *)((w)->base + (off)))
#define FW_SC __ATOMIC_SEQ_CST

static uint64_t fw_ld64(uint64_t *p) { return __atomic_load_n(p, FW_SC); }
static uint32_t fw_ld32(uint32_t *p) { return __atomic_load_n(p, FW_SC); }
static void fw_st64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, FW_SC); }
static void fw_st32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, FW_SC); }

static uint64_t fw_meta_at(fw_wire *w, uint32_t slot) { return w->meta_off + (uint64_t)slot * FW_META_SIZE; }
static uint64_t fw_reader_at(fw_wire *w, uint32_t r) { return w->readers_off + (uint64_t)r * FW_READER_SIZE; }

uint64_t fw_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Field 22 of /proc/<pid>/stat: with the pid, an identity that survives pid reuse. */
static uint64_t fw_start_time(uint32_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    p++;
    /* After ')' come field 3 (state) and on; the start time is field 22. */
    for (int field = 3; field < 22 && *p; field++) {
        while (*p == ' ') p++;
        while (*p && *p != ' ') p++;
    }
    unsigned long long v = 0;
    sscanf(p, " %llu", &v);
    return v;
}

/* A write lock on one byte of the segment, owned by the open file description
   (not the process): the kernel drops it when the description's last
   descriptor closes, which happens when the process dies however it dies.
   So "the lock can be taken" means "whoever held it is gone", across PID
   namespaces and pid reuse (src/wire/README.md, "Who is alive"). 1 taken,
   0 held by another description, -1 error. */
static int fw_lock_byte(int fd, short type, uint64_t off) {
    struct flock fl;
    memset(&fl, 0, sizeof fl); /* l_pid must be 0 for OFD locks */
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)off;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return 1;
    return (errno == EAGAIN || errno == EACCES) ? 0 : -1;
}

/* The inode of /proc/self/ns/pid: which PID namespace our pid is in. */
static uint64_t fw_pid_ns(void) {
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

int fw_open(fw_wire *w, const char *name) {
    memset(w, 0, sizeof *w);
    w->fd = -1;
    if (!name) { w->error = "no wire name (is FRAMEWIRE_WIRE_<PORT> set?)"; return -1; }
    char path[300];
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) { w->error = "shm_open"; return -1; }
    struct stat st;
    /* Never trust a segment another user owns. */
    if (fstat(fd, &st) != 0 || st.st_uid != getuid() || st.st_size < 384) {
        close(fd);
        w->error = "not a wire of this user";
        errno = EPERM;
        return -1;
    }
    w->size = (size_t)st.st_size;
    w->base = (uint8_t *)mmap(NULL, w->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (w->base == MAP_FAILED) { close(fd); w->base = NULL; w->fd = -1; w->error = "mmap"; return -1; }
    w->fd = fd;
    /* The creator marks the header ready (release) once it is complete. */
    for (int i = 0; fw_ld32(FW_U32(w, FW_H_STATE)) != 1; i++) {
        if (i > 2000) { fw_close(w); w->error = "wire still initialising"; errno = EAGAIN; return -1; }
        usleep(1000);
    }
    if (memcmp(w->base, "FRAMEWIR", 8) != 0 || *FW_U32(w, FW_H_VERSION) != FW_LAYOUT_VERSION) {
        fw_close(w);
        w->error = "not a framewire wire of layout version 2";
        errno = EINVAL;
        return -1;
    }
    w->slot_size = *FW_U64(w, FW_H_SLOT_SIZE);
    w->slots = *FW_U32(w, FW_H_SLOT_COUNT);
    w->max_readers = *FW_U32(w, FW_H_MAX_READERS);
    w->policy = *FW_U32(w, FW_H_POLICY);
    w->kind = *FW_U32(w, FW_H_KIND);
    w->slot_stride = *FW_U64(w, FW_H_SLOT_STRIDE);
    w->meta_off = *FW_U64(w, FW_H_META_OFFSET);
    w->readers_off = *FW_U64(w, FW_H_READERS_OFFSET);
    w->payload_off = *FW_U64(w, FW_H_PAYLOAD_OFFSET);
    w->order_off = *FW_U64(w, FW_H_ORDER_OFFSET);
    memcpy(w->type_name, w->base + FW_H_TYPE_NAME, 31);
    w->type_name[31] = 0;
    w->msg_size = *FW_U32(w, FW_H_MSG_SIZE);
    if (*FW_U64(w, FW_H_TOTAL_SIZE) > w->size || w->slots == 0 ||
        w->payload_off + w->slot_stride * w->slots > w->size) {
        fw_close(w);
        w->error = "inconsistent layout";
        errno = EINVAL;
        return -1;
    }
    return 0;
}

void fw_close(fw_wire *w) {
    if (w->base) munmap(w->base, w->size);
    w->base = NULL;
    /* Closing the descriptor also releases a writer's lock. */
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
}

int fw_writer_attach(fw_wire *w, const char *name) {
    if (fw_open(w, name) != 0) return -1;
    /* The writer's place is the lock on byte WRITER_PID: if we can take it,
       any previous writer is gone (its lock went with it). */
    int got = fw_lock_byte(w->fd, F_WRLCK, FW_WRITER_LOCK);
    if (got != 1) {
        int e = got == 0 ? EBUSY : errno;
        fw_close(w);
        w->error = got == 0 ? "another writer is attached" : "fcntl(F_OFD_SETLK)";
        errno = e;
        return -1;
    }
    uint32_t me = (uint32_t)getpid();
    uint64_t start = fw_start_time(me);
    /* Identity for `framewire status` only; written whole before the pid
       that announces it (release, like the Rust writer). */
    __atomic_store_n(FW_U64(w, FW_H_WRITER_START), start, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U64(w, FW_H_WRITER_PIDNS), fw_pid_ns(), __ATOMIC_RELAXED);
    __atomic_store_n(FW_U32(w, FW_H_WRITER_PID), me, __ATOMIC_RELEASE);
    __atomic_fetch_add(FW_U64(w, FW_H_WRITER_ATTACHES), 1, __ATOMIC_RELAXED);
    /* A predecessor's unpublished slots become empty. */
    uint64_t committed = fw_ld64(FW_U64(w, FW_H_COMMITTED));
    for (uint32_t i = 0; i < w->slots; i++) {
        uint64_t s = fw_ld64(FW_U64(w, fw_meta_at(w, i) + FW_M_SEQ));
        if (s == FW_LOANED || s > committed) fw_st64(FW_U64(w, fw_meta_at(w, i) + FW_M_SEQ), 0);
    }
    w->writer = 1;
    w->pid = me;
    w->start = start;
    return 0;
}

void fw_writer_detach(fw_wire *w) {
    if (w->base && w->writer) {
        __atomic_store_n(FW_U32(w, FW_H_WRITER_PID), 0, __ATOMIC_RELAXED);
        fw_lock_byte(w->fd, F_UNLCK, FW_WRITER_LOCK);
        w->writer = 0;
    }
    fw_close(w);
}

static int fw_pinned(fw_wire *w, uint32_t slot) {
    for (uint32_t r = 0; r < w->max_readers; r++)
        if (fw_ld32(FW_U32(w, fw_reader_at(w, r) + FW_R_HELD)) == slot) return 1;
    return 0;
}

static uint64_t fw_min_cursor(fw_wire *w) {
    uint64_t min = UINT64_MAX;
    for (uint32_t r = 0; r < w->max_readers; r++) {
        uint64_t e = fw_reader_at(w, r);
        if (fw_ld32(FW_U32(w, e + FW_R_STATE)) == FW_R_ACTIVE) {
            uint64_t c = fw_ld64(FW_U64(w, e + FW_R_CURSOR));
            if (c < min) min = c;
        }
    }
    return min;
}

/* One attempt: the free slot holding the oldest frame, or -1. */
static int fw_try_claim(fw_wire *w) {
    uint64_t committed = fw_ld64(FW_U64(w, FW_H_COMMITTED));
    uint64_t min_cursor = w->policy == FW_POLICY_QUEUE ? fw_min_cursor(w) : UINT64_MAX;
    int best = -1;
    uint64_t best_seq = UINT64_MAX;
    for (uint32_t i = 0; i < w->slots; i++) {
        uint64_t s = fw_ld64(FW_U64(w, fw_meta_at(w, i) + FW_M_SEQ));
        int busy = s == FW_LOANED || (w->policy == FW_POLICY_LATEST && s != 0 && s == committed) ||
                   (s != 0 && s >= min_cursor);
        if (!busy && !fw_pinned(w, i) && s < best_seq) { best = (int)i; best_seq = s; }
    }
    if (best < 0) return -1;
    uint64_t *seq = FW_U64(w, fw_meta_at(w, (uint32_t)best) + FW_M_SEQ);
    uint64_t expect = best_seq;
    if (!__atomic_compare_exchange_n(seq, &expect, FW_LOANED, 0, FW_SC, FW_SC)) return -1;
    /* Dekker with the reader's pin-then-check: look at the pins again. */
    if (fw_pinned(w, (uint32_t)best)) { fw_st64(seq, best_seq); return -1; }
    return best;
}

int fw_loan(fw_wire *w, int timeout_ms) {
    if (!w->writer) { w->error = "not the writer"; errno = EPERM; return -1; }
    uint64_t deadline = fw_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;
    for (;;) {
        int s = fw_try_claim(w);
        if (s >= 0) return s;
        fw_st32(FW_U32(w, FW_H_WRITER_WAITING), 1);
        s = fw_try_claim(w);
        if (s >= 0) { fw_st32(FW_U32(w, FW_H_WRITER_WAITING), 0); return s; }
        uint64_t now = fw_now_ns();
        if (now >= deadline) {
            fw_st32(FW_U32(w, FW_H_WRITER_WAITING), 0);
            __atomic_fetch_add(FW_U64(w, FW_H_WRITER_TIMEOUTS), 1, __ATOMIC_RELAXED);
            w->error = "no free slot (the slowest reader is a whole ring behind)";
            errno = ETIMEDOUT;
            return -1;
        }
        /* Readers post SPACE_SEM when they free a slot and see us waiting.
           Sleep at most 50 ms at a time, so a reader that died is noticed. */
        uint64_t until = deadline < now + 50000000ull ? deadline : now + 50000000ull;
        struct timespec ts = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
        sem_clockwait((sem_t *)(w->base + FW_H_SPACE_SEM), CLOCK_MONOTONIC, &ts);
    }
}

uint8_t *fw_slot(fw_wire *w, int slot) { return w->base + w->payload_off + (uint64_t)slot * w->slot_stride; }

uint64_t fw_commit(fw_wire *w, int slot, fw_meta *m) {
    if (!w->writer || slot < 0 || (uint32_t)slot >= w->slots || m->len > w->slot_size) {
        w->error = "bad commit (not the writer, bad slot, or len larger than the slot)";
        errno = EINVAL;
        return 0;
    }
    uint64_t mo = fw_meta_at(w, (uint32_t)slot);
    uint64_t seq = fw_ld64(FW_U64(w, FW_H_COMMITTED)) + 1;
    uint64_t now = fw_now_ns();
    m->seq = seq;
    m->commit_ns = now;
    if (m->timestamp_ns == 0) m->timestamp_ns = now;
    __atomic_store_n(FW_U64(w, mo + FW_M_TIMESTAMP), m->timestamp_ns, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U64(w, mo + FW_M_COMMIT), now, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U64(w, mo + FW_M_LEN), m->len, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U32(w, mo + FW_M_WIDTH), m->width, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U32(w, mo + FW_M_HEIGHT), m->height, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U32(w, mo + FW_M_STRIDE), m->stride, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U32(w, mo + FW_M_FOURCC), m->fourcc, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U64(w, mo + FW_M_SOURCE_SEQ), m->source_seq, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U32(w, mo + FW_M_FLAGS), m->flags, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U32(w, w->order_off + 4 * (seq % w->slots)), (uint32_t)slot, __ATOMIC_RELAXED);
    /* Release: the payload and metadata above happen-before a reader's read. */
    __atomic_store_n(FW_U64(w, mo + FW_M_SEQ), seq, __ATOMIC_RELEASE);
    fw_st64(FW_U64(w, FW_H_COMMITTED), seq);
    __atomic_fetch_add(FW_U64(w, FW_H_FRAMES_WRITTEN), 1, __ATOMIC_RELAXED);
    __atomic_store_n(FW_U64(w, FW_H_LAST_COMMIT_NS), now, __ATOMIC_RELAXED);
    /* Wake each sleeping reader: it set WAITING, looked once more, then slept. */
    for (uint32_t r = 0; r < w->max_readers; r++) {
        uint32_t *waiting = FW_U32(w, fw_reader_at(w, r) + FW_R_WAITING);
        if (fw_ld32(waiting) == 1 && __atomic_exchange_n(waiting, 0, FW_SC) == 1)
            sem_post((sem_t *)(w->base + fw_reader_at(w, r) + FW_R_SEM));
    }
    return seq;
}

void fw_abandon(fw_wire *w, int slot) {
    if (w->writer && slot >= 0 && (uint32_t)slot < w->slots)
        __atomic_store_n(FW_U64(w, fw_meta_at(w, (uint32_t)slot) + FW_M_SEQ), 0, __ATOMIC_RELEASE);
}

long fw_read_latest(fw_wire *w, uint64_t newer_than, void *buf, size_t cap, fw_meta *m) {
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t s = fw_ld64(FW_U64(w, FW_H_COMMITTED));
        if (s == 0 || s <= newer_than) return -1;
        uint32_t slot = fw_ld32(FW_U32(w, w->order_off + 4 * (s % w->slots)));
        if (slot >= w->slots) return -1;
        uint64_t mo = fw_meta_at(w, slot);
        if (fw_ld64(FW_U64(w, mo + FW_M_SEQ)) != s) continue;
        m->seq = s;
        m->timestamp_ns = __atomic_load_n(FW_U64(w, mo + FW_M_TIMESTAMP), __ATOMIC_RELAXED);
        m->commit_ns = __atomic_load_n(FW_U64(w, mo + FW_M_COMMIT), __ATOMIC_RELAXED);
        m->len = __atomic_load_n(FW_U64(w, mo + FW_M_LEN), __ATOMIC_RELAXED);
        m->width = __atomic_load_n(FW_U32(w, mo + FW_M_WIDTH), __ATOMIC_RELAXED);
        m->height = __atomic_load_n(FW_U32(w, mo + FW_M_HEIGHT), __ATOMIC_RELAXED);
        m->stride = __atomic_load_n(FW_U32(w, mo + FW_M_STRIDE), __ATOMIC_RELAXED);
        m->fourcc = __atomic_load_n(FW_U32(w, mo + FW_M_FOURCC), __ATOMIC_RELAXED);
        m->source_seq = __atomic_load_n(FW_U64(w, mo + FW_M_SOURCE_SEQ), __ATOMIC_RELAXED);
        m->flags = __atomic_load_n(FW_U32(w, mo + FW_M_FLAGS), __ATOMIC_RELAXED);
        uint64_t len = m->len < w->slot_size ? m->len : w->slot_size;
        if (len > cap) return -2;
        memcpy(buf, fw_slot(w, (int)slot), len);
        /* Whole only if the slot still holds the same frame (a seqlock read). */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (fw_ld64(FW_U64(w, mo + FW_M_SEQ)) == s) return (long)len;
    }
    return -1;
}

#endif /* FRAMEWIRE_IMPLEMENTATION */
#endif /* FRAMEWIRE_H */
