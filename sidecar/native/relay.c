// The native pass-through data path (issue 15, goal 1): a thread with its own epoll loop that
// relays the bytes of pass-through sessions between the client's and the backend's sockets, with
// no crossing into JavaScript per message. Built by scripts/build-native.sh into
// build/native/clarus-relay.node; loaded by sidecar/src/io/native-relay.ts.
//
// It handles only the happy path of a pass-through session, exactly as session/relay.ts does it:
// client messages framed and their tag checked against a table the JavaScript side gives (one
// source of truth: protocol/tags.ts), each whole message forwarded, at most one write per read;
// backend bytes forwarded chunk by chunk after a scan for message boundaries (ReadyForQuery's
// status, ErrorResponse and whether it is FATAL). Statement counts and durations go to typed arrays
// the JavaScript side reads at scrape time.
//
// A client message longer than its buffer is forwarded in pieces as it arrives, once its header
// is checked. Everything else stops the session and hands it back to JavaScript, with the bytes
// not yet handled: a client message it does not forward (Terminate, a tag outside the table, a
// length under 4 or over the limit), a backend chunk whose framing is invalid (handed back whole, unscanned), the end
// of either socket or an error on it, the idle timeout, and a statement boundary the JavaScript
// side asked for (configuration reload, drain). JavaScript then goes on from the same state with
// its own relay, which produces every error and every close as it always does.
//
// Threading: one relay thread per process; a mutex guards the session table. JavaScript calls
// (attach, detach, boundary) take it briefly; the thread holds it while it handles one epoll batch.
// Sessions are named by slot and generation, so an event for a detached session is ignored.
#define _GNU_SOURCE
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// Tag classes of client messages (the table JavaScript gives at init).
enum { C_REFUSE = 0, C_QUERY = 1, C_FUNCTION = 2, C_SYNC = 3, C_IN_BATCH = 4, C_BATCH = 5 };
// Statement kinds and outcomes: indexes into the metric arrays (metrics.ts KINDS, OUTCOMES).
enum { K_SIMPLE = 0, K_EXTENDED = 1, K_FUNCTION = 2 };
enum { O_OK = 0, O_ERROR = 1 };
// Why a session stopped.
enum { R_NONE = 0, R_CLIENT_MESSAGE, R_BACKEND_MESSAGE, R_CLIENT_CLOSED, R_BACKEND_CLOSED, R_BOUNDARY, R_IDLE, R_FAILED };
enum { S_RUNNING = 0, S_STOPPED = 1 };

#define TAG_READY 'Z'
#define TAG_ERROR 'E'
#define MAX_EVENTS 128
#define MAX_FATAL_PREFIX 16
#define MAX_BUCKETS 32
#define SLOT_BITS 20

typedef struct {
  uint32_t gen;
  int state;
  int reason;
  int cfd, bfd;
  uint32_t cap;
  // Client input: [0, cw) written to the backend, [cw, cf) whole messages not yet written,
  // [cf, cl) the start of a message not yet complete (or, once stopped, the message handed back).
  uint8_t *cin;
  uint32_t cw, cf, cl;
  // Bytes still to come of a client message longer than the buffer, forwarded as they arrive
  // (its header was checked like any other).
  uint32_t c_left;
  // Backend input: [bw, bl) read and not yet written to the client.
  uint8_t *bin;
  uint32_t bw, bl;
  // Backend scanner: body bytes of the current message still to skip, the gathered header.
  uint32_t remaining;
  uint8_t head[5 + MAX_FATAL_PREFIX];
  uint32_t head_len;
  // Statement state (session/relay.ts): answers owed, an open extended batch, the last status.
  uint32_t outstanding;
  int batch_open;
  uint8_t tx;
  int saw_error;
  int backend_fatal;
  int at_idle;
  // Statements started and not yet answered, oldest first: kind and start time (a ring).
  uint8_t *kinds;
  int64_t *starts;
  uint32_t q_head, q_len, q_cap;
  int want_boundary;
  int64_t idle_ns;
  int64_t last_activity;
  uint32_t max_message;
  uint32_t ev_c, ev_b;
  // The proxy's statistics (a Float64Array the session's metrics own, laid out as STAT_*).
  double *stats;
} session_t;

