// clarus-aes: AES with the processor's AES instructions (AES-NI) and GHASH with its carry-less
// multiplication (PCLMULQDQ), for the proxy's ciphers (sidecar/src/protection/encryption).
// Why native: node:crypto's Cipheriv.update() costs about 1.2 µs per call whatever the size (a new
// output buffer per call), and a row of two encrypted columns needs three or four calls; here a
// whole AES-GCM or AES-SIV value costs one call of a few hundred nanoseconds. The TypeScript
// implementations of the same modes (gcm.ts, siv.ts over cmac.ts) remain, are what runs wherever
// this module is absent (native-aes.ts), and are the tests' reference together with OpenSSL and
// the RFC vectors.
//
// AES-NI and PCLMULQDQ run in constant time (no table lookups), tags are compared in constant
// time, and a value whose tag does not authenticate leaves no plaintext in the output. Keys live
// in buffers the caller owns (expand()), so this module keeps no state and is safe in every
// thread and worker.
//
// Exports: supported (boolean: the processor has AES-NI, PCLMULQDQ and SSSE3), expand(key,
// roundKeys), gcmSeal, gcmOpen, sivSeal, sivOpen (see their comments).
#define NAPI_VERSION 8
#define _DEFAULT_SOURCE  // explicit_bzero (glibc 2.25+)
#include <node_api.h>
#include <cpuid.h>
#include <stdint.h>
#include <string.h>
#include <emmintrin.h>
#include <tmmintrin.h>
#include <wmmintrin.h>

#define BLOCK 16

// Key schedules, keystream and plaintext blocks copied to the stack are wiped before returning
// (explicit_bzero: a memset of a dead local may be optimised away).
#define WIPE(x) explicit_bzero(&(x), sizeof(x))
// 15 round keys of 16 bytes (AES-256), then one byte: the number of rounds.
#define ROUND_KEY_BYTES 256
#define ROUNDS_AT 240

static int has_aesni(void) {
  unsigned int a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  return (c & bit_AES) != 0 && (c & bit_PCLMUL) != 0 && (c & bit_SSSE3) != 0 && (d & bit_SSE2) != 0;
}

// ---- key expansion (FIPS-197, with AESKEYGENASSIST) ----

static __m128i expand_step128(__m128i key, __m128i assist) {
  assist = _mm_shuffle_epi32(assist, 0xff);
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  return _mm_xor_si128(key, assist);
}

static void expand128(const uint8_t *key, __m128i *rk) {
  rk[0] = _mm_loadu_si128((const __m128i *)key);
#define STEP128(i, rcon) rk[i] = expand_step128(rk[i - 1], _mm_aeskeygenassist_si128(rk[i - 1], rcon))
  STEP128(1, 0x01); STEP128(2, 0x02); STEP128(3, 0x04); STEP128(4, 0x08); STEP128(5, 0x10);
  STEP128(6, 0x20); STEP128(7, 0x40); STEP128(8, 0x80); STEP128(9, 0x1b); STEP128(10, 0x36);
#undef STEP128
}

// The even round keys of AES-256: like AES-128's step, from the key two rounds back.
static __m128i expand_even256(__m128i prev2, __m128i assist) {
  return expand_step128(prev2, assist);
}

// The odd round keys of AES-256: SubWord without rotation or round constant (word 2 of the assist).
static __m128i expand_odd256(__m128i prev2, __m128i prev1) {
  __m128i assist = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(prev1, 0x00), 0xaa);
  prev2 = _mm_xor_si128(prev2, _mm_slli_si128(prev2, 4));
  prev2 = _mm_xor_si128(prev2, _mm_slli_si128(prev2, 4));
  prev2 = _mm_xor_si128(prev2, _mm_slli_si128(prev2, 4));
  return _mm_xor_si128(prev2, assist);
}

