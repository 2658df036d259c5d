// clarus-aes: the AES block function with the processor's AES instructions (AES-NI), for the
// proxy's modes of operation (sidecar/src/protection/encryption: GCM, SIV, CMAC), which are
// assembled in TypeScript. Why native: node:crypto's Cipheriv.update() costs about 1.2 µs per
// call whatever the size (a new output buffer per call), and a row of two encrypted columns needs
// three or four calls; here a call costs a few hundred nanoseconds. Nothing but the block function
// and the CBC chain is here: the modes, their checks and their tests stay in TypeScript, and
// node:crypto remains the implementation wherever this module is absent (native-aes.ts).
//
// AES-NI runs in constant time (no table lookups). Round keys live in a buffer the caller owns
// (expand()), so this module keeps no state and is safe in every thread and worker.
//
// Exports: supported (boolean: the processor has AES-NI), expand(key, roundKeys),
// ecb(roundKeys, input, output), cbcMac(roundKeys, input, tag).
#define NAPI_VERSION 8
#include <node_api.h>
#include <cpuid.h>
#include <stdint.h>
#include <string.h>
#include <emmintrin.h>
#include <wmmintrin.h>

#define BLOCK 16
// 15 round keys of 16 bytes (AES-256), then one byte: the number of rounds.
#define ROUND_KEY_BYTES 256
#define ROUNDS_AT 240

static int has_aesni(void) {
  unsigned int a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  return (c & bit_AES) != 0 && (d & bit_SSE2) != 0;
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

static void ecb(const __m128i *rk, int rounds, const uint8_t *in, uint8_t *out, size_t blocks) {
  size_t i = 0;
  // Four blocks at a time: the AES unit is pipelined, independent blocks overlap.
  for (; i + 4 <= blocks; i += 4) {
    __m128i a = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(in + i * BLOCK)), rk[0]);
    __m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(in + (i + 1) * BLOCK)), rk[0]);
    __m128i c = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(in + (i + 2) * BLOCK)), rk[0]);
    __m128i d = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(in + (i + 3) * BLOCK)), rk[0]);
    for (int r = 1; r < rounds; r++) {
      a = _mm_aesenc_si128(a, rk[r]);
      b = _mm_aesenc_si128(b, rk[r]);
      c = _mm_aesenc_si128(c, rk[r]);
      d = _mm_aesenc_si128(d, rk[r]);
    }
    _mm_storeu_si128((__m128i *)(out + i * BLOCK), _mm_aesenclast_si128(a, rk[rounds]));
    _mm_storeu_si128((__m128i *)(out + (i + 1) * BLOCK), _mm_aesenclast_si128(b, rk[rounds]));
    _mm_storeu_si128((__m128i *)(out + (i + 2) * BLOCK), _mm_aesenclast_si128(c, rk[rounds]));
    _mm_storeu_si128((__m128i *)(out + (i + 3) * BLOCK), _mm_aesenclast_si128(d, rk[rounds]));
  }
  for (; i < blocks; i++) {
    __m128i m = _mm_loadu_si128((const __m128i *)(in + i * BLOCK));
    _mm_storeu_si128((__m128i *)(out + i * BLOCK), encrypt_block(rk, rounds, m));
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
  memset(rk, 0, sizeof rk);
  return NULL;
}

// ecb(roundKeys, input, output): each 16-byte block of input encrypted into output (same length; may be the same buffer).
static napi_value js_ecb(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return NULL;
  __m128i rk[15];
  int rounds;
  if (!round_keys(env, argv[0], rk, &rounds)) return NULL;
  size_t ilen, olen;
  uint8_t *in = bytes_of(env, argv[1], &ilen);
  if (in == NULL) return NULL;
  uint8_t *out = bytes_of(env, argv[2], &olen);
  if (out == NULL) return NULL;
  if (ilen % BLOCK != 0 || olen != ilen) return fail(env, "clarus-aes: ecb needs whole blocks and an output of the input's length");
  ecb(rk, rounds, in, out, ilen / BLOCK);
  memset(rk, 0, sizeof rk);
  return NULL;
}

// cbcMac(roundKeys, input, tag): the last block of AES-CBC of input (whole blocks, at least one) from a zero IV.
static napi_value js_cbc_mac(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return NULL;
  __m128i rk[15];
  int rounds;
  if (!round_keys(env, argv[0], rk, &rounds)) return NULL;
  size_t ilen, tlen;
  uint8_t *in = bytes_of(env, argv[1], &ilen);
  if (in == NULL) return NULL;
  uint8_t *tag = bytes_of(env, argv[2], &tlen);
  if (tag == NULL) return NULL;
  if (ilen == 0 || ilen % BLOCK != 0 || tlen != BLOCK) return fail(env, "clarus-aes: cbcMac needs whole blocks and a 16-byte tag");
  __m128i c = _mm_setzero_si128();
  for (size_t i = 0; i < ilen; i += BLOCK) c = encrypt_block(rk, rounds, _mm_xor_si128(c, _mm_loadu_si128((const __m128i *)(in + i))));
  _mm_storeu_si128((__m128i *)tag, c);
  memset(rk, 0, sizeof rk);
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
    { "ecb", NULL, js_ecb, NULL, NULL, NULL, napi_default, NULL },
    { "cbcMac", NULL, js_cbc_mac, NULL, NULL, NULL, napi_default, NULL },
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  return exports;
}