// Layout of the statistics array, given by init (metrics.ts NativeStats.LAYOUT, its one source):
// counts[kind*3+outcome], sums[kind], totals[kind], bytes client→proxy and backend→proxy,
// buckets[kind*nbounds+i].
enum { L_COUNTS, L_SUMS, L_TOTALS, L_BYTES, L_BUCKETS, L_N };
#define STAT_COUNTS (G.layout[L_COUNTS])
#define STAT_SUMS (G.layout[L_SUMS])
#define STAT_TOTALS (G.layout[L_TOTALS])
#define STAT_BYTES (G.layout[L_BYTES])
#define STAT_BUCKETS (G.layout[L_BUCKETS])

static struct {
  int ready;
  pthread_mutex_t lock;
  pthread_t thread;
  int ep, wake;
  session_t **slots;
  uint32_t nslots, used;
  // Attached sessions with an idle timeout: the loop wakes once a second to check them while any.
  uint32_t timed;
  uint32_t next_gen;
  napi_threadsafe_function tsfn;
  uint8_t classes[256];
  uint8_t fatal[MAX_FATAL_PREFIX];
  uint32_t fatal_len;
  double bounds[MAX_BUCKETS];
  uint32_t nbounds;
  uint32_t layout[L_N];
  int64_t last_idle_check;
} G = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

// ---- statement accounting -------------------------------------------------------------------

static int queue_push(session_t *s, uint8_t kind) {
  if (s->q_len == s->q_cap) {
    uint32_t cap = s->q_cap ? s->q_cap * 2 : 16;
    uint8_t *k = malloc(cap);
    int64_t *t = malloc(cap * sizeof(int64_t));
    if (!k || !t) { free(k); free(t); return -1; }
    for (uint32_t i = 0; i < s->q_len; i++) {
      k[i] = s->kinds[(s->q_head + i) % s->q_cap];
      t[i] = s->starts[(s->q_head + i) % s->q_cap];
    }
    free(s->kinds); free(s->starts);
    s->kinds = k; s->starts = t; s->q_cap = cap; s->q_head = 0;
  }
  uint32_t at = (s->q_head + s->q_len) % s->q_cap;
  s->kinds[at] = kind;
  s->starts[at] = now_ns();
  s->q_len++;
  return 0;
}

static void statement_end(session_t *s, int outcome) {
  if (s->q_len == 0) return;
  uint8_t kind = s->kinds[s->q_head];
  double secs = (double)(now_ns() - s->starts[s->q_head]) / 1e9;
  s->q_head = (s->q_head + 1) % s->q_cap;
  s->q_len--;
  double *st = s->stats;
  st[STAT_COUNTS + kind * 3 + outcome] += 1;
  st[STAT_SUMS + kind] += secs;
  st[STAT_TOTALS + kind] += 1;
  for (uint32_t i = 0; i < G.nbounds; i++) {
    if (secs <= G.bounds[i]) { st[STAT_BUCKETS + kind * G.nbounds + i] += 1; break; }
  }
}

// session/relay.ts track(): a client message forwarded to the backend.
static int track(session_t *s, uint8_t cls) {
  switch (cls) {
    case C_QUERY: s->outstanding++; return queue_push(s, K_SIMPLE);
    case C_FUNCTION: s->outstanding++; return queue_push(s, K_FUNCTION);
    case C_SYNC: {
      int r = s->batch_open ? 0 : queue_push(s, K_EXTENDED);
      s->batch_open = 0;
      s->outstanding++;
      return r;
    }
    case C_IN_BATCH: return 0;
    default:
      if (s->batch_open) return 0;
      s->batch_open = 1;
      return queue_push(s, K_EXTENDED);
  }
}

// session/relay.ts observeBackend(): ReadyForQuery ends the oldest statement.
static void ready(session_t *s, uint8_t status) {
  s->tx = status;
  statement_end(s, s->saw_error ? O_ERROR : O_OK);
  s->saw_error = 0;
  if (s->outstanding > 0) s->outstanding--;
  if (s->outstanding == 0) s->at_idle = 1;
}

// ---- backend scanner (session/scan.ts) ------------------------------------------------------

typedef struct { uint32_t remaining; uint8_t head[5 + MAX_FATAL_PREFIX]; uint32_t head_len; } scan_t;