static void expand256(const uint8_t *key, __m128i *rk) {
  rk[0] = _mm_loadu_si128((const __m128i *)key);
  rk[1] = _mm_loadu_si128((const __m128i *)(key + BLOCK));
#define STEP256(i, rcon)                                                              \
  rk[i] = expand_even256(rk[i - 2], _mm_aeskeygenassist_si128(rk[i - 1], rcon));     \
  if ((i) + 1 <= 14) rk[(i) + 1] = expand_odd256(rk[i - 1], rk[i])
  STEP256(2, 0x01); STEP256(4, 0x02); STEP256(6, 0x04); STEP256(8, 0x08);
  STEP256(10, 0x10); STEP256(12, 0x20); STEP256(14, 0x40);
#undef STEP256
}

// ---- the block function ----

static inline __m128i encrypt_block(const __m128i *rk, int rounds, __m128i m) {
  m = _mm_xor_si128(m, rk[0]);
  for (int r = 1; r < rounds; r++) m = _mm_aesenc_si128(m, rk[r]);
  return _mm_aesenclast_si128(m, rk[rounds]);
}

// ---- GHASH (NIST SP 800-38D) with carry-less multiplication ----
// The field elements are kept byte-reversed (the usual form for PCLMULQDQ): gf_mul multiplies
// two such values in GF(2^128) modulo x^128 + x^7 + x^2 + x + 1 in GCM's bit order (Gueron and
// Kounavis, "Intel Carry-Less Multiplication Instruction and its Usage for Computing the GCM
// Mode", the shifted-product reduction).

static inline __m128i bswap128(__m128i x) {
  return _mm_shuffle_epi8(x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

static __m128i gf_mul(__m128i a, __m128i b) {
  __m128i lo = _mm_clmulepi64_si128(a, b, 0x00);
  __m128i mid = _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x10), _mm_clmulepi64_si128(a, b, 0x01));
  __m128i hi = _mm_clmulepi64_si128(a, b, 0x11);
  lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
  hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
  // The 256-bit product hi:lo shifted left by one bit (GCM's reflected bit order).
  __m128i lo_carry = _mm_srli_epi32(lo, 31);
  __m128i hi_carry = _mm_srli_epi32(hi, 31);
  lo = _mm_slli_epi32(lo, 1);
  hi = _mm_slli_epi32(hi, 1);
  __m128i cross = _mm_srli_si128(lo_carry, 12);
  hi_carry = _mm_slli_si128(hi_carry, 4);
  lo_carry = _mm_slli_si128(lo_carry, 4);
  lo = _mm_or_si128(lo, lo_carry);
  hi = _mm_or_si128(hi, hi_carry);
  hi = _mm_or_si128(hi, cross);
  // Reduction of the low half.
  __m128i r = _mm_xor_si128(_mm_xor_si128(_mm_slli_epi32(lo, 31), _mm_slli_epi32(lo, 30)), _mm_slli_epi32(lo, 25));
  __m128i r_hi = _mm_srli_si128(r, 4);
  r = _mm_slli_si128(r, 12);
  lo = _mm_xor_si128(lo, r);
  __m128i t = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi32(lo, 1), _mm_srli_epi32(lo, 2)), _mm_srli_epi32(lo, 7));
  t = _mm_xor_si128(t, r_hi);
  lo = _mm_xor_si128(lo, t);
  return _mm_xor_si128(hi, lo);
}

// y <- (y ^ block)·H over n bytes of data, the last partial block padded with zeros; y and h byte-reversed.
static __m128i ghash_bytes(__m128i y, __m128i h, const uint8_t *data, size_t n) {
  size_t i = 0;
  for (; i + BLOCK <= n; i += BLOCK) y = gf_mul(_mm_xor_si128(y, bswap128(_mm_loadu_si128((const __m128i *)(data + i)))), h);
  if (i < n) {
    uint8_t last[BLOCK] = { 0 };
    memcpy(last, data + i, n - i);
    y = gf_mul(_mm_xor_si128(y, bswap128(_mm_loadu_si128((const __m128i *)last))), h);
    WIPE(last);
  }
  return y;
}

