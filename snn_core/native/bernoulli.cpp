// The first layer of a Bernoulli-input SNN, on the drawn spikes alone (`snn_core/native.py` builds it).
//
// A Bernoulli train is binary, and about 30 % of Fashion-MNIST's pixels spike at each step, so
//     I_t[b, :] = sum_{p : x_t[b, p] = 1} W^T[p, :]          (forward)
//     dW^T[p, :] = sum_{t, b : x_t[b, p] = 1} g_t[b, :]      (backward)
// are sums of rows, not products: each step of each sample is drawn (the counter-based draws of
// `kernels.bernoulli_u16`, bit for bit), its spiking pixels are listed (AVX-512: 32 pixels per
// compare and compress), and their weight rows are added. The float train is never written out;
// the forward keeps the lists (2 bytes a spike) for the backward where the caller gives room.
//
// Every sum runs in a fixed order that depends on the sample and on nothing else (forward: the
// listed pixels in four interleaved partial sums, joined as (a0 + a1) + (a2 + a3); backward: the
// rows in order of (t, b)), and lanes (one per neuron of every member) never mix, so a member of a
// pack gets the same bits as its solo run. No fast-math, no contraction: plain float32 adds.
// Built only where AVX-512 BW and VBMI2 are (sb_simd() says); elsewhere the BLAS path runs.

#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX512BW__) && defined(__AVX512VBMI2__)
#include <immintrin.h>
#define SB_SIMD 1
#endif