// Walks one chunk; `apply` makes it visit (else it only checks). 0, or -1 on an invalid length.
static int scan(session_t *s, scan_t *st, const uint8_t *p, uint32_t n, int apply) {
  uint32_t pos = 0;
  while (pos < n) {
    if (st->remaining > 0) {
      uint32_t skip = st->remaining < n - pos ? st->remaining : n - pos;
      pos += skip;
      st->remaining -= skip;
      continue;
    }
    while (st->head_len < 5 && pos < n) st->head[st->head_len++] = p[pos++];
    if (st->head_len < 5) break;
    uint8_t tag = st->head[0];
    int32_t len = (int32_t)be32(st->head + 1);
    if (len < 4) return -1;
    uint32_t body = (uint32_t)len - 4;
    uint32_t want = tag == TAG_READY ? 1 : tag == TAG_ERROR ? G.fatal_len : 0;
    if (want > body) want = body;
    while (st->head_len < 5 + want && pos < n) st->head[st->head_len++] = p[pos++];
    if (st->head_len < 5 + want) break;
    if (apply && want > 0) {
      if (tag == TAG_READY) ready(s, st->head[5]);
      else {
        s->saw_error = 1;
        if (want == G.fatal_len && memcmp(st->head + 5, G.fatal, G.fatal_len) == 0) s->backend_fatal = 1;
      }
    }
    st->remaining = body - want;
    st->head_len = 0;
  }
  return 0;
}

// ---- the relay ------------------------------------------------------------------------------

static void notify(uint32_t slot, session_t *s) {
  uint64_t id = (uint64_t)s->gen << SLOT_BITS | slot;
  napi_call_threadsafe_function(G.tsfn, (void *)(uintptr_t)id, napi_tsfn_nonblocking);
}

static void unwatch(session_t *s) {
  epoll_ctl(G.ep, EPOLL_CTL_DEL, s->cfd, NULL);
  epoll_ctl(G.ep, EPOLL_CTL_DEL, s->bfd, NULL);
}

static void stop(uint32_t slot, session_t *s, int reason) {
  if (s->state != S_RUNNING) return;
  unwatch(s);
  s->state = S_STOPPED;
  s->reason = reason;
  notify(slot, s);
}

static void watch(uint32_t slot, session_t *s, int fd, int side, uint32_t want, uint32_t *have) {
  if (want == *have) return;
  struct epoll_event ev = { .events = want, .data.u64 = (uint64_t)s->gen << 32 | (uint64_t)slot << 1 | (uint64_t)side };
  epoll_ctl(G.ep, EPOLL_CTL_MOD, fd, &ev);
  *have = want;
}

// Epoll interest from what is pending: a side with bytes to write is watched for room, and the
// side feeding it is not read until they are written (backpressure both ways).
static void rearm(uint32_t slot, session_t *s) {
  int to_backend = s->cf > s->cw, to_client = s->bl > s->bw;
  watch(slot, s, s->cfd, 0, (to_backend ? 0 : EPOLLIN) | (to_client ? EPOLLOUT : 0), &s->ev_c);
  watch(slot, s, s->bfd, 1, (to_client ? 0 : EPOLLIN) | (to_backend ? EPOLLOUT : 0), &s->ev_b);
}

// Writes [from, to) of `buf` to `fd`; advances *from. 0 when all or EAGAIN, -1 on another error.
static int put(int fd, const uint8_t *buf, uint32_t *from, uint32_t to) {
  while (*from < to) {
    ssize_t w = send(fd, buf + *from, to - *from, MSG_NOSIGNAL);
    if (w > 0) { *from += (uint32_t)w; continue; }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return -1;
  }
  return 0;
}

static int boundary_check(uint32_t slot, session_t *s) {
  if (!s->want_boundary || !s->at_idle || s->outstanding > 0 || s->batch_open || s->c_left > 0) return 0;
  if (s->bl > s->bw || s->cf > s->cw || s->remaining > 0 || s->head_len > 0) return 0;
  stop(slot, s, R_BOUNDARY);
  return 1;
}

static void flush_client_side(uint32_t slot, session_t *s) {
  // Whole client messages → backend.
  if (s->cf > s->cw && put(s->bfd, s->cin, &s->cw, s->cf) < 0) { stop(slot, s, R_BACKEND_CLOSED); return; }
  if (s->cw == s->cf && s->cw > 0) {
    memmove(s->cin, s->cin + s->cf, s->cl - s->cf);
    s->cl -= s->cf;
    s->cw = s->cf = 0;
  }
}