static void store_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)(v & 0xff); v >>= 8; }
}

// The GCM tag of (aad, ct) under nonce: GHASH(H, A, C) XOR E(J0).
static __m128i gcm_tag(const __m128i *rk, int rounds, __m128i h, const uint8_t *nonce, const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t n) {
  __m128i y = _mm_setzero_si128();
  y = ghash_bytes(y, h, aad, aad_len);
  y = ghash_bytes(y, h, ct, n);
  uint8_t lengths[BLOCK];
  store_be64(lengths, (uint64_t)aad_len * 8);
  store_be64(lengths + 8, (uint64_t)n * 8);
  y = gf_mul(_mm_xor_si128(y, bswap128(_mm_loadu_si128((const __m128i *)lengths))), h);
  uint8_t j0[BLOCK] = { 0 };
  memcpy(j0, nonce, 12);
  j0[15] = 1;
  return _mm_xor_si128(bswap128(y), encrypt_block(rk, rounds, _mm_loadu_si128((const __m128i *)j0)));
}

// out = in XOR the GCM keystream of nonce (counter blocks nonce || 2, 3, … as 32-bit big-endian).
static void gcm_ctr(const __m128i *rk, int rounds, const uint8_t *nonce, const uint8_t *in, uint8_t *out, size_t n) {
  uint8_t counter[BLOCK];
  memcpy(counter, nonce, 12);
  uint32_t c = 2;
  for (size_t i = 0; i < n; i += BLOCK, c++) {
    counter[12] = (uint8_t)(c >> 24); counter[13] = (uint8_t)(c >> 16); counter[14] = (uint8_t)(c >> 8); counter[15] = (uint8_t)c;
    uint8_t ks[BLOCK];
    _mm_storeu_si128((__m128i *)ks, encrypt_block(rk, rounds, _mm_loadu_si128((const __m128i *)counter)));
    size_t len = n - i < BLOCK ? n - i : BLOCK;
    for (size_t j = 0; j < len; j++) out[i + j] = in[i + j] ^ ks[j];
    WIPE(ks);
  }
}

static int equal16(__m128i a, const uint8_t *b) {
  __m128i d = _mm_xor_si128(a, _mm_loadu_si128((const __m128i *)b));
  return _mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_setzero_si128())) == 0xffff;
}

// ---- AES-SIV (RFC 5297) after its associated data ----
// The S2V state after the associated data is fixed per key and associated data, so the caller
// passes it precomputed: state = D || dbl(D) || K1 || K2 (the CMAC subkeys of the MAC key).

// V = CMAC(T), T the last S2V string: pt XOR-ended with D (pt of 16 bytes or more), else dbl(D) XOR pad(pt).
static __m128i s2v_last(const __m128i *rk, int rounds, const uint8_t *state, const uint8_t *pt, size_t n) {
  const uint8_t *d = state, *dd = state + BLOCK, *k1 = state + 2 * BLOCK, *k2 = state + 3 * BLOCK;
  uint8_t b[BLOCK];
  if (n < BLOCK) {
    memset(b, 0, BLOCK);
    memcpy(b, pt, n);
    b[n] = 0x80;
    for (int j = 0; j < BLOCK; j++) b[j] ^= dd[j] ^ k1[j];
    __m128i v = encrypt_block(rk, rounds, _mm_loadu_si128((const __m128i *)b));
    WIPE(b);
    return v;
  }
  size_t blocks = (n + BLOCK - 1) / BLOCK;
  size_t end_at = n - BLOCK;  // where D is XORed in
  __m128i c = _mm_setzero_si128();
  for (size_t i = 0; i < blocks; i++) {
    size_t off = i * BLOCK;
    size_t len = n - off < BLOCK ? n - off : BLOCK;
    memcpy(b, pt + off, len);
    if (len < BLOCK) { b[len] = 0x80; memset(b + len + 1, 0, BLOCK - len - 1); }
    for (size_t j = 0; j < len; j++) if (off + j >= end_at) b[j] ^= d[off + j - end_at];
    if (i == blocks - 1) { const uint8_t *k = len == BLOCK ? k1 : k2; for (int j = 0; j < BLOCK; j++) b[j] ^= k[j]; }
    c = encrypt_block(rk, rounds, _mm_xor_si128(c, _mm_loadu_si128((const __m128i *)b)));
  }
  WIPE(b);
  return c;
}