#if SB_SIMD
namespace {

typedef float v16 __attribute__((vector_size(64)));  // 16 lanes; GCC lowers it to what the CPU has

inline v16 load(const float* p) { v16 v; std::memcpy(&v, p, sizeof v); return v; }
inline void store(float* p, v16 v) { std::memcpy(p, &v, sizeof v); }

constexpr uint64_t GOLDEN = 0x9E3779B97F4A7C15ull, M1 = 0xBF58476D1CE4E5B9ull, M2 = 0x94D049BB133111EBull;

inline uint64_t splitmix64(uint64_t x) {
    x = (x ^ (x >> 30)) * M1;
    x = (x ^ (x >> 27)) * M2;
    return x ^ (x >> 31);
}

// A batch's thresholds as the kernels compare them: spike iff draw <= limit[p] and p is not off, where
// limit = threshold - 1 (16 bits: thresholds run 0 .. 65536) and off marks threshold 0 (never spikes).
struct Limits {
    std::vector<uint16_t> limit;  // [B, P]
    std::vector<uint32_t> on;     // [B, words]: bit i of word w = pixel 32 w + i can spike
    int P, words;
    Limits(const int32_t* thresholds, int B, int P_) : limit((size_t)B * P_), on((size_t)B * ((P_ + 31) / 32)), P(P_),
                                                       words((P_ + 31) / 32) {
        for (int b = 0; b < B; ++b)
            for (int p = 0; p < P; ++p) {
                const int32_t thr = thresholds[(int64_t)b * P + p];
                limit[(int64_t)b * P + p] = (uint16_t)(thr > 0 ? thr - 1 : 0);
                if (thr > 0) on[(int64_t)b * words + p / 32] |= 1u << (p % 32);
            }
    }
};

constexpr int PART_WORDS = 12;  // parts of 384 pixels: a part's 16 lanes of W^T (24 KB) stay in L1
constexpr int CHUNK_ROWS = 256;  // rows (t, b) drawn, then summed, at a time

inline int parts_of(int P) { return ((P + 31) / 32 + PART_WORDS - 1) / PART_WORDS; }

// The pixels of step t, sample b that spike, in ascending order, into idx (room for P + 32); returns
// their count, and in bounds[0 .. parts] where each part's pixels begin and end in idx. The draws are `kernels.bernoulli_u16`'s: one hash per group of four pixels, numbered
// (t * B + b) * groups + q, its 16-bit quarters (low first) the draws of pixels 4q .. 4q + 3, which
// on a little-endian machine lie in pixel order. 32 pixels per compare and compress (AVX-512 VBMI2).
inline int active(const Limits& lim, int b, uint64_t key, uint64_t row, uint64_t* hashes, uint16_t* idx,
                  int32_t* bounds) {
    const int P = lim.P, groups = (P + 3) / 4;
    const uint64_t base = row * (uint64_t)groups;
    for (int q = 0; q < groups; ++q) hashes[q] = splitmix64(key + (base + (uint64_t)q) * GOLDEN);
    const uint16_t* draws = reinterpret_cast<const uint16_t*>(hashes);
    const uint16_t* limit = lim.limit.data() + (int64_t)b * P;
    const uint32_t* on = lim.on.data() + (int64_t)b * lim.words;
    __m512i pixels = _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                                      15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i step = _mm512_set1_epi16(32);
    int c = 0, part = 0;
    bounds[0] = 0;
    for (int w = 0; w < lim.words; ++w) {
        const int p = 32 * w, left = P - p;
        const __mmask32 inside = left >= 32 ? ~0u : (1u << left) - 1;
        const __m512i u = _mm512_maskz_loadu_epi16(inside, draws + p);
        const __m512i l = _mm512_maskz_loadu_epi16(inside, limit + p);
        const __mmask32 spikes = _mm512_cmple_epu16_mask(u, l) & on[w] & inside;
        _mm512_storeu_si512(idx + c, _mm512_maskz_compress_epi16(spikes, pixels));
        c += __builtin_popcount(spikes);
        pixels = _mm512_add_epi16(pixels, step);
        if ((w + 1) % PART_WORDS == 0 || w + 1 == lim.words) bounds[++part] = c;
    }
    return c;
}

// Sum of the rows idx[lo .. hi) of one 16-lane block of W^T ([P, 16]), in four interleaved partial sums.
inline v16 row_sum(const float* w, const uint16_t* idx, int lo, int hi) {
    v16 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    int j = lo;
    for (; j + 4 <= hi; j += 4) {
        a0 += load(w + 16 * idx[j]);
        a1 += load(w + 16 * idx[j + 1]);
        a2 += load(w + 16 * idx[j + 2]);
        a3 += load(w + 16 * idx[j + 3]);
    }
    if (j < hi) a0 += load(w + 16 * idx[j++]);
    if (j < hi) a1 += load(w + 16 * idx[j++]);
    if (j < hi) a2 += load(w + 16 * idx[j++]);
    return (a0 + a1) + (a2 + a3);
}

// Spiking pixels of rows r0 .. r1 - 1: drawn into the caller's room (lists given: kept there for the
// backward) or, with keep false, read from where the forward kept them.
struct Rows {
    const Limits& lim;
    uint64_t key;
    int parts;
    uint16_t* lists;
    int32_t* bounds;
    std::vector<uint16_t> own_lists;
    std::vector<int32_t> own_bounds;
    std::vector<uint64_t> hashes;

    Rows(const Limits& l, int P, uint64_t k, uint16_t* kept, int32_t* kept_bounds)
        : lim(l), key(k), parts(parts_of(P)), lists(kept), bounds(kept_bounds),
          own_lists(kept ? 0 : (size_t)CHUNK_ROWS * P + 32), own_bounds(kept ? 0 : (size_t)CHUNK_ROWS * (parts_of(P) + 1)),
          hashes((P + 3) / 4) {}

    int64_t next = 0;  // kept lists: where the next drawn row's pixels go

    // (idx, bounds) of rows r0.., drawn now if `draw`, else kept by the forward; returns the spikes
    // drawn. Bounds are offsets from idx: the kept lists hold the whole train, one row after another.
    int64_t load_rows(int64_t r0, int64_t r1, int B, bool draw, uint16_t*& idx, int32_t*& bnd) {
        idx = lists ? lists : own_lists.data();
        bnd = bounds ? bounds + r0 * (parts + 1) : own_bounds.data();
        const int64_t start = lists ? next : 0;
        int64_t ones = 0;
        if (draw)
            for (int64_t r = r0; r < r1; ++r) {
                int32_t* bb = bnd + (r - r0) * (parts + 1);
                const int c = active(lim, (int)(r % B), key, (uint64_t)r, hashes.data(), idx + start + ones, bb);
                for (int k = 0; k <= parts; ++k) bb[k] += (int32_t)(start + ones);
                ones += c;
            }
        if (lists) next = start + ones;
        return ones;
    }
};

}  // namespace