static void flush_backend_side(uint32_t slot, session_t *s) {
  if (s->bl > s->bw) {
    if (put(s->cfd, s->bin, &s->bw, s->bl) < 0) { stop(slot, s, R_CLIENT_CLOSED); return; }
    s->last_activity = now_ns();
  }
  if (s->bw == s->bl) s->bw = s->bl = 0;
}

// A statement starting after a boundary the JavaScript side waits for: it applies its reload (or
// drain) first, as session/relay.ts boundaryBefore() does.
static int waits_for_boundary(const session_t *s, uint8_t cls) {
  return s->want_boundary && s->outstanding == 0 && !s->batch_open && cls != C_IN_BATCH && cls != C_SYNC;
}

static void read_client(uint32_t slot, session_t *s) {
  // Full with no whole message (cannot happen: a longer message is handed back when framed).
  if (s->cl == s->cap) { stop(slot, s, R_CLIENT_MESSAGE); return; }
  ssize_t r;
  do r = read(s->cfd, s->cin + s->cl, s->cap - s->cl); while (r < 0 && errno == EINTR);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (r <= 0) { stop(slot, s, R_CLIENT_CLOSED); return; }
  s->cl += (uint32_t)r;
  s->stats[STAT_BYTES] += (double)r;
  s->last_activity = now_ns();
  // The rest of a long message goes on as it comes.
  if (s->c_left > 0) {
    uint32_t take = s->c_left < s->cl - s->cf ? s->c_left : s->cl - s->cf;
    s->cf += take;
    s->c_left -= take;
  }
  // Frame whole messages after cf; stop at one it does not forward.
  int refuse = 0;
  while (s->c_left == 0 && s->cl - s->cf >= 5) {
    const uint8_t *m = s->cin + s->cf;
    uint8_t cls = G.classes[m[0]];
    int32_t len = (int32_t)be32(m + 1);
    if (cls == C_REFUSE || len < 4 || (uint64_t)len + 1 > s->max_message) { refuse = 1; break; }
    if ((uint64_t)len + 1 > s->cap) {
      // Longer than the buffer: its header is checked; it is forwarded in pieces as it comes.
      if (waits_for_boundary(s, cls)) { refuse = 2; break; }
      if (track(s, cls) < 0) { stop(slot, s, R_FAILED); return; }
      s->c_left = (uint32_t)len + 1 - (s->cl - s->cf);
      s->cf = s->cl;
      s->at_idle = 0;
      break;
    }
    if (s->cl - s->cf < (uint32_t)len + 1) break;
    if (waits_for_boundary(s, cls)) { refuse = 2; break; }
    if (track(s, cls) < 0) { stop(slot, s, R_FAILED); return; }
    s->cf += (uint32_t)len + 1;
    s->at_idle = 0;
  }
  flush_client_side(slot, s);
  if (s->state != S_RUNNING) return;
  if (refuse) stop(slot, s, refuse == 2 ? R_BOUNDARY : R_CLIENT_MESSAGE);
}

static void read_backend(uint32_t slot, session_t *s) {
  ssize_t r;
  do r = read(s->bfd, s->bin, s->cap); while (r < 0 && errno == EINTR);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (r <= 0) { stop(slot, s, R_BACKEND_CLOSED); return; }
  s->stats[STAT_BYTES + 1] += (double)r;
  scan_t st = { .remaining = s->remaining, .head_len = s->head_len };
  memcpy(st.head, s->head, sizeof st.head);
  if (scan(s, &st, s->bin, (uint32_t)r, 0) < 0) {
    // Handed back whole and unscanned: JavaScript's scanner finds the same error.
    s->bw = 0; s->bl = (uint32_t)r;
    stop(slot, s, R_BACKEND_MESSAGE);
    return;
  }
  st.remaining = s->remaining; st.head_len = s->head_len;
  memcpy(st.head, s->head, sizeof st.head);
  scan(s, &st, s->bin, (uint32_t)r, 1);
  s->remaining = st.remaining; s->head_len = st.head_len;
  memcpy(s->head, st.head, sizeof st.head);
  s->bw = 0; s->bl = (uint32_t)r;
  flush_backend_side(slot, s);
}