// out = in XOR AES-CTR from v (the RFC's two bits cleared), 128-bit big-endian increment.
static void siv_ctr(const __m128i *rk, int rounds, const uint8_t *v, const uint8_t *in, uint8_t *out, size_t n) {
  uint8_t q[BLOCK];
  memcpy(q, v, BLOCK);
  q[8] &= 0x7f;
  q[12] &= 0x7f;
  uint64_t hi = 0, lo = 0;
  for (int j = 0; j < 8; j++) { hi = (hi << 8) | q[j]; lo = (lo << 8) | q[8 + j]; }
  for (size_t i = 0; i < n; i += BLOCK) {
    uint8_t counter[BLOCK], ks[BLOCK];
    store_be64(counter, hi);
    store_be64(counter + 8, lo);
    _mm_storeu_si128((__m128i *)ks, encrypt_block(rk, rounds, _mm_loadu_si128((const __m128i *)counter)));
    size_t len = n - i < BLOCK ? n - i : BLOCK;
    for (size_t j = 0; j < len; j++) out[i + j] = in[i + j] ^ ks[j];
    WIPE(ks);
    if (++lo == 0) hi++;
  }
}

// ---- Node-API glue ----

static napi_value fail(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_CLARUS_AES", message);
  return NULL;
}

// The bytes of a Uint8Array (a Buffer is one) argument, or NULL after throwing.
static uint8_t *bytes_of(napi_env env, napi_value v, size_t *len) {
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, len, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    fail(env, "clarus-aes: expected a Uint8Array");
    return NULL;
  }
  return data != NULL ? (uint8_t *)data : (uint8_t *)"";
}

static int args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != want) {
    fail(env, "clarus-aes: wrong number of arguments");
    return 0;
  }
  return 1;
}

// The round keys and their number of rounds, from a buffer expand() filled (16-byte aligned copy).
static int round_keys(napi_env env, napi_value v, __m128i *rk, int *rounds) {
  size_t n;
  uint8_t *b = bytes_of(env, v, &n);
  if (b == NULL) return 0;
  if (n != ROUND_KEY_BYTES || (b[ROUNDS_AT] != 10 && b[ROUNDS_AT] != 14)) {
    fail(env, "clarus-aes: not a round-key buffer made by expand()");
    return 0;
  }
  *rounds = b[ROUNDS_AT];
  for (int r = 0; r <= *rounds; r++) rk[r] = _mm_loadu_si128((const __m128i *)(b + r * BLOCK));
  return 1;
}


static int u32_of(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) { fail(env, "clarus-aes: expected an unsigned integer"); return 0; }
  return 1;
}

static int block_of(napi_env env, napi_value v, const uint8_t **out, size_t want, const char *message) {
  size_t n;
  uint8_t *b = bytes_of(env, v, &n);
  if (b == NULL) return 0;
  if (n != want) { fail(env, message); return 0; }
  *out = b;
  return 1;
}

static napi_value boolean(napi_env env, int v) {
  napi_value r;
  return napi_get_boolean(env, v, &r) == napi_ok ? r : NULL;
}

// The arguments of gcmSeal and gcmOpen: (roundKeys, h, aad, buffer, nonceAt, other), the key
// schedule and H copied to the stack (wiped by the caller, or here when an argument is refused).
struct gcm_call {
  __m128i rk[15];
  int rounds;
  __m128i h;
  uint8_t *aad, *buffer, *other;
  size_t aad_len, buffer_len, other_len;
  uint32_t at;
};