extern "C" {

int sb_simd() { return 1; }

// wt and gwt are blocked: [Lp / 16, P, 16] (block k holds lanes 16 k .. 16 k + 15), so that one
// block of one part is 24 KB of contiguous memory. lists (may be null): room for T * B * P + 32 pixel
// indices, and bounds for T * B rows of parts_of(P) + 1. Given, the forward keeps each row's spiking
// pixels there, one row after another (bounds: where each part of each row begins and ends), and the
// backward (keep = 1) reads them instead of drawing them again.
//
// forward: out [T, B, Lp] = the spiking pixels' rows of W^T summed, part by part in pixel order
// ((part 0 + part 1) + part 2 ...); returns the number of spikes drawn.
int64_t sb_bernoulli_forward(const int32_t* thresholds, int B, int P, uint64_t key, int T, const float* wt, int Lp,
                             float* out, uint16_t* lists, int32_t* bounds) {
    const Limits lim(thresholds, B, P);
    Rows rows(lim, P, key, lists, bounds);
    const int64_t n = (int64_t)T * B;
    int64_t ones = 0;
    for (int64_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {  // a chunk's lists are still in L2 when summed
        const int64_t r1 = r0 + CHUNK_ROWS < n ? r0 + CHUNK_ROWS : n;
        uint16_t* idx;
        int32_t* bnd;
        ones += rows.load_rows(r0, r1, B, true, idx, bnd);
        for (int l = 0; l < Lp; l += 16) {
            const float* w = wt + (int64_t)l * P;  // block l / 16: [P, 16]
            for (int part = 0; part < rows.parts; ++part)
                for (int64_t r = r0; r < r1; ++r) {
                    const int32_t* bb = bnd + (r - r0) * (rows.parts + 1);
                    const v16 s = row_sum(w, idx, bb[part], bb[part + 1]);
                    float* o = out + r * Lp + l;
                    store(o, part == 0 ? s : load(o) + s);
                }
        }
    }
    return ones;
}

// backward: gwt = dW^T, each row (t, b) of g [T, B, Lp] added, in order of (t, b), into the rows of
// its spiking pixels (kept by the forward where keep is 1, else drawn again).
void sb_bernoulli_backward(const int32_t* thresholds, int B, int P, uint64_t key, int T, const float* g, int Lp,
                           float* gwt, uint16_t* lists, int32_t* bounds, int keep) {
    std::memset(gwt, 0, sizeof(float) * (size_t)P * Lp);
    const Limits lim(thresholds, B, keep ? 0 : P);  // (no draws: no limits needed)
    Rows rows(lim, P, key, keep ? lists : nullptr, keep ? bounds : nullptr);
    const int64_t n = (int64_t)T * B;
    for (int64_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
        const int64_t r1 = r0 + CHUNK_ROWS < n ? r0 + CHUNK_ROWS : n;
        uint16_t* idx;
        int32_t* bnd;
        rows.load_rows(r0, r1, B, !keep, idx, bnd);
        for (int l = 0; l < Lp; l += 16) {
            float* d = gwt + (int64_t)l * P;
            for (int part = 0; part < rows.parts; ++part)
                for (int64_t r = r0; r < r1; ++r) {
                    const int32_t* bb = bnd + (r - r0) * (rows.parts + 1);
                    const uint16_t* id = idx;
                    const v16 gr = load(g + r * Lp + l);
                    for (int j = bb[part]; j < bb[part + 1]; ++j) store(d + 16 * id[j], load(d + 16 * id[j]) + gr);
                }
        }
    }
}

}  // extern "C"

#else  // no AVX-512 VBMI2: the fused step keeps its BLAS path (native.library() reads this)

extern "C" int sb_simd() { return 0; }

#endif