static void handle(uint32_t slot, session_t *s, int side, uint32_t events) {
  // The peer reset or closed both ways: JavaScript's socket finds out for itself (and writes what
  // was pending); stopping here also keeps a level-triggered hang-up from spinning the thread.
  if (events & (EPOLLERR | EPOLLHUP)) { stop(slot, s, side == 0 ? R_CLIENT_CLOSED : R_BACKEND_CLOSED); return; }
  if (events & EPOLLOUT) {
    if (side == 0) flush_backend_side(slot, s); else flush_client_side(slot, s);
    if (s->state != S_RUNNING) return;
  }
  if (events & EPOLLIN) {
    if (side == 0 && s->cf == s->cw) read_client(slot, s);
    else if (side == 1 && s->bl == s->bw) read_backend(slot, s);
    if (s->state != S_RUNNING) return;
  }
  if (boundary_check(slot, s)) return;
  rearm(slot, s);
}

static void idle_check(int64_t now) {
  for (uint32_t i = 0; i < G.nslots; i++) {
    session_t *s = G.slots[i];
    if (!s || s->state != S_RUNNING || s->idle_ns <= 0) continue;
    if (s->outstanding > 0 || s->batch_open || s->bl > s->bw || s->cf > s->cw) continue;
    if (now - s->last_activity >= s->idle_ns) stop(i, s, R_IDLE);
  }
}

static void *relay_main(void *arg) {
  (void)arg;
  struct epoll_event evs[MAX_EVENTS];
  int timeout = -1;
  for (;;) {
    int n = epoll_wait(G.ep, evs, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR) break;
    pthread_mutex_lock(&G.lock);
    for (int i = 0; i < n; i++) {
      uint64_t d = evs[i].data.u64;
      if (d == UINT64_MAX) { uint64_t v; ssize_t r = read(G.wake, &v, sizeof v); (void)r; continue; }
      uint32_t slot = (uint32_t)(d >> 1) & ((1u << 31) - 1), gen = (uint32_t)(d >> 32);
      if (slot >= G.nslots) continue;
      session_t *s = G.slots[slot];
      if (!s || s->gen != gen || s->state != S_RUNNING) continue;
      handle(slot, s, (int)(d & 1), evs[i].events);
    }
    int64_t now = now_ns();
    if (now - G.last_idle_check >= 1000000000LL) { G.last_idle_check = now; idle_check(now); }
    timeout = G.timed > 0 ? 1000 : -1;
    pthread_mutex_unlock(&G.lock);
  }
  return NULL;
}

// ---- Node-API -------------------------------------------------------------------------------

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "clarus-relay: " #call " failed"); return NULL; } } while (0)

static napi_value throw_range(napi_env env, const char *msg) { napi_throw_range_error(env, NULL, msg); return NULL; }

static void call_js(napi_env env, napi_value cb, void *ctx, void *data) {
  (void)ctx;
  if (!env || !cb) return;
  uint64_t id = (uint64_t)(uintptr_t)data;
  napi_value undefined, arg;
  napi_get_undefined(env, &undefined);
  napi_create_double(env, (double)id, &arg);
  napi_call_function(env, undefined, cb, 1, &arg, NULL);
}

static napi_value get_prop(napi_env env, napi_value obj, const char *name) {
  napi_value v = NULL;
  napi_get_named_property(env, obj, name, &v);
  return v;
}