static int gcm_call_of(napi_env env, napi_callback_info info, struct gcm_call *c) {
  napi_value argv[6];
  const uint8_t *hb;
  int ok = args(env, info, 6, argv) && round_keys(env, argv[0], c->rk, &c->rounds)
    && block_of(env, argv[1], &hb, BLOCK, "clarus-aes: the GHASH key must be 16 bytes")
    && (c->aad = bytes_of(env, argv[2], &c->aad_len)) != NULL
    && (c->buffer = bytes_of(env, argv[3], &c->buffer_len)) != NULL
    && u32_of(env, argv[4], &c->at)
    && (c->other = bytes_of(env, argv[5], &c->other_len)) != NULL;
  if (ok) c->h = bswap128(_mm_loadu_si128((const __m128i *)hb));
  else WIPE(*c);
  return ok;
}

// gcmSeal(roundKeys, h, aad, out, nonceAt, plaintext): out = anything[nonceAt] || nonce (12 bytes,
// in place) || ciphertext || tag; ciphertext and tag are written (out's length must be nonceAt + 28 + plaintext's).
static napi_value js_gcm_seal(napi_env env, napi_callback_info info) {
  struct gcm_call c;
  if (!gcm_call_of(env, info, &c)) return NULL;
  size_t n = c.other_len;
  if ((size_t)c.at + 28 + n != c.buffer_len) {
    WIPE(c);
    return fail(env, "clarus-aes: gcmSeal's output must be nonceAt + 12 + plaintext + 16 bytes");
  }
  const uint8_t *nonce = c.buffer + c.at;
  uint8_t *ct = c.buffer + c.at + 12;
  gcm_ctr(c.rk, c.rounds, nonce, c.other, ct, n);
  _mm_storeu_si128((__m128i *)(ct + n), gcm_tag(c.rk, c.rounds, c.h, nonce, c.aad, c.aad_len, ct, n));
  WIPE(c);
  return NULL;
}

// gcmOpen(roundKeys, h, aad, stored, nonceAt, out): stored = anything[nonceAt] || nonce || ciphertext
// || tag; true and the plaintext in out (its length must be the ciphertext's) when the tag
// authenticates, else false and out untouched.
static napi_value js_gcm_open(napi_env env, napi_callback_info info) {
  struct gcm_call c;
  if (!gcm_call_of(env, info, &c)) return NULL;
  size_t n = c.other_len;
  if (c.buffer_len < (size_t)c.at + 28 || c.buffer_len - c.at - 28 != n) {
    WIPE(c);
    return fail(env, "clarus-aes: gcmOpen's output must be as long as the ciphertext");
  }
  const uint8_t *nonce = c.buffer + c.at, *ct = c.buffer + c.at + 12;
  int ok = equal16(gcm_tag(c.rk, c.rounds, c.h, nonce, c.aad, c.aad_len, ct, n), ct + n);
  if (ok) gcm_ctr(c.rk, c.rounds, nonce, ct, c.other, n);
  WIPE(c);
  return boolean(env, ok);
}

// The arguments of sivSeal and sivOpen: (macRoundKeys, ctrRoundKeys, state, input, output).
struct siv_call {
  __m128i mac[15], ctr[15];
  int mac_rounds, ctr_rounds;
  const uint8_t *state;
  uint8_t *in, *out;
  size_t in_len, out_len;
};

static int siv_call_of(napi_env env, napi_callback_info info, struct siv_call *c) {
  napi_value argv[5];
  int ok = args(env, info, 5, argv) && round_keys(env, argv[0], c->mac, &c->mac_rounds) && round_keys(env, argv[1], c->ctr, &c->ctr_rounds)
    && block_of(env, argv[2], &c->state, 4 * BLOCK, "clarus-aes: the S2V state must be 64 bytes")
    && (c->in = bytes_of(env, argv[3], &c->in_len)) != NULL
    && (c->out = bytes_of(env, argv[4], &c->out_len)) != NULL;
  if (!ok) WIPE(*c);
  return ok;
}