// init({ classes: Uint8Array(256), fatal: Uint8Array, bounds: Float64Array }, onStop(id)).
// Once per process; a later call (another copy of the JavaScript module in the same process, as
// test runners make) takes the new tables, and stops keep going to the first onStop.
static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return throw_range(env, "init(options, onStop)");
  void *classes; size_t clen; napi_typedarray_type type; napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, get_prop(env, argv[0], "classes"), &type, &clen, &classes, &ab, &off) != napi_ok || type != napi_uint8_array || clen != 256)
    return throw_range(env, "classes must be a Uint8Array of 256");
  void *fatal; size_t flen;
  if (napi_get_typedarray_info(env, get_prop(env, argv[0], "fatal"), &type, &flen, &fatal, &ab, &off) != napi_ok || type != napi_uint8_array || flen == 0 || flen > MAX_FATAL_PREFIX)
    return throw_range(env, "fatal must be a Uint8Array of 1 to 16");
  size_t nb; void *bd;
  if (napi_get_typedarray_info(env, get_prop(env, argv[0], "bounds"), &type, &nb, &bd, &ab, &off) != napi_ok || type != napi_float64_array || nb == 0 || nb > MAX_BUCKETS)
    return throw_range(env, "bounds must be a Float64Array of 1 to 32");
  size_t nl; void *ld;
  if (napi_get_typedarray_info(env, get_prop(env, argv[0], "layout"), &type, &nl, &ld, &ab, &off) != napi_ok || type != napi_uint32_array || nl != L_N)
    return throw_range(env, "layout must be a Uint32Array of 5");
  const uint32_t *lay = ld;
  // Each region after the one before, the fixed ones wide enough for 3 kinds (and 3 outcomes, 2 directions).
  if (lay[L_SUMS] < lay[L_COUNTS] + 9 || lay[L_TOTALS] < lay[L_SUMS] + 3 || lay[L_BYTES] < lay[L_TOTALS] + 3 || lay[L_BUCKETS] < lay[L_BYTES] + 2)
    return throw_range(env, "layout regions overlap");
  napi_valuetype cbt;
  if (napi_typeof(env, argv[1], &cbt) != napi_ok || cbt != napi_function) return throw_range(env, "onStop must be a function");
  pthread_mutex_lock(&G.lock);
  memcpy(G.classes, classes, 256);
  memcpy(G.fatal, fatal, flen);
  G.fatal_len = (uint32_t)flen;
  memcpy(G.bounds, bd, nb * sizeof(double));
  G.nbounds = (uint32_t)nb;
  memcpy(G.layout, lay, sizeof G.layout);
  int ready = G.ready;
  pthread_mutex_unlock(&G.lock);
  if (ready) return NULL;
  napi_value name;
  CHECK(napi_create_string_utf8(env, "clarus-relay", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &G.tsfn));
  CHECK(napi_unref_threadsafe_function(env, G.tsfn));
  G.ep = epoll_create1(EPOLL_CLOEXEC);
  G.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (G.ep < 0 || G.wake < 0) return throw_range(env, "epoll or eventfd failed");
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
  epoll_ctl(G.ep, EPOLL_CTL_ADD, G.wake, &ev);
  G.next_gen = 1;
  G.last_idle_check = now_ns();
  if (pthread_create(&G.thread, NULL, relay_main, NULL) != 0) return throw_range(env, "cannot start the relay thread");
  pthread_detach(G.thread);
  pthread_mutex_lock(&G.lock);
  G.ready = 1;
  pthread_mutex_unlock(&G.lock);
  return NULL;
}

static int get_u32(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  napi_value v = get_prop(env, obj, name);
  return v && napi_get_value_uint32(env, v, out) == napi_ok ? 0 : -1;
}

static void free_session(session_t *s) {
  free(s->cin); free(s->bin); free(s->kinds); free(s->starts); free(s);
}

// attach(clientFd, backendFd, { maxMessageBytes, bufferBytes, idleMs, txStatus }, stats) → id.
// `stats` (STAT_* layout) must stay alive while the session is attached: the caller keeps it.
static napi_value js_attach(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t cfd, bfd;
  uint32_t maxm, cap, idle_ms, tx;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &cfd) != napi_ok || napi_get_value_int32(env, argv[1], &bfd) != napi_ok || cfd < 0 || bfd < 0 || cfd == bfd)
    return throw_range(env, "attach(clientFd, backendFd, options)");
  if (get_u32(env, argv[2], "maxMessageBytes", &maxm) || get_u32(env, argv[2], "bufferBytes", &cap) || get_u32(env, argv[2], "idleMs", &idle_ms) || get_u32(env, argv[2], "txStatus", &tx))
    return throw_range(env, "options: maxMessageBytes, bufferBytes, idleMs, txStatus");
  if (cap < 64 || cap > (1u << 24)) return throw_range(env, "bufferBytes out of range");
  napi_typedarray_type type; size_t slen; void *stats; napi_value ab; size_t off;
  if (argc < 4 || napi_get_typedarray_info(env, argv[3], &type, &slen, &stats, &ab, &off) != napi_ok || type != napi_float64_array || slen < STAT_BUCKETS + 3 * (size_t)G.nbounds)
    return throw_range(env, "stats must be a Float64Array of the statistics layout");
  session_t *s = calloc(1, sizeof *s);
  if (!s) return throw_range(env, "out of memory");
  s->cin = malloc(cap); s->bin = malloc(cap);
  if (!s->cin || !s->bin) { free_session(s); return throw_range(env, "out of memory"); }
  s->stats = stats;
  s->cfd = cfd; s->bfd = bfd; s->cap = cap; s->max_message = maxm; s->tx = (uint8_t)tx;
  s->idle_ns = (int64_t)idle_ms * 1000000; s->last_activity = now_ns();
  pthread_mutex_lock(&G.lock);
  if (!G.ready) { pthread_mutex_unlock(&G.lock); free_session(s); return throw_range(env, "not initialised"); }
  uint32_t slot = 0;
  while (slot < G.nslots && G.slots[slot]) slot++;
  if (slot == G.nslots) {
    uint32_t n = G.nslots ? G.nslots * 2 : 64;
    session_t **grown = n < (1u << SLOT_BITS) ? realloc(G.slots, n * sizeof *grown) : NULL;
    if (!grown) { pthread_mutex_unlock(&G.lock); free_session(s); return throw_range(env, "too many sessions"); }
    memset(grown + G.nslots, 0, (n - G.nslots) * sizeof *grown);
    G.slots = grown; G.nslots = n;
  }
  s->gen = G.next_gen++;
  if (G.next_gen >= (1u << 31)) G.next_gen = 1;
  struct epoll_event ec = { .events = EPOLLIN, .data.u64 = (uint64_t)s->gen << 32 | (uint64_t)slot << 1 };
  struct epoll_event eb = { .events = EPOLLIN, .data.u64 = (uint64_t)s->gen << 32 | (uint64_t)slot << 1 | 1 };
  if (epoll_ctl(G.ep, EPOLL_CTL_ADD, cfd, &ec) < 0) { pthread_mutex_unlock(&G.lock); free_session(s); return throw_range(env, "epoll_ctl failed for the client socket"); }
  if (epoll_ctl(G.ep, EPOLL_CTL_ADD, bfd, &eb) < 0) { epoll_ctl(G.ep, EPOLL_CTL_DEL, cfd, NULL); pthread_mutex_unlock(&G.lock); free_session(s); return throw_range(env, "epoll_ctl failed for the backend socket"); }
  s->ev_c = s->ev_b = EPOLLIN;
  G.slots[slot] = s;
  G.used++;
  if (s->idle_ns > 0) G.timed++;
  uint64_t one = 1;
  ssize_t w = write(G.wake, &one, sizeof one); (void)w;
  pthread_mutex_unlock(&G.lock);
  napi_value id;
  CHECK(napi_create_double(env, (double)((uint64_t)s->gen << SLOT_BITS | slot), &id));
  return id;
}

static session_t *session_of(napi_env env, napi_value v, uint32_t *slot_out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d < 0) return NULL;
  uint64_t id = (uint64_t)d;
  uint32_t slot = (uint32_t)(id & ((1u << SLOT_BITS) - 1)), gen = (uint32_t)(id >> SLOT_BITS);
  if (slot >= G.nslots) return NULL;
  session_t *s = G.slots[slot];
  if (!s || s->gen != gen) return NULL;
  *slot_out = slot;
  return s;
}

// The session named by the call's one argument (NULL when none is), with the lock taken; *bad
// when the call has no argument (then the lock is not taken).
static session_t *locked_session(napi_env env, napi_callback_info info, uint32_t *slot, int *bad) {
  size_t argc = 1;
  napi_value id;
  *bad = napi_get_cb_info(env, info, &argc, &id, NULL, NULL) != napi_ok || argc < 1;
  if (*bad) return NULL;
  pthread_mutex_lock(&G.lock);
  return session_of(env, id, slot);
}

static napi_value set_buffer(napi_env env, napi_value obj, const char *name, const uint8_t *p, size_t n) {
  napi_value b;
  void *data;
  if (napi_create_buffer_copy(env, n, n ? p : (const uint8_t *)"", &data, &b) != napi_ok) return NULL;
  napi_set_named_property(env, obj, name, b);
  return b;
}

static void set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, name, n);
}