// sivSeal(macRoundKeys, ctrRoundKeys, state, plaintext, out): out = V || ciphertext (16 + plaintext bytes).
static napi_value js_siv_seal(napi_env env, napi_callback_info info) {
  struct siv_call c;
  if (!siv_call_of(env, info, &c)) return NULL;
  if (c.out_len != c.in_len + BLOCK) {
    WIPE(c);
    return fail(env, "clarus-aes: sivSeal's output must be 16 + plaintext bytes");
  }
  _mm_storeu_si128((__m128i *)c.out, s2v_last(c.mac, c.mac_rounds, c.state, c.in, c.in_len));
  siv_ctr(c.ctr, c.ctr_rounds, c.out, c.in, c.out + BLOCK, c.in_len);
  WIPE(c);
  return NULL;
}

// sivOpen(macRoundKeys, ctrRoundKeys, state, sealed, out): sealed = V || ciphertext; true and the
// plaintext in out (16 bytes shorter than sealed) when V authenticates it, else false and out zeroed.
static napi_value js_siv_open(napi_env env, napi_callback_info info) {
  struct siv_call c;
  if (!siv_call_of(env, info, &c)) return NULL;
  if (c.in_len < BLOCK || c.out_len != c.in_len - BLOCK) {
    WIPE(c);
    return fail(env, "clarus-aes: sivOpen's output must be 16 bytes shorter than the sealed value");
  }
  siv_ctr(c.ctr, c.ctr_rounds, c.in, c.in + BLOCK, c.out, c.out_len);
  int ok = equal16(s2v_last(c.mac, c.mac_rounds, c.state, c.out, c.out_len), c.in);
  if (!ok) memset(c.out, 0, c.out_len);
  WIPE(c);
  return boolean(env, ok);
}

// expand(key, roundKeys): AES-128 or AES-256 round keys of `key` (16 or 32 bytes) into the 256-byte buffer.
static napi_value js_expand(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return NULL;
  size_t klen, olen;
  uint8_t *key = bytes_of(env, argv[0], &klen);
  if (key == NULL) return NULL;
  uint8_t *out = bytes_of(env, argv[1], &olen);
  if (out == NULL) return NULL;
  if (olen != ROUND_KEY_BYTES) return fail(env, "clarus-aes: the round-key buffer must be 256 bytes");
  __m128i rk[15];
  int rounds;
  if (klen == 16) { expand128(key, rk); rounds = 10; }
  else if (klen == 32) { expand256(key, rk); rounds = 14; }
  else return fail(env, "clarus-aes: the key must be 16 or 32 bytes");
  memset(out, 0, ROUND_KEY_BYTES);
  for (int r = 0; r <= rounds; r++) _mm_storeu_si128((__m128i *)(out + r * BLOCK), rk[r]);
  out[ROUNDS_AT] = (uint8_t)rounds;
  WIPE(rk);
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value supported;
  int ok = has_aesni();
  if (napi_get_boolean(env, ok, &supported) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "supported", supported) != napi_ok) return NULL;
  if (!ok) return exports;
  napi_property_descriptor fns[] = {
    { "expand", NULL, js_expand, NULL, NULL, NULL, napi_default, NULL },
    { "gcmSeal", NULL, js_gcm_seal, NULL, NULL, NULL, napi_default, NULL },
    { "gcmOpen", NULL, js_gcm_open, NULL, NULL, NULL, napi_default, NULL },
    { "sivSeal", NULL, js_siv_seal, NULL, NULL, NULL, napi_default, NULL },
    { "sivOpen", NULL, js_siv_open, NULL, NULL, NULL, napi_default, NULL },
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  return exports;
}