// detach(id) → the session's state, or null when it is not attached. Its sockets are no longer
// watched once this returns; the bytes it held come back to be handled by JavaScript.
static napi_value js_detach(napi_env env, napi_callback_info info) {
  napi_value result;
  uint32_t slot;
  int bad;
  session_t *s = locked_session(env, info, &slot, &bad);
  if (bad) return throw_range(env, "detach(id)");
  if (!s) { pthread_mutex_unlock(&G.lock); napi_get_null(env, &result); return result; }
  if (s->state == S_RUNNING) unwatch(s);
  G.slots[slot] = NULL;
  G.used--;
  if (s->idle_ns > 0) G.timed--;
  pthread_mutex_unlock(&G.lock);
  // The session is ours alone now.
  napi_create_object(env, &result);
  static const char *reasons[] = { "detached", "client-message", "backend-message", "client-closed", "backend-closed", "boundary", "idle", "failed" };
  napi_value r;
  napi_create_string_utf8(env, reasons[s->state == S_RUNNING ? R_NONE : s->reason], NAPI_AUTO_LENGTH, &r);
  napi_set_named_property(env, result, "reason", r);
  set_buffer(env, result, "toBackend", s->cin + s->cw, s->cf - s->cw);
  set_buffer(env, result, "clientRest", s->cin + s->cf, s->cl - s->cf);
  // A backend chunk with invalid framing was not scanned nor sent: it comes back as received.
  int unscanned = s->state == S_STOPPED && s->reason == R_BACKEND_MESSAGE;
  set_buffer(env, result, "toClient", s->bin + s->bw, unscanned ? 0 : s->bl - s->bw);
  set_buffer(env, result, "backendRest", s->bin + s->bw, unscanned ? s->bl - s->bw : 0);
  set_buffer(env, result, "scannerHead", s->head, s->head_len);
  set_num(env, result, "scannerRemaining", s->remaining);
  set_num(env, result, "clientLeft", s->c_left);
  set_num(env, result, "outstanding", s->outstanding);
  set_num(env, result, "batchOpen", s->batch_open);
  set_num(env, result, "txStatus", s->tx);
  set_num(env, result, "sawError", s->saw_error);
  set_num(env, result, "backendFatal", s->backend_fatal);
  // Statements in flight: kinds and seconds since each started.
  napi_value kinds, ages;
  napi_create_array_with_length(env, s->q_len, &kinds);
  napi_create_array_with_length(env, s->q_len, &ages);
  int64_t now = now_ns();
  for (uint32_t i = 0; i < s->q_len; i++) {
    uint32_t at = (s->q_head + i) % s->q_cap;
    napi_value k, a;
    napi_create_uint32(env, s->kinds[at], &k);
    napi_create_double(env, (double)(now - s->starts[at]) / 1e9, &a);
    napi_set_element(env, kinds, i, k);
    napi_set_element(env, ages, i, a);
  }
  napi_set_named_property(env, result, "inflightKinds", kinds);
  napi_set_named_property(env, result, "inflightSeconds", ages);
  free_session(s);
  return result;
}

// boundary(id): stop at the next statement boundary (reload, drain). True when the session is at
// one now and has stopped (its stop is reported like the others).
static napi_value js_boundary(napi_env env, napi_callback_info info) {
  napi_value result;
  uint32_t slot;
  int bad;
  session_t *s = locked_session(env, info, &slot, &bad);
  if (bad) return throw_range(env, "boundary(id)");
  int now = 0;
  if (s && s->state == S_RUNNING) {
    s->want_boundary = 1;
    // Between statements with nothing in flight (the common idle case): at a boundary now.
    if (s->outstanding == 0 && !s->batch_open) {
      s->at_idle = 1;
      now = boundary_check(slot, s);
    }
  }
  pthread_mutex_unlock(&G.lock);
  napi_get_boolean(env, now, &result);
  return result;
}

// sessions() → how many are attached (tests, metrics).
static napi_value js_sessions(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&G.lock);
  uint32_t n = G.used;
  pthread_mutex_unlock(&G.lock);
  napi_value v;
  napi_create_uint32(env, n, &v);
  return v;
}

// Gives the C heap's free pages back to the system (glibc malloc_trim): after a large release, such
// as the in-proxy engine's worker thread exiting, glibc keeps them otherwise. true when it gave some.
static napi_value js_trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
#ifdef __GLIBC__
  napi_get_boolean(env, malloc_trim(0) == 1, &v);
#else
  napi_get_boolean(env, false, &v);
#endif
  return v;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL },
    { "attach", NULL, js_attach, NULL, NULL, NULL, napi_default, NULL },
    { "detach", NULL, js_detach, NULL, NULL, NULL, napi_default, NULL },
    { "boundary", NULL, js_boundary, NULL, NULL, NULL, napi_default, NULL },
    { "sessions", NULL, js_sessions, NULL, NULL, NULL, napi_default, NULL },
    { "trim", NULL, js_trim, NULL, NULL, NULL, napi_default, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
